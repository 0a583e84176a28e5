"""Signing and ending contracts, their add-ons, package changes: what the admin pages, the CLI and
the API call. The renewal/expiry lifecycle lives in :mod:`helpdesk.contracts.lifecycle`."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..audit_log.record import record, snapshot
from ..clients.services import require_not_archived
from ..clients.validate import FieldError
from ..extensions import db
from ..models import (
    Addon,
    ChangeKind,
    Client,
    ClosedMonth,
    Contract,
    ContractAddon,
    ContractChange,
    ContractStatus,
    Package,
    User,
)
from .changes import ContractChangeError, change_package, package_id_on

MAX_TERM_MONTHS = 120


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_end(start: date, months: int) -> date:
    """The last day (inclusive) of a term of ``months`` from ``start``: 1 Jan + 12 → 31 Dec."""
    return add_months(start, months) - timedelta(days=1)


def _closed(day: date) -> bool:
    period = f"{day.year:04d}-{day.month:02d}"
    return db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period)) is not None


def _served(contract: Contract) -> bool:
    return contract.status != ContractStatus.CANCELLED or contract.end_date is not None


def overlapping(client: Client, start: date, end: date | None,
                exclude: Contract | None = None) -> Contract | None:
    for other in client.contracts:
        if other is exclude or not _served(other):
            continue
        if (end is None or other.start_date <= end) and (other.end_date is None
                                                        or other.end_date >= start):
            return other
    return None


def create_contract(actor: User | None, client: Client, package: Package, *, start: date,
                    term_months: int = 12, auto_renew: bool = True, trial: bool = False,
                    monthly_fee: Decimal | None = None, notes: str | None = None) -> Contract:
    # Two tabs signing at once: the second waits here and then sees the first (PostgreSQL).
    db.session.execute(select(Client.id).where(Client.id == client.id).with_for_update())
    db.session.refresh(client, ["contracts"])
    require_not_archived(client)
    if not package.active:
        raise FieldError("package", str(_l("%(name)s is no longer sold.", name=package.name)))
    if trial:
        end = start + timedelta(days=int(current_app.config.get("TRIAL_DAYS", 30)) - 1)
    else:
        if not 1 <= term_months <= MAX_TERM_MONTHS:
            raise FieldError("term_months", str(_l("A term of 1 to %(n)s months.",
                                                   n=MAX_TERM_MONTHS)))
        end = term_end(start, term_months)
    if monthly_fee is not None and monthly_fee < 0:
        raise FieldError("monthly_fee", str(_l("A price cannot be negative.")))
    if _closed(start):
        raise FieldError("start", str(_l("%(month)s is closed: a contract cannot start in it.",
                                         month=f"{start:%Y-%m}")))
    other = overlapping(client, start, end)
    if other is not None:
        raise FieldError("start", str(_l(
            "This overlaps contract #%(id)s (%(package)s, %(start)s – %(end)s). End that one "
            "first or start after it.", id=other.id, package=other.package.name,
            start=format_date(other.start_date, "medium"),
            end=format_date(other.end_date, "medium") if other.end_date else "…")))
    contract = Contract(client_id=client.id, package_id=package.id,
                        status=ContractStatus.TRIAL if trial else ContractStatus.ACTIVE,
                        start_date=start, end_date=end,
                        renewal_date=(end + timedelta(days=1)) if auto_renew and not trial
                        else None,
                        auto_renew=bool(auto_renew and not trial), monthly_fee=monthly_fee,
                        notes=(notes or "").strip() or None)
    contract.changes.append(ContractChange(effective_date=start, kind=ChangeKind.START,
                                           package_id=package.id,
                                           created_by_id=getattr(actor, "id", None)))
    db.session.add(contract)
    db.session.flush()
    record(contract, "create", user=actor)
    _refresh_queue(client)
    return contract


def end_contract(actor: User | None, contract: Contract, *, on: date, today: date) -> Contract:
    """End on ``on`` (the last day served): no renewal; it expires then."""
    if contract.status not in (ContractStatus.ACTIVE, ContractStatus.TRIAL):
        raise FieldError("end", str(_l("Only an active or trial contract can be ended.")))
    if on < contract.start_date - timedelta(days=1):
        raise FieldError("end", str(_l("The contract starts on %(day)s.",
                                       day=format_date(contract.start_date, "medium"))))
    if contract.end_date is not None and on > contract.end_date:
        raise FieldError("end", str(_l("The contract ends on %(day)s already.",
                                       day=format_date(contract.end_date, "medium"))))
    if _closed(on + timedelta(days=1)) or _closed(on):
        raise FieldError("end", str(_l("%(month)s is closed: its bill cannot change.",
                                       month=f"{on:%Y-%m}")))
    before = snapshot(contract)
    if on < contract.start_date:  # never served: cancelled
        contract.end_date = None
        contract.status = ContractStatus.CANCELLED
    else:
        contract.end_date = on
        if on < today:
            contract.status = ContractStatus.EXPIRED
    contract.auto_renew = False
    contract.renewal_date = None
    for term in contract.addons:
        if term.end_date is None or term.end_date > on:
            term.end_date = max(on, term.start_date)
    db.session.flush()
    record(contract, "end", user=actor, before=before)
    _refresh_queue(contract.client)
    return contract


def add_addon(actor: User | None, contract: Contract, addon: Addon, *, start: date,
              end: date | None = None) -> ContractAddon:
    if not addon.active:
        raise FieldError("addon", str(_l("%(name)s is no longer sold.", name=addon.name)))
    if contract.status not in (ContractStatus.ACTIVE, ContractStatus.TRIAL):
        raise FieldError("addon", str(_l("Only an active or trial contract takes add-ons.")))
    if end is not None and end < start:
        raise FieldError("end", str(_l("The end is before the start.")))
    if start < contract.start_date or (contract.end_date and start > contract.end_date):
        raise FieldError("start", str(_l("The add-on must start while the contract runs.")))
    if _closed(start):
        raise FieldError("start", str(_l("%(month)s is closed: its bill cannot change.",
                                         month=f"{start:%Y-%m}")))
    for term in contract.addons:
        if term.addon_id == addon.id and (end is None or term.start_date <= end) and (
                term.end_date is None or term.end_date >= start):
            raise FieldError("start", str(_l("%(name)s is already on this contract then.",
                                             name=addon.name)))
    term = ContractAddon(addon_id=addon.id, start_date=start, end_date=end)
    contract.addons.append(term)
    db.session.flush()
    record(term, "create", user=actor)
    return term


def end_addon(actor: User | None, term: ContractAddon, *, on: date) -> ContractAddon:
    if on < term.start_date:
        raise FieldError("end", str(_l("The add-on starts on %(day)s.",
                                       day=format_date(term.start_date, "medium"))))
    if _closed(on):
        raise FieldError("end", str(_l("%(month)s is closed: its bill cannot change.",
                                       month=f"{on:%Y-%m}")))
    before = snapshot(term)
    term.end_date = on
    db.session.flush()
    record(term, "end", user=actor, before=before)
    return term


def change_contract_package(actor: User | None, contract: Contract, package: Package, *,
                            on: date | None = None) -> ContractChange:
    """Upgrade (prorated from ``on``) or downgrade (from next month) by the packages' ranks."""
    current = db.session.get(Package, package_id_on(contract, on or date.today()))
    bigger = current is None or package.rank > current.rank
    try:
        change = change_package(contract, package, upgrade=bigger, requested_on=on, user=actor)
    except ContractChangeError as exc:
        raise FieldError("package", str(exc)) from None
    _refresh_queue(contract.client)
    return change


def _refresh_queue(client: Client) -> None:
    from ..tickets.queues import refresh_reserved

    refresh_reserved(client.id)
