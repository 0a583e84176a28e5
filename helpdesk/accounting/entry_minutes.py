"""What one piece of work costs in minutes: rounding, the minimum, out-of-hours weighting.

A partly out-of-hours session (phone, remote) is split by the business calendar: the in-hours
part counts once, the out-of-hours part ``out_of_hours_multiplier`` times (1.5); the weighted
total is then rounded up once to the billing increment, and a session costs at least one
increment. A 20-minute call from 15:50 to 16:10 is 10 + 10 x 1.5 = 25 -> 30 minutes. Out of
hours without the on-call add-on is billed the same way, but flagged ``needs_review`` so the
account manager decides (waive, or keep) before the month is closed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from .periods import _require_aware
from .tariff import KINDS, BillingRules, WorkingCalendar

__all__ = ["EntryBilling", "billable_minutes"]

_US_PER_MINUTE = 60_000_000


@dataclass(frozen=True, slots=True)
class EntryBilling:
    """What one piece of work costs in minutes, before package allowances are applied."""

    #: Logged (real) minutes, whole minutes rounded up.
    minutes: int
    #: Minutes that count: rounded up to the increment, out-of-hours time weighted.
    billable_minutes: int
    #: Real minutes (rounded up) of the entry that fell outside business hours.
    out_of_hours_minutes: int
    out_of_hours: bool
    #: Out-of-hours work for a client without the on-call add-on: the account manager decides.
    needs_review: bool


def _ceil_div(a: int | Fraction, b: int | Fraction) -> int:
    return -(-a // b) if isinstance(a, int) and isinstance(b, int) else math.ceil(Fraction(a) / b)


def billable_minutes(
    kind: str,
    start: datetime,
    end_or_minutes: datetime | int,
    calendar: WorkingCalendar | None,
    rules: BillingRules,
    oncall: bool,
) -> EntryBilling:
    """Billable minutes of one entry (a session from start to end, or minutes logged at start).

    Phone and remote sessions: the in-hours part counts once and the out-of-hours part
    ``rules.out_of_hours_multiplier`` times; the weighted sum is rounded up to the increment, and
    a session costs at least one increment. Email, consulting, visits and development: the logged
    minutes rounded up to the increment (0 stays 0), never weighted. ``calendar`` is needed only
    for the out-of-hours kinds.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of work {kind!r}; expected one of {sorted(KINDS)}")
    _require_aware(start, "start")
    if isinstance(end_or_minutes, datetime):
        _require_aware(end_or_minutes, "end")
        delta = end_or_minutes - start
        if delta < timedelta(0):
            raise ValueError(f"entry ends before it starts: {start} .. {end_or_minutes}")
        duration_us = delta // timedelta(microseconds=1)
        end = end_or_minutes
    elif isinstance(end_or_minutes, int) and not isinstance(end_or_minutes, bool):
        if end_or_minutes < 0:
            raise ValueError(f"logged minutes must not be negative: {end_or_minutes}")
        duration_us = end_or_minutes * _US_PER_MINUTE
        end = start + timedelta(minutes=end_or_minutes)
    else:
        raise TypeError(f"end_or_minutes must be a datetime or int, got {end_or_minutes!r}")

    minutes = _ceil_div(duration_us, _US_PER_MINUTE)
    increment_us = rules.increment_minutes * _US_PER_MINUTE
    outside_us = 0
    if kind in rules.out_of_hours_kinds and duration_us > 0:
        if calendar is None:
            raise ValueError(f"a calendar is needed to bill {kind} time")
        _inside, outside = calendar.split_minutes(start, end)
        # Trust our own duration; take only the out-of-hours share from the calendar.
        outside_us = min(max(round(outside * _US_PER_MINUTE), 0), duration_us)

    if outside_us:
        weighted = (duration_us - outside_us) + outside_us * rules.multiplier_fraction
        increments = _ceil_div(weighted, increment_us)
    else:
        increments = _ceil_div(duration_us, increment_us)
    if kind in rules.session_kinds:
        increments = max(increments, 1)
    out_of_hours = outside_us > 0
    return EntryBilling(
        minutes=minutes,
        billable_minutes=increments * rules.increment_minutes,
        out_of_hours_minutes=_ceil_div(outside_us, _US_PER_MINUTE),
        out_of_hours=out_of_hours,
        needs_review=out_of_hours and not oncall,
    )
