"""Forms of the integrations pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ...integrations.events import EVENTS

SOURCE_CHOICES = [SelectChoice("logmein", _l("LogMeIn Rescue report")),
                  SelectChoice("cdr", _l("Asterisk / FreePBX CDR"))]


class UploadForm(FlaskForm):
    source = SelectField(_l("Source"), choices=SOURCE_CHOICES)
    mapping = SelectField(_l("Column mapping"), coerce=int, choices=[])
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file."))])
    skip_bad = BooleanField(_l("Import the good rows even if some rows are bad"))


class MappingForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    source = SelectField(_l("Source"), choices=SOURCE_CHOICES)
    customer = StringField(_l("Customer column(s)"), validators=[Length(max=500)],
                           description=_l("Tried in order, comma-separated."))
    technician = StringField(_l("Technician email column"), validators=[Length(max=200)])
    technician_name = StringField(_l("Technician name column"), validators=[Length(max=200)])
    start = StringField(_l("Start time column"), validators=[Length(max=200)])
    end = StringField(_l("End time column"), validators=[Length(max=200)])
    work_time = StringField(_l("Work time column"), validators=[Length(max=200)])
    session_id = StringField(_l("Session ID column"), validators=[Length(max=200)])
    notes = StringField(_l("Notes column(s)"), validators=[Length(max=500)])
    ticket = StringField(_l("Ticket number column"), validators=[Length(max=200)])
    timezone = StringField(_l("Time zone of the file"), validators=[Length(max=64)])
    day_first = BooleanField(_l("Dates are day first (01/02 is 1 February)"))
    cdr_src = StringField(_l("Caller column (src)"), validators=[Length(max=200)],
                          description=_l("The customer's number or the agent's extension."))
    cdr_dst = StringField(_l("Called number column (dst)"), validators=[Length(max=200)],
                          description=_l("The agent's extension or the customer's number."))
    cdr_start = StringField(_l("Call start column"), validators=[Length(max=200)])
    cdr_answer = StringField(_l("Answer time column"), validators=[Length(max=200)])
    cdr_end = StringField(_l("Call end column"), validators=[Length(max=200)])
    cdr_duration = StringField(_l("Duration column (seconds)"), validators=[Length(max=200)])
    cdr_billsec = StringField(_l("Talk time column (billsec, seconds)"),
                              validators=[Length(max=200)])
    cdr_uniqueid = StringField(_l("Call ID column (uniqueid)"), validators=[Length(max=200)])
    cdr_disposition = StringField(_l("Disposition column (ANSWERED...)"),
                                  validators=[Length(max=200)])
    cdr_notes = StringField(_l("Notes column (userfield)"), validators=[Length(max=200)])
    cdr_ticket = StringField(_l("Ticket number column (calls)"), validators=[Length(max=200)])
    extensions = StringField(_l("Support extensions (CDR)"), validators=[Length(max=500)])
    outside_prefix = StringField(_l("Outside line prefix (CDR)"), validators=[Length(max=5)])
    is_default = BooleanField(_l("Default for this source (the drop folder uses it)"))


class FixForm(FlaskForm):
    client_id = SelectField(_l("Client"), coerce=int, choices=[], validators=[Optional()])
    contact_email = StringField(_l("or a contact's email"), validators=[Optional(), Length(max=254)])
    ticket_number = IntegerField(_l("or a ticket number"), validators=[Optional()])


class ActionForm(FlaskForm):
    """A button (CSRF only)."""


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    write = BooleanField(_l("May change data (write scope)"))
    client_id = SelectField(_l("Only this client"), coerce=int, choices=[], validators=[Optional()])


class MultiCheckbox(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WebhookForm(FlaskForm):
    url = StringField(_l("Receiver URL"), validators=[
        DataRequired(), URL(require_tld=False, message=_l("Give an http:// or https:// address.")),
        Length(max=1000)])
    events = MultiCheckbox(_l("Events"), choices=[SelectChoice(e, e) for e in EVENTS],
                           validators=[DataRequired(_l("Choose at least one event."))])
