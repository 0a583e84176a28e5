"""Console gaps: staff open tickets for a client, search by a contact's address, styled error
pages in every language, and ``make run`` on a chosen port."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import Article, AuditLog, Role, Ticket
from helpdesk.tickets.services import add_article, create_ticket
from tests.conftest import csrf_token_from

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def agent(factory, auth):
    user = factory.user(Role.AGENT, name="Ana Agent")
    db.session.commit()
    auth.login(user.email)
    return user


@pytest.fixture
def acme(factory):
    c = factory.client("Acme d.o.o.", domain="acme.example")
    factory.contract(c, "standard")
    contact = factory.contact(c, "pera@acme.example", name="Pera Perić")
    db.session.commit()
    return c, contact


def _post_new(client, client_id: int, **data):
    page = client.get(f"/console/tickets/new?client={client_id}").get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page), "channel": "phone", "priority": "normal",
            "contact": "", "assignee": "", "subject": "", "description": ""}
    form.update(data)
    return client.post(f"/console/tickets/new?client={client_id}", data=form)


# -- a ticket for a client from the console -----------------------------------------------------


def test_agent_opens_a_phone_ticket_with_the_clients_sla(client, agent, acme):
    c, contact = acme
    resp = _post_new(client, c.id, contact=str(contact.id), subject="Printer offline",
                     description="Pera called: the office printer is offline.", priority="high",
                     assignee=str(agent.id))
    assert resp.status_code == 302
    ticket = db.session.scalar(select(Ticket).where(Ticket.subject == "Printer offline"))
    assert resp.headers["Location"].endswith(f"/console/tickets/{ticket.number}")
    assert (ticket.client_id, ticket.contact_id, ticket.channel) == (c.id, contact.id, "phone")
    assert ticket.priority == "high" and ticket.assignee_id == agent.id
    assert ticket.reserved is True, "a contract client's ticket has reserved priority"
    # Standard, high priority: the package's target (not None as for a client without contract).
    assert ticket.sla_first_response_minutes and ticket.first_response_due is not None
    assert ticket.requester_email == "pera@acme.example" and not ticket.needs_triage
    [article] = db.session.scalars(select(Article).where(Article.ticket_id == ticket.id)).all()
    assert article.body_text.startswith("Pera called") and article.channel == "phone"
    assert article.author_user_id == agent.id and not article.internal
    assert db.session.scalar(select(AuditLog).where(
        AuditLog.entity_type == "tickets", AuditLog.entity_id == ticket.id)) is not None
    page = client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert "Printer offline" in page and "Pera called" in page


def test_a_client_without_contract_gets_no_reserved_priority(client, agent, factory):
    walk_in = factory.client("Walk-in shop")
    db.session.commit()
    assert _post_new(client, walk_in.id, subject="Quote", description="Wants a quote").status_code \
        == 302
    ticket = db.session.scalar(select(Ticket).where(Ticket.subject == "Quote"))
    assert ticket.reserved is False and ticket.sla_first_response_minutes is None


def test_missing_fields_are_named_next_to_them_and_nothing_is_saved(client, agent, acme):
    c, _contact = acme
    resp = _post_new(client, c.id, subject="  ", description="")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'id="subject-error"' in html and "Write a subject." in html
    assert 'id="description-error"' in html and "Write what the client asked for." in html
    assert db.session.scalar(select(Ticket.id)) is None


def test_another_clients_contact_is_refused(client, agent, acme, factory):
    c, _contact = acme
    other = factory.client("Other Ltd")
    stranger = factory.contact(other, "x@other.example", name="Stranger")
    db.session.commit()
    resp = _post_new(client, c.id, contact=str(stranger.id), subject="S", description="D")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'id="contact-error"' in html and "not a contact of Acme" in html
    assert db.session.scalar(select(Ticket.id)) is None


def test_archived_client_takes_no_new_ticket(client, agent, acme):
    c, _contact = acme
    c.archived_at = datetime.now(UTC)
    db.session.commit()
    resp = _post_new(client, c.id, subject="S", description="D")
    assert resp.status_code == 400 and "archived" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Ticket.id)) is None


def test_new_ticket_form_in_turkish_and_unknown_client(client, agent, acme):
    c, _contact = acme
    client.post("/language", data={"language": "tr", "csrf_token": csrf_token_from(
        client.get("/console/").get_data(as_text=True))})
    resp = _post_new(client, c.id, subject="", description="")
    html = resp.get_data(as_text=True)
    assert "Write a subject." not in html and 'id="subject-error"' in html
    assert client.get("/console/tickets/new?client=999999").status_code == 404
    chooser = client.get("/console/tickets/new").get_data(as_text=True)
    assert "Acme d.o.o." in chooser and 'id="new-ticket"' not in chooser


def test_client_users_cannot_open_the_console_form(client, auth, factory, acme):
    c, _contact = acme
    portal_user = factory.user(Role.CLIENT, client=c, portal_role="admin")
    db.session.commit()
    auth.login(portal_user.email)
    assert client.get(f"/console/tickets/new?client={c.id}").status_code == 403


# -- search by a contact's address --------------------------------------------------------------


def test_searching_a_contacts_address_finds_their_tickets(client, agent, acme, factory):
    c, contact = acme
    # A portal ticket: no mail header anywhere carries the address, only the contact link.
    theirs = create_ticket(subject="VPN drops", client_id=c.id, contact_id=contact.id,
                           channel="portal")
    add_article(theirs, direction="in", body_text="It drops every hour", channel="portal")
    colleague = factory.contact(c, "mika@acme.example", name="Mika")
    other = create_ticket(subject="VPN drops too", client_id=c.id, contact_id=colleague.id)
    db.session.commit()
    for q in ("pera@acme.example", "  PERA@acme.example "):
        html = client.get("/console/", query_string={"q": q, "status": "any"}).get_data(
            as_text=True)
        assert f"/console/tickets/{theirs.number}" in html
        assert f"/console/tickets/{other.number}" not in html
    words = client.get("/console/", query_string={"q": "VPN", "status": "any"}).get_data(
        as_text=True)
    assert f"/console/tickets/{theirs.number}" in words and f"/console/tickets/{other.number}" in words


def test_address_search_also_finds_mail_from_an_unknown_sender(client, agent):
    t = create_ticket(subject="Hello", client_id=None, requester_email="Nobody@Else.example")
    db.session.commit()
    html = client.get("/console/", query_string={"q": "nobody@else.example"}).get_data(as_text=True)
    assert f"/console/tickets/{t.number}" in html


# -- error pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language,title", [("en", "Not found"), ("sr_Latn", "Nije pronađeno"),
                                            ("tr", "Bulunamadı")])
def test_404_is_styled_translated_and_keeps_the_navigation(client, agent, language, title):
    client.post("/language", data={"language": language, "csrf_token": csrf_token_from(
        client.get("/console/").get_data(as_text=True))})
    resp = client.get("/console/tickets/99999999")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404
    assert f"404 · {title}" in html and 'href="/console/clients"' in html
    assert "app.css" in html and "The requested URL was not found" not in html


def test_403_and_400_pages_are_ours(client, auth, factory, agent):
    assert client.get("/admin/").status_code == 403
    html = client.get("/admin/").get_data(as_text=True)
    assert 'data-error="403"' in html and 'href="/console/"' in html
    bad = client.get("/console/clients/1?cursor=garbage")
    assert bad.status_code in (400, 404)
    assert "data-error" in bad.get_data(as_text=True)


def test_500_rolls_back_and_shows_our_page(app, client, agent, monkeypatch):
    from helpdesk.web.agent import routes

    def boom(*_a, **_k):
        raise RuntimeError("database fell over")

    monkeypatch.setattr(routes, "queue_page", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    resp = client.get("/console/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 500 and 'data-error="500"' in html
    assert "database fell over" not in html and 'href="/console/clients"' in html


def test_unknown_api_address_answers_json(client):
    resp = client.get("/api/v1/no-such-thing", headers={"Authorization": "Bearer x"})
    assert resp.status_code in (401, 404) and resp.is_json
    assert client.get("/api/v1/openapi.json/nope").is_json


# -- make run PORT= -------------------------------------------------------------------------------


def test_a_busy_port_is_one_line_before_anything_claims_to_serve():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "serve.py"), "--port", str(port)],
            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Serving on" not in result.stdout
    lines = result.stderr.strip().splitlines()
    expected = (f"error: port {port} on 127.0.0.1 is not free (it is already in use); "
                f"try `make run PORT={port + 1}`")
    assert lines == [expected]


def test_serve_binds_the_given_port_then_says_so():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "serve.py"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"Serving on http://127.0.0.1:{port} ")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET /login HTTP/1.0\r\nHost: x\r\n\r\n")
            assert conn.recv(64).startswith(b"HTTP/1.")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_bad_port_value_is_one_line():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "serve.py"), "--port", "x"],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: PORT must be a number from 1 to 65535, not 'x'"


def test_makefile_passes_port_through():
    text = (ROOT / "Makefile").read_text()
    assert "PORT   ?= 5000" in text and "scripts/serve.py --check --host $(HOST) --port $(PORT)" in text
