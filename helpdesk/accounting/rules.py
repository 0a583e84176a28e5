"""The hour-accounting rules of the support packages, as pure functions over plain dataclasses.

This is the one place that says how many minutes a piece of work costs a client and what a month
costs: the agent console, the client portal, the monthly report and the reminders all call it.
Nothing here touches Flask or the database; callers load the facts and pass them in.

Decisions the contracts leave open, fixed here:

* **Partly out-of-hours sessions** (phone, remote) are split by the business calendar: the
  in-hours part counts once, the out-of-hours part ``out_of_hours_multiplier`` times (1.5); the
  weighted total is then rounded up once to the billing increment, and a session costs at least one
  increment. A 20-minute call from 15:50 to 16:10 is 10 + 10 x 1.5 = 25 -> 30 minutes.
* **Out of hours without the on-call add-on**: billed the same way, but flagged ``needs_review``
  so the account manager decides (waive, or keep) before the month is closed.
* **Proration** of included minutes and fees uses cumulative rounding, see :func:`prorate`.
* **Trial** clients see the full accounting (included, used, overage minutes) but pay nothing for
  the package, add-ons or overage; custom development is a separate order and is still charged.
* **Warranty**: only without a contract (as the contracts say): warranty-defect work done up to and
  including ``warranty_until`` (client's local date) costs nothing; all other work is billed at the
  no-contract rate.
* **Negative adjustments** reduce the month's counted minutes; a month's charges never go below
  zero (a credit beyond that is a matter for the account manager, not the formula).
"""

from __future__ import annotations

import math
from calendar import monthrange
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cached_property
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .explain import (
    BUCKET_DEVELOPMENT,
    BUCKET_FREE_VISIT,
    BUCKET_PACKAGE,
    BUCKET_WARRANTY,
    RULE_CODES,
    EntryExplanation,
    explain_entry,
    plain_billable_minutes,
)

__all__ = [
    "CONSULTING",
    "DEVELOPMENT",
    "EMAIL",
    "KINDS",
    "PHONE",
    "REMOTE",
    "RULE_CODES",
    "VISIT",
    "AddonCharge",
    "AddonSegment",
    "BillingRules",
    "ContractState",
    "EntryBilling",
    "EntryExplanation",
    "EntryRecord",
    "PackageSegment",
    "ProratedPart",
    "Usage",
    "WorkingCalendar",
    "billable_minutes",
    "change_effective_date",
    "compute_usage",
    "downgrade_effective_date",
    "month_bounds",
    "period_of",
    "plain_billable_minutes",
    "prorate",
]

# -- kinds of work --------------------------------------------------------------------------

PHONE = "phone"
REMOTE = "remote"
EMAIL = "email"
CONSULTING = "consulting"
VISIT = "visit"
DEVELOPMENT = "development"
#: Every kind of time entry the rules know.
KINDS = frozenset({PHONE, REMOTE, EMAIL, CONSULTING, VISIT, DEVELOPMENT})

#: Contract statuses under which package hours apply; anything else is "no active contract".
_PACKAGE_STATUSES = frozenset({"active", "trial"})
_KNOWN_STATUSES = frozenset({"trial", "active", "none", "expired", "cancelled"})

_US_PER_MINUTE = 60_000_000
_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")


class WorkingCalendar(Protocol):
    """What the rules need from a business calendar (``helpdesk.calendar.business.BusinessCalendar``)."""

    def split_minutes(self, start: datetime, end: datetime) -> tuple[float, float]:
        """(minutes inside, minutes outside) business hours of ``start..end``."""
        ...


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, eq=False)
class BillingRules:
    """Every constant of the accounting rules; the defaults are the published price list."""

    #: Billable time is rounded up to whole increments of this many minutes.
    increment_minutes: int = 15
    #: Weight of out-of-hours phone and remote time.
    out_of_hours_multiplier: Decimal = Decimal("1.5")
    #: Hourly rate for every billable minute of a client without an active contract.
    no_contract_rate: Decimal = Decimal("50.00")
    #: Hourly rate of custom development, which never uses package hours.
    development_rate: Decimal = Decimal("60.00")
    #: Minutes included per calendar month, by package code.
    package_minutes: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"basic": 120, "standard": 300, "extended": 600})
    )
    #: Hourly rate of minutes beyond the included ones, by package code.
    overage_rates: Mapping[str, Decimal] = field(
        default_factory=lambda: _frozen(
            {"basic": Decimal("45.00"), "standard": Decimal("40.00"), "extended": Decimal("35.00")}
        )
    )
    #: On-site visits per contract year that do not use package hours, by package code.
    visits_per_year: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"basic": 0, "standard": 1, "extended": 2})
    )
    #: Monthly fees of add-ons whose price is fixed (the on-call fee is set per price list).
    addon_fees: Mapping[str, Decimal] = field(
        default_factory=lambda: _frozen({"cloud_backup": Decimal("20.00")})
    )
    #: Kinds billed per session: at least one increment each.
    session_kinds: frozenset[str] = frozenset({PHONE, REMOTE})
    #: Kinds whose out-of-hours time is weighted by the multiplier.
    out_of_hours_kinds: frozenset[str] = frozenset({PHONE, REMOTE})
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not isinstance(self.increment_minutes, int) or self.increment_minutes <= 0:
            raise ValueError(f"increment_minutes must be a positive int: {self.increment_minutes}")
        if Decimal(self.out_of_hours_multiplier) < 1:
            raise ValueError("out_of_hours_multiplier must be at least 1")
        for name in ("no_contract_rate", "development_rate"):
            if Decimal(getattr(self, name)) < 0:
                raise ValueError(f"{name} must not be negative")

    @cached_property
    def multiplier_fraction(self) -> Fraction:
        """The out-of-hours multiplier as an exact fraction (3/2), for integer arithmetic."""
        return Fraction(Decimal(self.out_of_hours_multiplier))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BillingRules:
        """Rules from the application settings (``BILLING_INCREMENT_MINUTES`` etc.), else defaults."""
        kwargs: dict[str, Any] = {}
        if "BILLING_INCREMENT_MINUTES" in config:
            kwargs["increment_minutes"] = int(config["BILLING_INCREMENT_MINUTES"])
        for key, name in (
            ("OUT_OF_HOURS_MULTIPLIER", "out_of_hours_multiplier"),
            ("NO_CONTRACT_RATE", "no_contract_rate"),
            ("DEVELOPMENT_RATE", "development_rate"),
        ):
            if key in config:
                kwargs[name] = Decimal(str(config[key]))
        if "CURRENCY" in config:
            kwargs["currency"] = str(config["CURRENCY"])
        return cls(**kwargs)


# -- periods --------------------------------------------------------------------------------


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {dt!r}")


def period_of(start_utc: datetime, tz: str | tzinfo) -> str:
    """The billing month ("YYYY-MM") of an entry: the local month, in the client's zone, it starts in."""
    _require_aware(start_utc, "start_utc")
    local = start_utc.astimezone(_zone(tz))
    return f"{local.year:04d}-{local.month:02d}"


def month_bounds(month: str) -> tuple[date, date, int]:
    """(first day, first day of the next month, days in month) of a "YYYY-MM" period."""
    try:
        year_s, month_s = month.split("-")
        if len(year_s) != 4 or len(month_s) != 2:
            raise ValueError
        first = date(int(year_s), int(month_s), 1)
    except ValueError:
        raise ValueError(f"month must look like 'YYYY-MM', got {month!r}") from None
    days = monthrange(first.year, first.month)[1]
    return first, first + timedelta(days=days), days


def downgrade_effective_date(requested_on: date) -> date:
    """A downgrade takes effect on the first day of the month after the request."""
    days = monthrange(requested_on.year, requested_on.month)[1]
    return requested_on.replace(day=1) + timedelta(days=days)


def change_effective_date(requested_on: date, *, upgrade: bool) -> date:
    """When a package change takes effect: an upgrade the same day, a downgrade next month."""
    return requested_on if upgrade else downgrade_effective_date(requested_on)


# -- one entry ------------------------------------------------------------------------------


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


# -- proration ------------------------------------------------------------------------------


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


# -- a month --------------------------------------------------------------------------------


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
    #: The client's time zone (for the warranty's last day).
    tz: str = "Europe/Belgrade"


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
    ``rules.no_contract_rate``.
    """
    status = contract_state.status
    if status not in _KNOWN_STATUSES:
        raise ValueError(f"unknown contract status {status!r}; expected {sorted(_KNOWN_STATUSES)}")
    has_package = status in _PACKAGE_STATUSES
    charged = status == "active"
    month_bounds(month)  # validates the period

    warranty_end: datetime | None = None
    if not has_package and contract_state.warranty_until is not None:
        local_end = datetime.combine(
            contract_state.warranty_until + timedelta(days=1), time(0), _zone(contract_state.tz)
        )
        warranty_end = local_end.astimezone(UTC)

    by_kind: dict[str, int] = {}
    counted = 0
    development = 0
    out_of_hours = 0
    warranty = 0
    worked = 0
    adjusted = 0
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
        elif warranty_end is not None and e.ticket_warranty_defect and e.started_at < warranty_end:
            warranty += minutes
            buckets.append((e, BUCKET_WARRANTY))
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
        if visits_used < free_visits:
            visits_used += 1
            free_visit_minutes += visit.billable_minutes
            buckets.append((visit, BUCKET_FREE_VISIT))
        elif (
            warranty_end is not None
            and visit.ticket_warranty_defect
            and visit.started_at < warranty_end
        ):
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
    no_contract_amount = _ZERO if has_package else _charge(max(counted, 0), rules.no_contract_rate)
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
    )
