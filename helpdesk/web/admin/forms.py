"""Admin forms. Rules (uniqueness, overlaps, prices) are checked by the domain functions, whose
:class:`FieldError` the views put next to the named field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from ...i18n import LANGUAGE_NAMES

REQUIRED = _l("Please fill this in.")


def options(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def language_choices(blank: bool = False):
    rows = [(code, name) for code, name in LANGUAGE_NAMES.items()]
    return options(([("", _l("Same as the client"))] + rows) if blank else rows)


def split_lines(value: str | None) -> list[str]:
    """A textarea of values, one a line (commas also separate)."""
    out: list[str] = []
    for line in (value or "").replace(",", "\n").splitlines():
        if line.strip():
            out.append(line.strip())
    return out


class ClientForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    tax_id = StringField(_l("Tax id"), validators=[Optional(), Length(max=40)])
    domains = TextAreaField(_l("Email domains (one a line)"))
    country = StringField(_l("Country (its public holidays apply)"), default="RS",
                          validators=[DataRequired(REQUIRED)])
    timezone = StringField(_l("Time zone"), default="Europe/Belgrade",
                           validators=[DataRequired(REQUIRED)])
    language = SelectField(_l("Language"), choices=language_choices(), default="sr_Latn")
    account_manager = SelectField(_l("Account manager"), choices=[], validate_choice=False)
    warranty_until = DateField(_l("Warranty ends"), validators=[Optional()])
    notes = TextAreaField(_l("Notes"))


class ArchiveForm(FlaskForm):
    confirm = BooleanField(_l("Archive although it has open tickets"))


class ContactForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=200)])
    emails = TextAreaField(_l("Email addresses (one a line)"))
    phones = TextAreaField(_l("Phone numbers (one a line)"))
    language = SelectField(_l("Language"), choices=language_choices(blank=True), default="")
    is_primary = BooleanField(_l("Main contact (receives reports and reminders)"))


class PortalForm(FlaskForm):
    portal_role = SelectField(_l("Portal role"), choices=options([
        ("member", _l("Member: sees all the company's tickets")),
        ("admin", _l("Administrator: also invites and removes users")),
        ("subagent", _l("Sub-agent: sees only the tickets it opened")),
    ]))


class ContractForm(FlaskForm):
    package = SelectField(_l("Package"), choices=[], validate_choice=False)
    start = DateField(_l("Start date"), validators=[InputRequired(REQUIRED)])
    term_months = IntegerField(_l("Term in months"), default=12, validators=[
        InputRequired(REQUIRED), NumberRange(min=1, max=120,
                                             message=_l("A term of 1 to 120 months."))])
    auto_renew = BooleanField(_l("Renews automatically"), default=True)
    trial = BooleanField(_l("Free trial"))
    monthly_fee = StringField(_l("Negotiated monthly fee (empty: the list price)"))
    notes = TextAreaField(_l("Notes"))


class EndContractForm(FlaskForm):
    end = DateField(_l("Last day"), validators=[InputRequired(REQUIRED)])


class PackageChangeForm(FlaskForm):
    package = SelectField(_l("New package"), choices=[], validate_choice=False)
    on = DateField(_l("From (upgrades; downgrades start next month)"), validators=[Optional()])


class AddonForm(FlaskForm):
    addon = SelectField(_l("Add-on"), choices=[], validate_choice=False)
    start = DateField(_l("From"), validators=[InputRequired(REQUIRED)])
    end = DateField(_l("Until (optional)"), validators=[Optional()])


class StaffForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(REQUIRED)])
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    role = SelectField(_l("Role"), choices=options([("agent", _l("Agent")),
                                                    ("account_manager", _l("Account manager")),
                                                    ("admin", _l("Admin"))]))
    language = SelectField(_l("Language"), choices=language_choices())
    extension = StringField(_l("PBX extension"), validators=[Optional(), Length(max=20)])
    logmein_email = StringField(_l("LogMeIn technician email"), validators=[Optional()])


class PackageForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=100)])
    rank = IntegerField(_l("Order (a bigger package has a higher number)"),
                        validators=[InputRequired(REQUIRED)])
    active = BooleanField(_l("Sold"), default=True)
    first_response_minutes = IntegerField(_l("First response target (business minutes, normal "
                                             "priority)"), validators=[InputRequired(REQUIRED)])
    resolution_minutes = IntegerField(_l("Resolution target (business minutes, normal priority)"),
                                      validators=[InputRequired(REQUIRED)])


class PriceForm(FlaskForm):
    effective_from = DateField(_l("In force from (first day of a month)"),
                               validators=[InputRequired(REQUIRED)])
    included_minutes = StringField(_l("Included minutes a month"),
                                   validators=[InputRequired(REQUIRED)])
    monthly_fee = StringField(_l("Monthly fee"), validators=[InputRequired(REQUIRED)])
    overage_rate = StringField(_l("Overage rate an hour"), validators=[InputRequired(REQUIRED)])
    visits_per_year = StringField(_l("Visits a year"), validators=[InputRequired(REQUIRED)])


class NewPackageForm(PackageForm, PriceForm):
    code = StringField(_l("Code"), validators=[DataRequired(REQUIRED), Length(max=30)])
    effective_from = None  # a new package's price applies from the start


class AddonEditForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=100)])
    active = BooleanField(_l("Sold"), default=True)


class AddonPriceForm(AddonEditForm):
    code = StringField(_l("Code"), validators=[Optional(), Length(max=30)])
    monthly_fee = StringField(_l("Monthly fee"), validators=[InputRequired(REQUIRED)])


class AddonFeeForm(FlaskForm):
    effective_from = DateField(_l("In force from (first day of a month)"),
                               validators=[InputRequired(REQUIRED)])
    monthly_fee = StringField(_l("Monthly fee"), validators=[InputRequired(REQUIRED)])


class SlaTargetForm(FlaskForm):
    """A package's own targets for one priority, for tickets opened from a day on."""

    priority = SelectField(_l("Priority"), choices=[], validate_choice=False)
    effective_from = DateField(_l("For tickets opened from"), validators=[InputRequired(REQUIRED)])
    first_response_minutes = StringField(_l("First response target (business minutes)"),
                                         validators=[InputRequired(REQUIRED)])
    resolution_minutes = StringField(_l("Resolution target (business minutes)"),
                                     validators=[InputRequired(REQUIRED)])


class VendorForm(FlaskForm):
    vendor_name = StringField(_l("Vendor name"), validators=[DataRequired(REQUIRED)])
    vendor_email = StringField(_l("Support address"), validators=[DataRequired(REQUIRED)])
    timezone = StringField(_l("Time zone"), default="Europe/Belgrade",
                           validators=[DataRequired(REQUIRED)])
    currency = StringField(_l("Currency"), default="EUR", validators=[DataRequired(REQUIRED)])
    holiday_country = StringField(_l("Holiday country"), default="RS",
                                  validators=[DataRequired(REQUIRED)])
    workday_start = StringField(_l("Working day starts"), default="08:00",
                                validators=[DataRequired(REQUIRED)])
    workday_end = StringField(_l("Working day ends"), default="16:00",
                              validators=[DataRequired(REQUIRED)])
    vendor_logo = FileField(_l("Logo (PNG, JPEG or GIF, up to 1 MB)"))


class SetupForm(VendorForm):
    admin_name = StringField(_l("Your name"), validators=[DataRequired(REQUIRED)])
    admin_email = EmailField(_l("Your email (you sign in with it)"),
                             validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("Password (at least 10 characters)"),
                             validators=[DataRequired(REQUIRED)])
    password2 = PasswordField(_l("Password again"), validators=[
        DataRequired(REQUIRED), EqualTo("password", message=_l("The passwords differ."))])


class ClosingDayForm(FlaskForm):
    day = DateField(_l("Day"), validators=[InputRequired(REQUIRED)])
    country = StringField(_l("Only for clients in country (empty: everyone)"),
                          validators=[Optional(), Length(min=2, max=2)])
    name = StringField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(max=200)])
