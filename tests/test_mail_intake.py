"""Mail intake that can be trusted with real-world mail: tenants, automatic mail, charsets,
duplicates, bounces, sender authentication, plain outgoing headers, remote images.

Every mail here is written in the test itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from email.header import Header
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import (
    Article,
    AutomaticMail,
    AutoReply,
    Contact,
    Direction,
    MailDuplicate,
    SendStatus,
    Ticket,
    TicketFollower,
    TicketStatus,
    utcnow,
)
from helpdesk.tickets.services import add_article, create_ticket, set_status
from mail_ingest import automatic
from mail_ingest.msgid import make_message_id, read_message_id
from mail_ingest.outgoing import AckJob, TicketView, build_acknowledgement
from mail_ingest.parse import parse_message
from mail_ingest.prepare import PreparedMessage, prepare_message, sweep_temporary_files
from mail_ingest.store import (
    AUTOMATIC,
    COPY,
    NEW_TICKET,
    REPLY,
    REUSED_ID,
    UNVERIFIED,
    StoreSettings,
    store_batch,
)

DOMAIN = "helpdesk.example"
LIMIT = 1 << 20


def settings(acknowledge: bool = True) -> StoreSettings:
    return StoreSettings(
        mailbox="support",
        uidvalidity=7,
        queue="support",
        own_addresses=frozenset({"support@helpdesk.example"}),
        message_id_domain=DOMAIN,
        acknowledge=acknowledge,
    )


def mail(
    sender: str,
    subject: str,
    message_id: str,
    body: str = "Dobar dan",
    *,
    headers: str = "",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    head = (
        f"From: {sender}\r\nTo: support@helpdesk.example\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Wed, 02 Dec 2026 10:00:00 +0100\r\n"
        f"MIME-Version: 1.0\r\n{headers}Content-Type: {content_type}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode("utf-8") + body.encode("utf-8") + b"\r\n"


_uid = [100]


def prepared(app, raw: bytes, *, authserv_id: str | None = None) -> PreparedMessage:
    _uid[0] += 1
    return prepare_message(
        _uid[0],
        raw,
        max_attachment_bytes=LIMIT,
        attachment_root=app.config["ATTACHMENT_DIR"],
        authserv_id=authserv_id,
    )


def store(app, *raws: bytes, acknowledge: bool = True, authserv_id: str | None = None):
    outcomes = store_batch(
        [prepared(app, raw, authserv_id=authserv_id) for raw in raws], settings(acknowledge)
    )
    db.session.commit()
    return outcomes


def article(message_id: str) -> Article:
    return db.session.scalars(select(Article).where(Article.message_id == message_id)).one()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def two_clients(app, factory):
    first = factory.client("Alfa", domain="alfa.example")
    second = factory.client("Beta", domain="beta.example")
    factory.contact(first, email="ana@alfa.example")
    factory.contact(second, email="boris@beta.example")
    ticket = create_ticket(
        subject="Server", client_id=first.id, requester_email="ana@alfa.example", actor="test"
    )
    add_article(
        ticket, direction=Direction.IN, body_text="Server ne radi", message_id="<a-1@alfa.example>"
    )
    set_status(ticket, TicketStatus.RESOLVED, actor="test")
    db.session.commit()
    return first, second, ticket


# -- tenants -----------------------------------------------------------------------------------


def test_cross_client_in_reply_to_goes_to_the_senders_own_client_with_a_note(
    app, two_clients
) -> None:
    _first, second, ticket = two_clients
    mac_id = make_message_id(ticket.number, "ack", DOMAIN, app.config["SECRET_KEY"])
    old_form = f"<ticket-{ticket.number}.anything@{DOMAIN}>"
    attempts = [
        ("<b-1@beta.example>", "<a-1@alfa.example>"),  # a stored Message-ID of A's ticket
        ("<b-2@beta.example>", old_form),  # our old, unsigned form
        ("<b-3@beta.example>", mac_id),  # even a valid signed id of A's ticket
    ]
    raws = [
        mail("boris@beta.example", "Re: Server", mid, headers=f"In-Reply-To: {parent}\r\n")
        for mid, parent in attempts
    ]
    outcomes = store(app, *raws)

    assert [o.kind for o in outcomes] == [NEW_TICKET] * 3
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.RESOLVED  # nothing reopened A's ticket
    assert {a.message_id for a in ticket.articles} == {"<a-1@alfa.example>"}
    for mid, _ in attempts:
        own = article(mid).ticket
        assert own.client_id == second.id and own.id != ticket.id
        notes = [a for a in own.articles if a.internal]
        assert len(notes) == 1 and ticket.tag in notes[0].body_text


def test_entitled_senders_thread_by_every_path(app, two_clients, factory) -> None:
    first, _second, ticket = two_clients
    colleague = factory.contact(first, email="ivan@alfa.example")
    db.session.add(TicketFollower(ticket_id=ticket.id, email="eva@partner.example"))
    staff = factory.user(email="agent@helpdesk.example")
    db.session.commit()
    mac_id = make_message_id(ticket.number, "ack", DOMAIN, app.config["SECRET_KEY"])
    old_form = f"<ticket-{ticket.number}.x1@{DOMAIN}>"
    outcomes = store(
        app,
        mail("ana@alfa.example", "Re: Server", "<r-1@alfa.example>",
             headers=f"In-Reply-To: {old_form}\r\n"),  # the old form, from the requester
        mail(colleague.emails[0].email, "Re: Server", "<r-2@alfa.example>",
             headers=f"References: {mac_id}\r\n"),
        mail("eva@partner.example", f"Re: {ticket.tag} Server", "<r-3@partner.example>"),
        mail(staff.email, f"Re: {ticket.tag}", "<r-4@helpdesk.example>"),
    )  # fmt: skip
    assert [o.kind for o in outcomes] == [REPLY] * 4
    assert {o.ticket_id for o in outcomes} == {ticket.id}
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.OPEN  # a customer's reply reopens


def test_unknown_senders_reply_is_unverified_hidden_and_reopens_nothing(
    app, two_clients, auth, factory
) -> None:
    first, _, ticket = two_clients
    outcomes = store(
        app,
        mail("stranger@gmail.example", f"Re: {ticket.tag} Server", "<u-1@gmail.example>",
             body="Ja sam drugi korisnik", headers="In-Reply-To: <a-1@alfa.example>\r\n"),
    )  # fmt: skip
    assert [o.kind for o in outcomes] == [UNVERIFIED]
    held = article("<u-1@gmail.example>")
    assert held.ticket_id == ticket.id and held.unverified and held.contact_id is None
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.RESOLVED
    assert count(AutoReply) == 0  # no acknowledgement either

    portal_user = factory.user("client", email="ana.portal@alfa.example", client=first)
    db.session.commit()
    auth.login(portal_user.email)
    page = auth.client.get(f"/portal/tickets/{ticket.number}")
    assert page.status_code == 200 and "Ja sam drugi korisnik" not in page.get_data(as_text=True)
    auth.logout()
    agent = factory.user(email="agent2@helpdesk.example")
    db.session.commit()
    auth.login(agent.email)
    page = auth.client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert "Ja sam drugi korisnik" in page and "Unverified" in page
    token = auth.csrf(f"/console/tickets/{ticket.number}")
    response = auth.client.post(
        f"/console/tickets/{ticket.number}/articles/{held.id}/accept", data={"csrf_token": token}
    )
    assert response.status_code == 302
    db.session.refresh(held)
    assert not held.unverified


def test_a_forged_signature_is_not_verified() -> None:
    good = make_message_id(1301, "ack", DOMAIN, "secret-1")
    number_part, rest = good.split(".", 1)
    forged = f"{number_part[:-4]}abcd.{rest}"
    assert read_message_id(good, DOMAIN, "secret-1").verified
    assert not read_message_id(forged, DOMAIN, "secret-1").verified
    assert not read_message_id(good, DOMAIN, "another-secret").verified
    assert read_message_id(good, "elsewhere.example", "secret-1") is None


def test_dmarc_failure_of_a_client_domain_is_flagged_and_never_linked(app, two_clients) -> None:
    first, _, _ticket = two_clients
    app.config["INGEST_AUTHSERV_ID"] = "mx.helpdesk.example"
    results = (
        "Authentication-Results: mx.helpdesk.example; spf=fail smtp.mailfrom=alfa.example;\r\n"
        " dkim=none; dmarc=fail (p=reject) header.from=alfa.example\r\n"
    )
    forged_elsewhere = "Authentication-Results: evil.example; dmarc=pass header.from=alfa.example\r\n"
    outcomes = store(
        app,
        mail("ana@alfa.example", "Re: Server", "<d-1@alfa.example>",
             headers=results + "In-Reply-To: <a-1@alfa.example>\r\n"),
        mail("novi@alfa.example", "Faktura", "<d-2@alfa.example>", headers=results),
        mail("ana@alfa.example", "Pass", "<d-3@alfa.example>", headers=forged_elsewhere),
        authserv_id="mx.helpdesk.example",
    )  # fmt: skip
    assert [o.kind for o in outcomes] == [UNVERIFIED, NEW_TICKET, NEW_TICKET]
    flagged = article("<d-1@alfa.example>")
    assert flagged.unverified and "dmarc=fail" in flagged.sender_auth
    new = article("<d-2@alfa.example>")
    assert new.ticket.client_id is None and new.ticket.needs_triage  # not linked to Alfa
    assert "dmarc=fail" in new.sender_auth
    assert article("<d-3@alfa.example>").ticket.client_id == first.id  # other server: ignored
    assert article("<d-3@alfa.example>").sender_auth is None


def test_mail_from_an_archived_client_goes_to_triage_with_a_note_and_no_acknowledgement(
    app, two_clients
) -> None:
    first, _second, ticket = two_clients
    first.archived_at = utcnow()
    db.session.commit()
    outcomes = store(
        app,
        mail("ana@alfa.example", "Nova licenca", "<arch-1@alfa.example>"),  # a contact
        mail("novi@alfa.example", "Ponuda", "<arch-2@alfa.example>"),  # a new person there
    )

    assert [o.kind for o in outcomes] == [NEW_TICKET, NEW_TICKET]
    assert [o.ack for o in outcomes] == [None, None]
    assert count(AutoReply) == 0
    assert count(Contact, Contact.client_id == first.id) == 1  # no contact added to Alfa
    for mid in ("<arch-1@alfa.example>", "<arch-2@alfa.example>"):
        opened = article(mid).ticket
        assert opened.client_id is None and opened.needs_triage
        assert opened.id != ticket.id and opened.sla_clock is None
        (note,) = [a for a in opened.articles if a.internal]
        assert "Alfa" in note.body_text and "archived" in note.body_text


def test_a_reply_on_an_archived_clients_open_ticket_still_joins_it(app, two_clients) -> None:
    first, _second, ticket = two_clients
    set_status(ticket, TicketStatus.OPEN, actor="test")
    first.archived_at = utcnow()
    db.session.commit()
    (outcome,) = store(
        app,
        mail("ana@alfa.example", "Re: Server", "<arch-3@alfa.example>",
             headers="In-Reply-To: <a-1@alfa.example>\r\n"),
    )  # fmt: skip
    assert outcome.kind == REPLY and outcome.ticket_id == ticket.id


def test_a_cc_at_a_subdomain_of_the_clients_domain_becomes_a_follower(app, two_clients) -> None:
    _first, _second, _ticket = two_clients
    (outcome,) = store(
        app,
        mail("ana@alfa.example", "Mreža", "<cc-1@alfa.example>",
             headers="Cc: IT <it@mail.alfa.example>, drugi@beta.example\r\n"),
    )  # fmt: skip
    followers = db.session.scalars(
        select(TicketFollower.email).where(TicketFollower.ticket_id == outcome.ticket_id)
    ).all()
    assert followers == ["it@mail.alfa.example"]


# -- automatic mail ----------------------------------------------------------------------------

_DSN_BODY = (
    "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
    "Final-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
    "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig-1@example.org>\r\n"
    "--B--\r\n"
)
_NESTED_DSN_BODY = (
    "--O\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    "--O\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n"
    "--I\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; gw.example\r\n\r\n"
    "Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.0.0\r\n"
    "--I--\r\n--O--\r\n"
)
_FEEDBACK_BODY = (
    "--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
    "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
    "User-Agent: Reporter/1.0\r\nVersion: 1\r\n--F--\r\n"
)
AUTOMATIC_KINDS = {
    "auto-submitted": ("Hello", "Auto-Submitted: auto-generated\r\n", "x@app.example", "", None),
    "dsn flat": ("Undelivered", "", "mta@relay.example", _DSN_BODY,
                 "multipart/report; boundary=B"),
    "dsn nested, no report-type": ("Failed", "", "gw@relay.example", _NESTED_DSN_BODY,
                                   "multipart/report; boundary=O"),
    "feedback report": ("Complaint", "", "fbl@isp.example", _FEEDBACK_BODY,
                        "multipart/report; report-type=feedback-report; boundary=F"),
    "precedence bulk": ("Novosti", "Precedence: bulk\r\n", "news@shop.example", "", None),
    "precedence junk": ("Promo", "Precedence: junk\r\n", "promo@shop.example", "", None),
    "precedence list": ("Lista", "Precedence: list\r\n", "list@lists.example", "", None),
    "list-id": ("[dev] patch", "List-Id: <dev.lists.example>\r\n", "dev@lists.example", "", None),
    "list-unsubscribe": ("Akcija", "List-Unsubscribe: <mailto:u@shop.example>\r\n",
                         "akcija@shop.example", "", None),
    "x-autoreply": ("Re: pitanje", "X-Autoreply: yes\r\n", "odmor@firma.example", "", None),
    "x-autorespond": ("Re: pitanje", "X-Autorespond: 1\r\n", "ar@firma.example", "", None),
    "x-apple-action": ("Re: pitanje", "X-Apple-Action: VACATION\r\n", "mac@icloud.example", "",
                       None),
    "exchange generated": ("Re: pitanje",
                           "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\r\n",
                           "ex@corp.example", "", None),
    "mailer-daemon": ("Problem", "", "MAILER-DAEMON@mx.example", "", None),
    "postmaster": ("Problem", "", "postmaster@mx.example", "", None),
    "post_master": ("Problem", "", "post_master@mx.example", "", None),
    "no-reply": ("Vaš nalog", "", "no-reply@service.example", "", None),
    "noreply": ("Obaveštenje", "", "noreply@service.example", "", None),
    "ndr": ("Problem", "", "ndr@mx.example", "", None),
    "return-path mailer-daemon": ("Problem", "Return-Path: <MAILER-DAEMON@mx.example>\r\n",
                                  "relay@mx.example", "", None),
    "x-failed-recipients": ("Problem", "X-Failed-Recipients: nobody@example.org\r\n",
                            "relay2@mx.example", "", None),
    "subject en": ("Out of Office: pitanje", "", "ooo@firma.example", "", None),
    "subject en bounce": ("Undeliverable: pitanje", "", "exch@firma.example", "", None),
    "subject sr": ("Automatski odgovor: pitanje", "", "sr@firma.example", "", None),
    "subject sr bounce": ("Poruka nije isporučena", "", "sr2@firma.example", "", None),
    "subject tr": ("Otomatik yanıt: soru", "", "tr@firma.example", "", None),
    "subject tr bounce": ("İleti teslim edilemedi", "", "tr2@firma.example", "", None),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(AUTOMATIC_KINDS))
def test_each_kind_of_automatic_mail_gets_no_acknowledgement_and_opens_no_ticket(
    app, name: str
) -> None:
    subject, headers, sender, body, content_type = AUTOMATIC_KINDS[name]
    raw = mail(
        sender,
        subject,
        f"<auto-{abs(hash(name))}@example.net>",
        body or "Automatska poruka",
        headers=headers,
        content_type=content_type or "text/plain; charset=utf-8",
    )
    (outcome,) = store(app, raw)
    assert outcome.kind == AUTOMATIC, name
    assert outcome.ack is None
    assert count(Ticket) == 0 and count(AutoReply) == 0
    kept = db.session.scalars(select(AutomaticMail)).one()
    assert kept.kind in automatic.KINDS and kept.reason


def test_automatic_kinds_are_told_apart(app) -> None:
    def kind(name: str) -> str | None:
        subject, headers, sender, body, content_type = AUTOMATIC_KINDS[name]
        raw = mail(sender, subject, "<k@x.example>", body or "x", headers=headers,
                   content_type=content_type or "text/plain; charset=utf-8")  # fmt: skip
        return parse_message(raw, max_attachment_bytes=LIMIT).auto_kind

    assert kind("dsn flat") == kind("dsn nested, no report-type") == automatic.BOUNCE
    assert kind("feedback report") == automatic.FEEDBACK
    assert kind("x-apple-action") == kind("subject tr") == automatic.VACATION
    assert kind("list-id") == kind("precedence bulk") == automatic.BULK
    person = parse_message(mail("ana@alfa.example", "Out of paper", "<p@x>"), max_attachment_bytes=1)
    assert not person.is_auto  # "Out of ..." alone is not an out-of-office reply


def test_a_vacation_reply_to_our_acknowledgement_changes_no_status(app, two_clients) -> None:
    _, _, ticket = two_clients
    set_status(ticket, TicketStatus.PENDING, actor="test")
    db.session.commit()
    ack_id = make_message_id(ticket.number, "ack", DOMAIN, app.config["SECRET_KEY"])
    (outcome,) = store(
        app,
        mail("ana@alfa.example", "Automatic reply: Server", "<v-1@alfa.example>",
             headers=f"In-Reply-To: {ack_id}\r\nX-Apple-Action: VACATION\r\n"),
    )  # fmt: skip
    assert outcome.kind == REPLY and outcome.ack is None
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.PENDING
    note = article("<v-1@alfa.example>")
    assert note.is_auto and note.auto_kind == automatic.VACATION


def test_a_bounce_of_our_reply_marks_it_not_delivered_and_tells_the_agent(
    app, two_clients, factory, monkeypatch
) -> None:
    _, _, ticket = two_clients
    agent = factory.user(email="agent3@helpdesk.example")
    reply_id = make_message_id(ticket.number, "article-9", DOMAIN, app.config["SECRET_KEY"])
    reply = add_article(ticket, direction=Direction.OUT, body_text="Rešeno", author=agent,
                        to_addrs="ana@alfa.example", message_id=reply_id)  # fmt: skip
    reply.send_status = SendStatus.SENT
    db.session.commit()
    sent = []
    monkeypatch.setattr("helpdesk.notifications.once.mail.send", lambda message: sent.append(message))
    body = _DSN_BODY.replace("<orig-1@example.org>", reply_id)
    from mail_ingest.ingest import notify_bounces

    outcomes = store(
        app,
        mail("MAILER-DAEMON@mx.alfa.example", "Undelivered Mail Returned to Sender",
             "<bounce-1@mx.alfa.example>", body, content_type="multipart/report; boundary=B"),
    )  # fmt: skip
    notify_bounces(outcomes)
    assert outcomes[0].kind == AUTOMATIC and outcomes[0].bounced_article_id == reply.id
    db.session.refresh(reply)
    assert reply.send_status == SendStatus.FAILED and "550 5.1.1" in reply.send_error
    notes = [a for a in ticket.articles if a.internal]
    assert notes and "not delivered" in notes[-1].body_text
    assert [m.recipients for m in sent] == [[agent.email]]
    assert db.session.scalars(select(AutomaticMail)).one().ticket_id == ticket.id


# -- charsets ----------------------------------------------------------------------------------

JAPANESE = "メールの件名と本文"
CHINESE = "服务器无法启动，请尽快处理"


def test_iso_2022_jp_subject_and_body_decode() -> None:
    subject = Header(JAPANESE, "iso-2022-jp").encode()
    body = ("本文です。" + JAPANESE).encode("iso2022_jp")
    raw = (
        f"From: taro@example.jp\r\nSubject: {subject}\r\nMessage-ID: <jp@x>\r\n"
        "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    ).encode("ascii") + body
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert parsed.subject == JAPANESE
    assert parsed.text == "本文です。" + JAPANESE
    undeclared = b"From: a@x\r\nSubject: x\r\nMessage-ID: <jp2@x>\r\n\r\n" + body
    assert parse_message(undeclared, max_attachment_bytes=LIMIT).text == "本文です。" + JAPANESE


def test_gb2312_raw_subject_and_body_decode() -> None:
    raw = (
        b"From: wang@example.cn\r\nSubject: " + CHINESE.encode("gb2312") + b"\r\n"
        b"Message-ID: <cn@x>\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + CHINESE.encode("gb2312") + b"\r\n"
    )
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert parsed.subject == CHINESE
    assert parsed.text == CHINESE


def test_euc_jp_mislabelled_as_iso_2022_jp_is_decoded() -> None:
    raw = (
        b"From: a@example.jp\r\nSubject: x\r\nMessage-ID: <eucjp@x>\r\n"
        b"Content-Type: text/plain; charset=iso-2022-jp\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + ("こんにちは、" + JAPANESE).encode("euc_jp")
    )
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert parsed.text == "こんにちは、" + JAPANESE
    assert any("CharsetFallback" in d for d in parsed.defects)


def test_a_part_whose_charset_lies_is_decoded_with_the_messages_other_charset() -> None:
    cyrillic = "Поштовани, сервер не ради"
    raw = (
        b"From: a@example.rs\r\nSubject: x\r\nMessage-ID: <alt@x>\r\n"
        b"Content-Type: multipart/alternative; boundary=Z\r\n\r\n"
        b"--Z\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + cyrillic.encode("cp1251")
        + b"\r\n--Z\r\nContent-Type: text/html; charset=windows-1251\r\n\r\n<p>"
        + cyrillic.encode("cp1251") + b"</p>\r\n--Z--\r\n"
    )  # fmt: skip
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert cyrillic in parsed.text


def test_undecodable_bytes_become_replacement_characters_with_a_flag() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: x\r\nMessage-ID: <junk@x>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nok a\x81b\x8dc\x8fd end\r\n"
    )
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert "\ufffd" in parsed.text and parsed.text.startswith("ok ")
    assert any(d.startswith("CharsetUndecodable") for d in parsed.defects)


# -- nothing dropped ---------------------------------------------------------------------------


def test_a_reused_message_id_with_other_content_is_kept_and_copies_are_recorded(app) -> None:
    first = mail("a@example.com", "Prvi", "<same@example.com>", body="Prva poruka")
    other = mail("b@example.com", "Drugi", "<same@example.com>", body="Sasvim druga poruka")
    outcomes = store(app, first, other, first, acknowledge=False)
    assert [o.kind for o in outcomes] == [NEW_TICKET, REUSED_ID, COPY]
    bodies = set(db.session.scalars(select(Article.body_text)))
    assert bodies == {"Prva poruka", "Sasvim druga poruka"}
    again = store(app, other, acknowledge=False)  # the other one delivered a second time
    assert [o.kind for o in again] == [COPY]
    rows = db.session.scalars(select(MailDuplicate).order_by(MailDuplicate.uid)).all()
    assert [(r.kind, r.message_id) for r in rows] == [
        ("reused", "<same@example.com>"),
        ("copy", "<same@example.com>"),
        ("copy", "<same@example.com>"),
    ]
    assert all(r.uid and r.mailbox == "support" for r in rows)
    assert rows[0].article_id == article(outcomes[1].message_id).id


def test_duplicates_and_backlog_show_on_the_failed_mail_page(app, auth, factory) -> None:
    raw = mail("a@example.com", "Isti", "<dup-page@example.com>")
    store(app, raw, raw)
    admin = factory.user("admin", email="admin@helpdesk.example")
    db.session.commit()
    auth.login(admin.email)
    page = auth.client.get("/admin/ingest-failures").get_data(as_text=True)
    assert "&lt;dup-page@example.com&gt;" in page
    assert 'id="ack-backlog"' in page and "1 acknowledgement" in page


def test_an_attachment_that_decodes_to_nothing_is_kept_with_a_warning(app) -> None:
    raw = (
        b"From: a@example.com\r\nSubject: uu\r\nMessage-ID: <uu@example.com>\r\n"
        b"Content-Type: multipart/mixed; boundary=U\r\n\r\n--U\r\nContent-Type: text/plain\r\n\r\n"
        b"see file\r\n--U\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\nthis is not uuencoded at all\r\n--U--\r\n"
    )
    (_outcome,) = store(app, raw, acknowledge=False)
    (att,) = article("<uu@example.com>").attachments
    assert att.size > 0 and att.sha256 and att.warning and "decoded to nothing" in att.warning


def test_orphan_temporary_files_are_swept(tmp_path: Path) -> None:
    old = tmp_path / "ab" / "cd" / ".tmp-killed"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = old.with_name(".tmp-writing")
    fresh.write_bytes(b"now")
    assert sweep_temporary_files(tmp_path) == 1
    assert not old.exists() and fresh.exists()


# -- outgoing ----------------------------------------------------------------------------------


def test_outgoing_threading_headers_stay_plain_with_a_200_character_message_id(app) -> None:
    long_id = "<" + "k" * 180 + ".part@customer-mail.example>"
    assert len(long_id) >= 200
    ours = make_message_id(1234, "ack", DOMAIN, app.config["SECRET_KEY"])
    job = AckJob(
        ticket=TicketView(1234, "Šifra ne radi"),
        language="sr_Latn",
        sender="Podrška <support@helpdesk.example>",
        recipient="ana@alfa.example",
        subject="[#1234] primljen: Šifra ne radi",
        message_id=ours,
        in_reply_to=long_id,
        references=f"<first@customer-mail.example> {long_id}",
    )
    with app.test_request_context():
        raw = build_acknowledgement(job).as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ")
    for name in ("In-Reply-To", "References", "Message-ID"):
        line = next(ln for ln in unfolded.split("\r\n") if ln.startswith(f"{name}:"))
        assert "=?" not in line, line
    assert f"In-Reply-To: {long_id}" in unfolded
    assert f"References: <first@customer-mail.example> {long_id}" in unfolded
    assert f"Message-ID: {ours}" in unfolded


# -- remote images -----------------------------------------------------------------------------


def test_remote_images_are_blocked_until_the_reader_asks(app, auth, factory, two_clients) -> None:
    first, _, ticket = two_clients
    html = '<p>Pogledaj</p><img src="https://tracker.example/pixel.gif?id=42" alt="x">'
    add_article(ticket, direction=Direction.IN, body_text="Pogledaj", body_html=html,
                message_id="<img-1@alfa.example>")  # fmt: skip
    db.session.commit()
    shown = article("<img-1@alfa.example>")
    agent = factory.user(email="agent4@helpdesk.example")
    portal_user = factory.user("client", email="ana.p@alfa.example", client=first)
    db.session.commit()
    for user, path in ((agent, "/console"), (portal_user, "/portal")):
        auth.login(user.email)
        page = auth.client.get(f"{path}/tickets/{ticket.number}").get_data(as_text=True)
        assert not re.search(r'(?<!-)src="https://tracker.example', page)
        assert "data-blocked-src" in page and f"images={shown.id}" in page
        page = auth.client.get(f"{path}/tickets/{ticket.number}?images={shown.id}")
        assert 'src="https://tracker.example/pixel.gif?id=42"' in page.get_data(as_text=True)
        auth.logout()


# -- worker processes --------------------------------------------------------------------------


def test_worker_processes_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import multiprocessing, os, sys, time
        from concurrent.futures import ProcessPoolExecutor
        from mail_ingest.lifecycle import init_parse_worker
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=init_parse_worker, initargs=(os.getpid(),))
            print(pool.submit(os.getpid).result(), flush=True)
            time.sleep(60)
        """
    )
    path = tmp_path / "parent.py"
    path.write_text(script)
    parent = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its killed parent")


@pytest.mark.parametrize(
    ("text", "charset"),
    [
        ("Poštovani, šaljem račun za čišćenje i održavanje", "cp1250"),
        ("Sayın yetkili, yazıcı çalışmıyor, lütfen düzeltin", "cp1254"),
        ("Поштовани, шаљем рачун за одржавање", "cp1251"),
    ],
)
def test_latin_and_cyrillic_8bit_mail_is_not_taken_for_cjk(text: str, charset: str) -> None:
    raw = b"From: a@x.rs\r\nSubject: x\r\nMessage-ID: <l@x>\r\n\r\n" + text.encode(charset)
    assert parse_message(raw, max_attachment_bytes=LIMIT).text == text
