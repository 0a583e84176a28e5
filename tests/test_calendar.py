"""Business calendar: Serbian and Turkish holidays, DST, opening-hours arithmetic."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.calendar import business as calendar_module
from helpdesk.calendar.business import BusinessCalendar, get_calendar

BELGRADE = ZoneInfo("Europe/Belgrade")
ISTANBUL = ZoneInfo("Europe/Istanbul")

SERBIA = BusinessCalendar("Europe/Belgrade", "RS")
TURKEY = BusinessCalendar("Europe/Istanbul", "TR")
ON_CALL = BusinessCalendar("Europe/Belgrade", "RS", always_open=True)
SEVEN_DAYS = BusinessCalendar("Europe/Belgrade", None, weekdays=range(7))


def bg(*args: int) -> datetime:
    """A Belgrade wall-clock instant."""
    return datetime(*args, tzinfo=BELGRADE)


def ist(*args: int) -> datetime:
    """An Istanbul wall-clock instant."""
    return datetime(*args, tzinfo=ISTANBUL)


# -- an independent reference: one local day at a time, straight from zoneinfo and holidays ----


def reference_hours(cal: BusinessCalendar, day: date) -> tuple[datetime, datetime] | None:
    """Opening interval of a day computed directly from the rules, not from the timeline."""
    if day.weekday() not in cal.weekdays:
        return None
    close = cal.end
    if cal.country is not None:
        public = holidays.country_holidays(cal.country, years=day.year)
        if day in public:
            return None
        if cal.country == "TR":
            half = holidays.country_holidays("TR", years=day.year, categories=("half_day",))
            if day in half:
                close = time(13)
    return (
        datetime.combine(day, cal.start, tzinfo=cal.tz),
        datetime.combine(day, close, tzinfo=cal.tz),
    )


def reference_minutes(cal: BusinessCalendar, a: datetime, b: datetime) -> float:
    """Business minutes between two instants, summed day by day."""
    total = timedelta()
    day = a.astimezone(cal.tz).date() - timedelta(days=1)
    last = b.astimezone(cal.tz).date() + timedelta(days=1)
    while day <= last:
        hours = reference_hours(cal, day)
        if hours is not None:
            lo, hi = max(hours[0], a), min(hours[1], b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total / timedelta(minutes=1)


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)
calendars = st.sampled_from([SERBIA, TURKEY])
targets = st.integers(min_value=1, max_value=60 * 8 * 30)


# -- working days and holidays ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 1), False),  # New Year, Thursday
        (date(2026, 1, 2), False),  # New Year, second day
        (date(2026, 1, 7), False),  # Orthodox Christmas
        (date(2026, 1, 8), True),
        (date(2026, 2, 16), False),  # Statehood Day, Monday (15th is a Sunday)
        (date(2026, 2, 17), False),  # ... observed on Tuesday for the Sunday
        (date(2026, 2, 18), True),
        (date(2026, 5, 1), False),  # Labour Day, Friday
        (date(2026, 5, 4), True),  # 2 May is a Saturday: not moved to Monday
        (date(2027, 5, 3), False),  # Easter Monday 2027
        (date(2027, 5, 4), False),  # Labour Day on Sunday 2 May, observed after Easter Monday
        (date(2025, 2, 17), False),  # Statehood Day on Sunday 16 Feb 2025, observed Monday
        (date(2026, 3, 7), False),  # an ordinary Saturday
        (date(2026, 3, 9), True),  # an ordinary Monday
    ],
)
def test_serbian_working_days_follow_holidays_and_observed_days(day: date, working: bool) -> None:
    assert SERBIA.is_working_day(day) is working


def test_holiday_name_in_english_and_serbian() -> None:
    assert SERBIA.holiday_name(date(2026, 1, 7)) == "Orthodox Christmas Day"
    assert "observed" in SERBIA.holiday_name(date(2026, 2, 17))
    assert SERBIA.holiday_name(date(2026, 1, 7), language="sr") == "Божић"
    assert SERBIA.holiday_name(date(2026, 3, 9)) is None
    assert BusinessCalendar(country=None).holiday_name(date(2026, 1, 7)) is None


def test_next_working_day_skips_new_year_and_weekend() -> None:
    assert SERBIA.next_working_day(date(2025, 12, 31)) == date(2026, 1, 5)
    assert SERBIA.next_working_day(date(2026, 1, 6)) == date(2026, 1, 8)


def test_working_days_around_statehood_day() -> None:
    assert SERBIA.working_days(date(2026, 2, 13), date(2026, 2, 20)) == [
        date(2026, 2, 13),
        date(2026, 2, 18),
        date(2026, 2, 19),
        date(2026, 2, 20),
    ]
    assert SERBIA.working_days(date(2026, 2, 20), date(2026, 2, 13)) == []


def test_supported_countries_read_from_the_registry_match_the_package_list() -> None:
    calendar_module._supported_countries.cache_clear()
    assert calendar_module._supported_countries() == set(holidays.list_supported_countries())
    assert {"RS", "TR", "SRB", "TUR"} <= calendar_module._supported_countries()
    with pytest.raises(ValueError, match="no public holidays known"):
        BusinessCalendar(country="XX")


def test_calendar_without_country_has_no_holidays() -> None:
    cal = BusinessCalendar(country=None)
    assert cal.is_working_day(date(2026, 1, 7))
    assert cal.is_business_time(bg(2026, 1, 7, 10))


# -- adding business minutes --------------------------------------------------------------------


def test_friday_afternoon_target_runs_into_monday() -> None:
    due = SERBIA.add_business_minutes(bg(2026, 3, 6, 15, 30), 240)
    assert due == bg(2026, 3, 9, 11, 30)
    assert due.tzinfo is UTC


def test_friday_target_skips_a_monday_holiday() -> None:
    # Statehood Day fell on Sunday 16 Feb 2025, so Monday the 17th was off.
    assert SERBIA.add_business_minutes(bg(2025, 2, 14, 15, 30), 240) == bg(2025, 2, 18, 11, 30)


def test_target_used_up_at_closing_time_is_due_at_closing_time() -> None:
    due = SERBIA.add_business_minutes(bg(2026, 3, 6, 15, 30), 30)
    assert due == bg(2026, 3, 6, 16, 0)
    assert not SERBIA.is_business_time(due)
    assert SERBIA.is_business_time(due - timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        (bg(2026, 3, 7, 10), 60, bg(2026, 3, 9, 9)),  # Saturday: clock starts Monday 08:00
        (bg(2026, 3, 10, 6), 60, bg(2026, 3, 10, 9)),  # before opening
        (bg(2026, 3, 10, 20), 60, bg(2026, 3, 11, 9)),  # after closing
        (bg(2026, 3, 10, 16), 1, bg(2026, 3, 11, 8, 1)),  # at closing time
        (bg(2026, 3, 10, 8), 480, bg(2026, 3, 10, 16)),  # exactly one working day
        (bg(2026, 3, 10, 8), 481, bg(2026, 3, 11, 8, 1)),
        (bg(2026, 3, 10, 9), 0.5, bg(2026, 3, 10, 9, 0, 30)),  # fractional minutes
    ],
)
def test_add_business_minutes_examples(start: datetime, minutes: float, due: datetime) -> None:
    assert SERBIA.add_business_minutes(start, minutes) == due


def test_zero_minutes_moves_to_the_clock_start() -> None:
    assert SERBIA.add_business_minutes(bg(2026, 3, 10, 9, 15), 0) == bg(2026, 3, 10, 9, 15)
    assert SERBIA.add_business_minutes(bg(2026, 3, 10, 16), 0) == bg(2026, 3, 11, 8)
    assert SERBIA.add_business_minutes(bg(2026, 12, 31, 17), 0) == bg(2027, 1, 4, 8)


def test_target_across_the_year_boundary_skips_new_year() -> None:
    # 1 h on Wednesday 31 Dec; 1-2 Jan are holidays, then a weekend.
    assert SERBIA.add_business_minutes(bg(2025, 12, 31, 15), 180) == bg(2026, 1, 5, 10)


def test_target_across_a_month_boundary_skips_labour_day() -> None:
    assert SERBIA.add_business_minutes(bg(2026, 4, 30, 15), 120) == bg(2026, 5, 4, 9)
    assert SERBIA.add_business_minutes(bg(2026, 1, 30, 14), 480) == bg(2026, 2, 2, 14)


def test_spring_dst_weekend_keeps_wall_clock_hours() -> None:
    # Clocks go forward on Sunday 29 March 2026: Friday is CET (UTC+1), Monday CEST (UTC+2).
    start = bg(2026, 3, 27, 15)
    due = SERBIA.add_business_minutes(start, 120)
    assert due == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert due.astimezone(BELGRADE).hour == 9
    assert SERBIA.business_minutes_between(start, due) == 120


def test_autumn_dst_weekend_keeps_wall_clock_hours() -> None:
    # Clocks go back on Sunday 25 October 2026: Friday is CEST, Monday CET.
    due = SERBIA.add_business_minutes(bg(2026, 10, 23, 15), 120)
    assert due == datetime(2026, 10, 26, 8, tzinfo=UTC)


def test_dst_sundays_open_at_local_eight_on_a_seven_day_calendar() -> None:
    assert SEVEN_DAYS.business_hours_on(date(2026, 3, 28)) == (
        datetime(2026, 3, 28, 7, tzinfo=UTC),
        datetime(2026, 3, 28, 15, tzinfo=UTC),
    )
    assert SEVEN_DAYS.business_hours_on(date(2026, 3, 29)) == (
        datetime(2026, 3, 29, 6, tzinfo=UTC),
        datetime(2026, 3, 29, 14, tzinfo=UTC),
    )
    assert SEVEN_DAYS.business_hours_on(date(2026, 10, 25)) == (
        datetime(2026, 10, 25, 7, tzinfo=UTC),
        datetime(2026, 10, 25, 15, tzinfo=UTC),
    )
    assert SEVEN_DAYS.add_business_minutes(bg(2026, 3, 28, 15), 120) == bg(2026, 3, 29, 9)
    assert SEVEN_DAYS.add_business_minutes(bg(2026, 10, 24, 15), 120) == bg(2026, 10, 25, 9)
    assert SEVEN_DAYS.business_minutes_between(bg(2026, 3, 29), bg(2026, 3, 30)) == 480


def test_business_hours_on_closed_day_is_none() -> None:
    assert SERBIA.business_hours_on(date(2026, 1, 7)) is None
    assert SERBIA.business_hours_on(date(2026, 3, 8)) is None


def test_very_long_target_spans_several_years() -> None:
    start = bg(2026, 6, 1, 8)
    minutes = 480 * 750  # about three working years
    due = SERBIA.add_business_minutes(start, minutes)
    assert due.astimezone(BELGRADE).year == 2029
    assert reference_minutes(SERBIA, start, due) == minutes


def test_timeline_widened_into_the_past_gives_the_same_answers() -> None:
    fresh = BusinessCalendar()
    late = fresh.add_business_minutes(bg(2031, 3, 7, 15, 30), 240)
    early = fresh.add_business_minutes(bg(2021, 3, 5, 15, 30), 240)
    assert late == bg(2031, 3, 10, 11, 30)
    assert early == bg(2021, 3, 8, 11, 30)
    assert fresh.business_minutes_between(bg(2021, 3, 5, 15, 30), bg(2031, 3, 7, 15, 30)) == (
        reference_minutes(SERBIA, bg(2021, 3, 5, 15, 30), bg(2031, 3, 7, 15, 30))
    )


def test_holidays_are_looked_up_once_per_country_and_year(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, object]] = []
    real = holidays.country_holidays

    def counting(country: str, **kwargs: object) -> holidays.HolidayBase:
        calls.append((country, kwargs.get("years")))
        return real(country, **kwargs)

    calendar_module._holiday_dates.cache_clear()
    monkeypatch.setattr(calendar_module.holidays, "country_holidays", counting)
    cal = BusinessCalendar("Europe/Istanbul", "TR")
    for day in range(1, 29):
        cal.add_business_minutes(ist(2026, 2, day, 9), 600)
        cal.is_working_day(date(2026, 2, day))
    years = {year for _, year in calls}
    assert years == {2025, 2026, 2027}
    assert len(calls) == 2 * len(years)  # public and half-day, once each
    calendar_module._holiday_dates.cache_clear()


# -- Turkey: half-day holidays ------------------------------------------------------------------


def test_turkish_republic_day_eve_closes_at_one() -> None:
    assert TURKEY.is_working_day(date(2026, 10, 28))
    assert "from 1pm" in TURKEY.holiday_name(date(2026, 10, 28))
    assert TURKEY.is_business_time(ist(2026, 10, 28, 12, 59))
    assert not TURKEY.is_business_time(ist(2026, 10, 28, 13, 0))
    assert not TURKEY.is_working_day(date(2026, 10, 29))
    # 2 h on the eve until 13:00, Republic Day off, 1 h on Friday.
    assert TURKEY.add_business_minutes(ist(2026, 10, 28, 11), 180) == ist(2026, 10, 30, 9)
    assert TURKEY.split_minutes(ist(2026, 10, 28, 12), ist(2026, 10, 28, 14)) == (60.0, 60.0)


def test_turkish_eid_eve_then_holiday_weekend() -> None:
    # Eid al-Fitr 2026: eve Thursday 19 March from 13:00, holiday Friday to Sunday.
    assert TURKEY.add_business_minutes(ist(2026, 3, 19, 12), 120) == ist(2026, 3, 23, 9)


# -- 24/7 clock ---------------------------------------------------------------------------------


def test_always_open_counts_every_minute_including_weekends_and_holidays() -> None:
    assert ON_CALL.is_working_day(date(2026, 1, 7))
    assert ON_CALL.is_business_time(bg(2026, 1, 7, 3))
    assert ON_CALL.add_business_minutes(bg(2026, 3, 6, 20), 120) == bg(2026, 3, 6, 22)
    assert ON_CALL.split_minutes(bg(2026, 3, 7, 23), bg(2026, 3, 8, 1)) == (120.0, 0.0)


def test_always_open_counts_real_minutes_across_dst() -> None:
    assert ON_CALL.add_business_minutes(bg(2026, 3, 28, 12), 24 * 60) == bg(2026, 3, 29, 13)
    assert ON_CALL.add_business_minutes(bg(2026, 10, 24, 12), 24 * 60) == bg(2026, 10, 25, 11)
    opens, closes = ON_CALL.business_hours_on(date(2026, 3, 29))
    assert closes - opens == timedelta(hours=23)


# -- splitting intervals for accounting ---------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        (bg(2026, 3, 10, 17, 30), bg(2026, 3, 10, 18, 15), 0.0, 45.0),  # evening call
        (bg(2026, 3, 10, 15, 30), bg(2026, 3, 10, 16, 30), 30.0, 30.0),  # runs past closing
        (bg(2026, 3, 6, 23, 30), bg(2026, 3, 7, 0, 30), 0.0, 60.0),  # Friday night into Saturday
        (bg(2026, 3, 9, 23), bg(2026, 3, 10, 8, 30), 30.0, 540.0),  # overnight into the morning
        (bg(2026, 3, 28, 22), bg(2026, 3, 29, 6), 0.0, 420.0),  # DST night is an hour shorter
        (bg(2026, 1, 7, 10), bg(2026, 1, 7, 11), 0.0, 60.0),  # on Orthodox Christmas
        (bg(2026, 3, 10, 11), bg(2026, 3, 10, 10), 0.0, 0.0),  # reversed interval
    ],
)
def test_split_minutes(start: datetime, end: datetime, inside: float, outside: float) -> None:
    assert SERBIA.split_minutes(start, end) == (inside, outside)


# -- validation ---------------------------------------------------------------------------------


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        SERBIA.add_business_minutes(datetime(2026, 3, 10, 9), 60)
    with pytest.raises(ValueError, match="naive"):
        SERBIA.is_business_time(datetime(2026, 3, 10, 9))


def test_negative_minutes_are_rejected() -> None:
    with pytest.raises(ValueError):
        SERBIA.add_business_minutes(bg(2026, 3, 10, 9), -1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"country": "XX"},
        {"start": time(16), "end": time(8)},
        {"weekdays": frozenset()},
        {"weekdays": frozenset({7})},
    ],
)
def test_invalid_configurations_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(**kwargs)


def test_get_calendar_shares_instances() -> None:
    assert get_calendar("Europe/Belgrade", "RS") is get_calendar("Europe/Belgrade", "RS")
    assert get_calendar("Europe/Belgrade", "RS") is not get_calendar(
        "Europe/Belgrade", "RS", always_open=True
    )
    assert get_calendar("Europe/Istanbul", "TR", start=time(9), end=time(18)).end == time(18)


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=instants, minutes=targets)
def test_due_time_is_inside_business_hours(
    cal: BusinessCalendar, start: datetime, minutes: int
) -> None:
    due = cal.add_business_minutes(start, minutes)
    assert due > start
    hours = reference_hours(cal, due.astimezone(cal.tz).date())
    assert hours is not None
    assert hours[0] < due <= hours[1]


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=instants, minutes=targets)
def test_business_minutes_between_inverts_adding(
    cal: BusinessCalendar, start: datetime, minutes: int
) -> None:
    due = cal.add_business_minutes(start, minutes)
    assert cal.business_minutes_between(start, due) == minutes


@settings(max_examples=200, deadline=None)
@given(cal=calendars, start=instants, minutes=targets, more=targets)
def test_more_minutes_never_give_an_earlier_due(
    cal: BusinessCalendar, start: datetime, minutes: int, more: int
) -> None:
    assert cal.add_business_minutes(start, minutes + more) > cal.add_business_minutes(
        start, minutes
    )


@settings(max_examples=200, deadline=None)
@given(
    cal=calendars,
    a=instants,
    span=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=45)),
)
def test_business_minutes_match_a_day_by_day_count(
    cal: BusinessCalendar, a: datetime, span: timedelta
) -> None:
    b = a + span
    assert cal.business_minutes_between(a, b) == pytest.approx(
        reference_minutes(cal, a, b), abs=1e-9
    )
    inside, outside = cal.split_minutes(a, b)
    assert inside + outside == pytest.approx(span / timedelta(minutes=1), abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(cal=calendars, instant=instants)
def test_weekends_and_holidays_are_never_business_time(
    cal: BusinessCalendar, instant: datetime
) -> None:
    hours = reference_hours(cal, instant.astimezone(cal.tz).date())
    expected = hours is not None and hours[0] <= instant < hours[1]
    assert cal.is_business_time(instant) is expected
    if hours is None:
        assert not cal.is_working_day(instant.astimezone(cal.tz).date())
