"""The on-call add-on's out-of-hours operator: urgent tickets of on-call clients reach the agent on
shift at night, by auto-assignment when they open and by the minute job when they turn urgent or
their assignee goes home; agents' own hours and days off decide who is at work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.assignment.oncall import route_to_on_call
from helpdesk.assignment.service import on_duty
from helpdesk.capacity.availability import add_on_call, at_work
from helpdesk.capacity.models import DayOff, WorkingHours
from helpdesk.extensions import db
from helpdesk.models import AuditLog, Role
from helpdesk.notifications.models import StaffNotification
from helpdesk.scheduler.runner import run_job_now
from helpdesk.tickets.services import create_ticket, update_fields

BELGRADE = ZoneInfo("Europe/Belgrade")
ISTANBUL = ZoneInfo("Europe/Istanbul")


def bg(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BELGRADE).astimezone(UTC)


@pytest.fixture
def desk(factory):
    admin = factory.user(Role.ADMIN, name="Admin")
    ana = factory.user(Role.AGENT, name="Ana")  # the dedicated agent, works 08-16
    bora = factory.user(Role.AGENT, name="Bora")  # on call Tue 16:00 - Wed 08:00
    night = factory.client("Night Co")
    night.dedicated_agent_id = ana.id
    factory.contract(night, "extended", start=date(2026, 1, 1), addons=("oncall",))
    day_only = factory.client("Day Co")
    day_only.dedicated_agent_id = ana.id
    factory.contract(day_only, "extended", start=date(2026, 1, 1))
    add_on_call(admin, bora, bg(11, 17, 16), bg(11, 18, 8))
    db.session.commit()
    return {"ana": ana, "bora": bora, "night": night, "day": day_only, "admin": admin}


def open_ticket(client, when, priority="urgent"):
    t = create_ticket(subject="Server down", client_id=client.id, priority=priority,
                      created_at=when, actor="mail")
    db.session.commit()
    return t


def test_an_urgent_night_ticket_of_an_on_call_client_goes_to_the_operator(desk):
    t = open_ticket(desk["night"], bg(11, 17, 22, 15))
    assert t.assignee_id == desk["bora"].id
    note = db.session.scalar(select(StaffNotification).where(
        StaffNotification.ticket_id == t.id, StaffNotification.user_id == desk["bora"].id))
    assert note is not None and note.kind == "assigned"


@pytest.mark.parametrize("case", ["in hours", "no add-on", "not urgent", "no shift"])
def test_everything_else_keeps_the_ordinary_assignment(desk, case):
    client, when, priority = desk["night"], bg(11, 17, 22, 15), "urgent"
    if case == "in hours":
        when = bg(11, 17, 10)
    elif case == "no add-on":
        client = desk["day"]
    elif case == "not urgent":
        priority = "high"
    else:
        when = bg(11, 19, 22, 15)  # Thursday night: nobody is on call
    t = open_ticket(client, when, priority)
    assert t.assignee_id == desk["ana"].id  # the dedicated agent, as without on-call


def test_routing_can_be_switched_off(app, desk):
    app.config["ON_CALL_ROUTING"] = False
    assert open_ticket(desk["night"], bg(11, 17, 22, 15)).assignee_id == desk["ana"].id
    assert route_to_on_call(bg(11, 17, 23)).handed == []


def test_the_minute_job_hands_a_ticket_turned_urgent_after_hours_once(desk):
    t = open_ticket(desk["night"], bg(11, 17, 15), priority="normal")
    assert t.assignee_id == desk["ana"].id
    update_fields(t, actor="test", priority="urgent")
    db.session.commit()
    # 15:30: Ana is still at work, the office is open: nothing moves.
    runs = run_job_now("on_call_routing", bg(11, 17, 15, 30))
    db.session.commit()
    assert runs[0].outcome == "ok" and t.assignee_id == desk["ana"].id
    # 16:05: the office has closed and Bora's shift has begun.
    for minute in (5, 6):
        runs = run_job_now("on_call_routing", bg(11, 17, 16, minute))
        db.session.commit()
        assert runs[0].outcome == "ok", runs[0].error
    assert t.assignee_id == desk["bora"].id
    handovers = db.session.scalars(select(AuditLog).where(
        AuditLog.entity_type == "tickets", AuditLog.entity_id == t.id,
        AuditLog.actor == "on-call")).all()
    assert len(handovers) == 1
    # Next morning the ticket stays with the operator who took it.
    run_job_now("on_call_routing", bg(11, 18, 9))
    db.session.commit()
    assert t.assignee_id == desk["bora"].id


def test_a_colleague_still_at_work_keeps_the_ticket(desk, factory):
    late = factory.user(Role.AGENT, name="Late")
    for wd in range(5):
        db.session.add(WorkingHours(agent_id=late.id, weekday=wd, starts=time(12), ends=time(20)))
    t = create_ticket(subject="x", client_id=desk["night"].id, priority="urgent",
                      assignee_id=late.id, created_at=bg(11, 17, 17), actor="test")
    db.session.commit()
    assert route_to_on_call(bg(11, 17, 18)).handed == []
    assert route_to_on_call(bg(11, 17, 20, 30)).handed == [t.number]


def test_own_hours_days_off_holidays_and_time_zones_decide_who_is_at_work(desk, factory):
    ana, bora = desk["ana"], desk["bora"]
    assert at_work(ana, bg(11, 17, 9)) and not at_work(ana, bg(11, 17, 16))
    db.session.add(DayOff(agent_id=ana.id, first_day=date(2026, 11, 20), last_day=date(2026, 11, 20)))
    db.session.flush()
    assert not at_work(ana, bg(11, 20, 10)) and not on_duty(ana, bg(11, 20, 10))
    # Own hours Mon-Fri 06:00-14:00, but 11 November (Armistice Day in Serbia) stays closed.
    for wd in range(5):
        db.session.add(WorkingHours(agent_id=bora.id, weekday=wd, starts=time(6), ends=time(14)))
    db.session.flush()
    assert at_work(bora, bg(11, 17, 6, 30)) and not at_work(bora, bg(11, 17, 14))
    assert not at_work(bora, bg(11, 11, 10))
    # An agent in Istanbul works 08:00-16:00 on Istanbul's clock (06:00-14:00 in Belgrade).
    ayse = factory.user(Role.AGENT, name="Ayşe", timezone="Europe/Istanbul")
    eight_thirty = datetime(2026, 11, 17, 8, 30, tzinfo=ISTANBUL)
    assert at_work(ayse, eight_thirty) and not at_work(desk["ana"], eight_thirty)
    assert not at_work(ayse, datetime(2026, 11, 17, 16, 30, tzinfo=ISTANBUL))


def test_an_on_call_shift_across_the_dst_change_covers_the_extra_hour(desk):
    # Night of Sat 24 -> Sun 25 October 2026: Belgrade's clocks go back from 03:00 to 02:00.
    add_on_call(desk["admin"], desk["ana"], bg(10, 24, 16), bg(10, 26, 8))
    db.session.commit()
    repeated = datetime(2026, 10, 25, 2, 30, tzinfo=BELGRADE, fold=1).astimezone(UTC)
    t = open_ticket(desk["night"], repeated)
    assert t.assignee_id == desk["ana"].id
    t2 = open_ticket(desk["night"], bg(10, 26, 7, 59))
    assert t2.assignee_id == desk["ana"].id  # still her shift, and still before opening


def test_the_capacity_page_names_who_is_on_call_now(desk, client, auth):
    from helpdesk.models import utcnow

    auth.login(desk["admin"].email)
    assert "Nobody is on call now." in client.get("/console/capacity").get_data(as_text=True)
    now = utcnow()
    add_on_call(desk["admin"], desk["ana"], now - timedelta(hours=1), now + timedelta(hours=1))
    db.session.commit()
    html = client.get("/console/capacity").get_data(as_text=True)
    assert "On call now: Ana" in html
