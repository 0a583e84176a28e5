"""The visit calendar: month and week views of planned and done visits, per agent and per client;
who goes on site; and each agent's secret iCalendar address."""

from __future__ import annotations

import calendar as cal
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from ...auth.accounts import external_url
from ...extensions import db
from ...models import Client, Role, User, Visit
from ...visits import VisitError, assign_visit, can_manage_visit
from ...visits.feeds import has_feed, new_feed_token
from . import bp
from .visits import _managed_visit_or_403


class AssignVisitForm(FlaskForm):
    agent_id = SelectField(_l("Agent on site"), coerce=int, validators=[Optional()])
    duration_minutes = IntegerField(
        _l("Planned minutes"),
        validators=[Optional(), NumberRange(min=15, max=720,
                                            message=_l("Between 15 and 720 minutes."))])


class FeedForm(FlaskForm):
    """Only the CSRF token: make a new secret calendar address."""


def _agents() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role.in_((Role.AGENT, Role.ADMIN)), User.active.is_(True))
        .order_by(User.name)))


def assign_form_for(visit: Visit) -> AssignVisitForm:
    form = AssignVisitForm(prefix="assign", agent_id=visit.agent_id or 0,
                           duration_minutes=visit.duration_minutes)
    form.agent_id.choices = [(0, _("Nobody yet"))] + [(a.id, a.name) for a in _agents()]
    return form


@bp.context_processor
def _assign_helpers() -> dict:
    return {"visit_assign_form": assign_form_for, "can_manage_visit_": can_manage_visit}


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    if value is not None and not 0 < value < 2**62:
        abort(404)
    return value


@bp.route("/visits/calendar")
def visit_calendar():
    view = request.args.get("view", "month")
    if view not in ("month", "week"):
        abort(404)
    try:
        anchor = date.fromisoformat(request.args["date"]) if request.args.get("date") else (
            datetime.now(UTC).date())
    except ValueError:
        abort(404)
    agent_id, client_id = _int_arg("agent"), _int_arg("client")
    if view == "month":
        first = anchor.replace(day=1)
        last = first.replace(day=cal.monthrange(first.year, first.month)[1])
        start = first - timedelta(days=first.weekday())
        end = last + timedelta(days=6 - last.weekday())
        previous = (first - timedelta(days=1)).replace(day=1)
        following = last + timedelta(days=1)
    else:
        start = anchor - timedelta(days=anchor.weekday())
        end = start + timedelta(days=6)
        first, last = start, end
        previous, following = start - timedelta(days=7), start + timedelta(days=7)
    stmt = select(Visit).where(Visit.planned_date.between(start, end)).order_by(
        Visit.planned_date, Visit.id)
    if agent_id:
        stmt = stmt.where(Visit.agent_id == agent_id)
    if client_id:
        stmt = stmt.where(Visit.client_id == client_id)
    if current_user.role == Role.ACCOUNT_MANAGER and request.args.get("all") != "1":
        stmt = stmt.join(Client, Client.id == Visit.client_id).where(
            (Visit.account_manager_id == current_user.id)
            | (Client.account_manager_id == current_user.id))
    by_day: dict[date, list[Visit]] = defaultdict(list)
    for v in db.session.scalars(stmt):
        by_day[v.planned_date].append(v)
    weeks = []
    day = start
    while day <= end:
        weeks.append([day + timedelta(days=i) for i in range(7)])
        day += timedelta(days=7)
    clients = db.session.scalars(
        select(Client).where(Client.archived_at.is_(None)).order_by(Client.name)).all()
    return render_template(
        "agent/visit_calendar.html", view=view, weeks=weeks, by_day=by_day, first=first,
        last=last, anchor=anchor, previous=previous, following=following,
        agents=_agents(), clients=clients, agent_id=agent_id, client_id=client_id,
        feed_form=FeedForm(), has_feed=has_feed(current_user), today=datetime.now(UTC).date(),
    )


@bp.post("/visits/<int:visit_id>/agent")
def visit_assign(visit_id: int):
    v = _managed_visit_or_403(visit_id)
    form = assign_form_for(v)
    form.process(request.form)
    form.agent_id.choices = [(0, _("Nobody yet"))] + [(a.id, a.name) for a in _agents()]
    if not form.validate_on_submit():
        for error in (*form.agent_id.errors, *form.duration_minutes.errors):
            flash(str(error), "error")
        return redirect(url_for(".visit", visit_id=v.id))
    agent = db.session.get(User, form.agent_id.data) if form.agent_id.data else None
    try:
        assign_visit(v, agent, form.duration_minutes.data, user=current_user)
    except VisitError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".visit", visit_id=v.id))
    db.session.commit()
    flash(_("Visit assigned."), "info")
    return redirect(url_for(".visit", visit_id=v.id))


@bp.post("/visits/feed")
def visit_feed_token():
    if not FeedForm().validate_on_submit():
        abort(400)
    token = new_feed_token(current_user, user=current_user)
    db.session.commit()
    url = external_url("feeds.visits_feed", token=token)
    return render_template("agent/visit_feed.html", url=url)
