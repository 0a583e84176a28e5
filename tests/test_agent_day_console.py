"""The agent's day in the console: pages, bad input next to the field, stale-page protection,
followers, triage, the bell feed and presence, attacks on other tickets' ids."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Article, Direction, Role, SendStatus, Ticket, TicketFollower
from helpdesk.notifications.models import NotificationSetting, SavedReply, StaffNotification
from helpdesk.tickets.services import add_article, create_ticket
from tests.conftest import csrf_token_from


@pytest.fixture
def setup(factory, auth):
    ayse = factory.user(email="ayse@vendor.example", name="Ayşe Yılmaz", language="tr")
    marko = factory.user(email="marko@vendor.example", name="Marko Petrović")
    acme = factory.client("Acme d.o.o.", domain="acme.rs")
    factory.client("Initech", domain="initech.example")
    contact = factory.contact(acme, "ana@acme.rs", name="Ana")
    t = create_ticket(subject="Printer", client_id=acme.id, contact_id=contact.id,
                      requester_email="ana@acme.rs")
    add_article(t, direction=Direction.IN, body_text="Broken", from_addr="ana@acme.rs")
    db.session.commit()
    auth.login("ayse@vendor.example")
    return {"ayse": ayse, "marko": marko, "acme": acme, "ticket": t}


def _page(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.status_code
    return response.get_data(as_text=True)


def _url(t: Ticket) -> str:
    return f"/console/tickets/{t.number}"


def test_ticket_page_has_the_partials_and_no_inline_script(client, setup):
    page = _page(client, _url(setup["ticket"]))
    assert 'id="presence"' in page and 'id="followers"' in page and 'id="bell"' in page
    assert 'name="seen_article"' in page
    assert 'js/presence.js' in page and 'js/bell.js' in page


@pytest.mark.parametrize("name", ["_bell", "_ticket_day", "_ticket_seen", "notifications",
                                  "preferences", "triage", "triage_link", "saved_replies"])
def test_templates_have_no_inline_script_or_style(name):
    from pathlib import Path

    text = (Path(__file__).parents[1] / "templates" / "agent" / f"{name}.html").read_text()
    assert "<script>" not in text and 'style="' not in text and " on" + "click=" not in text


def test_a_reply_from_a_page_older_than_the_last_message_is_stopped(client, setup):
    t = setup["ticket"]
    page = _page(client, _url(t))
    token = csrf_token_from(page)
    seen = db.session.scalar(select(func.max(Article.id)))
    add_article(t, direction=Direction.IN, body_text="Also the scanner!", from_addr="ana@acme.rs")
    db.session.commit()
    response = client.post(f"{_url(t)}/reply", data={
        "reply-csrf_token": token, "reply-to": "ana@acme.rs", "reply-body": "Fixed it",
        "seen_article": str(seen)})
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "Also the scanner!" in body and "new-a" in body
    assert db.session.scalar(select(func.count(Article.id)).where(
        Article.direction == Direction.OUT)) == 0
    status = client.post(f"{_url(t)}/status", data={
        "status-csrf_token": token, "status-status": "resolved", "seen_article": str(seen)})
    assert status.status_code == 409
    db.session.refresh(t)
    assert t.status != "resolved"


def test_follower_of_another_clients_domain_is_refused_by_name(client, setup):
    t = setup["ticket"]
    token = csrf_token_from(_page(client, _url(t)))
    response = client.post(f"{_url(t)}/followers", data={"csrf_token": token,
                                                         "email": "peter@initech.example"},
                           follow_redirects=True)
    assert "Initech" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(TicketFollower.id))) == 0
    client.post(f"{_url(t)}/followers", data={"csrf_token": token, "email": "boss@acme.rs"})
    page = _page(client, _url(t))
    assert 'value="boss@acme.rs"' in page  # prefilled Cc on the reply
    follower = db.session.scalar(select(TicketFollower))
    other = create_ticket(subject="Other", client_id=setup["acme"].id)
    db.session.commit()
    # Another ticket's follower id through this ticket's URL: refused.
    assert client.post(f"{_url(other)}/followers/{follower.id}/remove",
                       data={"csrf_token": token}).status_code == 404


def test_saved_reply_with_unknown_placeholder_shows_the_error_next_to_the_field(client, setup):
    token = csrf_token_from(_page(client, "/console/saved-replies"))
    response = client.post("/console/saved-replies", data={
        "csrf_token": token, "title": "Hello", "language": "tr", "body": "Merhaba {musteri}"})
    assert response.status_code == 400
    assert 'id="sr-body-error"' in response.get_data(as_text=True)
    assert "{musteri}" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(SavedReply.id))) == 0
    client.post("/console/saved-replies", data={
        "csrf_token": token, "title": "Hello", "language": "tr",
        "body": "Merhaba {client_name}, {ticket_number}"})
    reply = db.session.scalar(select(SavedReply))
    t = setup["ticket"]
    data = client.get(f"{_url(t)}/saved-replies/{reply.id}.json").get_json()
    assert data["text"] == f"Merhaba Acme d.o.o., #{t.number}"


def test_personal_saved_reply_of_someone_else_is_not_served(client, setup):
    other = SavedReply(owner_id=setup["marko"].id, language="en", title="x", body="secret")
    db.session.add(other)
    db.session.commit()
    t = setup["ticket"]
    assert client.get(f"{_url(t)}/saved-replies/{other.id}.json").status_code == 404
    assert client.get(f"/console/saved-replies/{other.id}").status_code == 404


def test_triage_page_links_the_ticket_and_refuses_an_archived_client(client, setup, factory):
    old = factory.client("Old Corp", archived_at=datetime(2026, 1, 1, tzinfo=UTC))
    t = create_ticket(subject="Pomoć", client_id=None, requester_email="neko@gmail.example",
                      requester_name="Neko")
    add_article(t, direction=Direction.IN, body_text="Pozdrav,\nAcme d.o.o.",
                from_addr="neko@gmail.example")
    db.session.commit()
    page = _page(client, "/console/triage")
    assert f"#{t.number}" in page and "Acme d.o.o." in page
    token = csrf_token_from(_page(client, f"{_url(t)}/link"))
    refused = client.post(f"{_url(t)}/link", data={"csrf_token": token, "client_id": old.id})
    assert refused.status_code == 400 and "Old Corp" in refused.get_data(as_text=True)
    db.session.refresh(t)
    assert t.needs_triage
    ok = client.post(f"{_url(t)}/link", data={"csrf_token": token,
                                              "client_id": setup["acme"].id})
    assert ok.status_code == 302
    db.session.refresh(t)
    assert t.client_id == setup["acme"].id and not t.needs_triage and t.contact_id


def test_bell_feed_lists_only_my_unread_items_and_marks_them_read(client, setup):
    t = setup["ticket"]
    db.session.add_all([
        StaffNotification(event_key="k1", user_id=setup["ayse"].id, kind="assigned",
                          ticket_id=t.id),
        StaffNotification(event_key="k2", user_id=setup["marko"].id, kind="assigned",
                          ticket_id=t.id),
    ])
    db.session.commit()
    data = client.get("/console/notifications.json").get_json()
    assert data["unread"] == 1 and data["items"][0]["ticket"] == t.number
    _page(client, _url(t))  # opening the ticket reads its items
    assert client.get("/console/notifications.json").get_json()["unread"] == 0
    db.session.add(StaffNotification(event_key="k3", user_id=setup["ayse"].id,
                                     kind="mention", ticket_id=t.id))
    db.session.commit()
    token = csrf_token_from(_page(client, "/console/notifications"))
    client.post("/console/notifications/read", data={"csrf_token": token})
    assert client.get("/console/notifications.json").get_json()["unread"] == 0
    assert db.session.scalar(select(func.count(StaffNotification.id)).where(
        StaffNotification.read_at.is_(None))) == 1  # Marko's stays unread


def test_preferences_switch_kinds_off_and_mark_me_away(client, setup):
    token = csrf_token_from(_page(client, "/console/preferences"))
    client.post("/console/preferences", data={"csrf_token": token, "assigned-bell": "on",
                                               "queue": "support", "away": "on"})
    rows = {s.kind: s for s in db.session.scalars(select(NotificationSetting))}
    assert rows["assigned"].bell and not rows["assigned"].email
    assert not rows["mention"].email and not rows["mention"].bell
    db.session.refresh(setup["ayse"])
    assert setup["ayse"].away


def test_presence_shows_who_is_replying(client, setup, app):
    from helpdesk.presence.service import heartbeat

    t = setup["ticket"]
    heartbeat(t, setup["marko"], "replying")
    db.session.commit()
    token = csrf_token_from(_page(client, _url(t)))
    data = client.post(f"{_url(t)}/presence", data={"state": "viewing", "seen": "0"},
                       headers={"X-CSRFToken": token}).get_json()
    assert [o["state"] for o in data["others"]] == ["replying"]
    assert "Marko Petrović" in data["others"][0]["text"] and data["stale"] is True


def test_failed_reply_is_shown_in_plain_words_with_a_send_again_button(client, setup):
    t = setup["ticket"]
    article = add_article(t, direction=Direction.OUT, body_text="x", author=setup["ayse"],
                          to_addrs="ana@acme.rs")
    article.send_status = SendStatus.FAILED
    article.send_error = "ConnectionRefusedError: [Errno 111] Connection refused"
    db.session.commit()
    page = _page(client, _url(t))
    assert "Errno 111" not in page.split('id="failed-heading"')[1].split("</section>")[0]
    assert f"/articles/{article.id}/resend" in page


def test_portal_shows_the_followers(client, setup, factory, auth):
    from helpdesk.followers.service import add_follower

    add_follower(setup["ticket"], "boss@acme.rs")
    portal_user = factory.user(Role.CLIENT, email="ana.portal@acme.rs", client=setup["acme"])
    db.session.commit()
    auth.logout()
    auth.login(portal_user.email)
    page = _page(client, f"/portal/tickets/{setup['ticket'].number}")
    assert "boss@acme.rs" in page


#: The pinned clock of the meter test: Wednesday 18 March 2026, 15:00 in Belgrade. Monday the
#: 16th is an ordinary working day there (no holiday), so 10:00-14:00 on it is in business hours.
_METER_NOW = datetime(2026, 3, 18, 14, 0, tzinfo=UTC)
_WORKDAY_10H = datetime(2026, 3, 16, 10, 0, tzinfo=ZoneInfo("Europe/Belgrade")).astimezone(UTC)


def test_meter_and_the_cost_of_time_over_the_package(client, setup, factory, monkeypatch):
    from datetime import date
    from decimal import Decimal

    from helpdesk.accounting.ledger import log_entry
    from helpdesk.calendar.business import get_calendar
    from helpdesk.meter.service import package_meter

    acme = setup["acme"]
    assert get_calendar("Europe/Belgrade", "RS").is_working_day(_WORKDAY_10H.date())
    monkeypatch.setattr("helpdesk.meter.service.utcnow", lambda: _METER_NOW)
    factory.contract(acme, "standard", start=date(2025, 1, 1))
    package = factory.package("standard")
    start = _WORKDAY_10H
    log_entry(client=acme, kind="remote", ticket=setup["ticket"], agent=setup["ayse"],
              started_at=start, minutes=package.included_minutes, user=setup["ayse"])
    db.session.commit()
    meter = package_meter(acme)
    assert (meter.used_minutes, meter.left_minutes) == (package.included_minutes, 0)
    page = _page(client, _url(setup["ticket"]))
    assert 'id="package-meter"' in page and f'data-used="{package.included_minutes}"' in page
    local = start.astimezone(ZoneInfo("Europe/Belgrade"))  # the agent's zone (the default)
    data = client.get(f"{_url(setup['ticket'])}/time/preview", query_string={
        "minutes": 30, "kind": "remote",
        "started": local.replace(hour=11).strftime("%Y-%m-%dT%H:%M")}).get_json()
    expected = (package.overage_rate * Decimal(30) / Decimal(60)).quantize(Decimal("0.01"))
    assert data["over_package_minutes"] == 30 and Decimal(data["amount"]) == expected
    assert "0:30" in data["message"] and f"{expected:.2f} EUR" in data["message"]


def test_admin_sets_the_dedicated_agent_and_an_agent_may_not(client, setup, factory, auth):
    acme = setup["acme"]
    token = csrf_token_from(_page(client, f"/console/clients/{acme.id}"))
    assert client.post(f"/console/clients/{acme.id}/dedicated-agent",
                       data={"csrf_token": token, "agent_id": setup["marko"].id}
                       ).status_code == 403
    admin = factory.user(Role.ADMIN, email="boss@vendor.example")
    db.session.commit()
    auth.logout()
    auth.login(admin.email)
    token = csrf_token_from(_page(client, f"/console/clients/{acme.id}"))
    client.post(f"/console/clients/{acme.id}/dedicated-agent",
                data={"csrf_token": token, "agent_id": setup["marko"].id})
    db.session.refresh(acme)
    assert acme.dedicated_agent_id == setup["marko"].id
    t = create_ticket(subject="New", client_id=acme.id)
    assert t.assignee_id == setup["marko"].id
