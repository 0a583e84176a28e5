"""Portal forms; attachment sizes are checked in the view against ATTACHMENT_MAX_BYTES."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ..filters import LABELS


class TicketForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[
        DataRequired(_l("Write a subject.")), Length(max=200, message=_l("At most %(max)d characters."))])
    body = TextAreaField(
        _l("What happened?"), validators=[
            DataRequired(_l("Describe what happened.")),
            Length(max=20000, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 8},
    )
    attachments = MultipleFileField(_l("Attachments"))


class ReplyForm(FlaskForm):
    body = TextAreaField(
        _l("Your reply"), validators=[
            DataRequired(_l("Write your reply.")),
            Length(max=20000, message=_l("At most %(max)d characters."))], render_kw={"rows": 5}
    )
    attachments = MultipleFileField(_l("Attachments"))


class InviteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the person's name.")),
                                               Length(max=200)])
    email = EmailField(_l("Email"), validators=[
        DataRequired(_l("Enter the email address.")), Length(max=254)])
    portal_role = SelectField(
        _l("Role"),
        choices=[SelectChoice(code, LABELS["portal_role"][code])
                 for code in ("member", "subagent", "admin")],
        default="member",
    )


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
