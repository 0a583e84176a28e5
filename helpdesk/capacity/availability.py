"""Operations on an agent's availability: own working hours, days off, on-call shifts.

An agent edits their own; an admin edits anyone's (:func:`can_edit_availability`). Every change is
in the audit log; the plan of a week is not changed by them until it is planned again (the daily
job plans next week again every night).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from ..audit_log.record import record
from ..extensions import db
from ..models import Role, User
from .models import DayOff, OnCallShift, WorkingHours


class AvailabilityError(ValueError):
    """A change that cannot be made, with the reason for the person who asked (``field`` names
    the form field it concerns, when one does)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def can_edit_availability(user: User, agent: User) -> bool:
    return user.role == Role.ADMIN or (user.id == agent.id and user.is_staff)


def _check(user: User, agent: User) -> None:
    if not can_edit_availability(user, agent):
        raise PermissionError(str(_l("You may not change this person's availability.")))
    if not agent.is_staff:
        raise AvailabilityError(_l("Only staff members have working hours."))


def set_working_hours(user: User, agent: User,
                      hours: dict[int, tuple[time, time] | None]) -> list[WorkingHours]:
    """Replace the agent's own hours (weekday -> (start, end) or None for a day not worked).
    An empty mapping, or every day None, returns the agent to the business calendar."""
    _check(user, agent)
    for weekday, span in hours.items():
        if not 0 <= weekday <= 6:
            raise AvailabilityError(_l("Unknown weekday %(n)s.", n=weekday))
        if span is not None and not span[0] < span[1]:
            raise AvailabilityError(_l("The day must start before it ends."), field=f"day{weekday}")
    before = [(r.weekday, r.starts.isoformat(), r.ends.isoformat())
              for r in db.session.scalars(select(WorkingHours).where(
                  WorkingHours.agent_id == agent.id).order_by(WorkingHours.weekday))]
    db.session.execute(delete(WorkingHours).where(WorkingHours.agent_id == agent.id))
    rows = [WorkingHours(agent_id=agent.id, weekday=wd, starts=span[0], ends=span[1])
            for wd, span in sorted(hours.items()) if span is not None]
    db.session.add_all(rows)
    db.session.flush()
    record(agent, "working_hours", user=user, before={"hours": before},
           after={"hours": [(r.weekday, r.starts.isoformat(), r.ends.isoformat())
                            for r in rows]})
    return rows


def add_day_off(user: User, agent: User, first: date, last: date,
                reason: str | None = None) -> DayOff:
    _check(user, agent)
    if last < first:
        raise AvailabilityError(_l("The last day is before the first."), field="last_day")
    if (last - first).days > 366:
        raise AvailabilityError(_l("At most a year at a time."), field="last_day")
    overlapping = db.session.scalar(select(DayOff).where(
        DayOff.agent_id == agent.id, DayOff.first_day <= last, DayOff.last_day >= first))
    if overlapping is not None:
        raise AvailabilityError(
            _l("This overlaps the days off from %(first)s to %(last)s.",
               first=overlapping.first_day.isoformat(), last=overlapping.last_day.isoformat()),
            field="first_day")
    row = DayOff(agent_id=agent.id, first_day=first, last_day=last,
                 reason=(reason or "").strip() or None, created_by_id=user.id)
    db.session.add(row)
    db.session.flush()
    record(row, "create", user=user)
    return row


def remove_day_off(user: User, row: DayOff) -> None:
    _check(user, row.agent)
    record(row, "delete", user=user)
    db.session.delete(row)
    db.session.flush()


def add_on_call(user: User, agent: User, starts_at: datetime, ends_at: datetime) -> OnCallShift:
    _check(user, agent)
    if ends_at <= starts_at:
        raise AvailabilityError(_l("The shift must end after it starts."), field="ends_at")
    clash = db.session.scalar(select(OnCallShift).where(
        OnCallShift.starts_at < ends_at, OnCallShift.ends_at > starts_at))
    if clash is not None:
        raise AvailabilityError(
            _l("%(name)s is already on call then.", name=clash.agent.name), field="starts_at")
    row = OnCallShift(agent_id=agent.id, starts_at=starts_at, ends_at=ends_at,
                      created_by_id=user.id)
    db.session.add(row)
    db.session.flush()
    record(row, "create", user=user)
    return row


def remove_on_call(user: User, row: OnCallShift) -> None:
    _check(user, row.agent)
    record(row, "delete", user=user)
    db.session.delete(row)
    db.session.flush()


def on_call_at(moment: datetime) -> User | None:
    """The out-of-hours operator of the on-call add-on at ``moment``, if a shift covers it."""
    shift = db.session.scalar(select(OnCallShift).where(
        OnCallShift.starts_at <= moment, OnCallShift.ends_at > moment))
    return shift.agent if shift is not None else None



def at_work(agent: User, moment: datetime) -> bool:
    """Whether ``agent`` works at ``moment`` (see :func:`agents_at_work`)."""
    return agent.id in agents_at_work([agent], moment)


def agents_at_work(agents: list[User], moment: datetime) -> set[int]:
    """The ids of ``agents`` who work at ``moment`` by their own availability: not on a day off,
    and inside their own working hours (public holidays close the office) or, with none entered,
    inside the business calendar's hours. Times are each agent's local wall-clock times. Two
    queries, however many agents."""
    from ..calendar.business import get_calendar
    from ..sla.service import business_calendar

    if not agents:
        return set()
    ids = [a.id for a in agents]
    cfg = current_app.config
    local = {a.id: moment.astimezone(ZoneInfo(a.timezone or cfg["TIMEZONE"])) for a in agents}
    days = {d.date() for d in local.values()}
    off: dict[int, list[tuple[date, date]]] = {}
    for row in db.session.scalars(select(DayOff).where(
            DayOff.agent_id.in_(ids), DayOff.first_day <= max(days), DayOff.last_day >= min(days))):
        off.setdefault(row.agent_id, []).append((row.first_day, row.last_day))
    own: dict[int, list[WorkingHours]] = {}
    for row in db.session.scalars(select(WorkingHours).where(WorkingHours.agent_id.in_(ids))):
        own.setdefault(row.agent_id, []).append(row)
    calendar = business_calendar(None)
    working = set()
    for agent in agents:
        here = local[agent.id]
        day = here.date()
        if any(a <= day <= b for a, b in off.get(agent.id, ())):
            continue
        if agent.id in own:
            if calendar.holiday_name(day) is None and any(
                    r.weekday == day.weekday() and r.starts <= here.time() < r.ends
                    for r in own[agent.id]):
                working.add(agent.id)
            continue
        zone_calendar = calendar
        if agent.timezone and agent.timezone != calendar.tz_name:
            zone_calendar = get_calendar(tz=agent.timezone, country=calendar.country,
                                         start=calendar.start, end=calendar.end,
                                         closed_days=calendar.closed_days)
        if zone_calendar.is_business_time(moment):
            working.add(agent.id)
    return working
