"""The ledger in the database: billing by the client's calendar and zone, month close,
adjustments, reviews, package changes and the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import select

from helpdesk.accounting.closing import CloseRefused, close_month, month_is_over
from helpdesk.accounting.ledger import (
    DuplicateEntry,
    LedgerError,
    MonthClosed,
    add_adjustment,
    delete_entry,
    entries_needing_review,
    log_entry,
    open_period,
    review_entry,
    update_entry,
)
from helpdesk.accounting.usage import usage_for
from helpdesk.contracts.changes import (
    ContractChangeError,
    apply_due_changes,
    downgrade,
    upgrade,
)
from helpdesk.extensions import db
from helpdesk.models import AuditLog, ClosedMonth, ContractAddon, Role
from tests.worked_example import local

ISTANBUL = ZoneInfo("Europe/Istanbul")


def _audit(entity_id: int, table: str = "time_entries") -> list[str]:
    return list(db.session.scalars(
        select(AuditLog.action).where(AuditLog.entity_type == table,
                                      AuditLog.entity_id == entity_id)
        .order_by(AuditLog.id)
    ))


# -- billing by the client's calendar ----------------------------------------------------------


def test_oncall_is_looked_up_on_the_clients_local_date(app, factory):
    c = factory.client()
    contract = factory.contract(c, "extended", start=date(2025, 1, 1))
    # On-call from 3 March (Belgrade date). 2 March 23:30 UTC is already 3 March 00:30 there.
    contract.addons.append(ContractAddon(addon_id=factory.addon("oncall").id,
                                         start_date=date(2026, 3, 3)))
    db.session.flush()
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    entry = log_entry(client=c, kind="phone", started_at=night, minutes=20)
    assert entry.out_of_hours
    assert not entry.needs_review  # the on-call add-on covered that local day
    # An hour earlier it is still 2 March in Belgrade: no on-call yet.
    earlier = log_entry(client=c, kind="phone", started_at=night - timedelta(hours=1),
                        minutes=20)
    assert earlier.needs_review


def test_session_across_midnight_at_month_end_belongs_to_the_month_it_starts_in(app, factory):
    c = factory.client()
    factory.contract(c, "standard", start=date(2025, 1, 1))
    start = local(2026, 1, 31, 23, 50)
    entry = log_entry(client=c, kind="remote", started_at=start,
                      ended_at=start + timedelta(minutes=40))
    assert entry.period == "2026-01"
    assert (entry.minutes, entry.out_of_hours_minutes, entry.billable_minutes) == (40, 40, 60)
    assert usage_for(c, "2026-01").used_minutes_by_kind == {"remote": 60}
    assert usage_for(c, "2026-02").used_minutes_by_kind == {}


def test_autumn_dst_night_bills_the_real_minutes(app, factory):
    c = factory.client()
    # 25 October 2026, Belgrade: 03:00 summer time becomes 02:00 again. 01:30 to 03:30 on the
    # wall clock is three real hours (the 02:00-03:00 hour happens twice), all out of hours.
    start = local(2026, 10, 25, 1, 30)
    end = datetime(2026, 10, 25, 3, 30, tzinfo=ZoneInfo("Europe/Belgrade"))
    assert (end - start) == timedelta(hours=2)  # wall-clock arithmetic of aware datetimes...
    real = end.astimezone(UTC) - start.astimezone(UTC)
    assert real == timedelta(hours=3)  # ...but the real time is longer
    entry = log_entry(client=c, kind="remote", started_at=start.astimezone(UTC),
                      ended_at=end.astimezone(UTC))
    assert entry.minutes == 180
    assert entry.billable_minutes == 270  # 180 * 1.5


def test_spring_dst_day_opens_at_8_local_time(app, factory):
    c = factory.client()
    # Monday 30 March 2026, the first working day of summer time: 07:45-08:15 local is
    # 15 minutes out and 15 in: 15 * 1.5 + 15 = 37.5 -> 45.
    entry = log_entry(client=c, kind="phone", started_at=local(2026, 3, 30, 7, 45),
                      ended_at=local(2026, 3, 30, 8, 15))
    assert entry.out_of_hours_minutes == 15
    assert entry.billable_minutes == 45


def test_serbian_holiday_on_a_weekday_is_out_of_hours(app, factory):
    c = factory.client(country="RS")
    day = date(2026, 1, 7)  # Wednesday, Orthodox Christmas
    assert day.weekday() == 2 and day in holidays.country_holidays("RS", years=2026)
    on_holiday = log_entry(client=c, kind="phone", started_at=local(2026, 1, 7, 10, 0),
                           minutes=30)
    normal_day = log_entry(client=c, kind="phone", started_at=local(2026, 1, 8, 10, 0),
                           minutes=30)
    assert (on_holiday.out_of_hours, on_holiday.billable_minutes) == (True, 45)
    assert on_holiday.needs_review
    assert (normal_day.out_of_hours, normal_day.billable_minutes) == (False, 30)


def test_turkish_client_is_billed_by_turkish_holidays(app, factory):
    turkish = factory.client(country="TR", timezone="Europe/Istanbul", language="tr")
    serbian = factory.client(country="RS")
    factory.contract(turkish, "extended", start=date(2025, 1, 1), addons=("oncall",))
    # Thursday 23 April 2026: a Turkish public holiday, an ordinary day in Serbia.
    at = datetime(2026, 4, 23, 10, 0, tzinfo=ISTANBUL)
    tr_entry = log_entry(client=turkish, kind="remote", started_at=at, minutes=40)
    rs_entry = log_entry(client=serbian, kind="remote", started_at=at, minutes=40)
    assert (tr_entry.out_of_hours, tr_entry.billable_minutes) == (True, 60)
    assert not tr_entry.needs_review  # the Turkish client has on-call
    assert (rs_entry.out_of_hours, rs_entry.billable_minutes) == (False, 45)
    # 28 October (eve of Republic Day) closes at 13:00 in Turkey.
    eve = log_entry(client=turkish, kind="phone", started_at=datetime(
        2026, 10, 28, 14, 0, tzinfo=ISTANBUL), minutes=20)
    assert eve.out_of_hours
    # Istanbul's 1 May starts at 21:00 UTC on 30 April: the entry is May's.
    may = log_entry(client=turkish, kind="email",
                    started_at=datetime(2026, 4, 30, 21, 30, tzinfo=UTC), minutes=5)
    assert may.period == "2026-05"


# -- package changes ---------------------------------------------------------------------------


def test_upgrade_on_the_last_day_of_a_month(app, factory):
    c = factory.client()
    contract = factory.contract(c, "standard", start=date(2025, 1, 1))
    upgrade(contract, factory.package("extended"), on=date(2026, 1, 31))
    jan = usage_for(c, "2026-01")
    # Standard 30 days: 300 * 30/31 = 290.32 -> 290; Extended 1 day: running total
    # 290.32 + 19.35 = 309.68 -> 310, so 20. Fee: 116.13 + (122.58 - 116.13 = 6.45) = 122.58.
    assert [p.included_minutes for p in jan.package_parts] == [290, 20]
    assert jan.included_minutes == 310
    assert jan.fee == Decimal("122.58")
    feb = usage_for(c, "2026-02")
    assert (feb.included_minutes, feb.fee) == (600, Decimal("200.00"))
    assert contract.package_id == factory.package("extended").id
    assert "package_upgrade" in _audit(contract.id, "contracts")


def test_downgrade_takes_effect_on_the_first_of_next_month(app, factory):
    c = factory.client()
    contract = factory.contract(c, "extended", start=date(2025, 1, 1))
    change = downgrade(contract, factory.package("basic"), requested_on=date(2026, 1, 15))
    assert change.effective_date == date(2026, 2, 1)
    assert usage_for(c, "2026-01").included_minutes == 600
    feb = usage_for(c, "2026-02")
    assert (feb.included_minutes, feb.fee, feb.package_parts[0].segment.monthly_fee) == (
        120, Decimal("60.00"), Decimal("60.00")
    )


def test_package_changes_refuse_the_wrong_direction_and_closed_months(app, factory):
    c = factory.client()
    contract = factory.contract(c, "standard", start=date(2025, 1, 1))
    with pytest.raises(ContractChangeError, match="downgrade"):
        upgrade(contract, factory.package("basic"), on=date(2026, 2, 10))
    with pytest.raises(ContractChangeError, match="upgrade"):
        downgrade(contract, factory.package("extended"), requested_on=date(2026, 2, 10))
    close_month("2026-02")
    with pytest.raises(ContractChangeError, match="closed"):
        upgrade(contract, factory.package("extended"), on=date(2026, 2, 10))


def test_planned_downgrade_moves_the_current_package_when_due(app, factory):
    c = factory.client()
    contract = factory.contract(c, "extended", start=date(2025, 1, 1))
    today = datetime.now(UTC).astimezone(ZoneInfo(c.timezone)).date()
    downgrade(contract, factory.package("standard"), requested_on=today)
    assert contract.package_id == factory.package("extended").id
    assert apply_due_changes(now=datetime.now(UTC)).package_changes == 0
    assert apply_due_changes(now=datetime.now(UTC) + timedelta(days=32)).package_changes == 1
    assert contract.package_id == factory.package("standard").id


# -- month close and adjustments -----------------------------------------------------------------


def test_close_month_is_idempotent_and_refuses_an_unfinished_month(app, factory):
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    with pytest.raises(CloseRefused):
        close_month("2026-03", now=now)
    with pytest.raises(CloseRefused):
        close_month("2026-04", now=now)
    first = close_month("2026-02", now=now)
    again = close_month("2026-02", now=now)
    assert first.id == again.id
    assert db.session.scalar(select(db.func.count()).select_from(ClosedMonth)) == 1
    forced = close_month("2026-03", now=now, force=True)
    assert forced.period == "2026-03"
    assert _audit(first.id, "closed_months") == ["close"]


def test_a_month_is_over_only_when_it_ended_in_every_clients_zone(app, factory):
    factory.client(timezone="Europe/London", country="GB", language="en")
    # 1 March 00:30 in Belgrade is still 28 February 23:30 in London.
    just_after = local(2026, 3, 1, 0, 30).astimezone(UTC)
    assert not month_is_over("2026-02", just_after)
    assert month_is_over("2026-02", just_after + timedelta(hours=1))


def test_closed_month_refuses_changes_and_takes_an_adjustment(app, factory):
    manager = factory.user(Role.ACCOUNT_MANAGER)
    c = factory.client(manager=manager)
    factory.contract(c, "basic", start=date(2025, 1, 1))
    entry = log_entry(client=c, kind="remote", started_at=local(2026, 2, 10, 9, 0),
                      ended_at=local(2026, 2, 10, 10, 40))
    assert entry.billable_minutes == 105
    close_month("2026-02", manager)
    with pytest.raises(MonthClosed):
        update_entry(entry, user=manager, minutes=30)
    with pytest.raises(MonthClosed):
        delete_entry(entry, user=manager)
    with pytest.raises(MonthClosed):
        log_entry(client=c, kind="phone", started_at=local(2026, 2, 11, 9, 0), minutes=5)
    # No move into a closed month either.
    march = log_entry(client=c, kind="phone", started_at=local(2026, 3, 3, 9, 0), minutes=5)
    with pytest.raises(MonthClosed):
        update_entry(march, user=manager, started_at=local(2026, 2, 27, 9, 0))

    feb_before = usage_for(c, "2026-02")
    adjustment = add_adjustment(entry, minutes_delta=-60, reason="the customer was away",
                                user=manager, now=local(2026, 3, 5, 12, 0))
    # 100 worked minutes become 40: billed 45 instead of 105.
    assert (adjustment.minutes, adjustment.billable_minutes) == (-60, -60)
    assert adjustment.period == "2026-03"
    assert adjustment.is_adjustment and adjustment.adjusts_entry_id == entry.id
    assert adjustment.source == "adjustment"
    # A second correction starts from the corrected figures.
    second = add_adjustment(entry, minutes_delta=-40, reason="not worked at all", user=manager,
                            now=local(2026, 3, 6, 12, 0))
    assert second.billable_minutes == -45
    with pytest.raises(LedgerError):
        add_adjustment(entry, minutes_delta=-1, reason="too much", user=manager)
    with pytest.raises(LedgerError, match="reason"):
        add_adjustment(entry, minutes_delta=10, reason=" ", user=manager)
    assert usage_for(c, "2026-02") == feb_before
    assert usage_for(c, "2026-03").billable_minutes == 15 - 105
    assert _audit(adjustment.id) == ["create"]


def test_adjustment_goes_to_the_next_open_month(app, factory):
    c = factory.client()
    entry = log_entry(client=c, kind="email", started_at=local(2026, 2, 10, 9, 0), minutes=30)
    close_month("2026-02", force=True)
    close_month("2026-03", force=True)
    adjustment = add_adjustment(entry, billable_delta=-30, reason="goodwill", user=None,
                                now=local(2026, 3, 20, 9, 0))
    assert adjustment.period == "2026-04"
    assert open_period(c, local(2026, 3, 20, 9, 0)) == "2026-04"


def test_every_change_to_an_entry_is_audited(app, factory):
    agent = factory.user(Role.AGENT)
    c = factory.client()
    entry = log_entry(client=c, kind="phone", started_at=local(2026, 3, 3, 9, 0), minutes=10,
                      agent=agent, user=agent)
    update_entry(entry, user=agent, minutes=40, note="longer")
    entry_id = entry.id
    delete_entry(entry, user=agent)
    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.entity_type == "time_entries",
                               AuditLog.entity_id == entry_id).order_by(AuditLog.id)
    ).all()
    assert [r.action for r in rows] == ["create", "update", "delete"]
    update = rows[1]
    assert (update.before["minutes"], update.after["minutes"]) == (10, 40)
    assert (update.before["billable_minutes"], update.after["billable_minutes"]) == (15, 45)
    assert rows[2].before["note"] == "longer"
    assert all(r.user_id == agent.id for r in rows)


def test_update_recomputes_billing_and_keeps_the_duration_when_moving(app, factory):
    c = factory.client()
    entry = log_entry(client=c, kind="remote", started_at=local(2026, 3, 3, 9, 0),
                      ended_at=local(2026, 3, 3, 9, 50))
    update_entry(entry, user=None, started_at=local(2026, 3, 3, 15, 30))
    # Same 50 minutes, now 30 in and 20 out of hours: 30 + 30 = 60.
    assert entry.ended_at == local(2026, 3, 3, 16, 20)
    assert (entry.minutes, entry.out_of_hours_minutes, entry.billable_minutes) == (50, 20, 60)
    with pytest.raises(LedgerError):
        update_entry(entry, user=None, colour="red")
    with pytest.raises(LedgerError):
        update_entry(entry, user=None, kind="gardening")


def test_duplicate_reference_is_refused_by_log_entry(app, factory):
    c = factory.client()
    log_entry(client=c, kind="remote", started_at=local(2026, 3, 3, 9, 0), minutes=10,
              source="timer", external_ref="123456")
    with pytest.raises(DuplicateEntry):
        log_entry(client=c, kind="remote", started_at=local(2026, 3, 3, 9, 0), minutes=10,
                  source="timer", external_ref="123456")


# -- review of out-of-hours work -----------------------------------------------------------------


def test_review_decisions(app, factory):
    manager = factory.user(Role.ACCOUNT_MANAGER)
    other_manager = factory.user(Role.ACCOUNT_MANAGER)
    c = factory.client(manager=manager)
    other = factory.client(manager=other_manager)
    saturday = local(2026, 3, 7, 10, 0)
    keep = log_entry(client=c, kind="phone", started_at=saturday, minutes=20)
    plain = log_entry(client=c, kind="remote", started_at=saturday, minutes=50)
    waive = log_entry(client=c, kind="phone", started_at=saturday, minutes=10)
    theirs = log_entry(client=other, kind="phone", started_at=saturday, minutes=10)
    in_hours = log_entry(client=c, kind="phone", started_at=local(2026, 3, 9, 10, 0), minutes=10)
    assert not in_hours.needs_review
    assert {e.id for e in entries_needing_review(manager)} == {keep.id, plain.id, waive.id}
    assert theirs in entries_needing_review(None)

    review_entry(keep, user=manager, decision="approve")
    review_entry(plain, user=manager, decision="waive_surcharge")
    review_entry(waive, user=manager, decision="waive")
    assert keep.billable_minutes == 30  # 20 * 1.5
    assert plain.billable_minutes == 60  # 50 without the surcharge, rounded up
    assert waive.billable_minutes == 0
    assert entries_needing_review(manager) == []
    assert "review_waive" in _audit(waive.id)

    # A note does not undo the waiver; a new time does, and asks for a new decision.
    update_entry(waive, user=manager, note="customer's server room flooded")
    assert (waive.billable_minutes, waive.reviewed_by_id) == (0, manager.id)
    update_entry(waive, user=manager, minutes=25)
    assert waive.billable_minutes == 45 and waive.reviewed_by_id is None
    with pytest.raises(LedgerError):
        review_entry(in_hours, user=manager, decision="waive")
