"""How the weekly plan orders the queue.

Four bands, served in this order (:data:`BAND_RESERVED` first):

0. a contract client's ticket while the client is within this week's reserved hours;
1. an urgent ticket of anyone else that has waited ``CAPACITY_URGENT_WAIT_HOURS`` business hours
   (never starved behind low-priority contract work);
2. a contract client's low-priority ticket within its reservation;
3. free capacity: everyone else, and contract clients whose reservation is used up this week, by
   priority and then age.

Within bands 0 and 2 the next SLA due time decides, then priority. A week that has not been planned
keeps every contract client within its reservation (the old "contract tickets first" order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, select

from ..extensions import db
from ..models import PRIORITY_RANK, Priority, Ticket, TimeEntry
from ..sla.service import business_calendar
from .models import Reservation

BAND_RESERVED = 0
BAND_URGENT_WAITING = 1
BAND_RESERVED_LOW = 2
BAND_FREE = 3

LOW_RANK = PRIORITY_RANK[Priority.LOW]
URGENT = Priority.URGENT.value


@dataclass(frozen=True)
class QueueContext:
    """What the ordering needs to know about this moment's plan."""

    #: Contract clients that used up this week's reserved minutes.
    exhausted: frozenset[int]
    #: Urgent tickets opened at or before this instant have waited long enough.
    urgent_before: datetime
    week_start_utc: datetime


def business_instant_before(now: datetime, minutes: int) -> datetime:
    """The instant ``minutes`` of the vendor's business time before ``now``."""
    calendar = business_calendar(None)
    left = minutes
    day = now.astimezone(calendar.tz).date()
    for _ in range(400):
        span = calendar.business_hours_on(day)
        if span is not None:
            opens, closes = span
            closes = min(closes, now)
            if closes > opens:
                available = (closes - opens).total_seconds() / 60
                if available >= left:
                    return closes - timedelta(minutes=left)
                left -= available
        day -= timedelta(days=1)
    return now - timedelta(days=400)


def week_start_utc(now: datetime) -> datetime:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    local = now.astimezone(zone).date()
    monday = local - timedelta(days=local.weekday())
    return datetime.combine(monday, time(), zone).astimezone(UTC)


def used_minutes(client_ids: set[int], since: datetime, until: datetime) -> dict[int, int]:
    """Worked minutes logged for each client from ``since`` to ``until``.

    One range scan of the week's entries on ``ix_time_entries_started_client`` (index only), then
    the clients asked for: cheaper than a list of hundreds of client ids in the query."""
    if not client_ids:
        return {}
    rows = db.session.execute(
        select(TimeEntry.client_id, func.sum(TimeEntry.minutes))
        .where(TimeEntry.started_at >= since, TimeEntry.started_at < until)
        .group_by(TimeEntry.client_id)
    ).all()
    return {client_id: int(minutes) for client_id, minutes in rows if client_id in client_ids}


def context(now: datetime) -> QueueContext:
    start = week_start_utc(now)
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    monday = start.astimezone(zone).date()
    reserved = dict(db.session.execute(
        select(Reservation.client_id, func.sum(Reservation.minutes))
        .where(Reservation.week_start == monday).group_by(Reservation.client_id)
    ).all())
    exhausted: set[int] = set()
    if reserved:
        used = used_minutes(set(reserved), start, now)
        exhausted = {c for c, m in reserved.items() if used.get(c, 0) >= m}
    hours = int(current_app.config["CAPACITY_URGENT_WAIT_HOURS"])
    return QueueContext(frozenset(exhausted), business_instant_before(now, hours * 60), start)


def band_expression(ctx: QueueContext):
    within = Ticket.reserved
    if ctx.exhausted:
        within = and_(Ticket.reserved, Ticket.client_id.not_in(sorted(ctx.exhausted)))
    return case(
        (and_(within, Ticket.priority_rank != LOW_RANK), BAND_RESERVED),
        (and_(Ticket.priority == URGENT, Ticket.created_at <= ctx.urgent_before),
         BAND_URGENT_WAITING),
        (within, BAND_RESERVED_LOW),
        else_=BAND_FREE,
    )


def band_of(ticket: Ticket, ctx: QueueContext) -> int:
    within = bool(ticket.reserved) and ticket.client_id not in ctx.exhausted
    if within and ticket.priority_rank != LOW_RANK:
        return BAND_RESERVED
    if ticket.priority == URGENT and ticket.created_at <= ctx.urgent_before:
        return BAND_URGENT_WAITING
    if within:
        return BAND_RESERVED_LOW
    return BAND_FREE


def orders_by_due(band: int) -> bool:
    return band in (BAND_RESERVED, BAND_RESERVED_LOW)
