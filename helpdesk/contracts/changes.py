"""Package changes of a contract: an upgrade takes effect at once (prorated), a downgrade next month.

The history is the contract's ``ContractChange`` rows: from each ``effective_date`` on, the contract
is on that row's package. :mod:`helpdesk.accounting.usage` reads it to prorate included minutes and
fees by days on each package; ``Contract.package_id`` follows the package in force today.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..accounting.periods import change_effective_date
from ..audit_log.record import record, snapshot
from ..extensions import db
from ..integrations.events import emit
from ..models import (
    Addon,
    ChangeKind,
    ClosedMonth,
    Contract,
    ContractAddon,
    ContractChange,
    ContractStatus,
    Package,
    User,
    utcnow,
)

__all__ = [
    "ContractChangeError",
    "ContractTerms",
    "add_addon",
    "apply_due_changes",
    "apply_package_changes",
    "cancel_renewal",
    "change_package",
    "choose_next_package",
    "downgrade",
    "package_id_on",
    "package_timeline",
    "pending_change",
    "remove_addon",
    "status_while_in_force",
    "upgrade",
]


class ContractTerms(Protocol):
    """What the package history needs of a contract (a ``Contract`` or the facts usage reads)."""

    status: str
    start_date: date
    end_date: date | None
    package_id: int

    @property
    def changes(self) -> Sequence[Any]: ...


class ContractChangeError(ValueError):
    """A package change that cannot be made; the message is for the user (a lazy translation,
    in the reader's language when shown)."""


#: Why a contract cannot change, in words (only serving contracts change package).
_NOT_SERVING = {
    ContractStatus.EXPIRED: _l("The contract has expired: only a running contract changes package."),
    ContractStatus.CANCELLED: _l(
        "The contract is cancelled: only a running contract changes package."
    ),
}


def status_while_in_force(contract: ContractTerms) -> str | None:
    """The status a contract had on the days it covers, for billing those days.

    A trial was a trial and an active contract active. An expired or cancelled contract with an
    end date was active until that date (its status says what happened after, and a closed month's
    bill must not change when a contract later expires). One with no end date never served.
    """
    if contract.status == ContractStatus.TRIAL:
        return ContractStatus.TRIAL.value
    if contract.status == ContractStatus.ACTIVE:
        return ContractStatus.ACTIVE.value
    if contract.end_date is not None:
        return ContractStatus.ACTIVE.value
    return None


def package_timeline(contract: ContractTerms) -> list[tuple[date, int]]:
    """(first day, package id) of each stretch of the contract on one package, in date order.

    Before the first recorded change the contract is on that change's ``from_package`` (or on
    its current package when the history has no start row).
    """
    changes = sorted(contract.changes, key=lambda c: c.effective_date)
    timeline: list[tuple[date, int]] = []
    if not changes or changes[0].effective_date > contract.start_date:
        first = changes[0].from_package_id if changes else None
        timeline.append((contract.start_date, first or contract.package_id))
    for change in changes:
        day = max(change.effective_date, contract.start_date)
        if timeline and timeline[-1][0] == day:
            timeline[-1] = (day, change.package_id)
        elif not timeline or timeline[-1][1] != change.package_id:
            timeline.append((day, change.package_id))
    return timeline


def package_id_on(contract: ContractTerms, day: date) -> int:
    """The id of the package the contract is on on ``day`` (following its history)."""
    current = contract.package_id
    for start, package_id in package_timeline(contract):
        if start <= day:
            current = package_id
    return current


def _today(contract: Contract) -> date:
    return utcnow().astimezone(ZoneInfo(contract.client.timezone)).date()


def _require_open_month(contract: Contract, day: date) -> None:
    period = f"{day.year:04d}-{day.month:02d}"
    closed = db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period))
    if closed is not None:
        raise ContractChangeError(_l(
            "%(month)s is closed: a package change effective on %(day)s would alter a frozen bill.",
            month=format_date(day, "LLLL y"), day=format_date(day),
        ))


def change_package(
    contract: Contract,
    package: Package,
    *,
    upgrade: bool,
    requested_on: date | None = None,
    user: User | None = None,
    actor: str = "user",
    monthly_fee: Decimal | None = None,
) -> ContractChange:
    """Move a contract to another package: an upgrade from ``requested_on`` (default today,
    client's date), a downgrade from the first day of the next month.

    A negotiated fee is for one package, so it is replaced by ``monthly_fee`` (None: list price).
    """
    if contract.status not in (ContractStatus.ACTIVE, ContractStatus.TRIAL):
        raise ContractChangeError(_NOT_SERVING.get(contract.status) or _l(
            "Only a running contract changes package."))
    requested_on = requested_on or _today(contract)
    effective = change_effective_date(requested_on, upgrade=upgrade)
    if effective < contract.start_date:
        raise ContractChangeError(_l("The contract starts on %(start)s, after %(day)s.",
                                     start=format_date(contract.start_date),
                                     day=format_date(effective)))
    if contract.end_date is not None and effective > contract.end_date:
        raise ContractChangeError(_l("The contract ends on %(end)s, before %(day)s.",
                                     end=format_date(contract.end_date),
                                     day=format_date(effective)))
    current = db.session.get(Package, package_id_on(contract, effective))
    if current is not None and current.id == package.id:
        raise ContractChangeError(_l("The contract is already on %(package)s on %(day)s.",
                                     package=package.name, day=format_date(effective)))
    if current is not None:
        if upgrade and package.rank <= current.rank:
            raise ContractChangeError(_l(
                "%(new)s is not bigger than %(current)s: that is a downgrade.",
                new=package.name, current=current.name))
        if not upgrade and package.rank >= current.rank:
            raise ContractChangeError(_l(
                "%(new)s is not smaller than %(current)s: that is an upgrade.",
                new=package.name, current=current.name))
    _require_open_month(contract, effective)
    later = [c for c in contract.changes if c.effective_date > effective]
    if later:
        raise ContractChangeError(_l(
            "A change is already planned for %(day)s; cancel it first.",
            day=format_date(later[0].effective_date)))
    before = snapshot(contract)
    kind = ChangeKind.UPGRADE if upgrade else ChangeKind.DOWNGRADE
    change = next((c for c in contract.changes if c.effective_date == effective), None)
    if change is None:
        change = ContractChange(
            effective_date=effective,
            kind=kind,
            from_package_id=current.id if current else None,
            package_id=package.id,
            created_by_id=user.id if user else None,
        )
        contract.changes.append(change)
    else:
        # A second change on the same day replaces the first (a start keeps its kind).
        change_before = snapshot(change)
        change.package_id = package.id
        if change.kind != ChangeKind.START:
            change.kind = kind
        record(change, "update", user=user, actor=actor, before=change_before)
    contract.monthly_fee = monthly_fee
    if effective <= _today(contract):
        contract.package_id = package.id
    db.session.flush()
    record(change, "create", user=user, actor=actor)
    record(contract, f"package_{kind.value}", user=user, actor=actor, before=before)
    emit("contract.changed", change)
    return change


def upgrade(contract: Contract, package: Package, *, on: date | None = None,
            user: User | None = None, actor: str = "user",
            monthly_fee: Decimal | None = None) -> ContractChange:
    """Upgrade now (or on ``on``): the month is prorated by days on each package."""
    return change_package(contract, package, upgrade=True, requested_on=on, user=user,
                          actor=actor, monthly_fee=monthly_fee)


def downgrade(contract: Contract, package: Package, *, requested_on: date | None = None,
              user: User | None = None, actor: str = "user",
              monthly_fee: Decimal | None = None) -> ContractChange:
    """Downgrade from the first day of the month after ``requested_on`` (default today)."""
    return change_package(contract, package, upgrade=False, requested_on=requested_on,
                          user=user, actor=actor, monthly_fee=monthly_fee)


def apply_due_changes(now: datetime | None = None):
    """The daily contract job: the whole day's lifecycle (renewals, ends, trials, warranty
    offers) and the planned package changes; see :mod:`helpdesk.contracts.lifecycle`."""
    from .lifecycle import run_day

    return run_day(now or utcnow())


def pending_change(contract: Contract, day: date) -> ContractChange | None:
    """A package change planned after ``day`` (a downgrade waiting for next month)."""
    return next((c for c in contract.changes if c.effective_date > day), None)


def add_addon(contract: Contract, addon: Addon, *, on: date | None = None,
              user: User | None = None, actor: str = "user") -> ContractAddon:
    """Add an add-on from ``on`` (default today); the month is prorated by day."""
    on = on or _today(contract)
    if contract.status not in (ContractStatus.ACTIVE, ContractStatus.TRIAL):
        raise ContractChangeError(f"the contract is {contract.status}: only a serving one changes")
    if not addon.active:
        raise ContractChangeError(f"{addon.name} is no longer offered")
    if any(ca.addon_id == addon.id and ca.start_date <= on
           and (ca.end_date is None or ca.end_date >= on) for ca in contract.addons):
        raise ContractChangeError(f"{addon.name} is already on the contract")
    _require_open_month(contract, on)
    removed_today = next((ca for ca in contract.addons if ca.addon_id == addon.id
                          and ca.end_date == on - timedelta(days=1)), None)
    if removed_today is not None and removed_today.start_date == on:
        removed_today.end_date = None
        item = removed_today
    else:
        item = ContractAddon(addon_id=addon.id, start_date=on)
        contract.addons.append(item)
    db.session.flush()
    record(item, "create", user=user, actor=actor)
    return item


def remove_addon(contract: Contract, addon: Addon, *, on: date | None = None,
                 user: User | None = None, actor: str = "user") -> ContractAddon:
    """End an add-on: ``on`` (default today) is its last day."""
    on = on or _today(contract)
    item = next((ca for ca in contract.addons if ca.addon_id == addon.id and ca.start_date <= on
                 and (ca.end_date is None or ca.end_date >= on)), None)
    if item is None:
        raise ContractChangeError(f"{addon.name} is not on the contract")
    _require_open_month(contract, on)
    before = snapshot(item)
    # Added today and removed today: it never served.
    item.end_date = on if item.start_date < on else on - timedelta(days=1)
    if item.end_date < item.start_date:
        contract.addons.remove(item)
        record(item, "delete", user=user, actor=actor, before=before)
    else:
        record(item, "update", user=user, actor=actor, before=before)
    db.session.flush()
    return item


def cancel_renewal(contract: Contract, *, user: User | None = None,
                   actor: str = "user") -> Contract:
    """Stop the automatic renewal: the contract ends on its end date."""
    if contract.status != ContractStatus.ACTIVE or contract.end_date is None:
        raise ContractChangeError("only an active contract with an end date renews")
    if not contract.auto_renew:
        raise ContractChangeError("the renewal is already cancelled")
    _require_open_month(contract, _today(contract))
    before = snapshot(contract)
    contract.auto_renew = False
    contract.renewal_cancelled_at = utcnow()
    db.session.flush()
    record(contract, "renewal_cancel", user=user, actor=actor, before=before)
    return contract


def choose_next_package(contract: Contract, package: Package | None, *,
                        user: User | None = None, actor: str = "user") -> Contract:
    """The package a trial converts to (None: the trial just ends)."""
    if contract.status != ContractStatus.TRIAL:
        raise ContractChangeError("only a trial converts to a package")
    if package is not None and not package.active:
        raise ContractChangeError(f"{package.name} is no longer offered")
    before = snapshot(contract)
    contract.next_package_id = package.id if package else None
    db.session.flush()
    record(contract, "trial_choice", user=user, actor=actor, before=before)
    return contract


def apply_package_changes(now: datetime | None = None) -> int:
    """Point ``Contract.package_id`` at the package in force today (after a planned downgrade)."""
    now = now or utcnow()
    changed = 0
    contracts = db.session.scalars(
        select(Contract).where(
            Contract.status.in_([ContractStatus.ACTIVE.value, ContractStatus.TRIAL.value])
        )
    ).all()
    for contract in contracts:
        today = now.astimezone(ZoneInfo(contract.client.timezone)).date()
        package_id = package_id_on(contract, today)
        if package_id != contract.package_id:
            contract.package_id = package_id
            changed += 1
    db.session.flush()
    return changed

