"""Console forms: labelled fields whose errors the templates show next to them."""

from __future__ import annotations

from email.utils import getaddresses

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    MultipleFileField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ...models import Priority, TicketStatus

STATUS_LABELS = {
    "new": _l("New"),
    "open": _l("Open"),
    "pending": _l("Pending (waiting on the client)"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
}
PRIORITY_LABELS = {
    "urgent": _l("Urgent"),
    "high": _l("High"),
    "normal": _l("Normal"),
    "low": _l("Low"),
}


def parse_addresses(value: str | None) -> list[str]:
    """Addresses from a "To"/"Cc" line (names allowed: ``Ana <ana@x.rs>, b@y.com``)."""
    found = [addr.strip() for _, addr in getaddresses([value or ""]) if addr.strip()]
    return found


def _addresses(form, field) -> None:
    raw = (field.data or "").strip()
    if not raw:
        return
    addresses = parse_addresses(raw)
    bad = [a for a in addresses if "@" not in a or " " in a or a.count("@") != 1]
    if bad or not addresses:
        raise ValidationError(_l("Not an email address: %(addr)s", addr=", ".join(bad) or raw))


def _attachment_sizes(form, field) -> None:
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    for upload in field.data or []:
        if not getattr(upload, "filename", None):
            continue
        upload.stream.seek(0, 2)
        size = upload.stream.tell()
        upload.stream.seek(0)
        if size > limit:
            raise ValidationError(
                _l("%(name)s is larger than %(mb)d MB.", name=upload.filename,
                   mb=limit // (1024 * 1024))
            )


class ReplyForm(FlaskForm):
    """A reply to the client, sent by email."""

    to = StringField(_l("To"), validators=[DataRequired(_l("Enter at least one address.")),
                                           Length(max=2000), _addresses])
    cc = StringField(_l("Cc"), validators=[Optional(), Length(max=2000), _addresses])
    body = TextAreaField(_l("Reply"), validators=[DataRequired(_l("Write the reply.")),
                                                  Length(max=200_000)],
                         render_kw={"rows": 8, "accesskey": "r"})
    attachments = MultipleFileField(_l("Attachments"), validators=[_attachment_sizes])
    then_status = SelectField(
        _l("Then set the status to"),
        choices=[SelectChoice("", _l("(leave as it is)")),
                 SelectChoice("pending", STATUS_LABELS["pending"]),
                 SelectChoice("resolved", STATUS_LABELS["resolved"])],
        default="",
        validate_choice=True,
    )
    submit = SubmitField(_l("Send reply"))


class NoteForm(FlaskForm):
    """An internal note: agents only, never mailed."""

    body = TextAreaField(_l("Internal note"), validators=[DataRequired(_l("Write the note.")),
                                                          Length(max=200_000)],
                         render_kw={"rows": 4, "accesskey": "n"})
    attachments = MultipleFileField(_l("Attachments"), validators=[_attachment_sizes])
    submit = SubmitField(_l("Add note"))


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assignee"), coerce=str, render_kw={"accesskey": "a"})
    submit = SubmitField(_l("Assign"))


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[SelectChoice(*kv) for kv in STATUS_LABELS.items()],
                         render_kw={"accesskey": "s"})
    submit = SubmitField(_l("Change status"))

    def validate_status(self, field) -> None:
        if field.data not in TicketStatus.values():
            raise ValidationError(_l("Choose a status."))


class PriorityForm(FlaskForm):
    priority = SelectField(_l("Priority"),
                           choices=[SelectChoice(*kv) for kv in PRIORITY_LABELS.items()],
                           render_kw={"accesskey": "p"})
    submit = SubmitField(_l("Change priority"))

    def validate_priority(self, field) -> None:
        if field.data not in Priority.values():
            raise ValidationError(_l("Choose a priority."))


class MergeForm(FlaskForm):
    """Merge this ticket into another one (this one closes)."""

    target = IntegerField(_l("Merge into ticket number"),
                          validators=[InputRequired(_l("Enter the ticket number.")),
                                      NumberRange(min=1, message=_l(
                                          "A ticket number is %(min)s or more."))],
                          render_kw={"accesskey": "m", "inputmode": "numeric"})
    submit = SubmitField(_l("Merge"))


CHANNEL_LABELS = {
    "phone": _l("Phone call"),
    "remote": _l("Remote session"),
    "email": _l("Email (written down by us)"),
}


class NewTicketForm(FlaskForm):
    """A ticket an agent opens for a client (a phone call: nobody mailed us)."""

    contact = SelectField(_l("Contact"), coerce=str, validate_choice=False)
    channel = SelectField(_l("How they reached us"),
                          choices=[SelectChoice(*kv) for kv in CHANNEL_LABELS.items()],
                          default="phone")
    subject = StringField(_l("Subject"), validators=[
        DataRequired(message=_l("Write a subject.")),
        Length(max=500, message=_l("At most %(max)d characters.")),
    ], render_kw={"autocomplete": "off"})
    description = TextAreaField(_l("What the client asked for"), validators=[
        DataRequired(message=_l("Write what the client asked for.")),
        Length(max=200_000, message=_l("At most %(max)d characters.")),
    ], render_kw={"rows": 8})
    priority = SelectField(_l("Priority"),
                           choices=[SelectChoice(*kv) for kv in PRIORITY_LABELS.items()],
                           default="normal")
    assignee = SelectField(_l("Assignee"), coerce=str, validate_choice=False)
    submit = SubmitField(_l("Open ticket"))

    def validate_channel(self, field) -> None:
        if field.data not in CHANNEL_LABELS:
            raise ValidationError(_l("Choose how the client reached us."))

    def validate_priority(self, field) -> None:
        if field.data not in Priority.values():
            raise ValidationError(_l("Choose a priority."))
