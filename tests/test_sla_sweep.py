"""The SLA sweep: warnings at 80 %, breaches at the due time, one mail per event to real SMTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from helpdesk.extensions import db, mail
from helpdesk.models import Role, SentNotification, Ticket
from helpdesk.sla.service import read_clocks
from helpdesk.sla.sweep import find_events, sweep
from helpdesk.tickets.services import add_article, create_ticket, set_status, update_fields
from tests.servers import free_port, smtp_server  # noqa: F401  (fixture)

BELGRADE = ZoneInfo("Europe/Belgrade")


def bg(day: int, hour: int, minute: int = 0) -> datetime:
    """Belgrade wall-clock time in the week of Monday 16 November 2026, as aware UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=BELGRADE).astimezone(UTC)


@pytest.fixture
def app_config(smtp_server):  # noqa: F811
    return {
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
        "MAIL_DEFAULT_SENDER": "helpdesk@vendor.example",
    }


@pytest.fixture
def people(factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, email="manager@vendor.example", name="Mila",
                           language="en")
    agent = factory.user(Role.AGENT, email="agent@vendor.example", name="Ana", language="en")
    client = factory.client("Sweep Co", manager=manager)
    factory.contract(client, "standard", start=date(2025, 1, 1))
    return {"manager": manager, "agent": agent, "client": client}


@pytest.fixture
def ticket(people):
    """Standard, normal: first response due Tue 13:00 (warning 12:12), resolution Thu 09:00."""
    t = create_ticket(subject="Server down", client_id=people["client"].id,
                      assignee_id=people["agent"].id, created_at=bg(17, 9), actor="test")
    db.session.commit()
    assert (t.first_response_due, t.resolution_due) == (bg(17, 13), bg(19, 9))
    return t


def run(now: datetime, **kw):
    report = sweep(now, **kw)
    db.session.commit()
    return report


def test_warning_then_breach_each_mailed_once(ticket, smtp_server):  # noqa: F811
    assert run(bg(17, 12, 11)).events == []
    report = run(bg(17, 12, 12))
    assert [(e.target, e.kind, e.at) for e in report.events] == [
        ("first_response", "warning", bg(17, 12, 12))]
    # The first level of escalation: the assignee (helpdesk/capacity/escalation.py: the rest).
    mails = smtp_server.wait_for(1)
    assert [m.rcpt_tos[0] for m in mails] == ["agent@vendor.example"]
    message = mails[0].message()
    assert message["Subject"] == (
        f"[#{ticket.number}] SLA warning: first response due Tue 17 Nov 2026 13:00")
    body = message.get_content()
    assert "Server down" in body and "Sweep Co" in body and f"/tickets/{ticket.number}" in body

    assert run(bg(17, 12, 30)).events == []
    assert run(bg(17, 13, 0)).events == []  # due at 13:00 sharp is not late yet
    report = run(bg(17, 13, 1))
    assert [(e.target, e.kind, e.at) for e in report.events] == [
        ("first_response", "breach", bg(17, 13))]
    mails = smtp_server.wait_for(2)
    assert "SLA breached" in mails[1].message()["Subject"]
    assert run(bg(17, 15)).events == []
    assert len(smtp_server.messages) == 2

    t = db.session.get(Ticket, ticket.id)
    assert t.first_response_warned_at == bg(17, 12, 12)
    assert t.first_response_breached_at == bg(17, 13)
    keys = db.session.scalars(select(SentNotification.key).order_by(SentNotification.key)).all()
    assert keys == [f"sla:{t.id}:first_response:breach", f"sla:{t.id}:first_response:warning"]


def test_resolution_warns_at_80_percent_of_its_business_hours(ticket, smtp_server):  # noqa: F811
    add_article(ticket, direction="out", body_text="Looking", created_at=bg(17, 10))
    db.session.commit()
    # 16 h target: 80 % is 12 h 48 min: 7 h on Tuesday, then Wednesday 08:00 + 5 h 48 min.
    assert run(bg(18, 13, 47)).events == []
    report = run(bg(18, 13, 48))
    assert [(e.target, e.kind, e.at) for e in report.events] == [
        ("resolution", "warning", bg(18, 13, 48))]
    smtp_server.wait_for(1)


def test_a_pending_ticket_does_not_run_out(ticket, smtp_server):  # noqa: F811
    set_status(ticket, "pending", at=bg(17, 10))  # one business hour used
    db.session.commit()
    assert run(bg(17, 15)).events == []
    assert run(bg(18, 10)).events == []
    set_status(ticket, "open", at=bg(18, 9))  # resumes Wednesday 09:00: 3 h left, due 12:00
    db.session.commit()
    assert ticket.first_response_due == bg(18, 12)
    report = run(bg(18, 11, 15))
    assert [(e.kind, e.at) for e in report.events] == [("warning", bg(18, 11, 12))]
    smtp_server.wait_for(1)


def test_late_reply_between_sweeps_is_recorded_without_mail(ticket, smtp_server):  # noqa: F811
    add_article(ticket, direction="out", body_text="Sorry for the wait", created_at=bg(17, 14))
    db.session.commit()
    report = run(bg(17, 14, 1))
    assert [(e.kind, e.at, e.notify) for e in report.events] == [
        ("warning", bg(17, 12, 12), False), ("breach", bg(17, 13), False)]
    t = db.session.get(Ticket, ticket.id)
    assert t.first_response_breached_at == bg(17, 13)
    assert run(bg(17, 14, 2)).events == []
    assert smtp_server.messages == []


def test_a_reply_in_time_stops_the_first_response_clock(ticket, smtp_server):  # noqa: F811
    add_article(ticket, direction="out", body_text="On it", created_at=bg(17, 12, 30))
    db.session.commit()
    assert run(bg(17, 16)).events == []
    db.session.refresh(ticket)
    # Met in time: nothing to record, even though the reply came after the 80 % mark.
    assert ticket.first_response_warned_at is None
    assert ticket.first_response_breached_at is None


def test_sent_once_even_when_another_sweep_sent_it(ticket, smtp_server):  # noqa: F811
    db.session.add(SentNotification(key=f"sla:{ticket.id}:first_response:warning",
                                    recipients="someone@else"))
    db.session.commit()
    report = run(bg(17, 12, 20))
    assert [e.kind for e in report.events] == ["warning"] and report.mails_sent == 0
    assert db.session.get(Ticket, ticket.id).first_response_warned_at == bg(17, 12, 12)
    assert smtp_server.messages == []


def test_a_failed_mail_is_retried_by_the_next_sweep(app, ticket, smtp_server):  # noqa: F811
    state = app.extensions["mail"]
    port = state.port
    state.port = free_port()  # nobody listens there
    try:
        report = run(bg(17, 12, 20))
    finally:
        state.port = port
    assert report.mail_failures == 1 and report.events == []
    assert db.session.get(Ticket, ticket.id).first_response_warned_at is None
    assert db.session.scalar(select(SentNotification)) is None
    report = run(bg(17, 12, 21))
    assert [(e.kind, e.at) for e in report.events] == [("warning", bg(17, 12, 12))]
    assert len(smtp_server.wait_for(1)) == 1


def test_the_recipient_is_the_active_assignee_once(
    people, smtp_server, factory  # noqa: F811
):
    manager, client = people["manager"], people["client"]
    both = create_ticket(subject="Manager is assignee", client_id=client.id,
                         assignee_id=manager.id, created_at=bg(17, 9), actor="t")
    nobody_client = factory.client("No manager Co")
    factory.contract(nobody_client, "standard", start=date(2025, 1, 1))
    nobody = create_ticket(subject="Nobody to tell", client_id=nobody_client.id,
                           created_at=bg(17, 9), actor="t")
    gone = factory.user(Role.AGENT, email="gone@vendor.example", active=False)
    inactive = create_ticket(subject="Assignee left", client_id=nobody_client.id,
                             assignee_id=gone.id, created_at=bg(17, 9), actor="t")
    db.session.commit()
    report = run(bg(17, 12, 15))
    assert len(report.events) == 3 and report.mails_sent == 1
    mails = smtp_server.wait_for(1)
    assert mails[0].rcpt_tos == ["manager@vendor.example"]
    assert f"[#{both.number}]" in mails[0].message()["Subject"]
    for t in (nobody, inactive):
        row = db.session.scalar(select(SentNotification).where(
            SentNotification.key == f"sla:{t.id}:first_response:warning"))
        assert row is not None and row.recipients is None


def test_tickets_without_sla_and_closed_tickets_are_left_alone(people, smtp_server, factory):  # noqa: F811
    walk_in = factory.client("Walk-in")
    create_ticket(subject="No contract", client_id=walk_in.id, created_at=bg(16, 9), actor="t")
    closed = create_ticket(subject="Closed", client_id=people["client"].id,
                           created_at=bg(16, 9), actor="t")
    set_status(closed, "closed", at=bg(16, 10))
    db.session.commit()
    assert run(bg(19, 12)).events == []


def test_priority_change_keeps_recorded_events(ticket, smtp_server):  # noqa: F811
    run(bg(17, 12, 15))
    update_fields(ticket, priority="low", actor="t")  # 8 h: due Wednesday 09:00
    db.session.commit()
    assert ticket.first_response_due == bg(18, 9)
    assert ticket.first_response_warned_at == bg(17, 12, 12)
    assert run(bg(17, 15)).events == []


def test_the_sweep_refreshes_the_reserved_flag(ticket, people):
    people["client"].contracts[0].status = "cancelled"
    db.session.commit()
    report = run(bg(17, 9, 30), notify=False)
    assert report.reserved_changed == 1
    assert not db.session.get(Ticket, ticket.id).reserved


def test_flask_sla_sweep_command(app, ticket, smtp_server):  # noqa: F811
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sla", "sweep", "--now", "2026-11-17T12:13+01:00", "--no-mail"])
    assert result.exit_code == 0, result.output
    assert "1 warning(s), 0 breach(es), 0 mail(s) sent" in result.output
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).first_response_warned_at == bg(17, 12, 12)
    assert smtp_server.messages == []
    result = runner.invoke(args=["sla", "sweep", "--now", "2026-11-17T12:13"])
    assert result.exit_code != 0 and "time zone" in result.output


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minutes=st.integers(min_value=0, max_value=5 * 24 * 60))
def test_the_page_and_the_sweep_agree(ticket, minutes):
    """Whatever the moment, a clock the page shows as warning or breached is an event to sweep."""
    now = bg(17, 9) + timedelta(minutes=minutes)
    states = {c.target: c.state for c in read_clocks(ticket, now)}
    events = {(e.target, e.kind) for e in find_events(ticket, now)}
    for target in ("first_response", "resolution"):
        if states[target] == "breached":
            assert (target, "breach") in events and (target, "warning") in events
        elif states[target] == "warning":
            assert events & {(target, "warning"), (target, "breach")} == {(target, "warning")}
        else:
            assert not {k for t, k in events if t == target}
    for e in find_events(ticket, now):
        assert e.at <= now
        if e.kind == "warning":
            assert e.at < (ticket.first_response_due if e.target == "first_response"
                           else ticket.resolution_due)


def test_mail_suppressed_config_is_respected(app, ticket):
    """With MAIL_SUPPRESS_SEND the sweep still records, and Flask-Mail keeps the outbox."""
    app.extensions["mail"].suppress = True
    with mail.record_messages() as outbox:
        report = run(bg(17, 12, 13))
    assert report.mails_sent == 1 and len(outbox) == 1
