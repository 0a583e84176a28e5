"""SLA clock: priority targets, due times with pauses, elapsed share and state."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.calendar.business import BusinessCalendar
from helpdesk.sla import SlaTargets, due_at, elapsed_fraction, sla_state, targets_for

BELGRADE = ZoneInfo("Europe/Belgrade")
SERBIA = BusinessCalendar("Europe/Belgrade", "RS")
ON_CALL = BusinessCalendar("Europe/Belgrade", "RS", always_open=True)


def bg(*args: int) -> datetime:
    """A Belgrade wall-clock instant."""
    return datetime(*args, tzinfo=BELGRADE)


# -- targets per priority -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "first_response", "resolution"),
    [
        ("low", 480, 4800),
        ("normal", 240, 2400),
        ("high", 240, 2400),
        ("urgent", 120, 1200),
    ],
)
def test_targets_for_priority(priority: str, first_response: int, resolution: int) -> None:
    assert targets_for(SlaTargets(240, 2400), priority) == SlaTargets(first_response, resolution)


def test_urgent_halving_rounds_up_to_whole_minutes() -> None:
    assert targets_for(SlaTargets(45, None), "urgent") == SlaTargets(23, None)


def test_unknown_priority_and_negative_targets_are_rejected() -> None:
    with pytest.raises(ValueError, match="priority"):
        targets_for(SlaTargets(60, 60), "critical")
    with pytest.raises(ValueError):
        SlaTargets(-1, 60)


# -- due times ----------------------------------------------------------------------------------


def test_due_without_pauses_counts_business_minutes() -> None:
    assert due_at(SERBIA, bg(2026, 3, 6, 15, 30), 240) == bg(2026, 3, 9, 11, 30)


def test_urgent_ticket_on_call_runs_through_the_night() -> None:
    target = targets_for(SlaTargets(240, 960), "urgent").first_response_minutes
    assert due_at(ON_CALL, bg(2026, 3, 6, 20), target) == bg(2026, 3, 6, 22)


@pytest.mark.parametrize(
    ("pauses", "due"),
    [
        ([(bg(2026, 3, 9, 10), bg(2026, 3, 9, 11))], bg(2026, 3, 9, 14)),
        # pending overnight: no business time is lost, so no shift
        ([(bg(2026, 3, 9, 17), bg(2026, 3, 10, 7))], bg(2026, 3, 9, 13)),
        # a pause that began before the clock started only counts from the start
        ([(bg(2026, 3, 9, 8), bg(2026, 3, 9, 10))], bg(2026, 3, 9, 14)),
        # overlapping pauses count once
        (
            [
                (bg(2026, 3, 9, 10), bg(2026, 3, 9, 11)),
                (bg(2026, 3, 9, 10, 30), bg(2026, 3, 9, 12)),
            ],
            bg(2026, 3, 9, 15),
        ),
        # a pause after the due time changes nothing
        ([(bg(2026, 3, 9, 13, 30), bg(2026, 3, 10, 12))], bg(2026, 3, 9, 13)),
        # a pause starting right at the due time changes nothing either
        ([(bg(2026, 3, 9, 13), bg(2026, 3, 10, 12))], bg(2026, 3, 9, 13)),
        # pending from Monday 11:00 to Wednesday 9:00: the 2 h left run from Wednesday 9:00
        ([(bg(2026, 3, 9, 11), bg(2026, 3, 11, 9))], bg(2026, 3, 11, 11)),
    ],
)
def test_due_with_pauses(pauses: list, due: datetime) -> None:
    assert due_at(SERBIA, bg(2026, 3, 9, 9), 240, pauses) == due


def test_open_pause_lasts_until_now() -> None:
    start = bg(2026, 3, 9, 9)
    pauses = [(bg(2026, 3, 9, 10), None)]
    assert due_at(SERBIA, start, 240, pauses, now=bg(2026, 3, 9, 12)) == bg(2026, 3, 9, 15)
    # still pending on Friday: the 3 h left start counting from then
    assert due_at(SERBIA, start, 240, pauses, now=bg(2026, 3, 13, 15)) == bg(2026, 3, 16, 10)


def test_pause_across_a_holiday_weekend() -> None:
    # Thursday 30 April 2026 at 14:00, pending until Monday 4 May 10:00 (1 May is Labour Day).
    pauses = [(bg(2026, 4, 30, 14), bg(2026, 5, 4, 10))]
    assert due_at(SERBIA, bg(2026, 4, 30, 12), 240, pauses) == bg(2026, 5, 4, 12)


# -- elapsed share and state --------------------------------------------------------------------


def test_elapsed_fraction_counts_only_unpaused_business_time() -> None:
    start = bg(2026, 3, 9, 8)
    assert elapsed_fraction(SERBIA, start, bg(2026, 3, 9, 16), bg(2026, 3, 9, 12)) == 0.5
    pauses = [(bg(2026, 3, 9, 9), bg(2026, 3, 9, 10))]
    due = due_at(SERBIA, start, 480, pauses)
    assert due == bg(2026, 3, 10, 9)
    assert elapsed_fraction(SERBIA, start, due, bg(2026, 3, 9, 12), pauses) == 3 / 8
    # overnight the clock does not move
    evening = elapsed_fraction(SERBIA, start, due, bg(2026, 3, 9, 20), pauses)
    assert evening == elapsed_fraction(SERBIA, start, due, bg(2026, 3, 10, 7), pauses) == 7 / 8


def test_elapsed_fraction_ignores_the_part_of_a_pause_before_the_start() -> None:
    start = bg(2026, 3, 9, 10)
    pauses = [(bg(2026, 3, 9, 9), bg(2026, 3, 9, 11))]
    due = due_at(SERBIA, start, 240, pauses)
    assert due == bg(2026, 3, 9, 15)
    assert elapsed_fraction(SERBIA, start, due, bg(2026, 3, 9, 12), pauses) == 0.25


def test_elapsed_fraction_passes_one_after_the_due_time() -> None:
    start = bg(2026, 3, 9, 8)
    assert elapsed_fraction(SERBIA, start, bg(2026, 3, 9, 12), bg(2026, 3, 9, 14)) == 1.5


def test_zero_target_is_used_up_at_its_due_time() -> None:
    start = bg(2026, 3, 9, 9)
    due = due_at(SERBIA, start, 0)
    assert due == start
    assert elapsed_fraction(SERBIA, start, due, start - timedelta(minutes=1)) == 0.0
    assert elapsed_fraction(SERBIA, start, due, start) == 1.0


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (bg(2026, 3, 9, 9), "ok"),
        (bg(2026, 3, 9, 14, 23), "ok"),  # 79.6 %
        (bg(2026, 3, 9, 14, 24), "warning"),  # exactly 80 %
        (bg(2026, 3, 9, 16), "warning"),  # at the due time: used up but not late
        (bg(2026, 3, 9, 20), "breached"),
    ],
)
def test_sla_state(now: datetime, state: str) -> None:
    start = bg(2026, 3, 9, 8)
    assert sla_state(SERBIA, start, bg(2026, 3, 9, 16), now) == state


def test_sla_state_threshold_and_pauses() -> None:
    start = bg(2026, 3, 9, 8)
    due = bg(2026, 3, 9, 16)
    assert sla_state(SERBIA, start, due, bg(2026, 3, 9, 12), warning_at=0.5) == "warning"
    assert sla_state(SERBIA, start, due, bg(2026, 3, 9, 12), warning_at=0.6) == "ok"
    # paused since 9:00 and still pending: the due time moves with now, so it stays fine
    pauses = [(bg(2026, 3, 9, 9), None)]
    now = bg(2026, 3, 11, 15)
    moved = due_at(SERBIA, start, 480, pauses, now=now)
    assert moved == bg(2026, 3, 12, 14)
    assert sla_state(SERBIA, start, moved, now, pauses) == "ok"


# -- properties ---------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
minutes = st.integers(min_value=0, max_value=60 * 8 * 20)
pause_lists = st.lists(
    st.tuples(
        st.timedeltas(min_value=timedelta(hours=-48), max_value=timedelta(days=30)),
        st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))),
    ),
    max_size=4,
)


def as_pauses(start: datetime, offsets: list) -> list:
    """Pauses relative to a start: (offset of the pause start, its length or None if open)."""
    return [
        (start + begin, None if length is None else start + begin + length)
        for begin, length in offsets
    ]


@settings(max_examples=300, deadline=None)
@given(
    start=instants,
    target=minutes,
    offsets=pause_lists,
    now_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
)
def test_a_pause_never_makes_the_due_time_earlier(
    start: datetime, target: int, offsets: list, now_after: timedelta
) -> None:
    pauses = as_pauses(start, offsets)
    now = start + now_after
    plain = due_at(SERBIA, start, target)
    paused = due_at(SERBIA, start, target, pauses, now=now)
    assert paused >= plain
    if pauses:
        assert due_at(SERBIA, start, target, pauses[:-1], now=now) <= paused


@settings(max_examples=300, deadline=None)
@given(start=instants, target=st.integers(min_value=1, max_value=60 * 8 * 20), offsets=pause_lists)
def test_the_clock_reads_the_full_target_at_the_due_time(
    start: datetime, target: int, offsets: list
) -> None:
    pauses = [(b, e) for b, e in as_pauses(start, offsets) if e is not None]
    due = due_at(SERBIA, start, target, pauses)
    assert elapsed_fraction(SERBIA, start, due, due, pauses) == pytest.approx(1.0, abs=1e-12)
    hours = SERBIA.business_hours_on(due.astimezone(BELGRADE).date())
    assert hours is not None and hours[0] < due <= hours[1]


@settings(max_examples=200, deadline=None)
@given(start=instants, target=minutes, more=minutes, offsets=pause_lists)
def test_a_longer_target_is_never_due_earlier(
    start: datetime, target: int, more: int, offsets: list
) -> None:
    pauses = as_pauses(start, offsets)
    now = start + timedelta(days=5)
    assert due_at(SERBIA, start, target + more, pauses, now=now) >= due_at(
        SERBIA, start, target, pauses, now=now
    )
