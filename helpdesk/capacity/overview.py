"""What the capacity page shows: per client reserved against used hours, per agent booked against
free hours, and the open tickets at risk of breaching their SLA, for one week."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import OPEN_STATUSES, Client, Role, Ticket, TicketStatus, TimeEntry, User
from .models import Reservation
from .planner import agent_days, agents_on_duty, compute_plan, week_start


@dataclass
class ClientLine:
    client: Client
    reserved_minutes: int
    used_minutes: int

    @property
    def used_share(self) -> float:
        return self.used_minutes / self.reserved_minutes if self.reserved_minutes else 0.0


@dataclass
class AgentLine:
    agent: User
    available_minutes: int
    booked_minutes: int
    used_minutes: int

    @property
    def free_minutes(self) -> int:
        return max(0, self.available_minutes - self.booked_minutes)


@dataclass
class WeekOverview:
    monday: date
    planned: bool
    clients: list[ClientLine] = field(default_factory=list)
    agents: list[AgentLine] = field(default_factory=list)
    at_risk: list[Ticket] = field(default_factory=list)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def reserved_minutes(self) -> int:
        return sum(a.booked_minutes for a in self.agents)

    @property
    def free_minutes(self) -> int:
        return sum(a.free_minutes for a in self.agents)


def _week_bounds(monday: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    start = datetime.combine(monday, time(), zone).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(), zone).astimezone(UTC)
    return start, end


def week_overview(viewer: User, day: date, now: datetime, *, risk_hours: int = 4) -> WeekOverview:
    """The week of ``day`` as ``viewer`` may see it (account managers: their own clients)."""
    monday = week_start(day)
    start, end = _week_bounds(monday)
    stored = db.session.execute(
        select(Reservation.client_id, Reservation.agent_id, Reservation.minutes)
        .where(Reservation.week_start == monday)
    ).all()
    planned = bool(stored)
    if planned:
        reserved = {(c, a): m for c, a, m in stored}
    else:  # not planned yet: show what the planner would do, without saving it
        reserved = compute_plan(monday)[0].reserved
    per_client: dict[int, int] = defaultdict(int)
    per_agent: dict[int, int] = defaultdict(int)
    for (c, a), m in reserved.items():
        per_client[c] += m
        per_agent[a] += m
    clients_q = select(Client).where(Client.id.in_(per_client)).order_by(Client.name)
    if viewer.role == Role.ACCOUNT_MANAGER:
        clients_q = clients_q.where(Client.account_manager_id == viewer.id)
    clients = list(db.session.scalars(clients_q))
    used_by_client = dict(db.session.execute(
        select(TimeEntry.client_id, func.sum(TimeEntry.minutes))
        .where(TimeEntry.started_at >= start, TimeEntry.started_at < end,
               TimeEntry.client_id.in_([c.id for c in clients]))
        .group_by(TimeEntry.client_id)
    ).all()) if clients else {}
    agents = agents_on_duty()
    days = agent_days([a.id for a in agents], monday)
    used_by_agent = dict(db.session.execute(
        select(TimeEntry.agent_id, func.sum(TimeEntry.minutes))
        .where(TimeEntry.started_at >= start, TimeEntry.started_at < end,
               TimeEntry.agent_id.is_not(None))
        .group_by(TimeEntry.agent_id)
    ).all())
    overview = WeekOverview(monday=monday, planned=planned)
    overview.clients = [ClientLine(c, per_client[c.id], int(used_by_client.get(c.id, 0)))
                        for c in clients]
    overview.agents = [
        AgentLine(a, sum(d.available_minutes for d in days[a.id]), per_agent.get(a.id, 0),
                  int(used_by_agent.get(a.id, 0)))
        for a in agents
    ]
    overview.at_risk = tickets_at_risk(viewer, now, risk_hours)
    return overview


def tickets_at_risk(viewer: User, now: datetime, hours: int, limit: int = 50) -> list[Ticket]:
    """Open tickets (not waiting on the client) not yet past their next SLA target, that fall
    due within ``hours`` hours or were warned, soonest first (the breached ones are the queue's
    "Breached or due soon" view)."""
    from ..auth.policy import ticket_scope

    open_now = [s.value for s in OPEN_STATUSES if s != TicketStatus.PENDING]
    stmt = (
        ticket_scope(viewer, select(Ticket))
        .where(Ticket.status.in_(open_now), Ticket.sla_next_due.is_not(None),
               Ticket.sla_next_due > now,
               or_(Ticket.sla_next_due <= now + timedelta(hours=hours),
                   Ticket.first_response_warned_at.is_not(None),
                   Ticket.resolution_warned_at.is_not(None)))
        .order_by(Ticket.sla_next_due, Ticket.id)
        .options(joinedload(Ticket.client), joinedload(Ticket.assignee))
        .limit(limit)
    )
    return list(db.session.scalars(stmt).unique())
