"""Archived clients take no new work from the console or the API; their tickets stay readable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Role, Ticket
from helpdesk.tickets.services import create_ticket
from tests.conftest import csrf_token_from
from tests.test_api import Api, spec  # noqa: F401  (the fixture checks answers against the spec)


@pytest.fixture
def world(factory):
    acme = factory.client("Acme d.o.o.", domain="acme.example")
    factory.contract(acme, "standard")
    old = factory.client("Oldco Ltd", domain="oldco.example")
    factory.contract(old, "standard")
    contact = factory.contact(old, "ivan@oldco.example", name="Ivan")
    ticket = create_ticket(subject="Old printer", client_id=old.id, actor="t")
    agent = factory.user(Role.AGENT, name="Ana Agent")
    portal = factory.user(Role.CLIENT, client=old, email="boss@oldco.example")
    old.archived_at = datetime.now(UTC)
    db.session.commit()
    return {"acme": acme, "old": old, "contact": contact, "ticket": ticket, "agent": agent,
            "portal": portal}


def _count() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


def test_console_picker_offers_only_clients_open_for_work(client, auth, world):
    auth.login(world["agent"].email)
    page = client.get("/console/tickets/new").get_data(as_text=True)
    assert f'value="{world["acme"].id}"' in page
    assert f'value="{world["old"].id}"' not in page and "Oldco Ltd" not in page


def test_console_refuses_a_new_ticket_for_an_archived_client(client, auth, world):
    auth.login(world["agent"].email)
    old = world["old"]
    resp = client.get(f"/console/tickets/new?client={old.id}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Oldco Ltd is archived: it takes no new tickets." in html
    assert 'id="new-ticket"' not in html, "no form to fill for an archived client"
    before = _count()
    token = csrf_token_from(client.get("/console/").get_data(as_text=True))
    resp = client.post(f"/console/tickets/new?client={old.id}", data={
        "csrf_token": token, "channel": "phone", "priority": "normal", "contact": "",
        "assignee": "", "subject": "New thing", "description": "Called"})
    assert resp.status_code == 400 and "archived" in resp.get_data(as_text=True)
    assert _count() == before
    # The client page says so instead of offering "New ticket"; old tickets stay readable.
    page = client.get(f"/console/clients/{old.id}").get_data(as_text=True)
    assert 'id="client-archived"' in page
    assert f"/console/tickets/new?client={old.id}" not in page
    assert client.get(f"/console/tickets/{world['ticket'].number}").status_code == 200
    listing = client.get("/console/clients").get_data(as_text=True)
    assert "Oldco Ltd</a> <span class=\"badge\">Archived</span>" in listing


def test_api_refuses_a_new_ticket_for_an_archived_client(client, spec, world):  # noqa: F811
    before = _count()
    staff = Api(client, spec, world["agent"])
    r = staff.call("POST", "/api/v1/tickets", json={
        "subject": "Phone call", "body": "Called", "client_id": world["old"].id}, expect=422)
    assert r.get_json()["fields"]["client_id"] == "Oldco Ltd is archived: it takes no new tickets."
    portal = Api(client, spec, world["portal"])
    r = portal.call("POST", "/api/v1/tickets", json={"subject": "Help", "body": "Please"},
                    expect=422)
    assert "archived" in r.get_json()["fields"]["client_id"]
    assert _count() == before, "nothing saved"
    # Reading stays allowed, and a client that is not archived still opens tickets.
    staff.call("GET", f"/api/v1/tickets/{world['ticket'].number}")
    staff.call("POST", "/api/v1/tickets", json={
        "subject": "Phone call", "body": "Called", "client_id": world["acme"].id}, expect=201)
