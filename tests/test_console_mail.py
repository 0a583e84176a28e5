"""Replies from the console and the API leave by real SMTP (the ingest issue's sender)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import ApiToken, Article, Role
from helpdesk.tickets.services import add_article, create_ticket
from tests.servers import free_port, smtp_server  # noqa: F401  (fixture)


@pytest.fixture
def app_config(smtp_server):  # noqa: F811
    return {
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
        "MAIL_DEFAULT_SENDER": "support@vendor.example",
    }


@pytest.fixture
def ticket(factory):
    c = factory.client("Mail Co")
    factory.contract(c, "standard")
    t = create_ticket(subject="Scanner offline", client_id=c.id,
                      requester_email="it@mail.example", actor="test")
    add_article(t, direction="in", body_text="The scanner is offline.",
                from_addr="it@mail.example", message_id="<first@mail.example>")
    db.session.commit()
    return t


def test_console_reply_reaches_the_client_with_its_attachment(client, auth, factory, ticket,
                                                              smtp_server):  # noqa: F811
    agent = factory.user(Role.AGENT)
    db.session.commit()
    auth.login(agent.email)
    token = auth.csrf(f"/console/tickets/{ticket.number}")
    r = client.post(f"/console/tickets/{ticket.number}/reply", data={
        "reply-csrf_token": token, "reply-to": "it@mail.example",
        "reply-body": "Please power-cycle the scanner.",
        "reply-attachments": [(io.BytesIO(b"step 1, step 2"), "steps.txt", "text/plain")],
    }, content_type="multipart/form-data", follow_redirects=True)
    assert "Reply sent." in r.get_data(as_text=True)
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["it@mail.example"]
    message = mail.message()
    assert f"[#{ticket.number}]" in message["Subject"]
    assert "<first@mail.example>" in (message["In-Reply-To"] or "") + (message["References"] or "")
    parts = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert parts["steps.txt"] == "step 1, step 2"
    article = db.session.scalar(select(Article).where(Article.direction == "out"))
    assert article.send_status == "sent" and article.message_id


def test_a_refused_reply_is_kept_and_marked_failed(app, client, auth, factory, ticket,
                                                   smtp_server):  # noqa: F811
    agent = factory.user(Role.AGENT)
    db.session.commit()
    auth.login(agent.email)
    token = auth.csrf(f"/console/tickets/{ticket.number}")
    state = app.extensions["mail"]
    port, state.port = state.port, free_port()  # nobody listens there
    try:
        r = client.post(f"/console/tickets/{ticket.number}/reply", data={
            "reply-csrf_token": token, "reply-to": "it@mail.example", "reply-body": "Hello"},
            follow_redirects=True)
    finally:
        state.port = port
    page = r.get_data(as_text=True)
    assert "Reply saved, but the mail server refused it" in page and "sending failed" in page
    db.session.expire_all()
    article = db.session.scalar(select(Article).where(Article.direction == "out"))
    assert article.body_text == "Hello" and article.send_status == "failed"


def test_api_reply_is_mailed(client, factory, ticket, smtp_server):  # noqa: F811
    agent = factory.user(Role.AGENT)
    token, plain = ApiToken.issue(agent)
    db.session.add(token)
    db.session.commit()
    r = client.post(f"/api/v1/tickets/{ticket.number}/articles", json={"body": "On our way"},
                    headers={"Authorization": f"Bearer {plain}"})
    assert r.status_code == 201 and r.get_json()["send_status"] == "sent"
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["it@mail.example"]
    assert "On our way" in mail.message().get_body(("plain",)).get_content()
