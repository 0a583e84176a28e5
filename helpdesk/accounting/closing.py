"""Month close: freeze a billing month so its bill can no longer change.

After the close the ledger refuses to edit or delete the month's entries; a correction is an
adjustment entry in the open month (:func:`helpdesk.accounting.ledger.add_adjustment`).
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from ..audit import record
from ..extensions import db
from ..models import Client, ClosedMonth, TimeEntry, User, utcnow
from .ledger import LedgerError, insert_ignoring_conflict
from .locks import lock_month
from .rules import month_bounds
from .usage import month_utc_bounds

__all__ = ["CloseRefused", "close_month", "month_is_over", "unreviewed_count"]


class CloseRefused(LedgerError):
    """The month may not be closed yet (it is not over in every client's zone)."""


def month_is_over(period: str, now: datetime | None = None) -> bool:
    """True when ``period`` has ended in every time zone our clients (and the vendor) are in."""
    now = now or utcnow()
    zones = set(db.session.scalars(select(Client.timezone).distinct()))
    zones.add(current_app.config["TIMEZONE"])
    return all(now >= month_utc_bounds(period, tz)[1] for tz in zones)


def unreviewed_count(period: str) -> int:
    """Out-of-hours entries of the month still waiting for the account manager's decision."""
    return db.session.scalar(
        select(func.count()).select_from(TimeEntry).where(
            TimeEntry.period == period,
            TimeEntry.needs_review.is_(True),
            TimeEntry.reviewed_by_id.is_(None),
        )
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

    Idempotent: closing a closed month returns the existing row. The current or a future month
    is refused unless ``force`` (month_is_over decides, in every client's zone).
    """
    month_bounds(period)
    lock_month(period)  # waits for entries being written into the month to commit
    existing = db.session.scalar(select(ClosedMonth).where(ClosedMonth.period == period))
    if existing is not None:
        return existing
    if not force and not month_is_over(period, now):
        raise CloseRefused(f"{period} is not over yet; close it after it ends (or force it)")
    new_id = insert_ignoring_conflict(
        ClosedMonth,
        {"period": period, "closed_at": now or utcnow(),
         "closed_by_id": user.id if user else None},
        ["period"],
    )
    if new_id is None:  # closed by someone else a moment ago
        return db.session.scalar(select(ClosedMonth).where(ClosedMonth.period == period))
    closed = db.session.get(ClosedMonth, new_id)
    record(closed, "close", user=user, actor=actor or ("user" if user else "scheduler"))
    db.session.flush()
    return closed
