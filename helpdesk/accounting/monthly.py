"""A month's bill: a client's entries summed against its contract (:func:`compute_usage`).

This is the one place that says what a month costs: the agent console, the client portal, the
monthly report and the reminders all reach it through :func:`helpdesk.accounting.usage.usage_for`.
Nothing here touches Flask or the database; callers load the facts and pass them in.

Decisions the contracts leave open, fixed here:

* **Proration** of included minutes and fees uses cumulative rounding, see
  :func:`helpdesk.accounting.proration.prorate`.
* **Trial** clients see the full accounting (included, used, overage minutes) but pay nothing for
  the package, add-ons or overage; custom development is a separate order and is still charged.
* **Warranty**: only without a contract (as the contracts say): warranty-defect work done up to and
  including ``warranty_until`` (client's local date) costs nothing; all other work is billed at the
  no-contract rate.
* **Days without a contract** (day-exact): in a month a contract served only partly (it started
  or ended mid-month, a trial ended without conversion), the work of the days it served counts
  against its prorated package; the work of the other days (client's local date of the entry's
  start) is billed like work without a contract: at the no-contract rate, warranty-defect work
  within the warranty free. Adjustments booked in the month stay with the package.
* **Negative adjustments** reduce the month's counted minutes; a month's charges never go below
  zero (a credit beyond that is a matter for the account manager, not the formula).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from .explain import (
    BUCKET_DEVELOPMENT,
    BUCKET_FREE_VISIT,
    BUCKET_NO_CONTRACT,
    BUCKET_PACKAGE,
    BUCKET_WARRANTY,
    EntryExplanation,
    explain_entry,
)
from .periods import _zone, month_bounds
from .proration import PackageSegment, ProratedPart, _round_half_up, prorate
from .tariff import DEVELOPMENT, KINDS, VISIT, BillingRules

__all__ = [
    "AddonCharge",
    "AddonSegment",
    "ContractState",
    "EntryRecord",
    "Usage",
    "compute_usage",
]

#: Contract statuses under which package hours apply; anything else is "no active contract".
_PACKAGE_STATUSES = frozenset({"active", "trial"})
_KNOWN_STATUSES = frozenset({"trial", "active", "none", "expired", "cancelled"})

_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")

#: The version of the month rules a month close records (``closed_months.rules_version``):
#: 1 billed a month a contract served partly at its terms for every day; 2 is day-exact (work on
#: days without a contract at the no-contract rate). A month keeps the rules it was closed under.
RULES_VERSION = 2


@dataclass(frozen=True, slots=True)
class AddonSegment:
    """An add-on in force from ``start_date`` up to, not including, ``end_date_exclusive``."""

    name: str
    start_date: date
    end_date_exclusive: date
    monthly_fee: Decimal


@dataclass(frozen=True, slots=True)
class ContractState:
    """The facts about a client's contract that a month's bill depends on."""

    #: trial / active / none / expired / cancelled, for this month.
    status: str
    segments: Sequence[PackageSegment] = ()
    addons: Sequence[AddonSegment] = ()
    #: Hourly rate of overage (the package in force at the end of the month).
    overage_rate: Decimal = Decimal("0.00")
    #: Visits of the contract year's allowance still unused when the month starts.
    visits_remaining: int = 0
    #: Last day (client's local date, inclusive) of the product's warranty, if any.
    warranty_until: date | None = None
    #: The client's time zone (for the warranty's last day and the days served).
    tz: str = "Europe/Belgrade"
    #: Local days [start, end) of the month a contract served, when it served only part of the
    #: month; None: the package covers every day (a month served throughout, or a month closed
    #: under the month-level rule, see :data:`RULES_VERSION`).
    served_days: Sequence[tuple[date, date]] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryRecord:
    """One time entry as the month's sum needs it (already billed by :func:`billable_minutes`)."""

    kind: str
    started_at: datetime
    #: Signed for adjustments; otherwise >= 0.
    billable_minutes: int
    minutes: int = 0
    out_of_hours_minutes: int = 0
    out_of_hours: bool = False
    ticket_warranty_defect: bool = False
    is_adjustment: bool = False
    #: The time entry's id, when the caller wants this entry explained (:class:`EntryExplanation`).
    id: int | None = None
    #: What the entry would bill inside business hours; None: the same as ``billable_minutes``.
    plain_billable_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class AddonCharge:
    """One add-on's prorated fee for the month."""

    name: str
    amount: Decimal


@dataclass(frozen=True)
class Usage:
    """A client's month: minutes included and used, and what is charged."""

    month: str
    status: str
    included_minutes: int
    #: Billable minutes of every entry by kind, before allowances (free visits, warranty).
    used_minutes_by_kind: dict[str, int]
    #: Minutes that count against the package (or, without a contract, are charged).
    billable_minutes: int
    out_of_hours_minutes: int
    overage_minutes: int
    overage_amount: Decimal
    development_minutes: int
    development_amount: Decimal
    no_contract_amount: Decimal
    fee: Decimal
    addons: list[AddonCharge]
    total: Decimal
    currency: str
    #: Minutes of visits covered by the yearly allowance, and how many visits it covered.
    free_visit_minutes: int = 0
    visits_used: int = 0
    #: Minutes of warranty-defect work not charged.
    warranty_minutes: int = 0
    package_parts: list[ProratedPart] = field(default_factory=list)
    #: Minutes really worked (logged), every entry and adjustment.
    worked_minutes: int = 0
    #: Of ``billable_minutes``: what the out-of-hours weighting added (x1.5 minus in-hours).
    out_of_hours_surcharge_minutes: int = 0
    #: Of ``billable_minutes``: signed corrections booked this month (adjustments).
    adjustment_minutes: int = 0
    #: Per entry, when the entries came with ids: the rules applied and where the minutes went.
    explanations: dict[int, EntryExplanation] = field(default_factory=dict)
    #: Minutes of the days a contract did not serve in a month it served partly (not in
    #: ``billable_minutes``); charged at the no-contract rate in ``no_contract_amount``.
    outside_contract_minutes: int = 0

    @property
    def remaining_minutes(self) -> int:
        """Included minutes not used yet (never negative)."""
        return max(self.included_minutes - self.billable_minutes, 0)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; amounts as decimal strings with two places."""

        def money(x: Decimal) -> str:
            return str(x.quantize(_CENT, rounding=ROUND_HALF_UP))

        return {
            "month": self.month,
            "status": self.status,
            "currency": self.currency,
            "included_minutes": self.included_minutes,
            "used_minutes_by_kind": dict(sorted(self.used_minutes_by_kind.items())),
            "billable_minutes": self.billable_minutes,
            "remaining_minutes": self.remaining_minutes,
            "out_of_hours_minutes": self.out_of_hours_minutes,
            "overage_minutes": self.overage_minutes,
            "overage_amount": money(self.overage_amount),
            "development_minutes": self.development_minutes,
            "development_amount": money(self.development_amount),
            "no_contract_amount": money(self.no_contract_amount),
            "fee": money(self.fee),
            "addons": [{"name": a.name, "amount": money(a.amount)} for a in self.addons],
            "free_visit_minutes": self.free_visit_minutes,
            "visits_used": self.visits_used,
            "warranty_minutes": self.warranty_minutes,
            "worked_minutes": self.worked_minutes,
            "out_of_hours_surcharge_minutes": self.out_of_hours_surcharge_minutes,
            "adjustment_minutes": self.adjustment_minutes,
            "total": money(self.total),
            # Only where it applies: the months before day-exact billing read as they did.
            **({"outside_contract_minutes": self.outside_contract_minutes}
               if self.outside_contract_minutes else {}),
        }


def _charge(minutes: int, hourly_rate: Decimal) -> Decimal:
    """``minutes`` at an hourly rate, to the cent, half up."""
    cents = _round_half_up(Fraction(minutes) * Fraction(hourly_rate) * 100 / 60)
    return Decimal(cents).scaleb(-2)


def _addon_charges(addons: Sequence[AddonSegment], month: str, charged: bool) -> list[AddonCharge]:
    by_name: dict[str, list[PackageSegment]] = {}
    for addon in addons:
        by_name.setdefault(addon.name, []).append(
            PackageSegment(addon.start_date, addon.end_date_exclusive, 0, addon.monthly_fee)
        )
    charges = []
    for name, segs in by_name.items():
        parts = prorate(segs, month)
        if not parts:
            continue
        amount = sum((p.fee for p in parts), _ZERO) if charged else _ZERO
        charges.append(AddonCharge(name, amount))
    return charges


def compute_usage(
    month: str,
    contract_state: ContractState,
    entries: Sequence[EntryRecord],
    rules: BillingRules,
) -> Usage:
    """Sum a month's entries against the contract: included, used, overage and every charge.

    ``entries`` are the month's entries (those whose :func:`period_of` is ``month``, plus the
    adjustments booked in it). Development is kept apart at ``rules.development_rate``; visits
    within ``visits_remaining`` (earliest first) and, without a contract, warranty-defect work
    within the warranty cost nothing; adjustments count with their sign. With an active contract
    the minutes beyond the prorated included ones are charged at ``overage_rate``; a trial pays
    nothing but development; without a contract every counted minute is charged at
    ``rules.no_contract_rate``. With ``served_days``, the work of the other days of the month is
    billed as without a contract (``outside_contract_minutes``, in ``no_contract_amount``).
    """
    status = contract_state.status
    if status not in _KNOWN_STATUSES:
        raise ValueError(f"unknown contract status {status!r}; expected {sorted(_KNOWN_STATUSES)}")
    has_package = status in _PACKAGE_STATUSES
    charged = status == "active"
    month_bounds(month)  # validates the period

    zone = _zone(contract_state.tz)
    served = contract_state.served_days if has_package else None

    def without_contract(e: EntryRecord) -> bool:
        """Work on a day of the month that no contract served (day-exact months only)."""
        if not has_package:
            return True
        if served is None:
            return False
        day = e.started_at.astimezone(zone).date()
        return not any(lo <= day < hi for lo, hi in served)

    warranty_end: datetime | None = None
    if contract_state.warranty_until is not None:
        local_end = datetime.combine(
            contract_state.warranty_until + timedelta(days=1), time(0), zone
        )
        warranty_end = local_end.astimezone(UTC)

    def under_warranty(e: EntryRecord) -> bool:
        return warranty_end is not None and e.ticket_warranty_defect and e.started_at < warranty_end

    by_kind: dict[str, int] = {}
    counted = 0
    development = 0
    out_of_hours = 0
    warranty = 0
    worked = 0
    adjusted = 0
    outside = 0
    buckets: list[tuple[EntryRecord, str]] = []
    visits: list[EntryRecord] = []
    for e in entries:
        kind = e.kind
        minutes = e.billable_minutes
        by_kind[kind] = by_kind.get(kind, 0) + minutes
        out_of_hours += e.out_of_hours_minutes
        worked += e.minutes
        if kind == DEVELOPMENT:
            development += minutes
            buckets.append((e, BUCKET_DEVELOPMENT))
        elif e.is_adjustment:
            counted += minutes
            adjusted += minutes
            buckets.append((e, BUCKET_PACKAGE))
        elif kind == VISIT:
            visits.append(e)
        elif not without_contract(e):
            counted += minutes
            buckets.append((e, BUCKET_PACKAGE))
        elif under_warranty(e):
            warranty += minutes
            buckets.append((e, BUCKET_WARRANTY))
        elif has_package:
            outside += minutes
            buckets.append((e, BUCKET_NO_CONTRACT))
        else:
            counted += minutes
            buckets.append((e, BUCKET_PACKAGE))
    unknown = by_kind.keys() - KINDS
    if unknown:
        raise ValueError(f"unknown kinds of work: {sorted(unknown)}")

    free_visits = max(contract_state.visits_remaining, 0) if has_package else 0
    free_visit_minutes = 0
    visits_used = 0
    visits.sort(key=lambda e: e.started_at)
    for visit in visits:
        if has_package and without_contract(visit):
            if under_warranty(visit):
                warranty += visit.billable_minutes
                buckets.append((visit, BUCKET_WARRANTY))
            else:
                outside += visit.billable_minutes
                buckets.append((visit, BUCKET_NO_CONTRACT))
        elif visits_used < free_visits:
            visits_used += 1
            free_visit_minutes += visit.billable_minutes
            buckets.append((visit, BUCKET_FREE_VISIT))
        elif not has_package and under_warranty(visit):
            warranty += visit.billable_minutes
            buckets.append((visit, BUCKET_WARRANTY))
        else:
            counted += visit.billable_minutes
            buckets.append((visit, BUCKET_PACKAGE))
    explained = [(e, bucket, explain_entry(e, bucket, status, rules)) for e, bucket in buckets]
    surcharge = sum(x.surcharge_minutes for _, _, x in explained)
    explanations = {e.id: x for e, _, x in explained if e.id is not None}

    parts = prorate(contract_state.segments, month) if has_package else []
    included = sum(p.included_minutes for p in parts)
    fee = sum((p.fee for p in parts), _ZERO) if charged else _ZERO
    addons = _addon_charges(contract_state.addons, month, charged) if has_package else []

    overage_minutes = max(counted - included, 0) if has_package else 0
    overage_amount = _charge(overage_minutes, contract_state.overage_rate) if charged else _ZERO
    no_contract_amount = _charge(max(outside if has_package else counted, 0),
                                 rules.no_contract_rate)
    development_amount = max(_charge(development, rules.development_rate), _ZERO)
    total = (
        fee
        + sum((a.amount for a in addons), _ZERO)
        + overage_amount
        + development_amount
        + no_contract_amount
    )
    return Usage(
        month=month,
        status=status,
        included_minutes=included,
        used_minutes_by_kind=by_kind,
        billable_minutes=counted,
        out_of_hours_minutes=out_of_hours,
        overage_minutes=overage_minutes,
        overage_amount=overage_amount,
        development_minutes=development,
        development_amount=development_amount,
        no_contract_amount=no_contract_amount,
        fee=fee,
        addons=addons,
        total=total,
        currency=rules.currency,
        free_visit_minutes=free_visit_minutes,
        visits_used=visits_used,
        warranty_minutes=warranty,
        package_parts=parts,
        worked_minutes=worked,
        out_of_hours_surcharge_minutes=surcharge,
        adjustment_minutes=adjusted,
        explanations=explanations,
        outside_contract_minutes=outside,
    )
