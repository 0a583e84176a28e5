"""The visit calendar: month and week views, who goes on site, the agent's iCalendar feed and the
invitation mailed to the client when a visit is confirmed or moved."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from helpdesk.capacity.planner import agent_days
from helpdesk.extensions import db
from helpdesk.models import Role, Visit
from tests.servers import smtp_server  # noqa: F401 - fixture

YEAR = date.today().year


@pytest.fixture
def app_config(smtp_server):  # noqa: F811 - the fixture
    return {
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
        "PUBLIC_URL": "https://help.vendor.test",
    }


def _next_working_day(after: date) -> date:
    d = after + timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


@pytest.fixture
def world(factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, name="Jelena")
    ana = factory.user(Role.AGENT, name="Ana")
    bora = factory.user(Role.AGENT, name="Bora")
    acme = factory.client("Acme d.o.o.", manager=manager, language="tr")
    factory.contact(acme, email="boss@acme.test")
    other = factory.client("Other Co", manager=manager)
    contract = factory.contract(acme, "standard", start=date.today() - timedelta(days=30))
    day = _next_working_day(date.today() + timedelta(days=20))
    visit = Visit(client_id=acme.id, contract_id=contract.id,
                  contract_year_start=contract.start_date, planned_date=day, status="proposed",
                  agent_id=ana.id, duration_minutes=180)
    theirs = Visit(client_id=other.id, contract_year_start=contract.start_date,
                   planned_date=day, status="confirmed", agent_id=bora.id)
    db.session.add_all([visit, theirs])
    db.session.commit()
    return {"manager": manager, "ana": ana, "bora": bora, "acme": acme, "visit": visit,
            "theirs": theirs, "day": day}


def test_month_and_week_views_show_visits_by_day_and_filter_by_agent(world, client, auth):
    auth.login(world["ana"].email)
    day = world["day"].isoformat()
    html = client.get(f"/console/visits/calendar?date={day}").get_data(as_text=True)
    cell = re.search(rf'data-day="{day}"[^>]*>(.*?)</td>', html, re.DOTALL).group(1)
    assert f'data-visit="{world["visit"].id}"' in cell and f'data-visit="{world["theirs"].id}"' in cell
    assert "Acme d.o.o. · Ana" in cell
    html = client.get(f"/console/visits/calendar?view=week&date={day}&agent={world['ana'].id}"
                      ).get_data(as_text=True)
    assert html.count("<td ") == 7
    assert f'data-visit="{world["visit"].id}"' in html
    assert f'data-visit="{world["theirs"].id}"' not in html
    assert client.get("/console/visits/calendar?view=year").status_code == 404
    assert client.get("/console/visits/calendar?date=2026-13-01").status_code == 404
    assert client.get(f"/console/visits/calendar?agent={2**70}").status_code == 404


def test_a_visit_takes_its_hours_out_of_the_agents_day(world):
    ana = world["ana"]
    days = agent_days([ana.id], world["day"] - timedelta(days=world["day"].weekday()))[ana.id]
    by_day = {d.day: d for d in days}
    assert by_day[world["day"]].visit_minutes == 180
    assert by_day[world["day"]].available_minutes == by_day[world["day"]].working_minutes - 180


def test_the_agents_feed_parses_and_holds_only_their_visits(world, client, auth):
    auth.login(world["ana"].email)
    token = auth.csrf("/console/visits/calendar")
    page = client.post("/console/visits/feed", data={"csrf_token": token}).get_data(as_text=True)
    url = re.search(r'value="(https://help\.vendor\.test/calendar/visits/[^"]+\.ics)"', page)
    assert url, page
    path = url.group(1).removeprefix("https://help.vendor.test")
    auth.logout()  # calendar programs do not log in
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    cal = Calendar.from_ical(response.data)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert event["UID"] == f"visit-{world['visit'].id}@help.vendor.test"
    assert event.decoded("DTSTART") == world["day"]
    assert event.decoded("DTEND") == world["day"] + timedelta(days=1)
    assert str(event["STATUS"]) == "TENTATIVE"
    assert "Acme d.o.o." in str(event["SUMMARY"])
    # A new address revokes the old one; a made-up one is unknown.
    auth.login(world["ana"].email)
    client.post("/console/visits/feed", data={"csrf_token": auth.csrf("/console/visits/calendar")})
    auth.logout()
    assert client.get(path).status_code == 404
    assert client.get("/calendar/visits/" + "x" * 43 + ".ics").status_code == 404
    # A deactivated agent's feed stops too.
    from helpdesk.visits.feeds import new_feed_token

    fresh = new_feed_token(world["ana"], user=world["ana"])
    db.session.commit()
    assert client.get(f"/calendar/visits/{fresh}.ics").status_code == 200
    world["ana"].active = False
    db.session.commit()
    assert client.get(f"/calendar/visits/{fresh}.ics").status_code == 404


def test_confirming_mails_an_invitation_and_moving_mails_an_update(world, client, auth,
                                                                   smtp_server):  # noqa: F811
    auth.login(world["manager"].email)
    visit = world["visit"]
    token = auth.csrf(f"/console/visits/{visit.id}")
    r = client.post(f"/console/visits/{visit.id}/confirm", data={"confirm-csrf_token": token,
                                                               "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    mail = smtp_server.wait_for(1)[0]
    assert mail.rcpt_tos == ["boss@acme.test"]
    msg = mail.message()
    assert world["day"].isoformat() in msg["Subject"] and "ziyaret" in msg["Subject"].lower()
    ics = next(p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar")
    cal = Calendar.from_ical(ics.get_content().encode() if isinstance(ics.get_content(), str)
                             else ics.get_content())
    assert str(cal["METHOD"]) == "REQUEST"
    first = cal.walk("VEVENT")[0]
    assert str(first["STATUS"]) == "CONFIRMED"
    assert "mailto:boss@acme.test" in str(first["ATTENDEE"])
    new_day = _next_working_day(world["day"])
    r = client.post(f"/console/visits/{visit.id}/move", data={
        "move-csrf_token": token, "csrf_token": token, "move-planned_date": new_day.isoformat()})
    assert r.status_code == 302
    second_mail = smtp_server.wait_for(2)[1].message()
    ics = next(p for p in second_mail.iter_attachments()
               if p.get_content_type() == "text/calendar").get_content()
    moved = Calendar.from_ical(ics.encode() if isinstance(ics, str) else ics).walk("VEVENT")[0]
    assert moved["UID"] == first["UID"]  # the same event, updated
    assert int(moved["SEQUENCE"]) > int(first["SEQUENCE"])
    assert moved.decoded("DTSTART") == new_day
    assert len(smtp_server.messages) == 2


def test_who_goes_on_site_is_set_by_the_manager_not_by_an_agent(world, client, auth):
    visit = world["visit"]
    auth.login(world["ana"].email)
    token = auth.csrf(f"/console/visits/{visit.id}")
    r = client.post(f"/console/visits/{visit.id}/agent", data={
        "assign-csrf_token": token, "assign-agent_id": world["bora"].id,
        "assign-duration_minutes": "120"})
    assert r.status_code == 403
    auth.logout()
    auth.login(world["manager"].email)
    token = auth.csrf(f"/console/visits/{visit.id}")
    r = client.post(f"/console/visits/{visit.id}/agent", data={
        "assign-csrf_token": token, "assign-agent_id": world["bora"].id,
        "assign-duration_minutes": "5"})
    page = client.get(f"/console/visits/{visit.id}").get_data(as_text=True)
    assert "Between 15 and 720 minutes." in page
    assert db.session.get(Visit, visit.id).agent_id == world["ana"].id
    client.post(f"/console/visits/{visit.id}/agent", data={
        "assign-csrf_token": token, "assign-agent_id": world["bora"].id,
        "assign-duration_minutes": "120"})
    db.session.expire_all()
    stored = db.session.scalar(select(Visit).where(Visit.id == visit.id))
    assert (stored.agent_id, stored.duration_minutes) == (world["bora"].id, 120)
