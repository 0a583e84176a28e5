"""Availability of agents and the weekly plan, read from and written to the database.

:func:`plan_week` is what the weekly job, ``flask capacity plan`` and the capacity page's "plan
again" button call; it replaces the week's reservations in one transaction, so running it twice
gives the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from flask import current_app
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import selectinload

from ..contracts.services import SERVING_STATUSES, package_on
from ..extensions import db
from ..models import (
    OPEN_STATUSES,
    AuditLog,
    Client,
    Contract,
    Role,
    Ticket,
    User,
    Visit,
    VisitStatus,
    utcnow,
)
from ..sla.service import business_calendar
from .models import DayOff, Reservation, WorkingHours
from .rules import AgentWeek, ClientDemand, Plan, ReserveRule, plan

#: Visits that take an agent out of the office (done ones are history; their time is logged).
PLANNED_VISITS = (VisitStatus.PROPOSED, VisitStatus.CONFIRMED)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def reserve_rule() -> ReserveRule:
    cfg = current_app.config
    weeks = Fraction(str(cfg["CAPACITY_WEEKS_PER_MONTH"]))
    return ReserveRule(
        weeks_per_month=Decimal(weeks.numerator) / Decimal(weeks.denominator),
        minutes_per_due_ticket=int(cfg["CAPACITY_MINUTES_PER_DUE_TICKET"]),
    )


def agents_on_duty() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role == Role.AGENT, User.active.is_(True)).order_by(User.id)
    ))


@dataclass(frozen=True)
class AgentDay:
    day: date
    working_minutes: int
    off: bool
    visit_minutes: int

    @property
    def available_minutes(self) -> int:
        if self.off:
            return 0
        return max(0, self.working_minutes - self.visit_minutes)


def _minutes(a: time, b: time) -> int:
    return (b.hour * 60 + b.minute) - (a.hour * 60 + a.minute)


def agent_days(agent_ids: list[int], first: date, days: int = 7) -> dict[int, list[AgentDay]]:
    """Each agent's working, off and visit minutes for ``days`` days from ``first``."""
    last = first + timedelta(days=days - 1)
    calendar = business_calendar(None)
    hours: dict[int, dict[int, int]] = defaultdict(dict)
    for row in db.session.scalars(
        select(WorkingHours).where(WorkingHours.agent_id.in_(agent_ids))
    ):
        hours[row.agent_id][row.weekday] = _minutes(row.starts, row.ends)
    off: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for row in db.session.scalars(select(DayOff).where(
        DayOff.agent_id.in_(agent_ids), DayOff.first_day <= last, DayOff.last_day >= first
    )):
        off[row.agent_id].append((row.first_day, row.last_day))
    visits: dict[tuple[int, date], int] = defaultdict(int)
    for agent_id, day, minutes in db.session.execute(
        select(Visit.agent_id, Visit.planned_date, Visit.duration_minutes).where(
            Visit.agent_id.in_(agent_ids), Visit.planned_date.between(first, last),
            Visit.status.in_([s.value for s in PLANNED_VISITS]),
        )
    ):
        visits[(agent_id, day)] += minutes or current_app.config["VISIT_DEFAULT_MINUTES"]
    default: dict[date, int] = {}
    for i in range(days):
        d = first + timedelta(days=i)
        span = calendar.business_hours_on(d)
        default[d] = int((span[1] - span[0]).total_seconds() // 60) if span else 0
    out: dict[int, list[AgentDay]] = {}
    for agent_id in agent_ids:
        rows = []
        for i in range(days):
            d = first + timedelta(days=i)
            if agent_id in hours:
                # Own hours replace the calendar's weekdays; public holidays still close the office.
                holiday = calendar.holiday_name(d) is not None
                working = 0 if holiday else hours[agent_id].get(d.weekday(), 0)
            else:
                working = default[d]
            is_off = any(a <= d <= b for a, b in off.get(agent_id, ()))
            rows.append(AgentDay(d, working, is_off, visits.get((agent_id, d), 0)))
        out[agent_id] = rows
    return out


def client_demands(week: date) -> list[ClientDemand]:
    """Every client served under a contract on the week's Monday, with its package and due tickets."""
    contracts = db.session.scalars(
        select(Contract)
        .join(Client, Client.id == Contract.client_id)
        .where(
            Contract.status.in_([s.value for s in SERVING_STATUSES]),
            Contract.start_date <= week + timedelta(days=6),
            Client.archived_at.is_(None),
        )
        .options(selectinload(Contract.changes), selectinload(Contract.package),
                 selectinload(Contract.client))
        .order_by(Contract.client_id, Contract.start_date.desc())
    ).all()
    week_from = datetime.combine(week, time(), UTC)
    week_to = week_from + timedelta(days=7)
    due = dict(db.session.execute(
        select(Ticket.client_id, func.count())
        .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]),
               Ticket.resolution_due >= week_from, Ticket.resolution_due < week_to,
               Ticket.client_id.is_not(None))
        .group_by(Ticket.client_id)
    ).all())
    out: dict[int, ClientDemand] = {}
    for contract in contracts:
        if contract.client_id in out:
            continue
        day = max(week, contract.start_date)
        if not contract.covers(day):
            continue
        package = package_on(contract, day)
        out[contract.client_id] = ClientDemand(
            client_id=contract.client_id,
            package_code=package.code,
            included_minutes_per_month=package.included_minutes,
            tickets_due=due.get(contract.client_id, 0),
            dedicated_agent_id=contract.client.dedicated_agent_id,
        )
    return list(out.values())


def compute_plan(week: date) -> tuple[Plan, list[ClientDemand], dict[int, list[AgentDay]]]:
    week = week_start(week)
    agents = agents_on_duty()
    days = agent_days([a.id for a in agents], week)
    demands = client_demands(week)
    on_duty = {a.id for a in agents}
    demands = [
        d if d.dedicated_agent_id in on_duty else
        ClientDemand(d.client_id, d.package_code, d.included_minutes_per_month, d.tickets_due)
        for d in demands
    ]
    weeks = [AgentWeek(a, sum(x.available_minutes for x in rows)) for a, rows in days.items()]
    return plan(weeks, demands, reserve_rule()), demands, days


def plan_week(week: date, *, actor: User | None = None) -> Plan:
    """Plan (or plan again) the week of ``week``: its reservations are replaced, nothing else."""
    monday = week_start(week)
    result, _demands, _days = compute_plan(monday)
    db.session.execute(delete(Reservation).where(Reservation.week_start == monday))
    if result.reserved:
        db.session.execute(insert(Reservation), [
            {"week_start": monday, "client_id": c, "agent_id": a, "minutes": m,
             "planned_at": utcnow()}
            for (c, a), m in sorted(result.reserved.items())
        ])
    db.session.add(AuditLog(
        user_id=getattr(actor, "id", None), actor="user" if actor else "job",
        entity_type="capacity_week", entity_id=int(monday.strftime("%Y%m%d")), action="plan",
        after={"week_start": monday.isoformat(), "clients": len(result.owed),
               "reserved_minutes": sum(result.reserved.values()),
               "free_minutes": result.total_free},
    ))
    return result


def reserved_minutes(week: date) -> dict[int, int]:
    """Client id -> minutes reserved for the week (as stored by the last plan)."""
    monday = week_start(week)
    return dict(db.session.execute(
        select(Reservation.client_id, func.sum(Reservation.minutes))
        .where(Reservation.week_start == monday).group_by(Reservation.client_id)
    ).all())


def local_day(now: datetime) -> date:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def is_planned(week: date) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Reservation)
        .where(Reservation.week_start == week_start(week))
    ) > 0


def plan_due_weeks(now: datetime) -> list[date]:
    """The daily job: plan next week (again, so days off and visits entered since count), and the
    current week if nobody planned it yet. Returns the Mondays planned."""
    today = local_day(now)
    this_week, next_week = week_start(today), week_start(today) + timedelta(days=7)
    planned = []
    if not is_planned(this_week):
        plan_week(this_week)
        planned.append(this_week)
    plan_week(next_week)
    planned.append(next_week)
    return planned
