"""Month close: freeze a billing month so its bill can no longer change.

After the close the ledger refuses to edit or delete the month's entries; a correction is an
adjustment entry in the open month (:func:`helpdesk.accounting.ledger.add_adjustment`).

A month closes only once the account managers have decided on every out-of-hours entry flagged
for review (a client without the on-call add-on): until then :func:`close_month` refuses and
lists them. ``force`` closes anyway (an admin's decision, recorded in the audit log with the
entries it skipped). The scheduled close (:func:`close_due_months`, the 1st of each month) closes
every finished month that is clean and mails each account manager what blocks the others.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from ..audit_log.record import record
from ..extensions import db
from ..i18n import language_for
from ..integrations.events import emit
from ..models import Client, ClosedMonth, Role, TimeEntry, User, utcnow
from .ledger import LedgerError, insert_ignoring_conflict
from .locks import lock_month
from .monthly import RULES_VERSION
from .periods import month_bounds
from .usage import month_utc_bounds

__all__ = [
    "CloseBlocked",
    "CloseRefused",
    "DueClose",
    "close_due_months",
    "close_month",
    "month_is_over",
    "unreviewed_count",
    "unreviewed_entries",
]

log = logging.getLogger(__name__)


class CloseRefused(LedgerError):
    """The month may not be closed yet (it is not over in every client's zone)."""


class CloseBlocked(CloseRefused):
    """Out-of-hours entries of the month still wait for the account manager's review."""

    def __init__(self, period: str, entries: Sequence[TimeEntry]) -> None:
        self.period = period
        self.entries = list(entries)
        listed = "; ".join(describe_entry(entry) for entry in self.entries[:20])
        more = f"; and {len(self.entries) - 20} more" if len(self.entries) > 20 else ""
        super().__init__(
            f"{period} has {len(self.entries)} out-of-hours entries waiting for review "
            f"(review them, or force the close): {listed}{more}"
        )


def describe_entry(entry: TimeEntry) -> str:
    """One line naming a flagged entry: id, client, local start, kind, minutes."""
    client = db.session.get(Client, entry.client_id)
    local = entry.started_at.astimezone(ZoneInfo(client.timezone))
    return (f"entry {entry.id} ({client.name}, {local:%Y-%m-%d %H:%M}, {entry.kind}, "
            f"{entry.minutes} min)")


def month_is_over(period: str, now: datetime | None = None) -> bool:
    """True when ``period`` has ended in every time zone our clients (and the vendor) are in."""
    now = now or utcnow()
    zones = set(db.session.scalars(select(Client.timezone).distinct()))
    zones.add(current_app.config["TIMEZONE"])
    return all(now >= month_utc_bounds(period, tz)[1] for tz in zones)


def _unreviewed(period: str):
    return select(TimeEntry).where(
        TimeEntry.period == period,
        TimeEntry.needs_review.is_(True),
        TimeEntry.reviewed_by_id.is_(None),
        TimeEntry.is_adjustment.is_(False),
    )


def unreviewed_entries(period: str) -> list[TimeEntry]:
    """The month's out-of-hours entries still waiting for the account manager, in time order."""
    return list(db.session.scalars(
        _unreviewed(period).order_by(TimeEntry.started_at, TimeEntry.id)
    ))


def unreviewed_count(period: str) -> int:
    """Out-of-hours entries of the month still waiting for the account manager's decision."""
    return db.session.scalar(
        select(func.count()).select_from(_unreviewed(period).subquery())
    ) or 0


def close_month(
    period: str,
    user: User | None = None,
    *,
    force: bool = False,
    now: datetime | None = None,
    actor: str | None = None,
) -> ClosedMonth:
    """Close ``period`` ("YYYY-MM") and return its ClosedMonth row.

    Idempotent: closing a closed month returns the existing row. Refused (:class:`CloseRefused`)
    while the month is not over in every client's zone, and (:class:`CloseBlocked`, with the
    list) while flagged out-of-hours entries wait for review; ``force`` closes anyway and the
    audit log records it with the entries that were not reviewed.
    """
    month_bounds(period)
    lock_month(period)  # waits for entries being written into the month to commit
    existing = db.session.scalar(select(ClosedMonth).where(ClosedMonth.period == period))
    if existing is not None:
        return existing
    if not force and not month_is_over(period, now):
        raise CloseRefused(f"{period} is not over yet; close it after it ends (or force it)")
    pending = unreviewed_entries(period)
    if pending and not force:
        raise CloseBlocked(period, pending)
    new_id = insert_ignoring_conflict(
        ClosedMonth,
        {"period": period, "closed_at": now or utcnow(),
         "closed_by_id": user.id if user else None, "rules_version": RULES_VERSION},
        ["period"],
    )
    if new_id is None:  # closed by someone else a moment ago
        return db.session.scalar(select(ClosedMonth).where(ClosedMonth.period == period))
    closed = db.session.get(ClosedMonth, new_id)
    actor = actor or ("user" if user else "scheduler")
    if force:
        record(closed, "close_forced", user=user, actor=actor, after={
            "over": month_is_over(period, now),
            "unreviewed_entry_ids": [entry.id for entry in pending],
        })
    else:
        record(closed, "close", user=user, actor=actor)
    db.session.flush()
    emit("month.closed", closed)
    return closed


@dataclass
class DueClose:
    """What a scheduled close did: the months it closed and those review still blocks."""

    closed: list[str] = field(default_factory=list)
    blocked: dict[str, list[TimeEntry]] = field(default_factory=dict)
    mailed: int = 0

    def __str__(self) -> str:
        parts = [f"closed {', '.join(self.closed)}" if self.closed else "closed nothing"]
        for period, entries in self.blocked.items():
            parts.append(f"{period} waits for review of {len(entries)} entries")
        if self.blocked:
            parts.append(f"{self.mailed} account manager(s) told")
        return "; ".join(parts)


def _open_months_up_to(period: str) -> list[str]:
    """Months up to ``period`` that have entries and are not closed, oldest first."""
    closed = select(ClosedMonth.period)
    with_entries = set(db.session.scalars(
        select(TimeEntry.period).where(TimeEntry.period <= period,
                                       TimeEntry.period.not_in(closed)).distinct()
    ))
    if db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period)) is None:
        with_entries.add(period)
    return sorted(with_entries)


def close_due_months(period: str, *, now: datetime | None = None,
                     actor: str = "scheduler") -> DueClose:
    """The scheduled close: every finished month up to ``period`` that is clean is closed; for
    the others each account manager gets one mail listing their clients' entries to review."""
    result = DueClose()
    for month in _open_months_up_to(period):
        if not month_is_over(month, now):
            continue
        pending = unreviewed_entries(month)
        if pending:
            result.blocked[month] = pending
            continue
        close_month(month, now=now, actor=actor)
        result.closed.append(month)
    if result.blocked:
        result.mailed = _tell_account_managers(period, result.blocked)
    return result


def _tell_account_managers(period: str, blocked: dict[str, list[TimeEntry]]) -> int:
    """One mail per account manager (admins for clients without one), once per scheduled run."""
    from ..notifications.once import send_once

    by_manager: dict[int | None, list[TimeEntry]] = defaultdict(list)
    for entries in blocked.values():
        for entry in entries:
            client = db.session.get(Client, entry.client_id)
            by_manager[client.account_manager_id].append(entry)
    admins = list(db.session.scalars(select(User).where(User.role == Role.ADMIN,
                                                        User.active.is_(True))))
    sent = 0
    from ..auth.accounts import external_url

    try:
        link = external_url("agent.review_list")
    except RuntimeError:
        link = "/console/time/review"
    for manager_id, entries in by_manager.items():
        recipients = [db.session.get(User, manager_id)] if manager_id else admins
        recipients = [u for u in recipients if u is not None]
        if not recipients:
            log.warning("month close: nobody to tell about %d entries", len(entries))
            continue
        with force_locale(language_for(recipients[0])):
            months = ", ".join(sorted({entry.period for entry in entries}))
            subject = gettext("Month close waits for your review: %(months)s", months=months)
            lines = [
                gettext("These out-of-hours entries wait for your decision (approve, bill as "
                        "in-hours, or waive); the month closes once none is left:"),
                "",
                *(f"- {describe_entry(entry)}" for entry in entries),
                "",
                gettext("Review them here: %(url)s", url=link),
            ]
        key = f"close-blocked:{period}:{manager_id or 'admins'}"
        if send_once(key, [u.email for u in recipients], subject, "\n".join(lines)):
            sent += 1
    return sent
