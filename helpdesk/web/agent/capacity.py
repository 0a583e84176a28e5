"""Console pages of the capacity plan: the week's reservations and free time (with charts), and
each agent's availability (own hours, days off, on-call shifts)."""

from __future__ import annotations

from datetime import UTC, date, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, DateTimeLocalField, StringField, TimeField
from wtforms.validators import DataRequired, Length, Optional

from ...auth.policy import require_roles
from ...capacity.availability import (
    AvailabilityError,
    add_day_off,
    add_on_call,
    can_edit_availability,
    on_call_at,
    remove_day_off,
    remove_on_call,
)
from ...capacity.availability import set_working_hours as set_hours
from ...capacity.chart import Bar, bar_chart
from ...capacity.models import DayOff, OnCallShift, WorkingHours
from ...capacity.overview import week_overview
from ...capacity.planner import local_day, plan_week, week_start
from ...extensions import db
from ...models import STAFF_ROLES, Role, User, utcnow
from . import bp

WEEKDAYS = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"),
            _l("Saturday"), _l("Sunday"))


@bp.context_processor
def _capacity_helpers() -> dict:
    from ...capacity.escalation import ticket_escalations

    return {"ticket_escalations": ticket_escalations}


def _hm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


class PlanForm(FlaskForm):
    """Only the CSRF token: plan the shown week again."""


class DayOffForm(FlaskForm):
    first_day = DateField(_l("First day"), validators=[DataRequired(_l("Enter the first day."))])
    last_day = DateField(_l("Last day"), validators=[DataRequired(_l("Enter the last day."))])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=200)])


class OnCallForm(FlaskForm):
    starts_at = DateTimeLocalField(_l("From"), format="%Y-%m-%dT%H:%M",
                                   validators=[DataRequired(_l("Enter when the shift starts."))])
    ends_at = DateTimeLocalField(_l("Until"), format="%Y-%m-%dT%H:%M",
                                 validators=[DataRequired(_l("Enter when the shift ends."))])


class HoursForm(FlaskForm):
    pass


for _wd in range(7):
    setattr(HoursForm, f"start{_wd}", TimeField(_l("From"), validators=[Optional()]))
    setattr(HoursForm, f"end{_wd}", TimeField(_l("Until"), validators=[Optional()]))


class DeleteForm(FlaskForm):
    """Only the CSRF token."""


def _week_arg() -> date:
    raw = request.args.get("week")
    if not raw:
        return local_day(utcnow())
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(404)


def _charts(ov):
    clients = bar_chart(
        [Bar(line.client.name, line.reserved_minutes, line.used_minutes,
             f"{_hm(line.used_minutes)} / {_hm(line.reserved_minutes)}") for line in ov.clients],
        title=_("Reserved and used hours per client, week of %(d)s", d=ov.monday.isoformat()),
        planned_name=_("Reserved"), actual_name=_("Used"))
    agents = bar_chart(
        [Bar(line.agent.name, line.available_minutes, line.booked_minutes,
             f"{_hm(line.booked_minutes)} / {_hm(line.available_minutes)}") for line in ov.agents],
        title=_("Booked and available hours per agent, week of %(d)s", d=ov.monday.isoformat()),
        planned_name=_("Available"), actual_name=_("Booked"))
    return clients, agents


@bp.route("/capacity")
def capacity():
    day = _week_arg()
    now = utcnow()
    weeks = []
    for monday in (week_start(day), week_start(day) + timedelta(days=7)):
        ov = week_overview(current_user, monday, now)
        weeks.append((ov, *_charts(ov)))
    return render_template(
        "agent/capacity.html", weeks=weeks, plan_form=PlanForm(),
        previous=(week_start(day) - timedelta(days=7)).isoformat(),
        following=(week_start(day) + timedelta(days=7)).isoformat(),
        can_plan=current_user.role == Role.ADMIN, hm=_hm, on_call=on_call_at(now),
    )


@bp.route("/capacity/plan", methods=["POST"])
def capacity_plan():
    require_roles(current_user, Role.ADMIN)
    form = PlanForm()
    if not form.validate_on_submit():
        abort(400)
    day = _week_arg()
    result = plan_week(day, actor=current_user)
    db.session.commit()
    flash(_("Week of %(d)s planned: %(r)s reserved, %(f)s free.", d=week_start(day).isoformat(),
            r=_hm(sum(result.reserved.values())), f=_hm(result.total_free)), "ok")
    return redirect(url_for("agent.capacity", week=day.isoformat()))


# -- availability ---------------------------------------------------------------------------------


def _agent_or_404() -> User:
    raw = request.args.get("agent", type=int)
    if raw is None:
        return current_user
    if raw < 1 or raw > 2**62:
        abort(404)
    agent = db.session.get(User, raw)
    if agent is None or agent.role not in STAFF_ROLES:
        abort(404)
    return agent


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _hour_spans(form: HoursForm) -> dict[int, tuple[time, time] | None]:
    """The weekday spans of the hours form; an empty mapping returns to the business calendar."""
    spans: dict[int, tuple[time, time] | None] = {}
    for wd in range(7):
        a, b = getattr(form, f"start{wd}").data, getattr(form, f"end{wd}").data
        if (a is None) != (b is None):
            getattr(form, f"end{wd}").errors.append(_("Give both times, or neither for a day off."))
            raise AvailabilityError("incomplete")
        spans[wd] = (a, b) if a is not None else None
    return {} if all(v is None for v in spans.values()) else spans


def _save_hours(agent: User, form: HoursForm) -> str:
    set_hours(current_user, agent, _hour_spans(form))
    return _("Working hours saved.")


def _save_day_off(agent: User, form: DayOffForm) -> str:
    add_day_off(current_user, agent, form.first_day.data, form.last_day.data, form.reason.data)
    return _("Days off saved.")


def _save_on_call(agent: User, form: OnCallForm) -> str:
    zone = _zone()
    add_on_call(current_user, agent, form.starts_at.data.replace(tzinfo=zone).astimezone(UTC),
                form.ends_at.data.replace(tzinfo=zone).astimezone(UTC))
    return _("On-call shift saved.")


_SAVERS = {"hours": _save_hours, "day_off": _save_day_off, "on_call": _save_on_call}


def _show_error(form, exc: AvailabilityError) -> None:
    """The reason next to its field, or as a message; "incomplete" is already on the field."""
    if str(exc) == "incomplete":
        return
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, str(exc)]
    else:
        flash(str(exc), "error")


@bp.route("/availability", methods=["GET", "POST"])
def availability():
    agent = _agent_or_404()
    may_edit = can_edit_availability(current_user, agent)
    forms = {"hours": HoursForm(prefix="h"), "day_off": DayOffForm(prefix="o"),
             "on_call": OnCallForm(prefix="c")}
    hours_form = forms["hours"]
    if request.method == "POST":
        if not may_edit:
            abort(403)
        action = request.form.get("action")
        form = forms.get(action)
        if form is not None and form.validate_on_submit():
            try:
                message = _SAVERS[action](agent, form)
            except AvailabilityError as exc:
                db.session.rollback()
                _show_error(form, exc)
            else:
                db.session.commit()
                flash(message, "ok")
                return redirect(url_for("agent.availability", agent=agent.id))
    elif not hours_form.is_submitted():
        for row in db.session.scalars(select(WorkingHours).where(WorkingHours.agent_id == agent.id)):
            getattr(hours_form, f"start{row.weekday}").data = row.starts
            getattr(hours_form, f"end{row.weekday}").data = row.ends
    today = local_day(utcnow())
    days_off = db.session.scalars(
        select(DayOff).where(DayOff.agent_id == agent.id, DayOff.last_day >= today)
        .order_by(DayOff.first_day)).all()
    shifts = db.session.scalars(
        select(OnCallShift).where(OnCallShift.agent_id == agent.id,
                                  OnCallShift.ends_at >= utcnow())
        .order_by(OnCallShift.starts_at)).all()
    staff = (db.session.scalars(select(User).where(User.role.in_(STAFF_ROLES),
                                                   User.active.is_(True)).order_by(User.name))
             .all() if current_user.role == Role.ADMIN else [])
    return render_template(
        "agent/availability.html", agent=agent, may_edit=may_edit, hours_form=hours_form,
        off_form=forms["day_off"], call_form=forms["on_call"], days_off=days_off, shifts=shifts,
        staff=staff, weekdays=WEEKDAYS, delete_form=DeleteForm(),
        own_hours=any(getattr(hours_form, f"start{wd}").data for wd in range(7)),
    ), 400 if request.method == "POST" else 200


@bp.route("/availability/days-off/<int:row_id>/delete", methods=["POST"])
def day_off_delete(row_id: int):
    row = db.session.get(DayOff, row_id) or abort(404)
    if not can_edit_availability(current_user, row.agent):
        abort(404)
    if not DeleteForm().validate_on_submit():
        abort(400)
    remove_day_off(current_user, row)
    db.session.commit()
    flash(_("Days off removed."), "ok")
    return redirect(url_for("agent.availability", agent=row.agent_id))


@bp.route("/availability/on-call/<int:row_id>/delete", methods=["POST"])
def on_call_delete(row_id: int):
    row = db.session.get(OnCallShift, row_id) or abort(404)
    if not can_edit_availability(current_user, row.agent):
        abort(404)
    if not DeleteForm().validate_on_submit():
        abort(400)
    agent_id = row.agent_id
    remove_on_call(current_user, row)
    db.session.commit()
    flash(_("On-call shift removed."), "ok")
    return redirect(url_for("agent.availability", agent=agent_id))
