"""The time ledger: every entry is written, changed or corrected here, and audited.

Entries of a closed month are frozen: a correction becomes an adjustment entry in the open month.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ..audit import record, snapshot
from ..contracts import contract_on, has_addon
from ..extensions import db
from ..models import Client, ClosedMonth, EntrySource, Ticket, TimeEntry, User
from ..sla.service import business_calendar
from .rules import BillingRules, billable_minutes, period_of


class LedgerError(ValueError):
    """A change the ledger refuses (closed month, bad values); the message is for the user."""


class MonthClosed(LedgerError):
    pass


def billing_rules() -> BillingRules:
    return BillingRules.from_config(current_app.config)


def is_month_closed(period: str) -> bool:
    return db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period)) is not None


def _require_open(period: str) -> None:
    if is_month_closed(period):
        raise MonthClosed(
            f"{period} is closed: its entries are frozen. Record a correction as an adjustment."
        )


def _bill(client: Client, kind: str, started_at: datetime, end_or_minutes: datetime | int):
    contract = contract_on(client.id, started_at.date())
    oncall = has_addon(contract, "oncall", started_at.date())
    return billable_minutes(
        kind, started_at, end_or_minutes, business_calendar(client), billing_rules(), oncall
    )


def log_entry(
    *,
    client: Client,
    kind: str,
    started_at: datetime,
    ended_at: datetime | None = None,
    minutes: int | None = None,
    ticket: Ticket | None = None,
    agent: User | None = None,
    source: str = EntrySource.MANUAL,
    external_ref: str | None = None,
    note: str | None = None,
    user: User | None = None,
    actor: str = "user",
) -> TimeEntry:
    """Record work done: a session (start and end) or logged minutes; billing is computed here."""
    if ended_at is None and minutes is None:
        raise LedgerError("give either an end time or a number of minutes")
    if minutes is not None and minutes < 0:
        raise LedgerError("minutes must not be negative")
    if ended_at is not None and ended_at < started_at:
        raise LedgerError("the entry ends before it starts")
    if ticket is not None and ticket.client_id not in (None, client.id):
        raise LedgerError("the ticket belongs to another client")
    period = period_of(started_at, client.timezone)
    _require_open(period)
    end_or_minutes = ended_at if ended_at is not None else minutes
    billing = _bill(client, kind, started_at, end_or_minutes)
    entry = TimeEntry(
        client_id=client.id,
        ticket_id=ticket.id if ticket else None,
        agent_id=agent.id if agent else None,
        kind=kind,
        source=source,
        started_at=started_at,
        ended_at=ended_at or started_at + timedelta(minutes=minutes or 0),
        minutes=billing.minutes,
        billable_minutes=billing.billable_minutes,
        out_of_hours_minutes=billing.out_of_hours_minutes,
        out_of_hours=billing.out_of_hours,
        needs_review=billing.needs_review,
        period=period,
        external_ref=external_ref,
        note=note,
        created_by_id=user.id if user else None,
    )
    db.session.add(entry)
    db.session.flush()
    record(entry, "create", user=user, actor=actor)
    return entry


EDITABLE = ("kind", "started_at", "ended_at", "minutes", "note", "ticket_id")


def update_entry(entry: TimeEntry, *, user: User | None, actor: str = "user", **changes) -> None:
    """Change an entry of an open month; billing is recomputed; the old values go to the audit."""
    _require_open(entry.period)
    before = snapshot(entry)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise LedgerError(f"cannot change {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(entry, name, value)
    client = db.session.get(Client, entry.client_id)
    new_period = period_of(entry.started_at, client.timezone)
    _require_open(new_period)
    if "minutes" in changes and "ended_at" not in changes:
        entry.ended_at = entry.started_at + timedelta(minutes=entry.minutes)
    if entry.minutes is not None and entry.minutes < 0:
        raise LedgerError("minutes must not be negative")
    billing = _bill(client, entry.kind, entry.started_at, entry.ended_at)
    entry.period = new_period
    entry.minutes = billing.minutes
    entry.billable_minutes = billing.billable_minutes
    entry.out_of_hours_minutes = billing.out_of_hours_minutes
    entry.out_of_hours = billing.out_of_hours
    entry.needs_review = billing.needs_review
    db.session.flush()
    record(entry, "update", user=user, actor=actor, before=before, after=snapshot(entry))


def delete_entry(entry: TimeEntry, *, user: User | None, actor: str = "user") -> None:
    _require_open(entry.period)
    before = snapshot(entry)
    record(entry, "delete", user=user, actor=actor, before=before)
    db.session.delete(entry)
    db.session.flush()
