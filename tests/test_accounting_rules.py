"""The hour-accounting rules: rounding, out-of-hours weighting, proration and a month's bill."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.accounting.entry_minutes import billable_minutes
from helpdesk.accounting.monthly import AddonSegment, ContractState, EntryRecord, compute_usage
from helpdesk.accounting.periods import (
    change_effective_date,
    downgrade_effective_date,
    month_bounds,
    period_of,
)
from helpdesk.accounting.proration import PackageSegment, prorate
from helpdesk.accounting.tariff import (
    CONSULTING,
    DEVELOPMENT,
    EMAIL,
    KINDS,
    PHONE,
    REMOTE,
    VISIT,
    BillingRules,
)

BELGRADE = ZoneInfo("Europe/Belgrade")
RULES = BillingRules()
INC = RULES.increment_minutes


def local(*args: int) -> datetime:
    """An aware UTC datetime from a Belgrade wall-clock time."""
    return datetime(*args, tzinfo=BELGRADE).astimezone(UTC)


class AllInside:
    """A fake calendar on which every minute is business time."""

    def split_minutes(self, start: datetime, end: datetime) -> tuple[float, float]:
        return (end - start).total_seconds() / 60, 0.0


class AllOutside:
    """A fake calendar on which no minute is business time."""

    def split_minutes(self, start: datetime, end: datetime) -> tuple[float, float]:
        return 0.0, (end - start).total_seconds() / 60


class ClosesAt:
    """A fake calendar open until one instant and closed after it."""

    def __init__(self, closing: datetime) -> None:
        self.closing = closing

    def split_minutes(self, start: datetime, end: datetime) -> tuple[float, float]:
        cut = min(max(self.closing, start), end)
        return (cut - start).total_seconds() / 60, (end - cut).total_seconds() / 60


@pytest.fixture(scope="module")
def serbia():
    from helpdesk.calendar.business import BusinessCalendar

    return BusinessCalendar("Europe/Belgrade", "RS")


# -- periods --------------------------------------------------------------------------------


def test_period_is_the_local_month_in_the_clients_zone():
    # 22:30 UTC on 31 March is 00:30 on 1 April in Belgrade (CEST, UTC+2).
    assert period_of(datetime(2025, 3, 31, 22, 30, tzinfo=UTC), "Europe/Belgrade") == "2025-04"
    assert period_of(datetime(2025, 3, 31, 21, 59, tzinfo=UTC), "Europe/Belgrade") == "2025-03"
    # In winter (CET, UTC+1) the month turns at 23:00 UTC.
    assert period_of(datetime(2025, 1, 31, 23, 0, tzinfo=UTC), BELGRADE) == "2025-02"
    assert period_of(datetime(2025, 1, 31, 23, 0, tzinfo=UTC), "UTC") == "2025-01"


def test_period_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        period_of(datetime(2025, 1, 1), "Europe/Belgrade")


def test_month_bounds_and_bad_month():
    assert month_bounds("2024-02") == (date(2024, 2, 1), date(2024, 3, 1), 29)
    assert month_bounds("2025-12") == (date(2025, 12, 1), date(2026, 1, 1), 31)
    for bad in ("2025-13", "2025-1", "March", "2025/03"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad)


def test_session_across_midnight_at_month_end_belongs_to_the_month_it_starts_in(serbia):
    start = local(2025, 1, 31, 23, 40)
    end = local(2025, 2, 1, 0, 25)
    assert period_of(start, "Europe/Belgrade") == "2025-01"
    assert period_of(end, "Europe/Belgrade") == "2025-02"
    billing = billable_minutes(REMOTE, start, end, serbia, RULES, oncall=False)
    # 45 minutes, all at night: 45 x 1.5 = 67.5, rounded up to 75.
    assert billing.minutes == 45
    assert billing.out_of_hours_minutes == 45
    assert billing.billable_minutes == 75
    assert billing.out_of_hours and billing.needs_review


# -- one entry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "minutes", "expected"),
    [
        (PHONE, 0, 15),  # a session costs at least one increment
        (PHONE, 1, 15),
        (REMOTE, 15, 15),
        (REMOTE, 16, 30),
        (EMAIL, 0, 0),  # nothing logged, nothing billed
        (EMAIL, 1, 15),
        (CONSULTING, 45, 45),
        (CONSULTING, 46, 60),
        (VISIT, 90, 90),
        (DEVELOPMENT, 61, 75),
    ],
)
def test_minutes_round_up_to_the_increment(kind, minutes, expected):
    start = local(2025, 3, 4, 10, 0)
    billing = billable_minutes(kind, start, minutes, AllInside(), RULES, oncall=False)
    assert billing.billable_minutes == expected
    assert billing.minutes == minutes
    assert not billing.out_of_hours and not billing.needs_review


def test_seconds_count_as_a_started_minute():
    start = local(2025, 3, 4, 10, 0)
    billing = billable_minutes(
        PHONE, start, start + timedelta(minutes=15, seconds=1), AllInside(), RULES, oncall=False
    )
    assert billing.minutes == 16
    assert billing.billable_minutes == 30


def test_out_of_hours_weighting_applies_only_to_phone_and_remote():
    start = local(2025, 3, 8, 10, 0)  # a Saturday
    for kind in (EMAIL, CONSULTING, VISIT, DEVELOPMENT):
        billing = billable_minutes(kind, start, 60, AllOutside(), RULES, oncall=False)
        assert billing.billable_minutes == 60
        assert not billing.out_of_hours and not billing.needs_review
    phone = billable_minutes(PHONE, start, 60, AllOutside(), RULES, oncall=True)
    assert phone.billable_minutes == 90
    assert phone.out_of_hours and not phone.needs_review


def test_a_session_partly_out_of_hours_is_split_then_rounded_once():
    closing = ClosesAt(local(2025, 3, 4, 16))
    start = local(2025, 3, 4, 15, 55)
    billing = billable_minutes(PHONE, start, local(2025, 3, 4, 16, 5), closing, RULES, True)
    # 5 in hours + 5 x 1.5 out of hours = 12.5, rounded up once to 15 (rounding each part
    # first would give 15 + 15 = 30; weighting the rounded total 15 x 1.5 would give 30).
    assert billing.billable_minutes == 15
    assert billing.out_of_hours_minutes == 5
    assert billing.out_of_hours and not billing.needs_review
    # 10 + 10 x 1.5 = 25 -> 30.
    longer = billable_minutes(PHONE, local(2025, 3, 4, 15, 50), 20, closing, RULES, True)
    assert (longer.billable_minutes, longer.out_of_hours_minutes) == (30, 10)


def test_out_of_hours_without_oncall_is_billed_but_flagged_for_review():
    start = local(2025, 3, 4, 15, 50)
    billing = billable_minutes(PHONE, start, 20, ClosesAt(local(2025, 3, 4, 16)), RULES, False)
    assert billing.billable_minutes == 30
    assert billing.needs_review


def test_real_calendar_closes_at_16_local_time(serbia):
    billing = billable_minutes(
        REMOTE, local(2025, 3, 4, 15, 50), local(2025, 3, 4, 16, 10), serbia, RULES, oncall=True
    )
    assert (billing.billable_minutes, billing.out_of_hours_minutes) == (30, 10)


def test_public_holiday_is_out_of_hours(serbia):
    # Statehood Day 2025 fell on a weekend; Monday 17 February was the observed day off.
    holiday = billable_minutes(PHONE, local(2025, 2, 17, 10, 0), 30, serbia, RULES, oncall=True)
    assert (holiday.billable_minutes, holiday.out_of_hours_minutes) == (45, 30)
    workday = billable_minutes(PHONE, local(2025, 2, 18, 10, 0), 30, serbia, RULES, oncall=True)
    assert (workday.billable_minutes, workday.out_of_hours) == (30, False)


def test_dst_night_counts_real_minutes_not_wall_clock(serbia):
    # Sunday 30 March 2025: the clocks jump from 02:00 to 03:00, so 01:30-03:30 is one hour.
    start = datetime(2025, 3, 30, 1, 30, tzinfo=BELGRADE).astimezone(UTC)
    end = datetime(2025, 3, 30, 3, 30, tzinfo=BELGRADE).astimezone(UTC)
    billing = billable_minutes(REMOTE, start, end, serbia, RULES, oncall=True)
    assert billing.minutes == 60
    assert billing.billable_minutes == 90  # a Sunday: 60 x 1.5
    # 26 October 2025: 02:30 happens twice; from the first to the second is one hour.
    first = datetime(2025, 10, 26, 2, 30, fold=0, tzinfo=BELGRADE).astimezone(UTC)
    second = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=BELGRADE).astimezone(UTC)
    assert billable_minutes(PHONE, first, second, serbia, RULES, True).minutes == 60


def test_opening_hour_follows_the_local_clock_after_dst(serbia):
    # Monday 31 March 2025 07:30-08:30 CEST: 30 minutes before opening, 30 after.
    start = local(2025, 3, 31, 7, 30)
    billing = billable_minutes(REMOTE, start, 60, serbia, RULES, oncall=True)
    assert billing.out_of_hours_minutes == 30
    assert billing.billable_minutes == 75  # 30 + 30 x 1.5 = 75


def test_entry_validation():
    start = local(2025, 3, 4, 10, 0)
    with pytest.raises(ValueError, match="unknown kind"):
        billable_minutes("fax", start, 10, AllInside(), RULES, False)
    with pytest.raises(ValueError, match="ends before"):
        billable_minutes(PHONE, start, start - timedelta(minutes=1), AllInside(), RULES, False)
    with pytest.raises(ValueError, match="negative"):
        billable_minutes(EMAIL, start, -5, None, RULES, False)
    with pytest.raises(ValueError, match="calendar"):
        billable_minutes(PHONE, start, 5, None, RULES, False)
    with pytest.raises(ValueError, match="timezone-aware"):
        billable_minutes(EMAIL, datetime(2025, 3, 4, 10), 5, None, RULES, False)
    with pytest.raises(TypeError):
        billable_minutes(EMAIL, start, 5.5, None, RULES, False)  # type: ignore[arg-type]


def test_the_increment_and_multiplier_are_parameters():
    rules = BillingRules(increment_minutes=6, out_of_hours_multiplier=Decimal("2.0"))
    start = local(2025, 3, 8, 10, 0)
    assert billable_minutes(PHONE, start, 7, AllInside(), rules, True).billable_minutes == 12
    assert billable_minutes(PHONE, start, 7, AllOutside(), rules, True).billable_minutes == 18
    with pytest.raises(ValueError):
        BillingRules(increment_minutes=0)
    with pytest.raises(ValueError):
        BillingRules(out_of_hours_multiplier=Decimal("0.5"))


def test_rules_from_config():
    rules = BillingRules.from_config(
        {
            "BILLING_INCREMENT_MINUTES": 10,
            "OUT_OF_HOURS_MULTIPLIER": "1.25",
            "NO_CONTRACT_RATE": "55.00",
            "DEVELOPMENT_RATE": "70.00",
            "CURRENCY": "RSD",
        }
    )
    assert rules.increment_minutes == 10
    assert rules.out_of_hours_multiplier == Decimal("1.25")
    assert rules.no_contract_rate == Decimal("55.00")
    assert rules.development_rate == Decimal("70.00")
    assert rules.currency == "RSD"
    assert rules.package_minutes["standard"] == 300
    assert BillingRules.from_config({}).increment_minutes == 15


minutes_st = st.integers(min_value=0, max_value=24 * 60)
seconds_st = st.integers(min_value=0, max_value=59)


@given(kind=st.sampled_from(sorted(KINDS)), minutes=minutes_st, seconds=seconds_st)
def test_in_hours_rounding_properties(kind, minutes, seconds):
    start = local(2025, 3, 4, 9, 0)
    end = start + timedelta(minutes=minutes, seconds=seconds)
    billing = billable_minutes(kind, start, end, AllInside(), RULES, oncall=False)
    billable = billing.billable_minutes
    assert billable % INC == 0
    assert billable >= billing.minutes >= minutes
    if kind in (PHONE, REMOTE):
        assert billable >= INC
        assert billable < max(billing.minutes, 1) + INC
    else:
        assert billable < billing.minutes + INC or billing.minutes == billable == 0


@given(kind=st.sampled_from([PHONE, REMOTE]), minutes=minutes_st)
def test_out_of_hours_rounding_properties(kind, minutes):
    start = local(2025, 3, 8, 9, 0)
    billing = billable_minutes(kind, start, minutes, AllOutside(), RULES, oncall=True)
    weighted = Fraction(3, 2) * minutes
    assert billing.billable_minutes % INC == 0
    assert billing.billable_minutes >= max(weighted, 1)
    assert billing.billable_minutes < max(weighted, 1) + INC
    assert billing.out_of_hours == (minutes > 0)


@settings(max_examples=60, deadline=None)
@given(
    offset=st.integers(min_value=0, max_value=366 * 24 * 60),
    seconds=st.integers(min_value=0, max_value=10 * 3600),
)
def test_real_calendar_session_bounds(serbia, offset, seconds):
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=offset)
    end = start + timedelta(seconds=seconds)
    billing = billable_minutes(REMOTE, start, end, serbia, RULES, oncall=False)
    inside, outside = serbia.split_minutes(start, end)
    exact = Fraction(seconds, 60)
    assert billing.billable_minutes % INC == 0
    assert billing.billable_minutes >= billing.minutes == math.ceil(exact)
    assert billing.billable_minutes <= max(math.ceil(exact * Fraction(3, 2)), 1) + INC
    assert billing.out_of_hours == (outside > 0) == billing.needs_review
    assert billing.out_of_hours_minutes == math.ceil(
        Fraction(round(outside * 60_000_000), 60_000_000)
    )
    assert abs(inside + outside - float(exact)) < 1e-6


# -- proration ------------------------------------------------------------------------------


def test_upgrade_on_the_last_day_of_a_month():
    basic = PackageSegment(date(2025, 1, 1), date(2025, 1, 31), 120, Decimal("49.00"))
    standard = PackageSegment(date(2025, 1, 31), date(2025, 2, 1), 300, Decimal("99.00"))
    parts = prorate([standard, basic], "2025-01")
    # Basic 30 of 31 days: 120 x 30/31 = 116.13 -> 116 minutes; 4900 x 30/31 = 4741.94 -> 47.42.
    # Running total after Standard's day: 116.13 + 300/31 = 125.81 -> 126, so Standard gets 10;
    # fees 4741.94 + 9900/31 = 5061.29 -> 50.61, so Standard's day costs 50.61 - 47.42 = 3.19.
    assert [(p.segment, p.days, p.included_minutes, p.fee) for p in parts] == [
        (basic, 30, 116, Decimal("47.42")),
        (standard, 1, 10, Decimal("3.19")),
    ]


def test_a_month_split_into_equal_thirds_loses_no_minute():
    segs = [
        PackageSegment(date(2025, 3, 1), date(2025, 3, 11), 300, Decimal("99.00")),
        PackageSegment(date(2025, 3, 11), date(2025, 3, 21), 300, Decimal("99.00")),
        PackageSegment(date(2025, 3, 21), date(2025, 4, 1), 300, Decimal("99.00")),
    ]
    parts = prorate(segs, "2025-03")
    # Each 10-day third alone would round 96.77 to 97: three of them would give 291 of 290.32.
    assert [p.included_minutes for p in parts] == [97, 97, 106]
    assert sum(p.included_minutes for p in parts) == 300
    assert sum(p.fee for p in parts) == Decimal("99.00")


def test_segments_are_clipped_to_the_month_and_may_leave_gaps():
    seg = PackageSegment(date(2025, 2, 20), date(2025, 3, 16), 300, Decimal("100.00"))
    (part,) = prorate([seg], "2025-03")
    assert (part.start_date, part.end_date_exclusive, part.days) == (
        date(2025, 3, 1),
        date(2025, 3, 16),
        15,
    )
    assert part.included_minutes == 145  # 300 x 15/31 = 145.16
    assert part.fee == Decimal("48.39")  # 100 x 15/31 = 48.387
    assert prorate([seg], "2025-05") == []


def test_overlapping_segments_are_refused():
    a = PackageSegment(date(2025, 3, 1), date(2025, 3, 20), 120, Decimal("49.00"))
    b = PackageSegment(date(2025, 3, 15), date(2025, 4, 1), 300, Decimal("99.00"))
    with pytest.raises(ValueError, match="overlap"):
        prorate([a, b], "2025-03")


months_st = st.builds(
    lambda y, m: f"{y:04d}-{m:02d}",
    st.integers(min_value=2020, max_value=2030),
    st.integers(min_value=1, max_value=12),
)
fee_st = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False)


def _split(month: str, cuts: list[int]) -> list[tuple[date, date]]:
    first, after, days = month_bounds(month)
    points = sorted({c % days for c in cuts} | {0})
    bounds = [first + timedelta(days=p) for p in points] + [after]
    return list(pairwise(bounds))


@given(
    month=months_st,
    minutes=st.integers(min_value=0, max_value=10_000),
    fee=fee_st,
    cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=8),
)
def test_prorated_parts_of_one_package_add_up_to_the_whole_month(month, minutes, fee, cuts):
    segs = [PackageSegment(lo, hi, minutes, fee) for lo, hi in _split(month, cuts)]
    parts = prorate(segs, month)
    assert sum(p.days for p in parts) == month_bounds(month)[2]
    assert sum(p.included_minutes for p in parts) == minutes
    assert sum(p.fee for p in parts) == fee


@given(
    month=months_st,
    cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=6),
    values=st.lists(
        st.tuples(st.sampled_from([0, 120, 300, 600, 999]), fee_st), min_size=7, max_size=7
    ),
    drop=st.sets(st.integers(min_value=0, max_value=6)),
)
def test_prorated_parts_of_mixed_packages_neither_create_nor_lose_minutes(
    month, cuts, values, drop
):
    days_in_month = month_bounds(month)[2]
    ranges = _split(month, cuts)
    segs = [
        PackageSegment(lo, hi, *values[i])
        for i, (lo, hi) in enumerate(ranges)
        if i not in drop  # gaps: days without a package
    ]
    parts = prorate(segs, month)
    exact_minutes = [Fraction(p.segment.included_minutes * p.days, days_in_month) for p in parts]
    exact_cents = [Fraction(p.segment.monthly_fee) * 100 * p.days / days_in_month for p in parts]
    # Every day is counted once: parts follow the segments, each within one unit of its share.
    assert [p.segment for p in parts] == segs
    for part, m, c in zip(parts, exact_minutes, exact_cents, strict=True):
        assert abs(part.included_minutes - m) < 1
        assert abs(part.fee * 100 - Decimal(c.numerator) / Decimal(c.denominator)) < 1
    # The parts add up to the exact total, rounded half up once.
    assert sum(p.included_minutes for p in parts) == math.floor(sum(exact_minutes) + Fraction(1, 2))
    total_cents = math.floor(sum(exact_cents) + Fraction(1, 2))
    assert sum((p.fee for p in parts), Decimal(0)) == Decimal(total_cents) / 100


def test_downgrade_takes_effect_next_month_and_upgrade_at_once():
    assert downgrade_effective_date(date(2025, 1, 31)) == date(2025, 2, 1)
    assert downgrade_effective_date(date(2025, 2, 1)) == date(2025, 3, 1)
    assert downgrade_effective_date(date(2024, 12, 15)) == date(2025, 1, 1)
    assert change_effective_date(date(2025, 3, 17), upgrade=True) == date(2025, 3, 17)
    assert change_effective_date(date(2025, 3, 17), upgrade=False) == date(2025, 4, 1)


# -- a month --------------------------------------------------------------------------------


def entry(kind: str, day: int, billable: int, **kw) -> EntryRecord:
    return EntryRecord(
        kind=kind, started_at=local(2025, 3, day, 10, 0), billable_minutes=billable, **kw
    )


STANDARD_MARCH = PackageSegment(date(2025, 1, 1), date(2026, 1, 1), 300, Decimal("99.00"))
ADDONS = (
    AddonSegment("cloud_backup", date(2025, 1, 1), date(2026, 1, 1), Decimal("20.00")),
    AddonSegment("oncall", date(2025, 3, 16), date(2026, 1, 1), Decimal("15.00")),
)
MARCH_ENTRIES = [
    entry(REMOTE, 3, 200),
    entry(PHONE, 4, 45, out_of_hours_minutes=10, out_of_hours=True),
    entry(EMAIL, 5, 30),
    entry(CONSULTING, 6, 60),
    entry(VISIT, 20, 90),  # the second visit this month: beyond the allowance
    entry(VISIT, 10, 120),  # the earlier visit uses the year's one free visit
    entry(DEVELOPMENT, 12, 150),
    entry(PHONE, 25, -15, is_adjustment=True),  # a correction of February
]


def test_worked_example_month_on_standard():
    state = ContractState(
        status="active",
        segments=[STANDARD_MARCH],
        addons=ADDONS,
        overage_rate=Decimal("40.00"),
        visits_remaining=1,
    )
    usage = compute_usage("2025-03", state, MARCH_ENTRIES, RULES)
    # Counted: remote 200 + phone 45 + email 30 + consulting 60 + second visit 90 - 15 adjustment
    #   = 410 minutes; the first visit (120) is free; development (150) is kept apart.
    # Included 300, so overage 110 minutes x 40 EUR/h = 73.333 -> 73.33.
    # Fee 99.00; cloud backup 20.00; on-call from 16 March: 15 x 16/31 = 7.742 -> 7.74.
    # Development 150 minutes x 60 EUR/h = 150.00.
    # Total 99.00 + 20.00 + 7.74 + 73.33 + 150.00 = 350.07.
    assert usage.included_minutes == 300
    assert usage.billable_minutes == 410
    assert usage.overage_minutes == 110
    assert usage.overage_amount == Decimal("73.33")
    assert usage.free_visit_minutes == 120 and usage.visits_used == 1
    assert usage.development_minutes == 150
    assert usage.development_amount == Decimal("150.00")
    assert usage.fee == Decimal("99.00")
    assert [(a.name, a.amount) for a in usage.addons] == [
        ("cloud_backup", Decimal("20.00")),
        ("oncall", Decimal("7.74")),
    ]
    assert usage.no_contract_amount == Decimal("0.00")
    assert usage.total == Decimal("350.07")
    assert usage.out_of_hours_minutes == 10
    assert usage.used_minutes_by_kind == {
        REMOTE: 200,
        PHONE: 30,
        EMAIL: 30,
        CONSULTING: 60,
        VISIT: 210,
        DEVELOPMENT: 150,
    }
    assert usage.remaining_minutes == 0
    assert usage.currency == "EUR"


def test_usage_json_has_amounts_with_two_places():
    state = ContractState(
        status="active", segments=[STANDARD_MARCH], addons=ADDONS, overage_rate=Decimal("40.00")
    )
    data = compute_usage("2025-03", state, MARCH_ENTRIES, RULES).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["fee"] == "99.00"
    # No visit allowance: both visits count, 530 minutes, 230 beyond 300: 230/60 x 40 = 153.333.
    assert data["overage_amount"] == "153.33"
    assert data["addons"] == [
        {"name": "cloud_backup", "amount": "20.00"},
        {"name": "oncall", "amount": "7.74"},
    ]
    assert data["total"] == "430.07"
    assert data["remaining_minutes"] == 0


def test_unused_minutes_do_not_roll_over_and_show_as_remaining():
    state = ContractState(status="active", segments=[STANDARD_MARCH], overage_rate=Decimal("40.00"))
    usage = compute_usage("2025-03", state, [entry(EMAIL, 3, 45)], RULES)
    assert (usage.included_minutes, usage.remaining_minutes, usage.overage_minutes) == (300, 255, 0)
    april = compute_usage("2025-04", state, [], RULES)
    assert april.included_minutes == 300  # a fresh month, nothing carried over


def test_trial_client_is_not_charged_but_sees_the_accounting():
    state = ContractState(
        status="trial",
        segments=[STANDARD_MARCH],
        addons=ADDONS,
        overage_rate=Decimal("40.00"),
        visits_remaining=1,
    )
    usage = compute_usage("2025-03", state, MARCH_ENTRIES, RULES)
    assert usage.overage_minutes == 110
    assert usage.overage_amount == Decimal("0.00")
    assert usage.fee == Decimal("0.00")
    assert all(a.amount == 0 for a in usage.addons)
    # Custom development is a separate order, charged even in a trial.
    assert usage.total == usage.development_amount == Decimal("150.00")


def test_client_without_contract_pays_every_billable_minute():
    for status in ("none", "expired", "cancelled"):
        state = ContractState(
            status=status, segments=[STANDARD_MARCH], addons=ADDONS, visits_remaining=2
        )
        usage = compute_usage("2025-03", state, MARCH_ENTRIES, RULES)
        # No package and no free visit: 200 + 45 + 30 + 60 + 90 + 120 - 15 = 530 minutes at
        # 50 EUR/h = 441.666 -> 441.67; development apart: 150.00.
        assert usage.included_minutes == 0
        assert usage.billable_minutes == 530
        assert usage.visits_used == 0
        assert usage.overage_minutes == 0
        assert usage.no_contract_amount == Decimal("441.67")
        assert usage.fee == Decimal("0.00") and usage.addons == []
        assert usage.total == Decimal("591.67")


def test_warranty_defects_are_free_within_the_warranty_without_contract():
    # The warranty's last day is 15 March (local); 23:30 local that day is still inside it.
    state = ContractState(status="none", warranty_until=date(2025, 3, 15))
    entries = [
        entry(REMOTE, 10, 30, ticket_warranty_defect=True),
        EntryRecord(
            kind=PHONE,
            started_at=local(2025, 3, 15, 23, 30),
            billable_minutes=15,
            ticket_warranty_defect=True,
        ),
        EntryRecord(
            kind=PHONE,
            started_at=local(2025, 3, 16, 0, 30),
            billable_minutes=15,
            ticket_warranty_defect=True,
        ),
        entry(EMAIL, 11, 30),  # not a defect: billed
        entry(VISIT, 12, 60, ticket_warranty_defect=True),
    ]
    usage = compute_usage("2025-03", state, entries, RULES)
    assert usage.warranty_minutes == 30 + 15 + 60
    assert usage.billable_minutes == 15 + 30
    assert usage.no_contract_amount == Decimal("37.50")  # 45 minutes at 50 EUR/h


def test_warranty_does_not_apply_under_a_contract():
    state = ContractState(
        status="active",
        segments=[STANDARD_MARCH],
        overage_rate=Decimal("40.00"),
        warranty_until=date(2025, 12, 31),
    )
    usage = compute_usage(
        "2025-03", state, [entry(REMOTE, 10, 30, ticket_warranty_defect=True)], RULES
    )
    assert usage.billable_minutes == 30 and usage.warranty_minutes == 0


def test_development_never_uses_package_hours():
    state = ContractState(status="active", segments=[STANDARD_MARCH], overage_rate=Decimal("40.00"))
    rules = BillingRules(development_rate=Decimal("72.50"))
    usage = compute_usage(
        "2025-03", state, [entry(DEVELOPMENT, 3, 400), entry(EMAIL, 4, 15)], rules
    )
    assert usage.billable_minutes == 15
    assert usage.overage_minutes == 0
    assert usage.development_minutes == 400
    assert usage.development_amount == Decimal("483.33")  # 400/60 x 72.50 = 483.333
    assert usage.total == Decimal("99.00") + Decimal("483.33")


def test_upgrade_mid_month_prorates_included_minutes_and_fee():
    basic = PackageSegment(date(2025, 1, 1), date(2025, 3, 16), 120, Decimal("49.00"))
    standard = PackageSegment(date(2025, 3, 16), date(2026, 1, 1), 300, Decimal("99.00"))
    state = ContractState(
        status="active", segments=[basic, standard], overage_rate=Decimal("40.00")
    )
    usage = compute_usage("2025-03", state, [entry(REMOTE, 3, 240)], RULES)
    # Basic 15 days: 120 x 15/31 = 58.06; Standard 16 days: 300 x 16/31 = 154.84; 212.90 -> 213.
    # Fees: 49 x 15/31 = 23.71; 99 x 16/31 = 51.10; together 74.81.
    assert [p.included_minutes for p in usage.package_parts] == [58, 155]
    assert usage.included_minutes == 213
    assert usage.fee == Decimal("74.81")
    assert usage.overage_minutes == 27
    assert usage.overage_amount == Decimal("18.00")


def test_negative_adjustments_reduce_but_never_make_a_negative_bill():
    state = ContractState(status="none")
    usage = compute_usage("2025-03", state, [entry(PHONE, 3, -30, is_adjustment=True)], RULES)
    assert usage.billable_minutes == -30
    assert usage.no_contract_amount == Decimal("0.00")
    assert usage.total == Decimal("0.00")


def test_month_validation():
    state = ContractState(status="active")
    with pytest.raises(ValueError, match="status"):
        compute_usage("2025-03", ContractState(status="paused"), [], RULES)
    with pytest.raises(ValueError, match="kinds"):
        compute_usage("2025-03", state, [entry("fax", 3, 15)], RULES)
    with pytest.raises(ValueError, match="YYYY-MM"):
        compute_usage("2025-3", state, [], RULES)


def test_ten_thousand_entries_are_summed_in_well_under_10_ms():
    kinds = [REMOTE, PHONE, EMAIL, CONSULTING, DEVELOPMENT, VISIT]
    entries = [
        EntryRecord(
            kind=kinds[i % len(kinds)],
            started_at=local(2025, 3, 1 + i % 28, 9, 0) + timedelta(seconds=i),
            billable_minutes=15 * (1 + i % 4),
            out_of_hours_minutes=i % 3,
            ticket_warranty_defect=i % 7 == 0,
            is_adjustment=i % 97 == 0,
        )
        for i in range(10_000)
    ]
    state = ContractState(
        status="active",
        segments=[STANDARD_MARCH],
        addons=ADDONS,
        overage_rate=Decimal("40.00"),
        visits_remaining=2,
    )
    # Speed is measured by bench/usage.py; here: every minute of 10,000 entries is counted once.
    usage = compute_usage("2025-03", state, entries, RULES)
    assert sum(usage.used_minutes_by_kind.values()) == sum(e.billable_minutes for e in entries)
