"""``/admin/audit``: the audit log, filtered by object, person and date, newest first."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import render_template, request, url_for
from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from ...audit_log.query import (
    ACTION_LABELS,
    ACTOR_LABELS,
    ENTITY_LABELS,
    AuditFilter,
    BadFilter,
    audit_page,
    entity_types,
    people,
)
from ...extensions import db
from ...models import Ticket
from . import bp


class AuditFilterForm(FlaskForm):
    """A GET form: bookmarkable, no CSRF token needed (it changes nothing)."""

    class Meta:
        csrf = False

    type = SelectField(_l("Object"), coerce=str, validate_choice=False)
    id = IntegerField(_l("Number"), validators=[
        Optional(), NumberRange(min=1, message=_l("A number from 1 up."))],
        render_kw={"inputmode": "numeric"})
    person = SelectField(_l("Person"), coerce=str, validate_choice=False)
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])


def _object_urls(rows) -> dict[int, str]:
    """Audit entry id -> the page of its object (clients and tickets), one query for tickets."""
    ticket_ids = {r.entity_id for r in rows if r.entity_type == "tickets"}
    numbers = dict(db.session.execute(
        select(Ticket.id, Ticket.number).where(Ticket.id.in_(ticket_ids))).all()) \
        if ticket_ids else {}
    urls = {}
    for r in rows:
        if r.entity_type == "clients":
            urls[r.id] = url_for("agent.client", client_id=r.entity_id)
        elif r.entity_type == "tickets" and r.entity_id in numbers:
            urls[r.id] = url_for("agent.ticket", number=numbers[r.entity_id])
    return urls


@bp.route("/audit")
def audit():
    form = AuditFilterForm(request.args)
    types = entity_types()
    form.type.choices = [SelectChoice("", _l("Any object"))] + [
        SelectChoice(t, ENTITY_LABELS.get(t, t)) for t in types]
    form.person.choices = [SelectChoice("", _l("Anyone"))] + [
        SelectChoice(str(u.id), f"{u.name} <{u.email}>") for u in people()]
    page = None
    status = 200
    if form.validate():
        person = form.person.data
        filters = AuditFilter(
            entity_type=form.type.data or None,
            entity_id=form.id.data,
            user_id=int(person) if person and person.isdigit() else None,
            date_from=form.date_from.data,
            date_to=form.date_to.data,
        )
        before = request.args.get("before", "")
        try:
            page = audit_page(filters, ZoneInfo(str(get_timezone())),
                              before=int(before) if before.isdigit() else None)
        except BadFilter as exc:
            getattr(form, {"date_to": "date_to", "entity_type": "type"}[exc.field]).errors = [
                str(exc.message)]
            status = 400
    else:
        status = 400
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "admin/audit.html", form=form, page=page, args=args,
        ENTITY_LABELS={k: str(v) for k, v in ENTITY_LABELS.items()},
        ACTION_LABELS={k: str(v) for k, v in ACTION_LABELS.items()},
        ACTOR_LABELS={k: str(v) for k, v in ACTOR_LABELS.items()},
        object_urls=_object_urls(page.rows) if page else {},
    ), status
