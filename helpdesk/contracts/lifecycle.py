"""The contract lifecycle, run once a day (the ``contract_changes`` job, ``flask contract apply-due``).

Terms. A contract covers ``start_date`` .. ``end_date`` (``term_months`` long, 12 by default).

* Renewal: on its end date (or any later run that finds it not yet done) a contract with
  ``auto_renew`` gets its next term: a new contract row from the next day, ``term_months`` long,
  on the package in force on the end date (or ``next_package`` when a downgrade was asked for at
  the end of the term) at the price list of that day (a negotiated fee is for one term), with the
  add-ons that were in force. The old row becomes ``expired`` with ``ended_reason = "renewed"``;
  it still bills its own days as active (see :func:`helpdesk.contracts.changes.status_while_in_force`).
* End: from the day after its end date a contract without ``auto_renew`` is ``expired``
  (``ended_reason = "ended"``): no reserved priority, work billed at the no-contract rate; open
  tickets keep their history and only lose ``reserved``.
* Trial: its last day is ``end_date`` or ``start_date + TRIAL_DAYS - 1``. With a chosen package
  (``next_package_id``) it converts on its last day into a new active contract from the next day;
  without, it ends the next day. A trial row keeps status ``trial`` (its days stay free in every
  bill) and gets ``ended_reason`` ``trial_converted`` or ``trial_ended``.

Every step is idempotent: the successor is unique per contract (``previous_id``), ended rows are
no longer picked up, and a run made up after downtime (``--date``) repeats renewals until the
term covering that day exists. Every step is written to the audit log (actor ``scheduler``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import or_, select

from ..audit_log.record import record, snapshot
from ..extensions import db
from ..models import Client, Contract, ContractAddon, ContractChange, ContractStatus, Package

ACTOR = "scheduler"


@dataclass
class DaySummary:
    renewed: int = 0
    ended: int = 0
    trials_converted: int = 0
    trials_ended: int = 0
    package_changes: int = 0
    warranty_offers: int = 0
    reserved_changed: int = 0

    def __str__(self) -> str:
        return (
            f"{self.renewed} renewed, {self.ended} ended, {self.trials_converted} trial(s) "
            f"converted, {self.trials_ended} trial(s) ended, {self.package_changes} package "
            f"change(s), {self.warranty_offers} warranty offer(s), {self.reserved_changed} "
            "ticket(s) re-prioritised"
        )

    @property
    def changed(self) -> int:
        return (self.renewed + self.ended + self.trials_converted + self.trials_ended
                + self.package_changes + self.warranty_offers + self.reserved_changed)


def local_today(contract: Contract, now: datetime) -> date:
    return now.astimezone(ZoneInfo(contract.client.timezone)).date()


def term_end(start: date, months: int) -> date:
    """The last day of a term of ``months`` starting on ``start``."""
    return start + relativedelta(months=months) - timedelta(days=1)


def trial_last_day(contract: Contract) -> date:
    if contract.end_date is not None:
        return contract.end_date
    return contract.start_date + timedelta(days=int(current_app.config["TRIAL_DAYS"]) - 1)


def successor(contract: Contract) -> Contract | None:
    return db.session.scalar(select(Contract).where(Contract.previous_id == contract.id))


def _next_term(contract: Contract, package: Package, start: date, *,
               addons_on: date | None) -> Contract:
    """A new active contract continuing ``contract`` from ``start``."""
    months = contract.term_months or 12
    new = Contract(
        client_id=contract.client_id, package_id=package.id, status=ContractStatus.ACTIVE,
        start_date=start, end_date=term_end(start, months), renewal_date=term_end(start, months)
        + timedelta(days=1), auto_renew=True, monthly_fee=None, term_months=months,
        warranty_end=contract.warranty_end, previous_id=contract.id,
    )
    new.changes.append(ContractChange(effective_date=start, kind="start", package_id=package.id))
    if addons_on is not None:
        for item in contract.addons:
            if item.start_date <= addons_on and (item.end_date is None or item.end_date >= addons_on):
                new.addons.append(ContractAddon(addon_id=item.addon_id, start_date=start))
    db.session.add(new)
    db.session.flush()
    record(new, "create", actor=ACTOR)
    return new


def _close(contract: Contract, reason: str, *, status: str | None = None,
           end: date | None = None) -> None:
    before = snapshot(contract)
    if status is not None:
        contract.status = status
    if end is not None:
        contract.end_date = end
    contract.ended_reason = reason
    db.session.flush()
    record(contract, f"lifecycle_{reason}", actor=ACTOR, before=before)


def renew(contract: Contract) -> Contract:
    """Start the next term of ``contract`` (idempotent: returns the existing successor).

    The old term keeps serving its last day; the run of the next day expires it.
    """
    existing = successor(contract)
    if existing is not None:
        return existing
    from .changes import package_id_on

    package_id = contract.next_package_id or package_id_on(contract, contract.end_date)
    package = db.session.get(Package, package_id)
    new = _next_term(contract, package, contract.end_date + timedelta(days=1),
                     addons_on=contract.end_date)
    _close(contract, "renewed")
    return new


def _active_step(contract: Contract, today: date, summary: DaySummary) -> set[int]:
    touched: set[int] = set()
    current: Contract | None = contract
    # Made up after downtime: renew term after term until one covers today.
    while current is not None and current.status == ContractStatus.ACTIVE \
            and current.end_date is not None and today >= current.end_date:
        following = None
        if current.ended_reason is None and current.auto_renew:
            following = renew(current)
            summary.renewed += 1
            touched.add(current.client_id)
        elif current.ended_reason == "renewed":
            following = successor(current)
        if today > current.end_date:
            reason = current.ended_reason or "ended"
            if reason == "ended":
                summary.ended += 1
            _close(current, reason, status=ContractStatus.EXPIRED)
            touched.add(current.client_id)
        current = following
    return touched


def _trial_step(contract: Contract, today: date, summary: DaySummary) -> set[int]:
    last = trial_last_day(contract)
    if contract.next_package_id is not None and today >= last:
        package = db.session.get(Package, contract.next_package_id)
        new = successor(contract) or _next_term(contract, package, last + timedelta(days=1),
                                                addons_on=None)
        _close(contract, "trial_converted", end=last)
        summary.trials_converted += 1
        touched = {contract.client_id}
        touched |= _active_step(new, today, summary)
        return touched
    if contract.next_package_id is None and today > last:
        _close(contract, "trial_ended", end=last)
        summary.trials_ended += 1
        return {contract.client_id}
    return set()


def run_lifecycle(now: datetime) -> DaySummary:
    """Renew, end and convert every contract due at ``now`` (each client's own date)."""
    from ..tickets.queues import refresh_reserved

    summary = DaySummary()
    touched: set[int] = set()
    contracts = db.session.scalars(
        select(Contract)
        .where(Contract.status.in_([ContractStatus.ACTIVE.value, ContractStatus.TRIAL.value]),
               or_(Contract.status == ContractStatus.ACTIVE.value,
                   Contract.ended_reason.is_(None)))
        .order_by(Contract.start_date, Contract.id)
    ).all()
    for contract in contracts:
        if contract.status == ContractStatus.EXPIRED:  # handled earlier in this run
            continue
        today = local_today(contract, now)
        if contract.status == ContractStatus.TRIAL:
            touched |= _trial_step(contract, today, summary)
        else:
            touched |= _active_step(contract, today, summary)
    for client_id in sorted(touched):
        client = db.session.get(Client, client_id)
        day = now.astimezone(ZoneInfo(client.timezone)).date()
        summary.reserved_changed += refresh_reserved(client_id, day)
    db.session.flush()
    return summary


def run_day(now: datetime) -> DaySummary:
    """The whole day: lifecycle, then planned package changes, then the warranty offers."""
    from .changes import apply_package_changes
    from .warranty import send_warranty_offers

    summary = run_lifecycle(now)
    summary.package_changes = apply_package_changes(now)
    summary.warranty_offers = send_warranty_offers(now)
    return summary
