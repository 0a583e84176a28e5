"""SLA clock: targets per priority, due times with pauses, and the ok/warning/breached state.

Pure functions over plain values (a :class:`~helpdesk.calendar.business.BusinessCalendar`, aware datetimes,
minutes), so the ticket service, the sweep job and reports compute SLAs the same way without Flask
or a database.

A pause is a ``(start, end)`` interval during which the clock stops, e.g. while a ticket waits on
the client; ``end=None`` is a pause still running, treated as if it ended at ``now``. Pauses are
clipped to the clock's start and merged when they overlap, so they can be passed as recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from helpdesk.calendar.business import BusinessCalendar

__all__ = [
    "PRIORITIES",
    "PRIORITY_FACTORS",
    "Pause",
    "SlaState",
    "SlaTargets",
    "due_at",
    "elapsed_fraction",
    "sla_state",
    "targets_for",
]

Pause = tuple[datetime, datetime | None]
SlaState = Literal["ok", "warning", "breached"]

#: Multiplier applied to a support package's base targets per ticket priority. Urgent halves the
#: targets and low doubles them. High keeps the package's targets: it moves a ticket up the queue
#: but does not tighten what the contract promises (change the factor here if a contract does).
PRIORITY_FACTORS: dict[str, float] = {"low": 2.0, "normal": 1.0, "high": 1.0, "urgent": 0.5}
PRIORITIES: tuple[str, ...] = tuple(PRIORITY_FACTORS)


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """Business minutes allowed until the first response and until resolution; None = no target."""

    first_response_minutes: int | None
    resolution_minutes: int | None

    def __post_init__(self) -> None:
        for name in ("first_response_minutes", "resolution_minutes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")


def _scale(minutes: int | None, factor: float) -> int | None:
    """Minutes times a priority factor, rounded up so a scaled target is never a fraction."""
    if minutes is None:
        return None
    return math.ceil(minutes * factor)


def targets_for(base: SlaTargets, priority: str) -> SlaTargets:
    """A package's targets adjusted for a ticket priority (see :data:`PRIORITY_FACTORS`)."""
    try:
        factor = PRIORITY_FACTORS[priority]
    except KeyError:
        raise ValueError(f"unknown priority {priority!r}; expected one of {PRIORITIES}") from None
    return SlaTargets(
        first_response_minutes=_scale(base.first_response_minutes, factor),
        resolution_minutes=_scale(base.resolution_minutes, factor),
    )


def _normalised_pauses(
    start: datetime, pauses: Iterable[Pause], now: datetime | None
) -> list[tuple[datetime, datetime]]:
    """Pauses clipped to begin no earlier than ``start``, open ones ended at ``now``, merged."""
    clipped = []
    for pause_start, pause_end in pauses:
        if pause_end is None:
            pause_end = now if now is not None else datetime.now(UTC)
        pause_start = max(pause_start, start)
        if pause_end > pause_start:
            clipped.append((pause_start, pause_end))
    clipped.sort()
    merged: list[tuple[datetime, datetime]] = []
    for pause_start, pause_end in clipped:
        if merged and pause_start <= merged[-1][1]:
            if pause_end > merged[-1][1]:
                merged[-1] = (merged[-1][0], pause_end)
        else:
            merged.append((pause_start, pause_end))
    return merged


def due_at(
    calendar: BusinessCalendar,
    start: datetime,
    target_minutes: float,
    pauses: Sequence[Pause] = (),
    now: datetime | None = None,
) -> datetime:
    """UTC due time of a target of business minutes started at ``start``, stopped during pauses.

    ``now`` ends any open pause (default: the current time); pass it explicitly in jobs and tests.
    """
    if not pauses:
        return calendar.add_business_minutes(start, target_minutes)
    remaining = target_minutes
    cursor = start
    for pause_start, pause_end in _normalised_pauses(start, pauses, now):
        if pause_start > cursor:
            available = calendar.business_minutes_between(cursor, pause_start)
            if available >= remaining:
                break
            remaining -= available
        cursor = max(cursor, pause_end)
    return calendar.add_business_minutes(cursor, remaining)


def _counted_minutes(
    calendar: BusinessCalendar,
    start: datetime,
    end: datetime,
    merged_pauses: list[tuple[datetime, datetime]],
) -> float:
    """Business minutes on the SLA clock from ``start`` to ``end``, pauses excluded."""
    total = calendar.business_minutes_between(start, end)
    for pause_start, pause_end in merged_pauses:
        if pause_start >= end:
            break
        total -= calendar.business_minutes_between(pause_start, min(pause_end, end))
    return total


def elapsed_fraction(
    calendar: BusinessCalendar,
    start: datetime,
    due: datetime,
    now: datetime,
    pauses: Sequence[Pause] = (),
) -> float:
    """Share of the SLA time used at ``now`` (0.0 at start, 1.0 at the due time, may exceed 1).

    Only business minutes outside pauses count, on both sides of the ratio. A zero-length target
    counts as fully used once ``now`` reaches the due time.
    """
    merged = _normalised_pauses(start, pauses, now)
    allowed = _counted_minutes(calendar, start, due, merged)
    used = _counted_minutes(calendar, start, now, merged)
    if allowed <= 0:
        return 1.0 if now >= due else 0.0
    return used / allowed


def sla_state(
    calendar: BusinessCalendar,
    start: datetime,
    due: datetime,
    now: datetime,
    pauses: Sequence[Pause] = (),
    warning_at: float = 0.8,
) -> SlaState:
    """State for the sweep job: breached once past due, warning from ``warning_at`` used, else ok."""
    if now > due:
        return "breached"
    if elapsed_fraction(calendar, start, due, now, pauses) >= warning_at:
        return "warning"
    return "ok"
