"""Day-exact months: which days of a month a contract served, and whether a month is billed so.

A month a contract served only partly (it started or ended mid-month, a trial ended without
conversion) bills the other days' work at the no-contract rate
(:func:`helpdesk.accounting.monthly.compute_usage` with ``served_days``), unless the month was
closed under the month-level rule (``closed_months.rules_version`` below
:data:`helpdesk.accounting.monthly.RULES_VERSION`): a closed month keeps its figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select

from ..extensions import db
from ..models import ClosedMonth
from .monthly import RULES_VERSION

__all__ = ["day_exact", "partly_served"]


def partly_served(
    stretches: Iterable[tuple[date, date]], first: date, after: date
) -> tuple[tuple[date, date], ...] | None:
    """The served days [start, end) merged, or None when they are the whole month [first, after)."""
    merged: list[tuple[date, date]] = []
    for lo, hi in sorted(stretches):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return None if merged == [(first, after)] else tuple(merged)


def day_exact(period: str) -> bool:
    """Whether ``period`` is billed day-exact: open, or closed under the current month rules."""
    version = db.session.scalar(
        select(ClosedMonth.rules_version).where(ClosedMonth.period == period)
    )
    return version is None or version >= RULES_VERSION
