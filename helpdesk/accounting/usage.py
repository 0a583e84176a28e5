"""How many hours did this client use in a month, and what does the month cost: the one answer.

The console, the API, the PDF report, the portal and the reminders all call :func:`usage_for`
(or :func:`usage_many` for many clients at once): this module loads the facts (the contract's
package history, add-ons, visits left, warranty, the month's entries) with a fixed number of
queries and hands them to :func:`helpdesk.accounting.monthly.compute_usage`, which does the sums.

Contract facts for a month, in the client's zone:

* A contract serves the days it covers (``start_date`` .. ``end_date``) with the status it had then
  (:func:`helpdesk.contracts.changes.status_while_in_force`): expired and cancelled contracts
  were active until their end date. Where two contracts cover a day, the later-starting one wins.
* The month's status is ``active`` if an active contract served any day of it, else ``trial`` if
  a trial did, else ``expired``/``cancelled`` after a contract that ended, else ``none``.
* Package segments follow the ``ContractChange`` history; the fee is the contract's negotiated
  ``monthly_fee`` for its current package, the package's list price otherwise; trial days pay no
  fee. The overage rate is that of the package in force on the month's last served day.
* Day-exact (months not closed under the month-level rule, see
  :data:`helpdesk.accounting.monthly.RULES_VERSION`): when the contracts served only some days
  of the month, those days are the state's ``served_days``; the entries of such a month are
  handed over one by one, since the day of each decides how it is billed.
* Visits left = the package's ``visits_per_year`` minus visit entries from the start of the
  contract year up to the month (adjustments not counted).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select

from ..contracts.changes import package_id_on, package_timeline, status_while_in_force
from ..extensions import db
from ..models import (
    Addon,
    Client,
    ClosedMonth,
    Contract,
    ContractAddon,
    ContractChange,
    ContractStatus,
    Package,
    Ticket,
    TimeEntry,
)
from .day_exact import day_exact, partly_served
from .explain import plain_billable_minutes
from .ledger import billing_rules
from .monthly import AddonSegment, ContractState, EntryRecord, Usage, compute_usage
from .periods import month_bounds
from .proration import PackageSegment
from .tariff import VISIT, BillingRules

__all__ = [
    "contract_state",
    "month_records",
    "month_utc_bounds",
    "usage_for",
    "usage_json",
    "usage_many",
]

#: Client ids per IN (...) list: well under every database's parameter limit.
_CHUNK = 500
_ZERO = Decimal("0.00")


def month_utc_bounds(period: str, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants where the local month ``period`` of zone ``tz`` starts and ends."""
    first, after, _ = month_bounds(period)
    zone = ZoneInfo(tz)
    return (
        datetime.combine(first, time(0), zone).astimezone(UTC),
        datetime.combine(after, time(0), zone).astimezone(UTC),
    )


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


# -- contract facts ---------------------------------------------------------------------------


def _anniversary(start: date, year: int) -> date:
    try:
        return start.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def _contract_year_start(contract_start: date, day: date) -> date:
    """The first day of the contract year containing ``day``."""
    candidate = _anniversary(contract_start, day.year)
    return candidate if candidate <= day else _anniversary(contract_start, day.year - 1)


@dataclass(frozen=True, slots=True)
class _Served:
    """A stretch of days of the month a contract served."""

    contract: ContractFacts
    status: str
    start: date
    end: date  # exclusive


@dataclass
class _Catalogue:
    packages: dict[int, Package]
    addons: dict[int, Addon]


def _load_catalogue(period: str | None = None) -> _Catalogue:
    """The price list; with ``period``, each package at the price in force that month."""
    from ..pricelist.services import all_addons_in_force, packages_in_force

    packages = {p.id: p for p in db.session.scalars(select(Package))}
    if period is None:
        return _Catalogue(packages=packages,
                          addons={a.id: a for a in db.session.scalars(select(Addon))})
    first = month_bounds(period)[0]
    return _Catalogue(packages=packages_in_force(packages, first),
                      addons=all_addons_in_force(first))


@dataclass(frozen=True, slots=True)
class _Change:
    effective_date: date
    from_package_id: int | None
    package_id: int


@dataclass(frozen=True, slots=True)
class _AddonTerm:
    addon_id: int
    start_date: date
    end_date: date | None


@dataclass(slots=True)
class ContractFacts:
    """What a month's bill needs of a contract, read with plain queries (no ORM objects)."""

    id: int
    client_id: int
    package_id: int
    status: str
    start_date: date
    end_date: date | None
    monthly_fee: Decimal | None
    changes: list[_Change] = field(default_factory=list)
    addons: list[_AddonTerm] = field(default_factory=list)


def _load_contracts(client_ids: Sequence[int], before: date) -> dict[int, list[ContractFacts]]:
    """Each client's contracts that started before ``before``, with history and add-ons."""
    by_client: dict[int, list[ContractFacts]] = defaultdict(list)
    for ids in _chunks(client_ids):
        scope = (Contract.client_id.in_(ids), Contract.start_date < before)
        contracts = {
            row.id: ContractFacts(*row)
            for row in db.session.execute(
                select(Contract.id, Contract.client_id, Contract.package_id, Contract.status,
                       Contract.start_date, Contract.end_date, Contract.monthly_fee)
                .where(*scope).order_by(Contract.start_date, Contract.id)
            )
        }
        if not contracts:
            continue
        for contract_id, *values in db.session.execute(
            select(ContractChange.contract_id, ContractChange.effective_date,
                   ContractChange.from_package_id, ContractChange.package_id)
            .join(Contract, Contract.id == ContractChange.contract_id).where(*scope)
        ):
            contracts[contract_id].changes.append(_Change(*values))
        for contract_id, *values in db.session.execute(
            select(ContractAddon.contract_id, ContractAddon.addon_id, ContractAddon.start_date,
                   ContractAddon.end_date)
            .join(Contract, Contract.id == ContractAddon.contract_id).where(*scope)
        ):
            contracts[contract_id].addons.append(_AddonTerm(*values))
        for facts in contracts.values():
            by_client[facts.client_id].append(facts)
    return by_client


def _served_stretches(contracts: Sequence[ContractFacts], first: date, after: date) -> list[_Served]:
    """The days of [first, after) each contract served; a later-starting contract wins overlaps."""
    serving = [(c, status_while_in_force(c)) for c in contracts]
    serving = [(c, s) for c, s in serving if s is not None]
    stretches: list[_Served] = []
    for i, (contract, status) in enumerate(serving):
        start = max(contract.start_date, first)
        end = after if contract.end_date is None else min(contract.end_date + timedelta(1), after)
        for later, _ in serving[i + 1 :]:
            if later.start_date > contract.start_date:
                end = min(end, max(later.start_date, start))
        if start < end:
            stretches.append(_Served(contract, status, start, end))
    return stretches


def _status_without_service(contracts: Sequence[ContractFacts]) -> str:
    if not contracts:
        return "none"
    last = contracts[-1]
    return "cancelled" if last.status == ContractStatus.CANCELLED else "expired"


def _package_fee(contract: ContractFacts, package: Package, status: str) -> Decimal:
    if status == ContractStatus.TRIAL:
        return _ZERO
    if contract.monthly_fee is not None and package.id == contract.package_id:
        return contract.monthly_fee
    return package.monthly_fee


def _build_state(
    client: Client,
    period: str,
    contracts: Sequence[ContractFacts],
    catalogue: _Catalogue,
    visit_starts: Sequence[datetime],
    *,
    exact: bool = True,
) -> ContractState:
    first, after, _ = month_bounds(period)
    stretches = _served_stretches(contracts, first, after)
    if not stretches:
        return ContractState(
            status=_status_without_service(contracts),
            warranty_until=client.warranty_until,
            tz=client.timezone,
        )
    statuses = {s.status for s in stretches}
    status = ContractStatus.ACTIVE.value if ContractStatus.ACTIVE in statuses else "trial"

    segments: list[PackageSegment] = []
    addons: list[AddonSegment] = []
    last_package: Package | None = None
    for stretch in stretches:
        contract = stretch.contract
        timeline = package_timeline(contract)
        for i, (day, package_id) in enumerate(timeline):
            nxt = timeline[i + 1][0] if i + 1 < len(timeline) else stretch.end
            lo, hi = max(day, stretch.start), min(nxt, stretch.end)
            if lo >= hi:
                continue
            package = catalogue.packages[package_id]
            segments.append(PackageSegment(
                lo, hi, package.included_minutes, _package_fee(contract, package, stretch.status)
            ))
            last_package = package
        for contract_addon in contract.addons:
            addon = catalogue.addons[contract_addon.addon_id]
            lo = max(contract_addon.start_date, stretch.start)
            hi = stretch.end
            if contract_addon.end_date is not None:
                hi = min(hi, contract_addon.end_date + timedelta(1))
            if lo < hi:
                fee = _ZERO if stretch.status == ContractStatus.TRIAL else addon.monthly_fee
                addons.append(AddonSegment(addon.code, lo, hi, fee))

    # Visits: the allowance of the contract year that holds the month's first served day.
    opening = stretches[0]
    year_start = _contract_year_start(opening.contract.start_date, opening.start)
    zone = ZoneInfo(client.timezone)
    since = datetime.combine(year_start, time(0), zone).astimezone(UTC)
    until = datetime.combine(opening.start, time(0), zone).astimezone(UTC)
    used = sum(1 for started in visit_starts if since <= started < until)
    allowance = catalogue.packages[
        package_id_on(opening.contract, opening.start)
    ].visits_per_year

    return ContractState(
        status=status,
        segments=segments,
        addons=addons,
        overage_rate=last_package.overage_rate if last_package else _ZERO,
        visits_remaining=max(allowance - used, 0),
        warranty_until=client.warranty_until,
        tz=client.timezone,
        served_days=(
            partly_served(((s.start, s.end) for s in stretches), first, after)
            if exact else None
        ),
    )


# -- entries ----------------------------------------------------------------------------------


def _entry_rows(
    client_ids: Sequence[int], period: str, *, served: ColumnElement[int] | None = None
) -> Iterable[Any]:
    """The month's entries of these clients, summed in the database where the rules only add.

    One indexed query over (client_id, period), joined to tickets for the warranty flag. Entries
    are grouped by what the rules tell apart (kind, adjustment or not, warranty defect); visits
    and warranty-defect work stay one row each, because for them the start time matters (the
    first visits are free; warranty work is free up to the warranty's last day). ``served``
    (:func:`_served_case`) also keeps the entries of served days apart from the others.
    """
    defect = func.coalesce(Ticket.warranty_defect, false())
    one_by_one = case(
        (or_(and_(TimeEntry.kind == VISIT, TimeEntry.is_adjustment.is_(False)), defect,
             TimeEntry.out_of_hours.is_(True)),
         TimeEntry.id),
        else_=None,
    )
    columns = (
        TimeEntry.client_id,
        TimeEntry.kind,
        func.min(TimeEntry.started_at),
        func.sum(TimeEntry.billable_minutes),
        func.sum(TimeEntry.minutes),
        func.sum(TimeEntry.out_of_hours_minutes),
        func.max(case((TimeEntry.out_of_hours, 1), else_=0)),
        TimeEntry.is_adjustment,
        defect,
    )
    for ids in _chunks(client_ids):
        where = (
            TimeEntry.client_id == ids[0] if len(ids) == 1 else TimeEntry.client_id.in_(ids)
        )
        stmt = (
            select(*columns)
            .outerjoin(Ticket, Ticket.id == TimeEntry.ticket_id)
            .where(where, TimeEntry.period == period)
            .group_by(TimeEntry.client_id, TimeEntry.kind, TimeEntry.is_adjustment, defect,
                      one_by_one, *(() if served is None else (served,)))
        )
        yield from db.session.execute(stmt)


def _records(rows: Iterable[Any], rules: BillingRules) -> dict[int, list[EntryRecord]]:
    """EntryRecords per client: one per visit, warranty-defect or out-of-hours entry, one per
    group else. An out-of-hours entry carries its in-hours equivalent (for the surcharge)."""
    by_client: dict[int, list[EntryRecord]] = defaultdict(list)
    for client_id, kind, started, billable, minutes, ooh_minutes, ooh, adjustment, defect in rows:
        plain = (
            plain_billable_minutes(kind, int(minutes), rules) if ooh and not adjustment else None
        )
        by_client[client_id].append(EntryRecord(
            kind=kind,
            started_at=started,
            billable_minutes=int(billable),
            minutes=int(minutes),
            out_of_hours_minutes=int(ooh_minutes),
            out_of_hours=bool(ooh),
            ticket_warranty_defect=bool(defect),
            is_adjustment=bool(adjustment),
            plain_billable_minutes=plain,
        ))
    return by_client


def _visit_starts(client_ids: Sequence[int], period: str) -> dict[int, list[datetime]]:
    """Start times of each client's visits in the 13 months before ``period`` (the contract
    year's visits used before the month are among them), through the (client_id, period) index."""
    first, _, _ = month_bounds(period)
    periods = []
    day = first
    for _ in range(13):
        day = (day - timedelta(days=1)).replace(day=1)
        periods.append(day.strftime("%Y-%m"))
    by_client: dict[int, list[datetime]] = defaultdict(list)
    for ids in _chunks(client_ids):
        rows = db.session.execute(
            select(TimeEntry.client_id, TimeEntry.started_at).where(
                TimeEntry.client_id.in_(ids),
                TimeEntry.period.in_(periods),
                TimeEntry.kind == VISIT,
                TimeEntry.is_adjustment.is_(False),
            )
        )
        for client_id, started in rows:
            by_client[client_id].append(started)
    return by_client


# -- the public functions -----------------------------------------------------------------------


def _check_period(period: str) -> str:
    month_bounds(period)
    return period


def contract_state(client: Client, period: str) -> ContractState:
    """The contract facts of one client's month (see the module docstring)."""
    _, after, _ = month_bounds(period)
    contracts = _load_contracts([client.id], after)
    return _build_state(
        client, period, contracts.get(client.id, []), _load_catalogue(period),
        _visit_starts([client.id], period).get(client.id, []), exact=day_exact(period),
    )


def usage_many(
    clients: Iterable[Client], period: str, *, rules: BillingRules | None = None
) -> dict[int, Usage]:
    """:func:`usage_for` of many clients with a fixed number of queries; keyed by client id."""
    _check_period(period)
    clients = list(clients)
    if not clients:
        return {}
    rules = rules or billing_rules()
    ids = [c.id for c in clients]
    _, after, _ = month_bounds(period)
    catalogue = _load_catalogue(period)
    contracts = _load_contracts(ids, after)
    visits = _visit_starts(ids, period)
    exact = day_exact(period)
    states = {
        client.id: _build_state(
            client, period, contracts.get(client.id, []), catalogue, visits.get(client.id, []),
            exact=exact,
        )
        for client in clients
    }
    records = month_records(states, period, rules)
    return {
        client.id: compute_usage(period, states[client.id], records.get(client.id, []), rules)
        for client in clients
    }


def month_records(
    states: dict[int, ContractState], period: str, rules: BillingRules
) -> dict[int, list[EntryRecord]]:
    """The month's EntryRecords of these clients, summed where the rules only add; for clients
    whose contracts served only part of the month, the served days' sums apart from the others'."""
    partly = {cid: state for cid, state in states.items() if state.served_days is not None}
    whole = [cid for cid, state in states.items() if state.served_days is None]
    records = _records(_entry_rows(whole, period), rules) if whole else {}
    if partly:
        records.update(_records(_entry_rows(list(partly), period, served=_served_case(partly)),
                                rules))
    return records


def _served_case(states: dict[int, ContractState]) -> ColumnElement[int]:
    """1 for an entry that starts on a day its client's contract served (client's local days)."""
    whens = []
    for client_id, state in states.items():
        zone = ZoneInfo(state.tz)
        for lo, hi in state.served_days or ():
            whens.append((and_(
                TimeEntry.client_id == client_id,
                TimeEntry.started_at >= datetime.combine(lo, time(0), zone).astimezone(UTC),
                TimeEntry.started_at < datetime.combine(hi, time(0), zone).astimezone(UTC),
            ), 1))
    return case(*whens, else_=0)


def usage_for(client: Client, period: str, *, rules: BillingRules | None = None) -> Usage:
    """A client's month ("YYYY-MM", client's zone): minutes included and used, every charge."""
    return usage_many([client], period, rules=rules)[client.id]


def usage_json(client: Client, period: str, usage: Usage | None = None) -> dict[str, Any]:
    """The usage as the API returns it (and the console and report show it)."""
    usage = usage or usage_for(client, period)
    data = usage.to_json()
    closed = db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period))
    return {
        "client_id": client.id,
        **data,
        "used_minutes": data["used_minutes_by_kind"],
        "closed": closed is not None,
    }
