"""Console pages for on-site visits: upcoming visits, a client's visits, confirm, move, done.

Everyone on the staff sees visits; the visit's (or client's) account manager and admins change
them (:func:`helpdesk.visits.can_manage_visit`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, IntegerField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ...accounting.ledger import LedgerError
from ...auth.policy import get_client_or_404
from ...extensions import db
from ...models import Client, Role, Visit
from ...visits import (
    OPEN_VISIT_STATUSES,
    VisitError,
    can_manage_visit,
    complete_visit,
    confirm_visit,
    move_visit,
    visits_summary,
)
from ...visits.planner import local_today
from . import bp


class ConfirmVisitForm(FlaskForm):
    """Only the CSRF token: confirming keeps the proposed date."""


class MoveVisitForm(FlaskForm):
    planned_date = DateField(_l("New date"), validators=[DataRequired(_l("Enter the new date."))])


class DoneVisitForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired(_l("Enter the day of the visit."))])
    start = TimeField(_l("Started at (client's local time)"),
                      validators=[DataRequired(_l("Enter when the visit started."))])
    minutes = IntegerField(_l("Minutes on site"), validators=[
        InputRequired(_l("Enter the minutes.")),
        NumberRange(min=1, max=24 * 60, message=_l("From %(min)s to %(max)s minutes."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


@bp.context_processor
def _visit_helpers() -> dict:
    """``visits_summary_for(client)`` for console templates (the client page includes it)."""

    def visits_summary_for(client: Client):
        return visits_summary(client, local_today(client, datetime.now(UTC)))

    return {"visits_summary_for": visits_summary_for}


def _visit_or_404(visit_id: int) -> Visit:
    visit = db.session.get(Visit, visit_id)
    if visit is None:
        abort(404)
    get_client_or_404(current_user, visit.client_id)
    return visit


def _managed_visit_or_403(visit_id: int) -> Visit:
    visit = _visit_or_404(visit_id)
    if not can_manage_visit(current_user, visit):
        abort(403)
    return visit


@bp.route("/visits")
def visits():
    """Upcoming visits by date; an account manager sees their own unless asking for all."""
    show_all = request.args.get("all") == "1" or current_user.role != Role.ACCOUNT_MANAGER
    stmt = (
        select(Visit)
        .where(Visit.status.in_([s.value for s in OPEN_VISIT_STATUSES]))
        .order_by(Visit.planned_date, Visit.id)
    )
    if not show_all:
        stmt = stmt.where(Visit.account_manager_id == current_user.id)
    rows = db.session.scalars(stmt.limit(500)).all()
    return render_template("agent/visits.html", visits=rows, show_all=show_all)


@bp.route("/clients/<int:client_id>/visits")
def client_visits(client_id: int):
    client = get_client_or_404(current_user, client_id)
    rows = db.session.scalars(
        select(Visit)
        .where(Visit.client_id == client.id)
        .order_by(Visit.contract_year_start.desc(), Visit.sequence)
    ).all()
    summary = visits_summary(client, local_today(client, datetime.now(UTC)))
    return render_template("agent/visits_client.html", client=client, visits=rows, summary=summary)


def _detail(visit: Visit, status: int = 200, **forms):
    client = db.session.get(Client, visit.client_id)
    today = local_today(client, datetime.now(UTC))
    forms.setdefault("confirm_form", ConfirmVisitForm(prefix="confirm"))
    forms.setdefault("move_form", MoveVisitForm(prefix="move", planned_date=visit.planned_date))
    forms.setdefault("done_form", DoneVisitForm(prefix="done", day=min(visit.planned_date, today)))
    return render_template(
        "agent/visits_detail.html",
        visit=visit,
        client=client,
        can_manage=can_manage_visit(current_user, visit),
        is_open=visit.status in OPEN_VISIT_STATUSES,
        **forms,
    ), status


@bp.route("/visits/<int:visit_id>")
def visit(visit_id: int):
    return _detail(_visit_or_404(visit_id))


@bp.post("/visits/<int:visit_id>/confirm")
def confirm(visit_id: int):
    v = _managed_visit_or_403(visit_id)
    form = ConfirmVisitForm(prefix="confirm")
    if not form.validate_on_submit():
        return _detail(v, 400, confirm_form=form)
    try:
        confirm_visit(v, user=current_user)
    except VisitError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _detail(v, 400)
    db.session.commit()
    flash(_("Visit confirmed for %(date)s.", date=v.planned_date.isoformat()), "info")
    return redirect(url_for(".visit", visit_id=v.id))


@bp.post("/visits/<int:visit_id>/move")
def move(visit_id: int):
    v = _managed_visit_or_403(visit_id)
    form = MoveVisitForm(prefix="move")
    if not form.validate_on_submit():
        return _detail(v, 400, move_form=form)
    client = db.session.get(Client, v.client_id)
    try:
        move_visit(
            v,
            form.planned_date.data,
            user=current_user,
            today=local_today(client, datetime.now(UTC)),
        )
    except VisitError as exc:
        db.session.rollback()
        form.planned_date.errors.append(str(exc))
        return _detail(db.session.get(Visit, visit_id), 400, move_form=form)
    db.session.commit()
    flash(_("Visit moved to %(date)s and confirmed.", date=v.planned_date.isoformat()), "info")
    return redirect(url_for(".visit", visit_id=v.id))


@bp.post("/visits/<int:visit_id>/done")
def done(visit_id: int):
    v = _managed_visit_or_403(visit_id)
    form = DoneVisitForm(prefix="done")
    if not form.validate_on_submit():
        return _detail(v, 400, done_form=form)
    client = db.session.get(Client, v.client_id)
    day: date = form.day.data
    started = datetime.combine(day, form.start.data, tzinfo=ZoneInfo(client.timezone))
    try:
        complete_visit(
            v,
            user=current_user,
            started_at=started.astimezone(UTC),
            minutes=form.minutes.data,
            note=form.note.data or None,
            now=datetime.now(UTC),
        )
    except (VisitError, LedgerError) as exc:
        db.session.rollback()
        form.day.errors.append(str(exc))
        return _detail(db.session.get(Visit, visit_id), 400, done_form=form)
    db.session.commit()
    flash(_("Visit marked done; its time entry was recorded."), "info")
    return redirect(url_for(".visit", visit_id=v.id))
