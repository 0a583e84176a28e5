"""SLA escalation in levels, mailed through a real SMTP sink by the scheduler's own jobs:
warning -> assignee, breach -> assignee and team lead, breach + 4 business hours -> account
manager. Each level once, to the right person, at the right business time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from helpdesk.capacity.escalation import ticket_escalations
from helpdesk.extensions import db
from helpdesk.models import Role
from helpdesk.scheduler.runner import run_job_now
from helpdesk.tickets.services import add_article, create_ticket
from tests.servers import smtp_server  # noqa: F401 - fixture

BELGRADE = ZoneInfo("Europe/Belgrade")


def bg(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BELGRADE).astimezone(UTC)


@pytest.fixture
def app_config(smtp_server):  # noqa: F811 - the fixture
    return {
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
        "PUBLIC_URL": "https://help.vendor.test",
        "ESCALATION_TEAM_LEADS": ["lead@vendor.test"],
    }


@pytest.fixture
def ticket(factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, email="am@vendor.test", name="Mehmet",
                           language="tr")
    factory.user(Role.AGENT, email="lead@vendor.test", name="Lead", language="sr_Latn")
    factory.user(Role.ADMIN, email="admin@vendor.test", name="Admin")  # not the lead here
    agent = factory.user(Role.AGENT, email="agent@vendor.test", name="Ana", language="en")
    client = factory.client("Escalate Co", manager=manager)
    factory.contract(client, "standard", start=date(2025, 1, 1))
    # Standard, normal, Tue 17 Nov 09:00: first response due 13:00, resolution Thu 19 09:00.
    t = create_ticket(subject="Server down", client_id=client.id, assignee_id=agent.id,
                      created_at=bg(17, 9), actor="test")
    db.session.commit()
    return t


def minute(now: datetime) -> list[str]:
    """One scheduler minute: the sweep and, chained after it, the escalation."""
    runs = run_job_now("sla_sweep", now)
    db.session.commit()
    assert [r.job for r in runs] == ["sla_sweep", "sla_escalation", "on_call_routing"]
    assert all(r.outcome == "ok" for r in runs), [(r.job, r.error) for r in runs]
    return [r.job for r in runs]


def recipients(mails) -> list[str]:
    return [m.rcpt_tos[0] for m in mails]


def test_each_level_once_to_the_right_person_at_the_right_business_time(ticket, smtp_server):  # noqa: F811
    minute(bg(17, 12, 12))  # 80 % of the 4 business hours
    assert recipients(smtp_server.wait_for(1)) == ["agent@vendor.test"]
    minute(bg(17, 13, 1))  # breached
    mails = smtp_server.wait_for(3)
    assert sorted(recipients(mails[1:])) == ["agent@vendor.test", "lead@vendor.test"]
    lead_mail = next(m.message() for m in mails if m.rcpt_tos == ["lead@vendor.test"])
    # In the lead's language (Serbian), with an absolute link.
    assert "https://help.vendor.test/console/tickets/" in lead_mail.get_content()
    minute(bg(17, 15, 59))  # 2 h 59 min of business time after the breach: not yet
    minute(bg(18, 8, 59))  # Tue 13:00-16:00 + 59 min on Wednesday: 3 h 59 min
    assert len(smtp_server.messages) == 3
    minute(bg(18, 9, 0))  # four business hours after the breach: the account manager
    mails = smtp_server.wait_for(4)
    assert recipients(mails[3:]) == ["am@vendor.test"]
    assert "Escalate Co" in mails[3].message()["Subject"]
    # Every later minute sends nothing more.
    minute(bg(18, 12))
    minute(bg(19, 10))  # the resolution breach escalates to the lead once, on its own
    assert sorted(recipients(smtp_server.wait_for(6)[4:])) == ["agent@vendor.test",
                                                               "lead@vendor.test"]
    minute(bg(19, 10, 1))
    assert len(smtp_server.messages) == 6
    shown = {(e.level, e.target) for e in ticket_escalations(ticket)}
    assert shown == {(1, "first_response"), (2, "first_response"), (3, "first_response"),
                     (1, "resolution"), (2, "resolution")}


def test_a_breach_met_in_time_goes_no_further(ticket, smtp_server):  # noqa: F811
    minute(bg(17, 13, 1))
    # Swept first after the due time: one breach mail to Ana (the missed warning is only
    # recorded), one to the lead.
    assert len(smtp_server.wait_for(2)) == 2
    add_article(ticket, direction="out", body_text="On it", created_at=bg(17, 14))
    db.session.commit()
    minute(bg(18, 10))  # four business hours later, but answered: no account manager
    assert "am@vendor.test" not in recipients(smtp_server.messages)


def test_without_configured_leads_the_admins_are_the_team_lead(app, ticket, smtp_server):  # noqa: F811
    app.config["ESCALATION_TEAM_LEADS"] = []
    minute(bg(17, 13, 1))
    assert "admin@vendor.test" in recipients(smtp_server.wait_for(2))


def test_the_ticket_page_shows_the_escalations(ticket, factory, client, auth, smtp_server):  # noqa: F811
    minute(bg(17, 13, 1))
    smtp_server.wait_for(2)
    agent = factory.user(Role.AGENT)
    db.session.commit()
    auth.login(agent.email)
    html = client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert 'id="ticket-escalations"' in html
    assert "Team lead" in html and "lead@vendor.test" in html
