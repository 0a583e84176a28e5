"""Forms of the console's time pages and the zone helpers they share: times are typed in the
viewer's zone (``_aware`` turns them into UTC) and may not lie in the future."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import (
    current_app,
)
from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ...accounting.tariff import KINDS
from ...models import (
    utcnow,
)
from ..filters import label

#: The order kinds are offered in.
KIND_ORDER = ("remote", "phone", "email", "consulting", "visit", "development")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _kind_choices() -> list[tuple[str, str]]:
    return [(k, label(k, "entry_kind")) for k in KIND_ORDER if k in KINDS]


def _viewer_zone() -> ZoneInfo:
    """The zone the console shows times in (the user's, else the default)."""
    return ZoneInfo(str(get_timezone() or current_app.config["TIMEZONE"]))


def _local_now() -> datetime:
    return utcnow().astimezone(_viewer_zone()).replace(second=0, microsecond=0, tzinfo=None)


def _aware(local: datetime) -> datetime:
    """A naive time typed in the viewer's zone, as an aware UTC datetime."""
    return local.replace(tzinfo=_viewer_zone()).astimezone(ZoneInfo("UTC"))


def _not_future(form, field) -> None:
    if field.data and field.data > _local_now() + timedelta(minutes=5):
        raise ValidationError(_l("This is in the future."))


# -- forms -----------------------------------------------------------------------------------


class TimerStartForm(FlaskForm):
    session_code = StringField(_l("LogMeIn session code"), validators=[Optional(), Length(max=100)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class TimerStopForm(FlaskForm):
    session_code = StringField(_l("LogMeIn session code"), validators=[Optional(), Length(max=100)])
    note = TextAreaField(_l("What was done"), validators=[Optional(), Length(max=2000)])


class TimerCancelForm(FlaskForm):
    """Only the CSRF token."""


class PhoneCallForm(FlaskForm):
    caller = StringField(_l("Caller's number"), validators=[Optional(), Length(max=40)])
    started_at = DateTimeLocalField(_l("Call started"), format=LOCAL_FORMAT,
                                    validators=[DataRequired(_l("Enter when the call started.")),
                                                _not_future])
    minutes = IntegerField(_l("Minutes"), validators=[
        InputRequired(_l("Enter the minutes.")),
        NumberRange(min=1, max=8 * 60, message=_l("From %(min)s to %(max)s minutes."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ManualTimeForm(FlaskForm):
    kind = SelectField(_l("Kind of work"), validators=[DataRequired(_l("Choose the kind of work."))])
    started_at = DateTimeLocalField(_l("Started"), format=LOCAL_FORMAT,
                                    validators=[DataRequired(_l("Enter when the work started.")),
                                                _not_future])
    minutes = IntegerField(_l("Minutes"), validators=[
        InputRequired(_l("Enter the minutes.")),
        NumberRange(min=1, max=24 * 60, message=_l("From %(min)s to %(max)s minutes."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class EditEntryForm(ManualTimeForm):
    ticket_number = IntegerField(_l("Ticket number"), validators=[Optional()])


class DeleteForm(FlaskForm):
    """Only the CSRF token."""


class ReviewForm(FlaskForm):
    """Only the CSRF token; the decision is the button pressed."""


class AdjustmentForm(FlaskForm):
    minutes_delta = IntegerField(_l("Minutes worked to add (negative: take back)"),
                                 validators=[Optional(), NumberRange(min=-24 * 60, max=24 * 60)])
    billable_delta = IntegerField(
        _l("Billable minutes to add or take back (leave empty: recomputed from the minutes)"),
        validators=[Optional(), NumberRange(min=-100 * 60, max=100 * 60)],
    )
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Write the reason.")),
                                                      Length(max=2000)])

    def validate_minutes_delta(self, field) -> None:
        if not field.data and self.billable_delta.data is None:
            raise ValidationError(_l("Give the minutes to add or take back."))


class ContractChangeForm(FlaskForm):
    package = SelectField(_l("New package"), validators=[DataRequired()])
    direction = SelectField(_l("Change"))
    on = DateField(_l("Date (client's calendar; empty: today)"), validators=[Optional()])
