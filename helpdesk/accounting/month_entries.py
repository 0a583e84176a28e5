"""A client's month entry by entry, with agent and ticket: the list the console and the report show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Client, Ticket, TimeEntry, User
from .periods import month_bounds

__all__ = ["MonthEntry", "month_entries"]


@dataclass(frozen=True, slots=True)
class MonthEntry:
    """One line of a month's entry list (console, report)."""

    id: int
    started_at: datetime
    ended_at: datetime | None
    kind: str
    source: str
    agent_id: int | None
    agent_name: str | None
    minutes: int
    billable_minutes: int
    out_of_hours: bool
    out_of_hours_minutes: int
    needs_review: bool
    reviewed: bool
    is_adjustment: bool
    ticket_number: int | None
    ticket_subject: str | None
    note: str | None
    reason: str | None
    external_ref: str | None
    period: str
    #: For an adjustment: the month of the entry it corrects.
    corrects_period: str | None = None


def month_entries(client: Client, period: str) -> list[MonthEntry]:
    """The month's entries of a client in time order, with agent and ticket, in one query."""
    month_bounds(period)  # validates the period
    original = aliased(TimeEntry)
    stmt = (
        select(
            TimeEntry.id, TimeEntry.started_at, TimeEntry.ended_at, TimeEntry.kind,
            TimeEntry.source, TimeEntry.agent_id, User.name, TimeEntry.minutes,
            TimeEntry.billable_minutes, TimeEntry.out_of_hours, TimeEntry.out_of_hours_minutes,
            TimeEntry.needs_review, TimeEntry.reviewed_by_id.is_not(None),
            TimeEntry.is_adjustment, Ticket.number, Ticket.subject, TimeEntry.note,
            TimeEntry.reason, TimeEntry.external_ref, TimeEntry.period, original.period,
        )
        .outerjoin(User, User.id == TimeEntry.agent_id)
        .outerjoin(original, original.id == TimeEntry.adjusts_entry_id)
        .outerjoin(Ticket, Ticket.id == TimeEntry.ticket_id)
        .where(TimeEntry.client_id == client.id, TimeEntry.period == period)
        .order_by(TimeEntry.started_at, TimeEntry.id)
    )
    return [MonthEntry(*row) for row in db.session.execute(stmt)]
