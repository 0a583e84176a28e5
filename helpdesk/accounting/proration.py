"""Proration: a package's (or add-on's) included minutes and fee for the days it is in force.

Shares are rounded cumulatively, half up, so the parts of a month always add up to the whole
(see :func:`prorate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

from .periods import month_bounds

__all__ = ["PackageSegment", "ProratedPart", "prorate"]


@dataclass(frozen=True, slots=True)
class PackageSegment:
    """A stretch of days on one package (or one add-on): ``start_date`` up to, not including, the end."""

    start_date: date
    end_date_exclusive: date
    included_minutes: int
    monthly_fee: Decimal


@dataclass(frozen=True, slots=True)
class ProratedPart:
    """The share of one segment in one month."""

    segment: PackageSegment
    start_date: date
    end_date_exclusive: date
    days: int
    included_minutes: int
    fee: Decimal


def _round_half_up(x: Fraction) -> int:
    """Nearest integer, halves away from zero (Decimal's ROUND_HALF_UP) for an exact fraction."""
    if x >= 0:
        return math.floor(x + Fraction(1, 2))
    return -math.floor(-x + Fraction(1, 2))


def prorate(segments: Sequence[PackageSegment], month: str) -> list[ProratedPart]:
    """Included minutes and fee of each segment's days in a month, with no minute or cent lost.

    Each segment's exact share is ``value * days_on_segment / days_in_month``. Rounding each share
    on its own could create or lose a minute (three 10-day segments of 300 minutes in a 31-day
    month give 97 + 97 + 97 = 291 of 290.3, one segment of the whole month 300), so the shares are
    rounded cumulatively: part ``i`` is ``round_half_up(sum of exact shares up to i)`` minus the
    same for ``i - 1``. The first part is exactly the per-segment formula; each part is within one
    minute (cent) of its exact share; the parts add up to the rounded exact total, so a month on
    one package split anywhere adds up to the whole month's minutes and fee. Segments may leave
    gaps (a contract starting mid-month) but must not overlap.
    """
    first, after, days_in_month = month_bounds(month)
    clipped: list[tuple[date, date, PackageSegment]] = []
    for seg in segments:
        if seg.end_date_exclusive < seg.start_date:
            raise ValueError(f"segment ends before it starts: {seg}")
        if seg.included_minutes < 0 or seg.monthly_fee < 0:
            raise ValueError(f"segment values must not be negative: {seg}")
        lo = max(seg.start_date, first)
        hi = min(seg.end_date_exclusive, after)
        if lo < hi:
            clipped.append((lo, hi, seg))
    clipped.sort(key=lambda item: item[0])
    for (_, prev_hi, prev), (lo, _, seg) in pairwise(clipped):
        if lo < prev_hi:
            raise ValueError(f"segments overlap in {month}: {prev} and {seg}")

    parts: list[ProratedPart] = []
    exact_minutes = Fraction(0)
    exact_cents = Fraction(0)
    done_minutes = 0
    done_cents = 0
    for lo, hi, seg in clipped:
        days = (hi - lo).days
        exact_minutes += Fraction(seg.included_minutes * days, days_in_month)
        exact_cents += Fraction(seg.monthly_fee) * 100 * days / days_in_month
        minutes_now = _round_half_up(exact_minutes)
        cents_now = _round_half_up(exact_cents)
        parts.append(
            ProratedPart(
                segment=seg,
                start_date=lo,
                end_date_exclusive=hi,
                days=days,
                included_minutes=minutes_now - done_minutes,
                fee=Decimal(cents_now - done_cents).scaleb(-2),
            )
        )
        done_minutes = minutes_now
        done_cents = cents_now
    return parts
