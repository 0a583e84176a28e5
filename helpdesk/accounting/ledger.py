"""The time ledger: every entry is written, changed or corrected here, and audited.

Entries of a closed month are frozen: a correction becomes an adjustment entry in the open month.
Billing (rounding, out-of-hours weighting, the review flag) is computed here from
:mod:`helpdesk.accounting.entry_minutes` with the client's calendar, so no caller computes it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from ..audit_log.record import record, snapshot
from ..contracts import contract_on, has_addon
from ..contracts.changes import status_while_in_force
from ..extensions import db
from ..integrations.events import emit
from ..models import Client, ClosedMonth, EntrySource, Ticket, TimeEntry, User, utcnow
from ..sla.service import business_calendar
from .entry_minutes import EntryBilling, billable_minutes
from .locks import lock_month
from .periods import month_bounds, period_of
from .tariff import KINDS, BillingRules

__all__ = [
    "DuplicateEntry",
    "LedgerError",
    "MonthClosed",
    "add_adjustment",
    "billing_rules",
    "client_has_oncall",
    "delete_entry",
    "entries_needing_review",
    "entry_billing",
    "insert_ignoring_conflict",
    "is_month_closed",
    "local_date",
    "log_entry",
    "log_entry_once",
    "open_period",
    "review_entry",
    "update_entry",
]


class LedgerError(ValueError):
    """A change the ledger refuses (closed month, bad values); the message is for the user."""


class MonthClosed(LedgerError):
    """The entry's billing month is closed: record a correction as an adjustment instead."""


class DuplicateEntry(LedgerError):
    """A session or call with this source and reference is already in the ledger."""


def billing_rules() -> BillingRules:
    """The billing constants from the settings (increment, multiplier, rates)."""
    return BillingRules.from_config(current_app.config)


def is_month_closed(period: str) -> bool:
    """True once ``flask billing close-month`` (or the monthly job) froze the period."""
    return db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period)) is not None


def _require_open(period: str) -> None:
    lock_month(period)  # a close waits for us, or we see it (helpdesk/accounting/locks.py)
    if is_month_closed(period):
        raise MonthClosed(
            f"{period} is closed: its entries are frozen. Record a correction as an adjustment."
        )


def local_date(client: Client, moment: datetime) -> date:
    """The calendar day of ``moment`` in the client's zone (contracts and add-ons run by it)."""
    return moment.astimezone(ZoneInfo(client.timezone)).date()


def open_period(client: Client, now: datetime | None = None) -> str:
    """The client's current billing month, or the first open one after it if it was closed."""
    period = period_of(now or utcnow(), client.timezone)
    for _ in range(24):
        if not is_month_closed(period):
            return period
        period = month_bounds(period)[1].strftime("%Y-%m")
    raise LedgerError("no open billing month in the next two years")


def client_has_oncall(client: Client, day: date) -> bool:
    """Whether the on-call add-on of a contract in force covered the client's local ``day``."""
    contract = contract_on(client.id, day)
    if contract is None or status_while_in_force(contract) is None:
        return False
    return has_addon(contract, "oncall", day)


def entry_billing(
    client: Client,
    kind: str,
    started_at: datetime,
    end_or_minutes: datetime | int,
    *,
    oncall: bool | None = None,
    rules: BillingRules | None = None,
) -> EntryBilling:
    """Billable minutes of one piece of work for this client (``oncall`` precomputed by bulk
    callers; otherwise looked up for the client's local day of ``started_at``)."""
    if kind not in KINDS:
        raise LedgerError(f"unknown kind of work {kind!r}")
    if oncall is None:
        oncall = client_has_oncall(client, local_date(client, started_at))
    return billable_minutes(
        kind, started_at, end_or_minutes, business_calendar(client), rules or billing_rules(),
        oncall,
    )


def _validate_times(started_at: datetime, ended_at: datetime | None, minutes: int | None) -> None:
    if started_at.tzinfo is None or (ended_at is not None and ended_at.tzinfo is None):
        raise LedgerError("times must be timezone-aware")
    if ended_at is None and minutes is None:
        raise LedgerError("give either an end time or a number of minutes")
    if minutes is not None and minutes < 0:
        raise LedgerError("minutes must not be negative")
    if ended_at is not None and ended_at < started_at:
        raise LedgerError("the entry ends before it starts")


def _new_entry(
    *,
    client: Client,
    kind: str,
    started_at: datetime,
    ended_at: datetime | None,
    minutes: int | None,
    ticket: Ticket | None,
    agent: User | None,
    source: str,
    external_ref: str | None,
    note: str | None,
    user: User | None,
    oncall: bool | None,
) -> TimeEntry:
    _validate_times(started_at, ended_at, minutes)
    if ticket is not None and ticket.client_id not in (None, client.id):
        raise LedgerError("the ticket belongs to another client")
    period = period_of(started_at, client.timezone)
    _require_open(period)
    end_or_minutes = ended_at if ended_at is not None else int(minutes or 0)
    billing = entry_billing(client, kind, started_at, end_or_minutes, oncall=oncall)
    return TimeEntry(
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
        is_adjustment=False,
        created_by_id=user.id if user else None,
    )


def insert_ignoring_conflict(model: Any, values: dict[str, Any], conflict: list[str]) -> int | None:
    """INSERT a row unless one with the same ``conflict`` columns exists; its new id, or None.

    Concurrent writers of the same key are safe: PostgreSQL waits for the other transaction and
    then does nothing; SQLite serialises writers.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the helpdesk runs on SQLite and PostgreSQL
        where = [getattr(model, name) == values[name] for name in conflict]
        if db.session.scalar(select(model.id).where(*where)) is not None:
            return None
        obj = model(**values)
        db.session.add(obj)
        db.session.flush()
        return obj.id
    stmt = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(model.id)
    )
    return db.session.execute(stmt).scalar()


_INSERT_COLUMNS = (
    "client_id", "ticket_id", "agent_id", "kind", "source", "started_at", "ended_at", "minutes",
    "billable_minutes", "out_of_hours_minutes", "out_of_hours", "needs_review", "period",
    "external_ref", "note", "is_adjustment", "created_by_id",
)


def _store(entry: TimeEntry, user: User | None, actor: str) -> TimeEntry | None:
    """Add the entry (None if its source and reference are in the ledger already); audited."""
    if entry.external_ref is None:
        db.session.add(entry)
        db.session.flush()
    else:
        values = {name: getattr(entry, name) for name in _INSERT_COLUMNS}
        new_id = insert_ignoring_conflict(TimeEntry, values, ["source", "external_ref"])
        if new_id is None:
            return None
        entry = db.session.get(TimeEntry, new_id)
    record(entry, "create", user=user, actor=actor)
    emit("time.logged", entry)
    return entry


def _log(*, skip_duplicate: bool, user: User | None = None, actor: str = "user",
         **fields: Any) -> TimeEntry | None:
    entry = _new_entry(user=user, **fields)
    stored = _store(entry, user, actor)
    if stored is None and not skip_duplicate:
        raise DuplicateEntry(f"{entry.source} {entry.external_ref} is recorded already")
    return stored


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
    oncall: bool | None = None,
) -> TimeEntry:
    """Record work done: a session (start and end) or logged minutes; billing is computed here.

    Raises :class:`DuplicateEntry` when ``(source, external_ref)`` is recorded already.
    """
    entry = _log(
        skip_duplicate=False, client=client, kind=kind, started_at=started_at, ended_at=ended_at,
        minutes=minutes, ticket=ticket, agent=agent, source=source, external_ref=external_ref,
        note=note, user=user, actor=actor, oncall=oncall,
    )
    return cast(TimeEntry, entry)  # _log raises rather than return None here


def log_entry_once(
    *,
    client: Client,
    kind: str,
    started_at: datetime,
    source: str,
    external_ref: str,
    ended_at: datetime | None = None,
    minutes: int | None = None,
    ticket: Ticket | None = None,
    agent: User | None = None,
    note: str | None = None,
    user: User | None = None,
    actor: str = "import",
    oncall: bool | None = None,
) -> TimeEntry | None:
    """:func:`log_entry` for imports: None (nothing written) when the reference is known."""
    if not external_ref:
        raise LedgerError("an imported entry needs its session or call id")
    return _log(
        skip_duplicate=True, client=client, kind=kind, started_at=started_at, ended_at=ended_at,
        minutes=minutes, ticket=ticket, agent=agent, source=source, external_ref=external_ref,
        note=note, user=user, actor=actor, oncall=oncall,
    )


EDITABLE = ("kind", "started_at", "ended_at", "minutes", "note", "ticket_id")


def update_entry(entry: TimeEntry, *, user: User | None, actor: str = "user", **changes: Any) -> None:
    """Change an entry of an open month; billing is recomputed; the old values go to the audit.

    Giving ``minutes`` without ``ended_at`` sets the duration; moving ``started_at`` alone keeps
    it. A changed bill clears an earlier review decision (the account manager decides again);
    changing only the note or the ticket keeps the bill as it is (a waiver included).
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise LedgerError(f"cannot change {', '.join(sorted(unknown))}")
    if entry.is_adjustment:
        raise LedgerError("an adjustment is not edited: delete it and record a new one")
    _require_open(entry.period)
    kind = changes.get("kind", entry.kind)
    started_at = changes.get("started_at", entry.started_at)
    if "ended_at" in changes:
        ended_at = changes["ended_at"]
    elif "minutes" in changes:
        if changes["minutes"] is None or changes["minutes"] < 0:
            raise LedgerError("minutes must not be negative")
        ended_at = started_at + timedelta(minutes=changes["minutes"])
    else:
        ended_at = started_at + ((entry.ended_at or entry.started_at) - entry.started_at)
    _validate_times(started_at, ended_at, None)
    client = db.session.get(Client, entry.client_id)
    ticket_id = changes.get("ticket_id", entry.ticket_id)
    if ticket_id is not None:
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is None or ticket.client_id not in (None, client.id):
            raise LedgerError("the ticket belongs to another client")
    rebill = (kind, started_at, ended_at) != (entry.kind, entry.started_at, entry.ended_at)
    if rebill:
        new_period = period_of(started_at, client.timezone)
        _require_open(new_period)
        billing = entry_billing(client, kind, started_at, ended_at)

    before = snapshot(entry)
    entry.ticket_id = ticket_id
    if "note" in changes:
        entry.note = changes["note"]
    if rebill:
        entry.kind = kind
        entry.started_at = started_at
        entry.ended_at = ended_at
        entry.period = new_period
        entry.minutes = billing.minutes
        entry.billable_minutes = billing.billable_minutes
        entry.out_of_hours_minutes = billing.out_of_hours_minutes
        entry.out_of_hours = billing.out_of_hours
        entry.needs_review = billing.needs_review
        entry.reviewed_by_id = None
    db.session.flush()
    record(entry, "update", user=user, actor=actor, before=before, after=snapshot(entry))


def delete_entry(entry: TimeEntry, *, user: User | None, actor: str = "user") -> None:
    """Remove an entry of an open month (the audit keeps its values)."""
    _require_open(entry.period)
    before = snapshot(entry)
    record(entry, "delete", user=user, actor=actor, before=before)
    db.session.delete(entry)
    db.session.flush()


@dataclass(frozen=True, slots=True)
class _Corrected:
    minutes: int
    billable_minutes: int


def _corrected(original: TimeEntry) -> _Corrected:
    """The original's minutes with the adjustments already booked against it."""
    extra_minutes, extra_billable = db.session.execute(
        select(
            func.coalesce(func.sum(TimeEntry.minutes), 0),
            func.coalesce(func.sum(TimeEntry.billable_minutes), 0),
        ).where(TimeEntry.adjusts_entry_id == original.id)
    ).one()
    return _Corrected(
        original.minutes + int(extra_minutes), original.billable_minutes + int(extra_billable)
    )


def add_adjustment(
    original: TimeEntry,
    *,
    reason: str,
    user: User | None,
    minutes_delta: int = 0,
    billable_delta: int | None = None,
    now: datetime | None = None,
    actor: str = "user",
) -> TimeEntry:
    """Correct an entry (typically of a closed month) with an adjustment in the open month.

    ``minutes_delta`` changes the worked minutes; the billable change is then what the rules give
    for the corrected duration minus what was billed (earlier adjustments included), unless
    ``billable_delta`` says it outright (a waiver, a goodwill credit).
    """
    reason = (reason or "").strip()
    if not reason:
        raise LedgerError("an adjustment needs a reason")
    if original.is_adjustment:
        raise LedgerError("adjust the original entry, not an adjustment")
    client = db.session.get(Client, original.client_id)
    current = _corrected(original)
    new_minutes = current.minutes + minutes_delta
    if new_minutes < 0:
        raise LedgerError(f"the entry has {current.minutes} minutes: cannot take {-minutes_delta}")
    if billable_delta is None:
        if minutes_delta == 0:
            raise LedgerError("give the minutes to add or take back")
        # No minutes left means the work did not happen: not even a session's increment.
        rebilled = (
            entry_billing(client, original.kind, original.started_at, new_minutes)
            .billable_minutes if new_minutes else 0
        )
        billable_delta = rebilled - current.billable_minutes
    if current.billable_minutes + billable_delta < 0:
        raise LedgerError(
            f"the entry bills {current.billable_minutes} minutes: cannot take {-billable_delta}"
        )
    if minutes_delta == 0 and billable_delta == 0:
        raise LedgerError("the correction changes nothing")
    now = now or utcnow()
    entry = TimeEntry(
        client_id=client.id,
        ticket_id=original.ticket_id,
        agent_id=original.agent_id,
        kind=original.kind,
        source=EntrySource.ADJUSTMENT,
        started_at=now,
        ended_at=now,
        minutes=minutes_delta,
        billable_minutes=billable_delta,
        out_of_hours_minutes=0,
        out_of_hours=False,
        needs_review=False,
        period=open_period(client, now),
        is_adjustment=True,
        adjusts_entry_id=original.id,
        reason=reason,
        note=f"correction of entry {original.id} ({original.period})",
        created_by_id=user.id if user else None,
    )
    db.session.add(entry)
    db.session.flush()
    record(entry, "create", user=user, actor=actor)
    emit("time.logged", entry)
    return entry


class _InHours:
    """A calendar in which every minute is business time (billing without the surcharge)."""

    def split_minutes(self, start: datetime, end: datetime) -> tuple[float, float]:
        return (end - start).total_seconds() / 60, 0.0


#: The account manager's decisions on out-of-hours work of a client without on-call.
REVIEW_DECISIONS = ("approve", "waive_surcharge", "waive")


def review_entry(entry: TimeEntry, *, user: User, decision: str, actor: str = "user") -> None:
    """Decide on an entry flagged for review: keep its bill, bill it as in-hours time, or waive
    it (0 minutes). A month already closed is corrected with an adjustment instead."""
    if decision not in REVIEW_DECISIONS:
        raise LedgerError(f"unknown decision {decision!r}")
    if not entry.needs_review:
        raise LedgerError("this entry does not need a review")
    _require_open(entry.period)
    before = snapshot(entry)
    if decision == "waive":
        entry.billable_minutes = 0
    elif decision == "waive_surcharge":
        end = entry.ended_at or entry.started_at + timedelta(minutes=entry.minutes)
        plain = billable_minutes(entry.kind, entry.started_at, end, _InHours(), billing_rules(),
                                 oncall=True)
        entry.billable_minutes = plain.billable_minutes
    entry.reviewed_by_id = user.id
    db.session.flush()
    record(entry, f"review_{decision}", user=user, actor=actor, before=before,
           after=snapshot(entry))


def entries_needing_review(manager: User | None = None, *, limit: int = 500) -> list[TimeEntry]:
    """Out-of-hours entries not decided yet: of the manager's clients, or of all (None)."""
    stmt = (
        select(TimeEntry)
        .join(Client, Client.id == TimeEntry.client_id)
        .where(TimeEntry.needs_review.is_(True), TimeEntry.reviewed_by_id.is_(None),
               TimeEntry.is_adjustment.is_(False))
        .order_by(TimeEntry.started_at, TimeEntry.id)
        .limit(limit)
    )
    if manager is not None:
        stmt = stmt.where(Client.account_manager_id == manager.id)
    return list(db.session.scalars(stmt))
