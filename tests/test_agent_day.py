"""The agent's day: staff notifications through a real SMTP sink, triage of unknown senders,
followers, saved replies, stale-page protection, auto-assignment and failed replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import func, select

from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.periods import period_of
from helpdesk.accounting.usage import usage_for
from helpdesk.assignment.service import auto_assign, set_away
from helpdesk.extensions import db
from helpdesk.extensions import mail as mail_extension
from helpdesk.followers.service import FollowerError, add_follower, reply_cc
from helpdesk.models import Direction, SendStatus, Ticket, TicketFollower
from helpdesk.notifications import events
from helpdesk.notifications.mailer import send_pending
from helpdesk.notifications.models import NotificationSetting, QueueWatch, StaffNotification
from helpdesk.replies.service import SavedReplyError, plain_reason, render_reply, save_reply
from helpdesk.sla.sweep import sweep
from helpdesk.tickets.services import add_article, create_ticket, update_fields
from helpdesk.triage.service import TriageError, link_ticket, suggestions
from mail_ingest.store import StoreSettings, store_batch
from tests import servers
from tests.servers import SmtpSink
from tests.test_ingest import mail
from tests.test_ingest_store import prepared

PUBLIC = "https://help.vendor.example"
smtp_server = servers.smtp_server  # the fixture
SETTINGS = StoreSettings(mailbox="support", uidvalidity=7, queue="support",
                         own_addresses=frozenset({"support@helpdesk.example"}),
                         message_id_domain="helpdesk.example", acknowledge=False)


@pytest.fixture
def app_config(smtp_server: SmtpSink) -> dict[str, Any]:
    return {"MAIL_SERVER": smtp_server.host, "MAIL_PORT": smtp_server.port,
            "MAIL_SUPPRESS_SEND": False, "PUBLIC_URL": PUBLIC}


@pytest.fixture
def people(factory):
    ayse = factory.user(email="ayse@vendor.example", name="Ayşe Yılmaz", language="tr")
    marko = factory.user(email="marko@vendor.example", name="Marko Petrović", language="sr_Latn")
    john = factory.user(email="john@vendor.example", name="John Smith", language="en")
    acme = factory.client("Acme d.o.o.", domain="acme.rs")
    contact = factory.contact(acme, "ana@acme.rs", name="Ana")
    db.session.commit()
    return {"ayse": ayse, "marko": marko, "john": john, "acme": acme, "contact": contact}


def _mails(sink: SmtpSink, count: int) -> list:
    received = sink.wait_for(count) if count else []
    assert len(sink.messages) == count, [m.message()["Subject"] for m in sink.messages]
    return [m.message() for m in received]


def _run_job(sink: SmtpSink, expected: int) -> list:
    send_pending()
    db.session.commit()
    mails = _mails(sink, expected)
    send_pending()  # a second run sends nothing more
    db.session.commit()
    assert len(sink.messages) == expected
    return mails


def _ticket(people, **kw) -> Ticket:
    t = create_ticket(subject="Printer is offline", client_id=people["acme"].id,
                      contact_id=people["contact"].id, requester_email="ana@acme.rs", **kw)
    add_article(t, direction=Direction.IN, body_text="It stopped.", from_addr="ana@acme.rs")
    db.session.commit()
    return t


def test_new_ticket_in_a_watched_queue_mails_the_watcher_in_turkish(people, smtp_server):
    db.session.add(QueueWatch(user_id=people["ayse"].id, queue="support"))
    db.session.commit()
    t = _ticket(people)
    (message,) = _run_job(smtp_server, 1)
    assert message["To"] == "ayse@vendor.example"
    body = message.get_content()
    assert f"{PUBLIC}/console/tickets/{t.number}" in body
    assert "kuyruğunda yeni talep" in message["Subject"]  # Turkish, not English
    assert "New ticket" not in body


def test_client_reply_tells_the_assignee_once_and_a_burst_is_one_mail(people, smtp_server):
    t = _ticket(people, assignee_id=people["marko"].id)
    for n in range(3):
        add_article(t, direction=Direction.IN, body_text=f"more {n}", from_addr="ana@acme.rs")
    events.client_replied(t, t.articles[-1])  # the same event reported twice lands once
    db.session.commit()
    (message,) = _run_job(smtp_server, 1)
    assert message["To"] == "marko@vendor.example"
    body = message.get_content()
    assert body.count("ana@acme.rs") == 3
    assert "Klijent je odgovorio" in body  # Serbian (Latin)
    assert f"{PUBLIC}/console/tickets/{t.number}" in body


def test_unassigned_client_reply_goes_to_the_queue_watchers(people, smtp_server):
    db.session.add(QueueWatch(user_id=people["john"].id, queue="support"))
    db.session.commit()
    t = _ticket(people)
    send_pending()
    db.session.commit()
    smtp_server.wait_for(1)
    smtp_server.clear()
    add_article(t, direction=Direction.IN, body_text="Hello?", from_addr="ana@acme.rs")
    db.session.commit()
    (message,) = _run_job(smtp_server, 1)
    assert message["To"] == "john@vendor.example"
    assert "The client replied" in message.get_content()


def test_assignment_and_mention_each_mail_the_person_named(people, smtp_server):
    t = _ticket(people)
    update_fields(t, user=people["john"], assignee_id=people["ayse"].id)
    add_article(t, direction=Direction.OUT, internal=True, author=people["ayse"],
                body_text="@marko can you check the driver? cc @john@vendor.example")
    db.session.commit()
    mails = _run_job(smtp_server, 3)
    to = sorted(m["To"] for m in mails)
    assert to == ["ayse@vendor.example", "john@vendor.example", "marko@vendor.example"]
    ayse = next(m for m in mails if m["To"] == "ayse@vendor.example").get_content()
    assert "John Smith talebi size atadı" in ayse  # who did it, in Turkish
    marko = next(m for m in mails if m["To"] == "marko@vendor.example").get_content()
    assert "Ayşe Yılmaz" in marko and "pomenu" in marko


def test_nothing_is_mailed_to_someone_who_switched_it_off(people, smtp_server):
    db.session.add(NotificationSetting(user_id=people["marko"].id, kind=events.ASSIGNED,
                                       email=False, bell=True))
    db.session.commit()
    t = _ticket(people)
    update_fields(t, user=people["john"], assignee_id=people["marko"].id)
    db.session.commit()
    _run_job(smtp_server, 0)
    item = db.session.scalar(select(StaffNotification))
    assert item.user_id == people["marko"].id and item.bell_wanted and not item.mail_wanted
    assert events.unread_count(people["marko"]) == 1


def test_sla_warning_mails_the_assignee_with_an_absolute_link(people, factory, smtp_server):
    factory.contract(people["acme"], "standard")
    db.session.commit()
    start = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
    t = create_ticket(subject="Down", client_id=people["acme"].id, created_at=start,
                      assignee_id=people["john"].id)
    db.session.commit()
    assert t.first_response_due is not None
    sweep(t.first_response_due + timedelta(minutes=1))
    db.session.commit()
    mails = _mails(smtp_server, 1)
    assert mails[0]["To"] == "john@vendor.example"
    assert f"{PUBLIC}/console/tickets/{t.number}" in mails[0].get_content()
    assert events.unread_count(people["john"]) == 1


def test_sla_mail_is_not_sent_to_someone_who_switched_it_off(people, factory, smtp_server):
    factory.contract(people["acme"], "standard")
    db.session.add(NotificationSetting(user_id=people["john"].id, kind=events.SLA,
                                       email=False, bell=False))
    db.session.commit()
    t = create_ticket(subject="Down", client_id=people["acme"].id,
                      created_at=datetime(2026, 11, 17, 8, 0, tzinfo=UTC),
                      assignee_id=people["john"].id)
    db.session.commit()
    sweep(t.first_response_due + timedelta(minutes=1))
    db.session.commit()
    _mails(smtp_server, 0)


def test_a_reply_that_could_not_be_sent_tells_its_author(app, people, smtp_server, unused_port):
    from mail_ingest.outgoing import send_article

    t = _ticket(people)
    reply = add_article(t, direction=Direction.OUT, body_text="Try again", author=people["john"],
                        to_addrs="ana@acme.rs")
    db.session.commit()
    app.config["MAIL_PORT"] = unused_port
    mail_extension.init_app(app)  # Flask-Mail reads its settings when bound
    assert send_article(reply) is False
    db.session.commit()
    assert reply.send_status == SendStatus.FAILED
    assert "refused" in plain_reason(reply.send_error) and "Errno" not in plain_reason(
        reply.send_error)
    app.config["MAIL_PORT"] = smtp_server.port
    mail_extension.init_app(app)
    (message,) = _run_job(smtp_server, 1)
    assert message["To"] == "john@vendor.example"
    assert "could not be sent" in message.get_content()


# -- triage ------------------------------------------------------------------------------------


def test_unknown_sender_is_triaged_then_billed_and_timed_by_the_clients_package(people, factory):
    globex = factory.client("Globex Trading", domain="globex.com.tr", timezone="Europe/Istanbul",
                            language="tr")
    factory.contract(globex, "standard")
    db.session.commit()
    raw = mail("mehmet@gmail.example", "Fatura sorunu", "<m1@gmail.example>",
               "Merhaba,\nfatura basılmıyor.\n\nMehmet\nGlobex Trading\n+90 212 555 0101",
               name="Mehmet Kaya")
    store_batch([prepared(current_app, 1, raw)], SETTINGS)
    db.session.commit()
    t = db.session.scalars(select(Ticket)).one()
    assert t.needs_triage and t.client_id is None and t.sla_first_response_minutes is None
    assert [s.client.name for s in suggestions(t)] == ["Globex Trading"]
    contact = link_ticket(t, globex, user=people["john"], add_domain=False)
    db.session.commit()
    assert not t.needs_triage and t.client_id == globex.id and t.contact_id == contact.id
    assert contact.email == "mehmet@gmail.example"
    policy = factory.package("standard").sla_policy
    assert t.sla_first_response_minutes == policy.first_response_minutes
    assert t.first_response_due is not None and t.reserved
    work = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)  # Tuesday 11:00 in Istanbul: business hours
    period = period_of(work, globex.timezone)
    before = usage_for(globex, period).billable_minutes
    log_entry(client=globex, kind="remote", ticket=t, agent=people["john"],
              started_at=work, minutes=30, user=people["john"])
    db.session.commit()
    assert usage_for(globex, period).billable_minutes == before + 30


def test_linking_to_an_archived_client_is_refused_and_nothing_changes(people, factory):
    old = factory.client("Old Corp", archived_at=datetime(2026, 1, 1, tzinfo=UTC))
    t = create_ticket(subject="?", client_id=None, requester_email="x@unknown.example")
    db.session.commit()
    with pytest.raises(TriageError, match="Old Corp"):
        link_ticket(t, old, user=people["john"])
    db.session.rollback()
    assert t.client_id is None and t.needs_triage


# -- followers ---------------------------------------------------------------------------------


def test_cc_addresses_of_the_clients_domain_become_followers_and_prefill_the_reply(people):
    raw = mail("ana@acme.rs", "Server", "<f1@acme.rs>", "Hi",
               extra="Cc: Boss <boss@acme.rs>, stranger@else.example\r\n")
    store_batch([prepared(current_app, 1, raw)], SETTINGS)
    db.session.commit()
    t = db.session.scalars(select(Ticket)).one()
    assert [f.email for f in db.session.scalars(select(TicketFollower))] == ["boss@acme.rs"]
    assert reply_cc(t, "ana@acme.rs") == "boss@acme.rs"


def test_a_follower_of_another_clients_domain_is_refused_and_named(people, factory):
    factory.client("Initech", domain="initech.example")
    t = _ticket(people)
    with pytest.raises(FollowerError, match="Initech"):
        add_follower(t, "peter@initech.example", user=people["john"])
    db.session.rollback()
    assert db.session.scalar(select(func.count(TicketFollower.id))) == 0


# -- saved replies -----------------------------------------------------------------------------


def test_saved_reply_with_an_unknown_placeholder_is_refused(people):
    with pytest.raises(SavedReplyError, match=r"\{clientname\}"):
        save_reply(title="Hi", body="Dear {clientname}", language="en", shared=True,
                   user=people["john"])


def test_saved_reply_fills_its_placeholders(people):
    t = _ticket(people)
    reply = save_reply(title="Selam", body="Merhaba {client_name}, {ticket_number} - {agent_name}",
                       language="tr", shared=False, user=people["ayse"])
    assert render_reply(reply, t, people["ayse"]) == (
        f"Merhaba Acme d.o.o., #{t.number} - Ayşe Yılmaz")


# -- auto-assignment ---------------------------------------------------------------------------


def test_dedicated_agent_gets_the_clients_ticket_and_going_away_hands_it_on(app, people):
    app.config["AUTO_ASSIGN"] = True
    people["acme"].dedicated_agent_id = people["marko"].id
    db.session.commit()
    t = create_ticket(subject="x", client_id=people["acme"].id)
    assert t.assignee_id == people["marko"].id
    monday_10 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # 10:00 in Belgrade
    from helpdesk.assignment import service

    original = service.utcnow
    service.utcnow = lambda: monday_10
    try:
        moved = set_away(people["marko"], True)
    finally:
        service.utcnow = original
    assert moved == [t] and t.assignee_id in (people["ayse"].id, people["john"].id)


def test_round_robin_skips_agents_off_duty_and_away(app, people):
    app.config["AUTO_ASSIGN"] = True
    people["ayse"].away = True
    people["john"].timezone = "America/New_York"  # 04:00 there: off duty
    db.session.commit()
    t = create_ticket(subject="x", client_id=None, assignee_id=None)
    t.assignee_id = None
    assert auto_assign(t, now=datetime(2026, 11, 16, 9, 0, tzinfo=UTC)) == people["marko"]


def test_a_reply_from_a_follower_threads_into_the_ticket(people):
    first = mail("ana@acme.rs", "VPN", "<v1@acme.rs>", "Down", extra="Cc: boss@acme.rs\r\n")
    store_batch([prepared(current_app, 1, first)], SETTINGS)
    db.session.commit()
    t = db.session.scalars(select(Ticket)).one()
    reply = mail("boss@acme.rs", f"Re: [#{t.number}] VPN", "<v2@acme.rs>", "Still down",
                 in_reply_to="<v1@acme.rs>")
    store_batch([prepared(current_app, 2, reply)], SETTINGS)
    db.session.commit()
    assert db.session.scalar(select(func.count(Ticket.id))) == 1
    assert [a.body_text.strip() for a in t.articles] == ["Down", "Still down"]


def _new_ticket_event(people):
    if not db.session.scalar(select(QueueWatch.id)):
        db.session.add(QueueWatch(user_id=people["marko"].id, queue="support"))
    _ticket(people)


def _client_reply_event(people):
    t = _ticket(people, assignee_id=people["marko"].id)
    add_article(t, direction=Direction.IN, body_text="Hello?", from_addr="ana@acme.rs")


def _mention_event(people):
    t = _ticket(people)
    add_article(t, direction=Direction.OUT, internal=True, author=people["john"],
                body_text="@marko please look")


def _send_failed_event(people):
    t = _ticket(people)
    reply = add_article(t, direction=Direction.OUT, body_text="x", author=people["marko"],
                        to_addrs="ana@acme.rs")
    reply.send_status, reply.send_error = SendStatus.FAILED, "SMTPRecipientsRefused: 550"
    events.send_failed(reply)


@pytest.mark.parametrize("kind, trigger", [
    (events.NEW_TICKET, _new_ticket_event),
    (events.CLIENT_REPLY, _client_reply_event),
    (events.MENTION, _mention_event),
    (events.SEND_FAILED, _send_failed_event),
])
def test_each_kind_switched_off_sends_nothing_and_on_sends_one(people, smtp_server, kind,
                                                              trigger):
    setting = NotificationSetting(user_id=people["marko"].id, kind=kind, email=False, bell=False)
    db.session.add(setting)
    db.session.commit()
    trigger(people)
    db.session.commit()
    _run_job(smtp_server, 0)
    assert db.session.scalar(select(func.count(StaffNotification.id))) == 0
    setting.email = True
    db.session.commit()
    trigger(people)
    db.session.commit()
    (message,) = _run_job(smtp_server, 1)
    assert message["To"] == "marko@vendor.example"
    assert f"{PUBLIC}/console/tickets/" in message.get_content()
