"""A package's SLA targets for each priority, dated like its prices.

Without a row of its own a priority derives from the package's policy (normal priority) by
:data:`helpdesk.sla.clock.PRIORITY_FACTORS` (urgent halves, low doubles). A change applies to
tickets opened from its day on, never to a past day, so the due times already computed stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l

from ..clients.validate import FieldError
from ..models import Package, Priority, User
from ..sla.clock import SlaTargets, targets_for
from . import dated
from .models import SlaTarget


@dataclass(frozen=True, slots=True)
class PriorityTargets:
    """The targets of one priority on a day; ``own`` when set for it, not derived."""

    priority: str
    targets: SlaTargets
    own: bool
    since: date | None = None


def _derived(package: Package, priority: str) -> SlaTargets | None:
    policy = package.sla_policy
    if policy is None:
        return None
    return targets_for(SlaTargets(policy.first_response_minutes, policy.resolution_minutes),
                       priority)


#: Answers of :func:`targets_on` inside a :func:`remembered` block.
_remembered: ContextVar[dict[tuple[int, str, date], SlaTargets | None] | None] = ContextVar(
    "sla_targets_remembered", default=None
)


@contextmanager
def remembered() -> Iterator[None]:
    """Inside the block each package's targets for a priority and day are read once: for
    many tickets opened at once (a batch of mail), not one query per client."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def targets_on(package: Package, priority: str, day: date) -> SlaTargets | None:
    """The targets a ticket of ``priority`` opened on ``day`` gets; None when it gets none."""
    memo = _remembered.get()
    key = (package.id, priority, day)
    if memo is not None and key in memo:
        return memo[key]
    row = dated.in_force(SlaTarget, day, package_id=package.id, priority=priority).get(
        (package.id, priority))
    if row is not None:
        targets = SlaTargets(row.first_response_minutes, row.resolution_minutes)
    else:
        targets = _derived(package, priority)
    if memo is not None:
        memo[key] = targets
    return targets


def table(package: Package, day: date) -> list[PriorityTargets]:
    """Every priority's targets on ``day``, for the price list page and the API."""
    rows = dated.in_force(SlaTarget, day, package_id=package.id)
    out = []
    for priority in Priority.values():
        row = rows.get((package.id, priority))
        if row is not None and row.effective_from > dated.BASELINE:
            out.append(PriorityTargets(priority, SlaTargets(
                row.first_response_minutes, row.resolution_minutes), True, row.effective_from))
        elif row is not None:  # what a priority derived before its first own change
            out.append(PriorityTargets(priority, SlaTargets(
                row.first_response_minutes, row.resolution_minutes), False))
        elif (derived := _derived(package, priority)) is not None:
            out.append(PriorityTargets(priority, derived, False))
    return out


def planned(package: Package) -> list[SlaTarget]:
    """Every own change of the package's targets, newest first (past and planned)."""
    return dated.changes(SlaTarget, package_id=package.id)


def _minutes(field: str, value) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise FieldError(field, str(_l("A whole number of minutes, please."))) from None
    if number < 1:
        raise FieldError(field, str(_l("A target is at least 1 minute.")))
    if number > 525600:
        raise FieldError(field, str(_l("At most a year (525600 minutes).")))
    return number


def set_targets(actor: User | None, package: Package, *, priority: str, effective_from: date,
                first_response_minutes, resolution_minutes,
                today: date | None = None) -> SlaTarget:
    """Own targets for one priority, for tickets opened from ``effective_from`` (today or later)."""
    if priority not in Priority.values():
        raise FieldError("priority", str(_l("Choose a priority.")))
    first = _minutes("first_response_minutes", first_response_minutes)
    resolve = _minutes("resolution_minutes", resolution_minutes)
    if resolve < first:
        raise FieldError("resolution_minutes",
                         str(_l("The resolution target cannot be shorter than the first response.")))
    today = today or dated.today()
    if effective_from < today:
        raise FieldError("effective_from", str(_l(
            "Tickets already opened keep their targets: choose today or a later day.")))
    if dated.closed(effective_from):
        raise FieldError("effective_from", str(_l(
            "%(month)s is closed: its bills are final. Choose a later month.",
            month=f"{effective_from:%Y-%m}")))
    derived = _derived(package, priority)

    def baseline() -> dict:
        return {"first_response_minutes": derived.first_response_minutes,
                "resolution_minutes": derived.resolution_minutes}

    return dated.record_change(
        actor, SlaTarget, {"package_id": package.id, "priority": priority},
        effective_from=effective_from,
        values={"first_response_minutes": first, "resolution_minutes": resolve},
        baseline=baseline if derived is not None else None, today=today,
        planned_message=_l("New targets from %(day)s are already planned; change those instead."))
