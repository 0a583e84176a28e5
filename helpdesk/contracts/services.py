"""Questions about contracts that every other module asks, answered in one place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Addon, Contract, ContractAddon, ContractStatus, Package

#: Statuses under which the client is served (trial clients too: they are trying the package).
SERVING_STATUSES = (ContractStatus.ACTIVE, ContractStatus.TRIAL)


def contract_on(client_id: int, day: date) -> Contract | None:
    """The contract covering ``day`` (active or trial first, then the latest that covers it)."""
    rows = db.session.scalars(
        select(Contract)
        .where(Contract.client_id == client_id, Contract.start_date <= day)
        .order_by(Contract.start_date.desc(), Contract.id.desc())
    ).all()
    return _covering(rows, day)


def _covering(rows: Sequence[Contract], day: date) -> Contract | None:
    """``contract_on``'s choice among a client's contracts, latest start first."""
    covering = [c for c in rows if c.covers(day)]
    for c in covering:
        if c.status in SERVING_STATUSES:
            return c
    return covering[0] if covering else None


def active_contracts(
    client_ids: Iterable[int], day: date, *, options: Sequence[Any] = ()
) -> dict[int, Contract]:
    """``active_contract`` for several clients in one query (mail ingest opens tickets for many
    at once): client id -> the contract in force, for the clients that have one. ``options``:
    loader options for the contracts (e.g. their package and SLA policy)."""
    ids = sorted(set(client_ids))
    rows: dict[int, list[Contract]] = {}
    for start in range(0, len(ids), 500):
        for contract in db.session.scalars(
            select(Contract)
            .where(Contract.client_id.in_(ids[start : start + 500]), Contract.start_date <= day)
            .order_by(Contract.start_date.desc(), Contract.id.desc())
            .options(*options)
        ):
            rows.setdefault(contract.client_id, []).append(contract)
    found = {}
    for client_id, contracts in rows.items():
        contract = _covering(contracts, day)
        if contract is not None and contract.status in SERVING_STATUSES:
            found[client_id] = contract
    return found


def active_contract(client_id: int, day: date) -> Contract | None:
    """The contract in force on ``day`` with status active or trial, if any."""
    c = contract_on(client_id, day)
    return c if c is not None and c.status in SERVING_STATUSES else None


def has_active_contract(client_id: int | None, day: date) -> bool:
    """Reserved priority: the client has a paid, active contract (trial counts too)."""
    return client_id is not None and active_contract(client_id, day) is not None


def package_on(contract: Contract, day: date) -> Package:
    """The package in force on ``day``, following the contract's change history."""
    package = contract.package
    for change in contract.changes:
        if change.effective_date <= day:
            package = change.package
    return package


def has_addon(contract: Contract | None, code: str, day: date) -> bool:
    if contract is None:
        return False
    return any(
        ca.addon.code == code
        and ca.start_date <= day
        and (ca.end_date is None or day <= ca.end_date)
        for ca in contract.addons
    )


def addon_by_code(code: str) -> Addon | None:
    return db.session.scalar(select(Addon).where(Addon.code == code))


def addons_on(contract: Contract, day: date) -> list[ContractAddon]:
    return [
        ca
        for ca in contract.addons
        if ca.start_date <= day and (ca.end_date is None or day <= ca.end_date)
    ]
