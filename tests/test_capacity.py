"""The capacity plan on a fixed week: availability, reservations, and the queue order they give."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpdesk.capacity.models import DayOff, Reservation, WorkingHours
from helpdesk.capacity.planner import agent_days, plan_week, week_start
from helpdesk.capacity.queue import (
    BAND_FREE,
    BAND_RESERVED,
    BAND_RESERVED_LOW,
    BAND_URGENT_WAITING,
)
from helpdesk.capacity.rules import AgentWeek, ClientDemand, plan
from helpdesk.extensions import db
from helpdesk.models import Role, TimeEntry, Visit
from helpdesk.tickets.queues import queue_page
from helpdesk.tickets.services import create_ticket

BELGRADE = ZoneInfo("Europe/Belgrade")
MONDAY = date(2026, 11, 16)  # a week without Serbian public holidays
DAY_MINUTES = 8 * 60  # 08:00-16:00


def bg(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BELGRADE).astimezone(UTC)


def owed(included_minutes: int, tickets_due: int = 0) -> int:
    """The rule as the issue states it: monthly minutes / (52/12 weeks), plus 30 min per ticket."""
    base = (Decimal(included_minutes) * 12 / 52).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(base) + 30 * tickets_due


@pytest.fixture
def week(factory):
    """Three contract clients on the three packages, two agents, a day off and a visit."""
    ana = factory.user(Role.AGENT, name="Ana")
    bora = factory.user(Role.AGENT, name="Bora")
    factory.user(Role.AGENT, name="Gone", active=False)
    clients = {
        "basic": factory.client("Basic Co"),
        "standard": factory.client("Standard Co"),
        "extended": factory.client("Extended Co", dedicated_agent_id=ana.id),
        "none": factory.client("No Contract Co"),
    }
    for code in ("basic", "standard", "extended"):
        factory.contract(clients[code], code, start=date(2026, 1, 1))
    db.session.add(DayOff(agent_id=bora.id, first_day=date(2026, 11, 18),
                          last_day=date(2026, 11, 18), reason="training"))
    db.session.add(Visit(client_id=clients["extended"].id, contract_year_start=date(2026, 1, 1),
                         planned_date=date(2026, 11, 19), status="confirmed", agent_id=ana.id,
                         duration_minutes=180))
    # A standard-client ticket whose resolution is due within the week adds its share.
    create_ticket(subject="Printer", client_id=clients["standard"].id, created_at=bg(16, 9),
                  actor="test")
    db.session.commit()
    return {"ana": ana, "bora": bora, "clients": clients}


def test_availability_takes_out_days_off_and_visits(week):
    days = agent_days([week["ana"].id, week["bora"].id], MONDAY)
    ana = [d.available_minutes for d in days[week["ana"].id]]
    bora = [d.available_minutes for d in days[week["bora"].id]]
    assert ana == [DAY_MINUTES] * 3 + [DAY_MINUTES - 180, DAY_MINUTES, 0, 0]
    assert bora == [DAY_MINUTES, DAY_MINUTES, 0, DAY_MINUTES, DAY_MINUTES, 0, 0]


def test_own_working_hours_replace_the_calendar_but_not_its_holidays(week):
    ana = week["ana"]
    # Ana works Mon-Thu 07:00-17:00 only.
    for wd in range(4):
        db.session.add(WorkingHours(agent_id=ana.id, weekday=wd, starts=time(7), ends=time(17)))
    db.session.flush()
    days = agent_days([ana.id], MONDAY)[ana.id]
    assert [d.working_minutes for d in days] == [600, 600, 600, 600, 0, 0, 0]
    # Serbia's Armistice Day (Wed 11 Nov 2026) closes the office even on her own hours.
    earlier = agent_days([ana.id], date(2026, 11, 9))[ana.id]
    assert earlier[2].day == date(2026, 11, 11) and earlier[2].working_minutes == 0


def test_week_plan_reserves_what_the_rule_says_and_adds_up(week):
    c, ana, bora = week["clients"], week["ana"], week["bora"]
    result = plan_week(MONDAY)
    db.session.commit()
    expected = {c["basic"].id: owed(120), c["standard"].id: owed(300, tickets_due=1),
                c["extended"].id: owed(600)}
    assert expected[c["extended"].id] == 138 and expected[c["standard"].id] == 99
    assert {cid: result.client_minutes(cid) for cid in expected} == expected
    # No reservation for the client without a contract, nor for the inactive agent.
    rows = db.session.scalars(select(Reservation)).all()
    assert {r.client_id for r in rows} == set(expected)
    assert {r.agent_id for r in rows} <= {ana.id, bora.id}
    # The dedicated agent holds the whole of her client's reservation.
    ext = {r.agent_id: r.minutes for r in rows if r.client_id == c["extended"].id}
    assert ext == {ana.id: 138}
    # Each agent: reserved + free = available (after the day off and the visit).
    available = {ana.id: 5 * DAY_MINUTES - 180, bora.id: 4 * DAY_MINUTES}
    for agent, minutes in available.items():
        booked = sum(r.minutes for r in rows if r.agent_id == agent)
        assert booked + result.free_minutes(agent) == minutes
    assert result.total_free == sum(available.values()) - sum(expected.values())
    # The others go to whoever has the most free time left: Ana, even after her 138 minutes
    # (2,220 - 138 = 2,082 > Bora's 1,920), biggest reservation first.
    assert available[ana.id] - 138 > available[bora.id]
    for code in ("standard", "basic"):
        assert {r.agent_id: r.minutes for r in rows if r.client_id == c[code].id} == {
            ana.id: expected[c[code].id]}


def test_planning_again_replaces_the_week_and_changes_nothing_else(week):
    plan_week(MONDAY)
    db.session.commit()
    first = sorted((r.client_id, r.agent_id, r.minutes)
                   for r in db.session.scalars(select(Reservation)))
    plan_week(MONDAY + timedelta(days=3))  # any day of the week plans that week
    db.session.commit()
    again = sorted((r.client_id, r.agent_id, r.minutes)
                   for r in db.session.scalars(select(Reservation)))
    assert again == first
    assert week_start(date(2026, 11, 22)) == MONDAY
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == len(first)


def test_reservations_go_to_the_agent_with_most_free_time_and_stay_whole():
    agents = [AgentWeek(1, 300), AgentWeek(2, 250)]
    clients = [ClientDemand(10, "x", 520), ClientDemand(11, "y", 650), ClientDemand(12, "z", 866)]
    # 520/4.33 = 120, 650/4.33 = 150, 866/4.33 = 199.8 -> 200 minutes owed.
    result = plan(agents, clients)
    assert result.owed == {10: 120, 11: 150, 12: 200}
    # 12 (200) -> agent 1 (300 free, 100 left); 11 (150) -> agent 2 (250, 100 left);
    # 10 (120) -> agent 1 takes 100, agent 2 the other 20.
    assert result.reserved == {(12, 1): 200, (11, 2): 150, (10, 1): 100, (10, 2): 20}
    assert result.total_free == 550 - 470


def test_an_overbooked_week_reserves_only_what_exists():
    agents = [AgentWeek(1, 100), AgentWeek(2, 50)]
    clients = [ClientDemand(10, "extended", 6000), ClientDemand(11, "basic", 1200)]
    result = plan(agents, clients)
    assert result.total_free == 0
    assert result.client_minutes(10) + result.client_minutes(11) == 150
    assert result.shortfall(10) > 0 and result.shortfall(11) > 0
    for agent in (1, 2):
        assert 0 <= result.free_minutes(agent)


# -- the queue follows the plan -------------------------------------------------------------------


def _ticket(client, created, priority="normal"):
    return create_ticket(subject=f"{client.name} {priority}", client_id=client.id,
                         priority=priority, created_at=created, actor="test")


def test_non_contract_ticket_is_served_from_free_capacity(week):
    c = week["clients"]
    plan_week(MONDAY)
    free = _ticket(c["none"], bg(17, 8), "high")
    low = _ticket(c["basic"], bg(17, 9), "low")
    normal = _ticket(c["standard"], bg(17, 10))
    db.session.commit()
    page = queue_page(week["ana"], now=bg(17, 10, 30))
    bands = {row.ticket.id: row.band for row in page.rows}
    assert bands[normal.id] == BAND_RESERVED
    assert bands[low.id] == BAND_RESERVED_LOW
    assert bands[free.id] == BAND_FREE
    order = [row.ticket.id for row in page.rows]
    assert order.index(normal.id) < order.index(low.id) < order.index(free.id)


def test_urgent_non_contract_ticket_moves_ahead_of_low_contract_work_after_the_wait(week):
    c = week["clients"]
    plan_week(MONDAY)
    low = _ticket(c["basic"], bg(16, 9), "low")
    urgent = _ticket(c["none"], bg(17, 13), "urgent")  # Tue 13:00
    normal = _ticket(c["standard"], bg(16, 10))
    db.session.commit()

    def order(now):
        page = queue_page(week["ana"], now=now)
        return [r.ticket.id for r in page.rows], {r.ticket.id: r.band for r in page.rows}

    # Tue 15:59: under three business hours of waiting, still behind the contract tickets.
    ids, bands = order(bg(17, 15, 59))
    assert bands[urgent.id] == BAND_FREE and ids.index(low.id) < ids.index(urgent.id)
    # Wed 08:59: three hours (13-16 on Tuesday) and 59 minutes: not yet.
    ids, bands = order(bg(18, 8, 59))
    assert bands[urgent.id] == BAND_FREE
    # Wed 09:00: four business hours; it is served before low-priority contract tickets, but
    # still after contract tickets of normal priority within their reservation.
    ids, bands = order(bg(18, 9))
    assert bands[urgent.id] == BAND_URGENT_WAITING
    assert ids.index(normal.id) < ids.index(urgent.id) < ids.index(low.id)


def test_a_client_that_used_its_reservation_waits_with_everyone_else(week, app):
    c = week["clients"]
    plan_week(MONDAY)
    basic = _ticket(c["basic"], bg(16, 9))
    none = _ticket(c["none"], bg(16, 8))
    reserved = owed(120)
    db.session.add(TimeEntry(client_id=c["basic"].id, kind="remote", source="manual",
                             started_at=bg(16, 10), ended_at=bg(16, 10) + timedelta(minutes=30),
                             minutes=reserved, billable_minutes=reserved, period="2026-11"))
    db.session.commit()
    page = queue_page(week["ana"], now=bg(16, 12))
    bands = {row.ticket.id: row.band for row in page.rows}
    assert bands[basic.id] == BAND_FREE
    # Free capacity is served by priority, then age: the older non-contract ticket first.
    ids = [r.ticket.id for r in page.rows]
    assert ids.index(none.id) < ids.index(basic.id)
    # The next week is planned afresh: the used minutes of last week do not count.
    plan_week(MONDAY + timedelta(days=7))
    db.session.commit()
    page = queue_page(week["ana"], now=bg(23, 9))
    assert {row.ticket.id: row.band for row in page.rows}[basic.id] == BAND_RESERVED


def test_an_unplanned_week_keeps_contract_tickets_first(week):
    c = week["clients"]
    t = _ticket(c["standard"], bg(16, 9), "low")
    db.session.commit()
    page = queue_page(week["ana"], now=bg(16, 10))
    assert {r.ticket.id: r.band for r in page.rows}[t.id] == BAND_RESERVED_LOW
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0


def test_week_start_is_the_local_monday_across_a_year_boundary():
    assert week_start(date(2027, 1, 1)) == date(2026, 12, 28)
    assert week_start(date(2026, 12, 28)) == date(2026, 12, 28)
    assert datetime.combine(week_start(date(2027, 1, 3)), time()).weekday() == 0


def test_the_daily_job_plans_next_week_and_an_unplanned_current_week(week, app):
    from helpdesk.capacity.planner import is_planned, plan_due_weeks
    from helpdesk.scheduler.runner import run_job_now

    thursday = bg(19, 5, 15)  # the job's default time
    runs = run_job_now("capacity_plan", thursday)
    assert [r.outcome for r in runs] == ["ok"], [(r.outcome, r.error) for r in runs]
    assert is_planned(MONDAY) and is_planned(MONDAY + timedelta(days=7))
    before = sorted((r.client_id, r.agent_id, r.minutes)
                    for r in db.session.scalars(select(Reservation)))
    # Run again (a made-up run after downtime): the current week stays as planned, next week
    # is planned again to the same result.
    assert plan_due_weeks(thursday) == [MONDAY + timedelta(days=7)]
    db.session.commit()
    assert sorted((r.client_id, r.agent_id, r.minutes)
                  for r in db.session.scalars(select(Reservation))) == before
    # The local day decides: Sunday 27 Dec 23:30 in Belgrade (22:30 UTC) plans the week of Monday
    # 28 Dec, which runs into the new year.
    sunday_late = datetime(2026, 12, 27, 23, 30, tzinfo=BELGRADE).astimezone(UTC)
    assert plan_due_weeks(sunday_late)[-1] == date(2026, 12, 28)


def test_cli_plans_a_week_and_reports_the_figures(week, app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["capacity", "plan", "--week", "2026-11-18"])
    assert result.exit_code == 0, result.output
    expected = owed(120) + owed(300, tickets_due=1) + owed(600)
    assert f"week of 2026-11-16: 3 client(s), {expected} min reserved" in result.output
    bad = runner.invoke(args=["capacity", "plan", "--week", "18.11.2026"])
    assert bad.exit_code != 0 and "is not a date" in bad.output


# -- pages ----------------------------------------------------------------------------------------


def test_capacity_page_shows_the_week_with_charts_and_admins_plan_it(week, factory, client, auth):
    admin = factory.user(Role.ADMIN)
    db.session.commit()
    auth.login(admin.email)
    page = client.get("/console/capacity?week=2026-11-18")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-week="2026-11-16"' in html and 'data-week="2026-11-23"' in html
    assert html.count('<svg class="chart"') == 4  # agents and clients, two weeks
    assert "Not planned yet" in html  # the figures are the planner's proposal
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0
    token = auth.csrf("/console/capacity?week=2026-11-18")
    r = client.post("/console/capacity/plan?week=2026-11-18", data={"csrf_token": token})
    assert r.status_code == 302
    total = owed(120) + owed(300, tickets_due=1) + owed(600)
    assert db.session.scalar(select(func.sum(Reservation.minutes))) == total
    html = client.get("/console/capacity?week=2026-11-18").get_data(as_text=True)
    assert html.count("Not planned yet") == 1  # next week still is not
    ext = week["clients"]["extended"].id
    assert f'data-client="{ext}"' in html and "2:18" in html  # 138 minutes


def test_agents_cannot_plan_and_managers_see_only_their_clients(week, factory, client, auth):
    manager = factory.user(Role.ACCOUNT_MANAGER)
    week["clients"]["basic"].account_manager_id = manager.id
    db.session.commit()
    plan_week(MONDAY)
    db.session.commit()
    auth.login(week["ana"].email)
    token = auth.csrf("/console/capacity")
    assert client.post("/console/capacity/plan?week=2026-11-16",
                       data={"csrf_token": token}).status_code == 403
    auth.logout()
    auth.login(manager.email)
    html = client.get("/console/capacity?week=2026-11-16").get_data(as_text=True)
    assert f'data-client="{week["clients"]["basic"].id}"' in html
    assert f'data-client="{week["clients"]["standard"].id}"' not in html


def test_an_agent_enters_days_off_and_hours_but_not_a_colleagues(week, client, auth):
    ana, bora = week["ana"], week["bora"]
    auth.login(ana.email)
    token = auth.csrf("/console/availability")
    r = client.post("/console/availability", data={
        "csrf_token": token, "action": "day_off", "o-first_day": "2026-11-20",
        "o-last_day": "2026-11-19", "o-reason": "x"})
    assert r.status_code == 400 and "The last day is before the first." in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(DayOff).where(
        DayOff.agent_id == ana.id)) == 0
    r = client.post("/console/availability", data={
        "csrf_token": token, "action": "day_off", "o-first_day": "2026-11-20",
        "o-last_day": "2026-11-20", "o-reason": "dentist"})
    assert r.status_code == 302
    hours = {"csrf_token": token, "action": "hours", "h-start0": "07:00", "h-end0": "15:00",
             "h-start1": "09:00"}
    r = client.post("/console/availability", data=hours)
    assert r.status_code == 400 and "Give both times" in r.get_data(as_text=True)
    hours["h-end1"] = "13:00"
    assert client.post("/console/availability", data=hours).status_code == 302
    days = agent_days([ana.id], MONDAY)[ana.id]
    assert [d.available_minutes for d in days] == [480, 240, 0, 0, 0, 0, 0]
    # A colleague's availability: readable, not changeable (an attack by URL).
    assert client.get(f"/console/availability?agent={bora.id}").status_code == 200
    r = client.post(f"/console/availability?agent={bora.id}", data={
        "csrf_token": token, "action": "day_off", "o-first_day": "2026-11-23",
        "o-last_day": "2026-11-27"})
    assert r.status_code == 403
    theirs = db.session.scalar(select(DayOff).where(DayOff.agent_id == bora.id))
    r = client.post(f"/console/availability/days-off/{theirs.id}/delete",
                    data={"csrf_token": token})
    assert r.status_code == 404 and db.session.get(DayOff, theirs.id) is not None
    assert client.get("/console/availability?agent=99999999999999999999").status_code == 404


def test_on_call_shifts_do_not_overlap(week, client, auth):
    from helpdesk.capacity.availability import on_call_at

    auth.login(week["ana"].email)
    token = auth.csrf("/console/availability")
    shift = {"csrf_token": token, "action": "on_call", "c-starts_at": "2026-11-21T16:00",
             "c-ends_at": "2026-11-22T08:00"}
    assert client.post("/console/availability", data=shift).status_code == 302
    assert on_call_at(bg(21, 23)).id == week["ana"].id
    assert on_call_at(bg(22, 9)) is None
    auth.logout()
    auth.login(week["bora"].email)
    token = auth.csrf("/console/availability")
    r = client.post("/console/availability", data={**shift, "csrf_token": token,
                                                  "c-starts_at": "2026-11-22T07:00"})
    assert r.status_code == 400 and "Ana is already on call then." in r.get_data(as_text=True)


def test_queue_rows_say_which_part_of_the_plan_serves_them(week, factory, client, auth):
    c = week["clients"]
    plan_week(MONDAY)
    _ticket(c["none"], bg(16, 9), "urgent")
    _ticket(c["basic"], bg(16, 9), "low")
    db.session.commit()
    auth.login(week["ana"].email)
    # The page works on the real clock; the urgent ticket is from last month, so it waited.
    html = client.get("/console/").get_data(as_text=True)
    assert 'data-band="2"' in html and "Reserved time, low priority" in html
    assert "Urgent: waited over 4 business hours" in html


def test_the_account_manager_sets_the_dedicated_agent_and_the_plan_follows(week, factory,
                                                                           client, auth):
    manager = factory.user(Role.ACCOUNT_MANAGER)
    other_manager = factory.user(Role.ACCOUNT_MANAGER)
    basic = week["clients"]["basic"]
    basic.account_manager_id = manager.id
    db.session.commit()
    auth.login(other_manager.email)
    token = auth.csrf("/console/")
    r = client.post(f"/console/clients/{basic.id}/dedicated-agent",
                    data={"csrf_token": token, "agent_id": week["bora"].id})
    assert r.status_code in (403, 404)
    auth.logout()
    auth.login(manager.email)
    token = auth.csrf(f"/console/clients/{basic.id}")
    assert 'id="dedicated-agent"' in client.get(f"/console/clients/{basic.id}").get_data(
        as_text=True)
    r = client.post(f"/console/clients/{basic.id}/dedicated-agent",
                    data={"csrf_token": token, "agent_id": week["bora"].id})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(basic), basic.id).dedicated_agent_id == week["bora"].id
    result = plan_week(MONDAY)
    assert {a: m for (c, a), m in result.reserved.items() if c == basic.id} == {
        week["bora"].id: owed(120)}


def test_tickets_at_risk_are_those_about_to_breach_not_long_breached(week, factory):
    from helpdesk.capacity.overview import tickets_at_risk

    c = week["clients"]["standard"]
    soon = _ticket(c, bg(17, 9))  # first response due Tue 13:00
    late = _ticket(c, bg(16, 9))  # due Mon 13:00: breached by Tuesday noon
    later = _ticket(c, bg(17, 15))  # due Wed 11:00
    db.session.commit()
    admin = factory.user(Role.ADMIN)
    ids = [t.id for t in tickets_at_risk(admin, bg(17, 11), hours=4)]
    assert ids == [soon.id]
    assert late.id not in ids and later.id not in ids
