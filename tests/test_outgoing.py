"""Mail we send: agent replies (headers, files, failures, the console form) and acknowledgements."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.extensions import mail as mail_extension
from helpdesk.models import Article, AutoReply, Direction, Role, SendStatus, Ticket
from helpdesk.tickets.attachments import store_bytes
from helpdesk.tickets.services import NewAttachment, add_article, create_ticket
from mail_ingest.ingest import ingest_all
from mail_ingest.msgid import ticket_mac
from mail_ingest.outgoing import send_acknowledgement, send_article, tagged_subject
from tests.test_ingest import mail

if TYPE_CHECKING:
    from tests.servers import ImapAccount, ReceivedMail, SmtpSink


@pytest.fixture
def app_config(imap_account: ImapAccount, smtp_server: SmtpSink) -> dict[str, Any]:
    return {
        "IMAP_HOST": imap_account.host,
        "IMAP_PORT": imap_account.port,
        "IMAP_USER": imap_account.user,
        "IMAP_PASSWORD": imap_account.password,
        "IMAP_SECURITY": "plain",
        "INGEST_PARSE_WORKERS": 0,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "support@helpdesk.example",
        "VENDOR_NAME": "Demo Software",
    }


def _incoming_ticket(imap_account: ImapAccount, app) -> tuple[Ticket, Article]:
    imap_account.append(mail("pera@example.com", "Štampač ne radi", "<in-1@example.com>",
                             name="Pera Perić"))  # fmt: skip
    ingest_all(app)
    article = db.session.scalars(
        select(Article).where(Article.message_id == "<in-1@example.com>")
    ).one()
    return article.ticket, article


def _by_message_id(received: list[ReceivedMail], message_id: str) -> ReceivedMail:
    return next(m for m in received if m.message()["Message-ID"] == message_id)


def test_agent_reply_is_mailed_with_thread_headers_and_the_answer_threads_back(
    app, factory, imap_account: ImapAccount, smtp_server: SmtpSink
) -> None:
    ticket, incoming = _incoming_ticket(imap_account, app)
    ack = smtp_server.wait_for(1)[0].message()
    agent = factory.user(Role.AGENT, name="Marko")
    digest = store_bytes(b"%PDF-1.4 uputstvo")
    reply = add_article(
        ticket,
        direction=Direction.OUT,
        body_text="Poštovani,\nreinstalirajte drajver.",
        author=agent,
        from_addr="support@helpdesk.example",
        to_addrs="pera@example.com",
        cc_addrs="sef@example.com",
        subject=f"{ticket.tag} {ticket.subject}",
        attachments=[NewAttachment("uputstvo.pdf", "application/pdf", 17, digest)],
    )
    reply.send_status = SendStatus.QUEUED
    db.session.commit()

    assert send_article(reply) is True
    db.session.commit()

    assert reply.send_status == SendStatus.SENT and reply.sent_at is not None
    assert re.fullmatch(
        rf"<ticket-{ticket.number}-{ticket_mac(ticket.number, app.config['SECRET_KEY'])}"
        rf"\.article-{reply.id}\.[0-9a-f]{{16}}@helpdesk\.example>",
        reply.message_id,
    )
    received = smtp_server.wait_for(2)
    sent = _by_message_id(received, reply.message_id)
    message = sent.message()
    assert sorted(sent.rcpt_tos) == ["pera@example.com", "sef@example.com"]
    assert message["To"] == "pera@example.com" and message["Cc"] == "sef@example.com"
    assert message["Subject"] == f"[#{ticket.number}] Štampač ne radi"
    assert message["In-Reply-To"] == "<in-1@example.com>"
    assert message["References"].split() == ["<in-1@example.com>", ack["Message-ID"]]
    assert message["Auto-Submitted"] is None  # a person wrote this one
    assert "Demo Software" in message["From"] and "support@helpdesk.example" in message["From"]
    assert "reinstalirajte drajver" in message.get_body(("plain",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "uputstvo.pdf"
    assert attachment.get_content() == b"%PDF-1.4 uputstvo"
    assert db.session.get(Ticket, ticket.id).first_response_at is not None

    # the client answers without the tag: In-Reply-To alone brings it back
    imap_account.append(mail("pera@example.com", "Re: Štampač ne radi", "<in-2@example.com>",
                             in_reply_to=reply.message_id))  # fmt: skip
    summary = ingest_all(app)
    assert (summary.replies, summary.new_tickets) == (1, 0)
    answer = db.session.scalars(
        select(Article).where(Article.message_id == "<in-2@example.com>")
    ).one()
    assert answer.ticket_id == ticket.id == incoming.ticket_id


def test_console_reply_form_sends_through_send_article(
    app, client, auth, factory, imap_account: ImapAccount, smtp_server: SmtpSink
) -> None:
    ticket, _ = _incoming_ticket(imap_account, app)
    smtp_server.wait_for(1)
    factory.user(Role.AGENT, email="marko@helpdesk.example")
    db.session.commit()
    auth.login("marko@helpdesk.example")
    url = f"/console/tickets/{ticket.number}"
    token = auth.csrf(url)

    response = client.post(f"{url}/reply", data={
        "reply-csrf_token": token, "reply-to": "pera@example.com",
        "reply-body": "Evo rešenja.", "reply-then_status": "",
    }, follow_redirects=True)  # fmt: skip

    assert response.status_code == 200
    assert "Reply sent." in response.get_data(as_text=True)
    received = smtp_server.wait_for(2)
    message = received[-1].message()
    assert message["Subject"].startswith(f"[#{ticket.number}]")
    assert message["In-Reply-To"] == "<in-1@example.com>"
    db.session.expire_all()
    reply = db.session.scalars(
        select(Article).where(Article.direction == Direction.OUT, Article.is_auto.is_(False))
    ).one()
    assert reply.send_status == SendStatus.SENT and reply.message_id == message["Message-ID"]


def test_failed_send_is_recorded_and_a_retry_keeps_the_message_id(
    app, smtp_server: SmtpSink, unused_port: int
) -> None:
    ticket = create_ticket(subject="Mreža", client_id=None, requester_email="a@example.com",
                           actor="test")  # fmt: skip
    reply = add_article(ticket, direction=Direction.OUT, body_text="Proverite kabl.")
    db.session.commit()
    app.config["MAIL_PORT"] = unused_port
    mail_extension.init_app(app)  # Flask-Mail reads its settings when bound

    assert send_article(reply) is False  # never raises into the request
    db.session.commit()

    assert reply.send_status == SendStatus.FAILED
    assert "refused" in reply.send_error.lower() or "connect" in reply.send_error.lower()
    first_id = reply.message_id
    app.config["MAIL_PORT"] = smtp_server.port
    mail_extension.init_app(app)

    assert send_article(reply) is True
    db.session.commit()

    assert (reply.send_status, reply.send_error, reply.message_id) == (SendStatus.SENT, None,
                                                                       first_id)  # fmt: skip
    (sent,) = smtp_server.wait_for(1)
    assert sent.rcpt_tos == ["a@example.com"]  # the requester, as no To was given
    assert sent.message()["Message-ID"] == first_id


def test_internal_notes_and_incoming_mail_are_never_sent(app) -> None:
    ticket = create_ticket(subject="x", client_id=None, actor="test")
    note = add_article(ticket, direction=Direction.OUT, internal=True, body_text="interno")
    incoming = add_article(ticket, direction=Direction.IN, body_text="od klijenta")
    for article in (note, incoming):
        with pytest.raises(ValueError, match="only outgoing"):
            send_article(article)


def test_subject_gets_the_tag_once() -> None:
    ticket = Ticket(number=1500, subject="Licenca")
    assert tagged_subject(ticket, "Licenca") == "[#1500] Licenca"
    assert tagged_subject(ticket, "Re: [#1500] Licenca") == "Re: [#1500] Licenca"
    assert tagged_subject(ticket, None) == "[#1500] Licenca"


def test_acknowledgement_is_written_in_the_clients_language(
    app, factory, smtp_server: SmtpSink
) -> None:
    turkish = factory.client("Anadolu", language="tr", country="TR", timezone="Europe/Istanbul")
    for client, address, language in ((turkish, "sukru@anadolu.example", "tr"),
                                      (None, "neko@example.com", "en")):  # fmt: skip
        ticket = create_ticket(subject="Yazıcı çalışmıyor", client_id=client.id if client else None,
                               requester_email=address, actor="test")  # fmt: skip
        opening = add_article(ticket, direction=Direction.IN, body_text="...",
                              message_id=f"<open-{language}@example.com>")  # fmt: skip
        db.session.commit()

        assert send_acknowledgement(ticket, opening) is True
        db.session.commit()

        received = smtp_server.wait_for(1)[-1]
        smtp_server.clear()
        message = received.message()
        assert received.rcpt_tos == [address]
        assert message["Auto-Submitted"] == "auto-replied"
        assert message["In-Reply-To"] == f"<open-{language}@example.com>"
        assert f'lang="{language}"' in message.get_body(("html",)).get_content()
        assert (
            ticket.tag in message["Subject"]
            and ticket.tag in message.get_body(("plain",)).get_content()
        )
        ack = db.session.scalars(
            select(Article).where(Article.ticket_id == ticket.id, Article.is_auto.is_(True))
        ).one()
        assert ack.send_status == SendStatus.SENT and ack.message_id == message["Message-ID"]
        assert ticket.tag in ack.body_text
        assert db.session.get(Ticket, ticket.id).first_response_at is None  # not a response


def test_automatic_mail_and_our_own_address_get_no_acknowledgement(
    app, smtp_server: SmtpSink
) -> None:
    for address, is_auto in (("ooo@example.com", True), ("support@helpdesk.example", False)):
        ticket = create_ticket(subject="x", client_id=None, requester_email=address,
                               actor="test")  # fmt: skip
        opening = add_article(ticket, direction=Direction.IN, body_text="", is_auto=is_auto)
        assert send_acknowledgement(ticket, opening) is False
    db.session.commit()
    assert db.session.scalar(select(AutoReply.id)) is None
    assert smtp_server.messages == []
