"""The console dashboards' figures, each one aggregated by the database.

Plain functions taking a :class:`Filters` (month, client, agent) and the acting user: an account
manager sees the figures of their own clients only. Months are the vendor's (``TIMEZONE``) for
tickets; time entries keep their own billing month (the client's). Durations are wall-clock
(elapsed) minutes from the ticket's creation; medians and 90th percentiles are picked by rank
in SQL (window functions work on SQLite and PostgreSQL alike). The per-client hours take the
month's busiest clients from an aggregate and then the exact figures from
:func:`helpdesk.accounting.usage.usage_many`, the same as the usage API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, case, extract, func, literal, or_, select

from ..accounting.periods import month_bounds
from ..accounting.usage import month_utc_bounds, usage_many
from ..extensions import db
from ..models import (
    OPEN_STATUSES,
    Client,
    Contract,
    ContractStatus,
    Package,
    Role,
    Ticket,
    TimeEntry,
    User,
    utcnow,
)

__all__ = [
    "AGE_BUCKETS",
    "ClientHours",
    "Compliance",
    "Filters",
    "Percentiles",
    "backlog_ageing",
    "backlog_by_month",
    "client_hours",
    "logged_time",
    "response_times",
    "sla_by_client",
    "sla_by_month",
    "sla_by_package",
]

#: Open tickets by age, in days: (label key, lower bound inclusive, upper bound exclusive).
AGE_BUCKETS = (("<1", 0, 1), ("1-3", 1, 3), ("3-7", 3, 7), ("7-30", 7, 30), (">30", 30, None))
#: Rows of the per-client tables and charts.
TOP = 15


@dataclass(frozen=True)
class Filters:
    """What the dashboards show: a month ("YYYY-MM"), optionally one client and one agent."""

    month: str
    client_id: int | None = None
    agent_id: int | None = None

    def __post_init__(self) -> None:
        month_bounds(self.month)


def _months_back(month: str, count: int) -> list[str]:
    """``count`` months ending with ``month``, oldest first."""
    first, _, _ = month_bounds(month)
    months = []
    day = first
    for _ in range(count):
        months.append(day.strftime("%Y-%m"))
        day = (day - timedelta(days=1)).replace(day=1)
    return months[::-1]


def _vendor_bounds(month: str) -> tuple[datetime, datetime]:
    return month_utc_bounds(month, current_app.config["TIMEZONE"])


def _scoped(stmt: Select, client_column: Any, user: User, filters: Filters) -> Select:
    if filters.client_id is not None:
        stmt = stmt.where(client_column == filters.client_id)
    if user.role == Role.ACCOUNT_MANAGER:
        stmt = stmt.where(client_column.in_(
            select(Client.id).where(Client.account_manager_id == user.id)))
    return stmt


def _tickets_of(user: User, filters: Filters, *, agent: bool = True) -> Select:
    stmt = _scoped(select(), Ticket.client_id, user, filters).where(Ticket.merged_into_id.is_(None))
    if agent and filters.agent_id is not None:
        stmt = stmt.where(Ticket.assignee_id == filters.agent_id)
    return stmt


def _minutes_between(later: Any, earlier: Any) -> ColumnElement:
    """Whole minutes from ``earlier`` to ``later``, in the database's own arithmetic."""
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 1440.0
    return extract("epoch", later - earlier) / 60.0


# -- SLA compliance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Compliance:
    """Targets decided and kept, of first response and resolution, for one group."""

    key: str
    label: str
    first_decided: int
    first_met: int
    resolution_decided: int
    resolution_met: int

    @property
    def first_pct(self) -> float | None:
        return 100 * self.first_met / self.first_decided if self.first_decided else None

    @property
    def resolution_pct(self) -> float | None:
        return (100 * self.resolution_met / self.resolution_decided
                if self.resolution_decided else None)


def _compliance_columns(now: datetime) -> tuple[ColumnElement, ...]:
    first_decided = and_(Ticket.first_response_due.is_not(None),
                         or_(Ticket.first_response_at.is_not(None),
                             Ticket.first_response_due < now))
    first_met = and_(Ticket.first_response_at.is_not(None),
                     Ticket.first_response_at <= Ticket.first_response_due,
                     Ticket.first_response_breached_at.is_(None))
    done = func.coalesce(Ticket.resolved_at, Ticket.closed_at)
    resolution_decided = and_(Ticket.resolution_due.is_not(None),
                              or_(done.is_not(None), Ticket.resolution_due < now))
    resolution_met = and_(done.is_not(None), done <= Ticket.resolution_due,
                          Ticket.resolution_breached_at.is_(None))
    return (
        func.sum(case((first_decided, 1), else_=0)),
        func.sum(case((and_(first_decided, first_met), 1), else_=0)),
        func.sum(case((resolution_decided, 1), else_=0)),
        func.sum(case((and_(resolution_decided, resolution_met), 1), else_=0)),
    )


def _compliance(rows: Any) -> list[Compliance]:
    return [Compliance(str(key), str(label), int(a or 0), int(b or 0), int(c or 0), int(d or 0))
            for key, label, a, b, c, d in rows]


def sla_by_month(user: User, filters: Filters, months: int = 6) -> list[Compliance]:
    """Compliance of the tickets opened in each of the last ``months`` months."""
    periods = _months_back(filters.month, months)
    start, _ = _vendor_bounds(periods[0])
    _, end = _vendor_bounds(periods[-1])
    bounds = [(p, *_vendor_bounds(p)) for p in periods]
    bucket = case(*((and_(Ticket.created_at >= lo, Ticket.created_at < hi), literal(p))
                    for p, lo, hi in bounds), else_=literal(""))
    now = utcnow()
    stmt = (_tickets_of(user, filters)
            .add_columns(bucket.label("p"), bucket, *_compliance_columns(now))
            .where(Ticket.created_at >= start, Ticket.created_at < end)
            .group_by(bucket))
    found = {row.key: row for row in _compliance(db.session.execute(stmt))}
    return [found.get(p, Compliance(p, p, 0, 0, 0, 0)) for p in periods]


def _package_of_client():
    """client id -> the package of its latest active or trial contract (a subquery)."""
    latest = (select(Contract.client_id, func.max(Contract.id).label("contract_id"))
              .where(Contract.status.in_([ContractStatus.ACTIVE, ContractStatus.TRIAL]))
              .group_by(Contract.client_id).subquery())
    return (select(latest.c.client_id, Package.code, Package.name)
            .join(Contract, Contract.id == latest.c.contract_id)
            .join(Package, Package.id == Contract.package_id).subquery())


def sla_by_package(user: User, filters: Filters) -> list[Compliance]:
    """Compliance of the month's tickets by the client's package ("" for no contract)."""
    start, end = _vendor_bounds(filters.month)
    packages = _package_of_client()
    code = func.coalesce(packages.c.code, "")
    stmt = (_tickets_of(user, filters)
            .add_columns(code, func.coalesce(packages.c.name, ""),
                         *_compliance_columns(utcnow()))
            .outerjoin(packages, packages.c.client_id == Ticket.client_id)
            .where(Ticket.created_at >= start, Ticket.created_at < end)
            .group_by(code, packages.c.name).order_by(code))
    return _compliance(db.session.execute(stmt))


def sla_by_client(user: User, filters: Filters) -> list[Compliance]:
    """The month's clients with the most tickets, with their compliance."""
    start, end = _vendor_bounds(filters.month)
    stmt = (_tickets_of(user, filters)
            .add_columns(Ticket.client_id, Client.name, *_compliance_columns(utcnow()))
            .join(Client, Client.id == Ticket.client_id)
            .where(Ticket.created_at >= start, Ticket.created_at < end)
            .group_by(Ticket.client_id, Client.name)
            .order_by(func.count().desc(), Client.name).limit(TOP))
    return _compliance(db.session.execute(stmt))


# -- backlog ----------------------------------------------------------------------------------


def backlog_ageing(user: User, filters: Filters, now: datetime | None = None) -> list[tuple[str, int]]:
    """Open tickets now, by age in days (AGE_BUCKETS)."""
    now = now or utcnow()
    label = case(*(
        (and_(Ticket.created_at <= now - timedelta(days=lo),
              *(() if hi is None else (Ticket.created_at > now - timedelta(days=hi),))),
         literal(key))
        for key, lo, hi in AGE_BUCKETS
    ), else_=literal("<1"))
    stmt = (_tickets_of(user, filters).add_columns(label, func.count())
            .where(Ticket.status.in_([s.value for s in OPEN_STATUSES])).group_by(label))
    counts = dict(db.session.execute(stmt).all())
    return [(key, int(counts.get(key, 0))) for key, _, _ in AGE_BUCKETS]


def backlog_by_month(user: User, filters: Filters, months: int = 6) -> list[tuple[str, int, int]]:
    """(month, opened, resolved) for the last ``months`` months: index range counts."""
    rows = []
    for period in _months_back(filters.month, months):
        lo, hi = _vendor_bounds(period)
        opened = db.session.scalar(_tickets_of(user, filters).add_columns(func.count())
                                   .where(Ticket.created_at >= lo, Ticket.created_at < hi))
        resolved = db.session.scalar(_tickets_of(user, filters).add_columns(func.count())
                                     .where(Ticket.resolved_at >= lo, Ticket.resolved_at < hi))
        rows.append((period, int(opened or 0), int(resolved or 0)))
    return rows


# -- response and resolution times ------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    """Median and 90th percentile of elapsed minutes, over ``count`` tickets."""

    count: int
    median: float | None
    p90: float | None


def _percentiles(minutes: ColumnElement, where: Select) -> Percentiles:
    durations = where.add_columns(minutes.label("m")).subquery()
    ranked = select(
        durations.c.m,
        func.row_number().over(order_by=durations.c.m).label("rn"),
        func.count().over().label("n"),
    ).subquery()
    rank50 = (ranked.c.n * 50 + 99) // 100
    rank90 = (ranked.c.n * 90 + 99) // 100
    rows = db.session.execute(
        select(ranked.c.m, ranked.c.rn, ranked.c.n, rank50, rank90)
        .where(or_(ranked.c.rn == rank50, ranked.c.rn == rank90))
    ).all()
    if not rows:
        return Percentiles(0, None, None)
    count = int(rows[0][2])
    median = next(float(m) for m, rn, _, r50, _ in rows if rn == r50)
    p90 = next(float(m) for m, rn, _, _, r90 in rows if rn == r90)
    return Percentiles(count, median, p90)


def response_times(user: User, filters: Filters) -> dict[str, Percentiles]:
    """First response and resolution of the month's tickets: median and p90, elapsed minutes."""
    start, end = _vendor_bounds(filters.month)
    base = _tickets_of(user, filters).where(Ticket.created_at >= start, Ticket.created_at < end)
    done = func.coalesce(Ticket.resolved_at, Ticket.closed_at)
    return {
        "first_response": _percentiles(
            _minutes_between(Ticket.first_response_at, Ticket.created_at),
            base.where(Ticket.first_response_at.is_not(None))),
        "resolution": _percentiles(
            _minutes_between(done, Ticket.created_at), base.where(done.is_not(None))),
    }


# -- logged time ------------------------------------------------------------------------------


def logged_time(user: User, filters: Filters) -> list[tuple[int | None, str, str, int, int]]:
    """(agent id, agent name, kind, worked, billed minutes) of the month, busiest agents first."""
    stmt = (_scoped(select(TimeEntry.agent_id, func.coalesce(User.name, ""), TimeEntry.kind,
                           func.sum(TimeEntry.minutes), func.sum(TimeEntry.billable_minutes)),
                    TimeEntry.client_id, user, filters)
            .outerjoin(User, User.id == TimeEntry.agent_id)
            .where(TimeEntry.period == filters.month, TimeEntry.is_adjustment.is_(False))
            .group_by(TimeEntry.agent_id, User.name, TimeEntry.kind))
    if filters.agent_id is not None:
        stmt = stmt.where(TimeEntry.agent_id == filters.agent_id)
    rows = [(a, n, k, int(w or 0), int(b or 0)) for a, n, k, w, b in db.session.execute(stmt)]
    totals: dict[int | None, int] = {}
    for agent, _, _, worked, _ in rows:
        totals[agent] = totals.get(agent, 0) + worked
    return sorted(rows, key=lambda r: (-totals[r[0]], r[1], r[2]))


# -- hours per client -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientHours:
    """A client's month: package hours used, included, and the month-end forecast (minutes)."""

    client_id: int
    name: str
    used: int
    included: int
    forecast: int


def _elapsed_share(month: str, now: datetime) -> float:
    """How much of ``month`` has passed (vendor's zone): 1 for a month that is over."""
    first, after, days = month_bounds(month)
    today = now.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    if today.date() >= after:
        return 1.0
    if today.date() < first:
        return 0.0
    start = datetime.combine(first, datetime.min.time(), today.tzinfo)
    return max((today - start).total_seconds() / (days * 86400), 1 / (days * 24))


def client_hours(user: User, filters: Filters, now: datetime | None = None) -> list[ClientHours]:
    """The month's busiest clients (by billable minutes logged): used vs included, forecast."""
    stmt = (_scoped(select(TimeEntry.client_id), TimeEntry.client_id, user, filters)
            .where(TimeEntry.period == filters.month)
            .group_by(TimeEntry.client_id)
            .order_by(func.sum(TimeEntry.billable_minutes).desc(), TimeEntry.client_id)
            .limit(TOP))
    ids = list(db.session.scalars(stmt))
    if filters.client_id is not None and filters.client_id not in ids:
        ids = [filters.client_id] if _visible(user, filters.client_id) else []
    clients = list(db.session.scalars(select(Client).where(Client.id.in_(ids)))) if ids else []
    usages = usage_many(clients, filters.month)
    share = _elapsed_share(filters.month, now or utcnow())
    rows = []
    for client in clients:
        usage = usages[client.id]
        used = usage.billable_minutes
        forecast = round(used / share) if share else 0
        rows.append(ClientHours(client.id, client.name, used, usage.included_minutes, forecast))
    return sorted(rows, key=lambda r: (-r.used, r.name))


def _visible(user: User, client_id: int) -> bool:
    if user.role != Role.ACCOUNT_MANAGER:
        return db.session.get(Client, client_id) is not None
    return db.session.scalar(select(Client.id).where(
        Client.id == client_id, Client.account_manager_id == user.id)) is not None


def today_month(now: datetime | None = None) -> str:
    """The vendor's current month, "YYYY-MM"."""
    local = (now or utcnow()).astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    return date(local.year, local.month, 1).strftime("%Y-%m")
