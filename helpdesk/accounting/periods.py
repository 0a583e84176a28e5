"""Billing months: which month an entry belongs to, a month's days, when a package change applies."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "change_effective_date",
    "downgrade_effective_date",
    "month_bounds",
    "period_of",
]


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {dt!r}")


def period_of(start_utc: datetime, tz: str | tzinfo) -> str:
    """The billing month ("YYYY-MM") of an entry: the local month, in the client's zone, it starts in."""
    _require_aware(start_utc, "start_utc")
    local = start_utc.astimezone(_zone(tz))
    return f"{local.year:04d}-{local.month:02d}"


def month_bounds(month: str) -> tuple[date, date, int]:
    """(first day, first day of the next month, days in month) of a "YYYY-MM" period."""
    try:
        year_s, month_s = month.split("-")
        if len(year_s) != 4 or len(month_s) != 2:
            raise ValueError
        first = date(int(year_s), int(month_s), 1)
    except ValueError:
        raise ValueError(f"month must look like 'YYYY-MM', got {month!r}") from None
    days = monthrange(first.year, first.month)[1]
    return first, first + timedelta(days=days), days


def downgrade_effective_date(requested_on: date) -> date:
    """A downgrade takes effect on the first day of the month after the request."""
    days = monthrange(requested_on.year, requested_on.month)[1]
    return requested_on.replace(day=1) + timedelta(days=days)


def change_effective_date(requested_on: date, *, upgrade: bool) -> date:
    """When a package change takes effect: an upgrade the same day, a downgrade next month."""
    return requested_on if upgrade else downgrade_effective_date(requested_on)
