"""Reminders (renewal, trial, hours) arrive at a real SMTP server, in the client's language, and
each exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpdesk.accounting.ledger import log_entry
from helpdesk.contracts.reminders import due_threshold, send_due_reminders
from helpdesk.extensions import db
from helpdesk.models import EntryKind, Role, SentNotification
from helpdesk.notifications.once import send_once
from helpdesk.scheduler.runner import run_due_jobs
from tests.servers import free_port, smtp_server  # noqa: F401 - fixture

BELGRADE = ZoneInfo("Europe/Belgrade")


@pytest.fixture
def app_config(smtp_server):  # noqa: F811 - the fixture
    return {
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
    }


def morning(day: date) -> datetime:
    """08:00 in Belgrade, when the daily reminders job runs."""
    return datetime.combine(day, time(8), BELGRADE).astimezone(UTC)


@pytest.fixture
def manager(factory):
    return factory.user(Role.ACCOUNT_MANAGER, email="jelena@vendor.test", name="Jelena")


def subjects(smtp_server) -> list[str]:  # noqa: F811
    return [m.message()["Subject"] for m in smtp_server.messages]


def test_due_threshold_picks_the_most_urgent_reminder_due():
    assert due_threshold(31, [30, 7]) is None
    assert due_threshold(30, [30, 7]) == 30
    assert due_threshold(8, [30, 7]) == 30
    assert due_threshold(7, [30, 7]) == 7
    assert due_threshold(0, [30, 7]) == 7
    assert due_threshold(-1, [30, 7]) is None


def test_renewal_reminders_30_and_7_days_before_the_end_arrive_once(factory, manager, smtp_server):  # noqa: F811
    client = factory.client(language="tr", manager=manager)
    factory.contact(client, email="sukru@musteri.test")
    end = date(2026, 4, 30)
    factory.contract(client, "standard", start=date(2025, 5, 1), end=end)
    db.session.commit()

    for days_before in (31, 30, 30, 29, 8, 7, 7, 6, 1, 0, -1):
        send_due_reminders(morning(end - timedelta(days=days_before)))
        db.session.commit()
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    for received in mails:
        assert sorted(received.rcpt_tos) == ["jelena@vendor.test", "sukru@musteri.test"]
        message = received.message()
        assert message["Auto-Submitted"] == "auto-generated"
        # In the client's language: the date is written the Turkish way.
        assert "30 Nisan 2026" in message.get_content()
    assert db.session.scalar(select(func.count()).select_from(SentNotification)) == 2


def test_a_contract_found_late_gets_only_the_most_urgent_reminder(factory, manager, smtp_server):  # noqa: F811
    client = factory.client(language="en", manager=manager)
    factory.contact(client, email="boss@client.test")
    end = date(2026, 4, 30)
    contract = factory.contract(client, "standard", start=date(2025, 5, 1), end=end)
    contract.auto_renew = False
    db.session.commit()
    send_due_reminders(morning(end - timedelta(days=5)))
    db.session.commit()
    [received] = smtp_server.wait_for(1)
    assert received.message()["Subject"] == "Your support contract ends on Apr 30, 2026"
    assert "in 5 days" in received.message().get_content()


def test_no_renewal_reminder_when_the_next_contract_is_signed(factory, manager, smtp_server):  # noqa: F811
    client = factory.client(manager=manager)
    factory.contact(client, email="boss@client.test")
    factory.contract(client, "standard", start=date(2025, 5, 1), end=date(2026, 4, 30))
    factory.contract(client, "extended", start=date(2026, 5, 1), end=date(2027, 4, 30))
    db.session.commit()
    summary = send_due_reminders(morning(date(2026, 4, 10)))
    db.session.commit()
    assert summary.renewal == 0 and smtp_server.messages == []


def test_trial_reminders_7_days_and_1_day_before_its_end(factory, manager, smtp_server):  # noqa: F811
    client = factory.client(language="sr_Latn", manager=manager)
    factory.contact(client, email="dragan@firma.test")
    start = date(2026, 3, 1)
    contract = factory.contract(client, "standard", status="trial", start=start, end=None)
    db.session.commit()
    last_day = start + timedelta(days=29)  # 30-day trial: 1 to 30 March
    for day in range(31):
        send_due_reminders(morning(start + timedelta(days=day)))
        db.session.commit()
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    keys = db.session.scalars(select(SentNotification.key).order_by(SentNotification.id)).all()
    assert keys == [f"trial:{contract.id}:{last_day}:7", f"trial:{contract.id}:{last_day}:1"]
    assert "30. mart 2026." in mails[0].message().get_content()


def test_hours_reminders_at_80_and_100_percent_of_the_package(factory, manager, smtp_server):  # noqa: F811
    client = factory.client(language="en", manager=manager)
    factory.contact(client, email="boss@client.test")
    factory.contract(client, "basic", start=date(2025, 1, 1))  # 120 minutes a month
    db.session.commit()
    day = date(2026, 3, 10)
    started = datetime.combine(day, time(10), BELGRADE).astimezone(UTC)

    def work(minutes: int) -> None:
        log_entry(client=client, kind=EntryKind.EMAIL, started_at=started, minutes=minutes)
        db.session.commit()
        send_due_reminders(morning(day + timedelta(days=1)))
        db.session.commit()

    work(90)  # 75 %
    assert smtp_server.messages == []
    work(15)  # 105 of 120: 87.5 %
    smtp_server.wait_for(1)
    work(10)  # 120 (rounded up to 15): 100 %
    work(15)  # more: nothing new
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    assert subjects(smtp_server) == [
        "You have used 80% of the support hours of March 2026",
        "You have used all support hours included in March 2026",
    ]
    assert "1:45 of the 2:00 hours" in mails[0].message().get_content()
    # Next month starts from zero again.
    send_due_reminders(morning(date(2026, 4, 2)))
    db.session.commit()
    assert len(smtp_server.messages) == 2


def test_a_failed_send_is_retried_next_time_and_then_sent_once(app, factory, manager, smtp_server):  # noqa: F811
    client = factory.client(language="en", manager=manager)
    factory.contact(client, email="boss@client.test")
    factory.contract(client, "standard", start=date(2025, 5, 1), end=date(2026, 4, 30))
    db.session.commit()
    app.config["MAIL_PORT"] = free_port()  # nobody listens: the send fails
    app.extensions["mail"].port = app.config["MAIL_PORT"]
    assert send_due_reminders(morning(date(2026, 4, 20))).renewal == 0
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(SentNotification)) == 0
    app.extensions["mail"].port = smtp_server.port
    assert send_due_reminders(morning(date(2026, 4, 21))).renewal == 1
    db.session.commit()
    assert send_due_reminders(morning(date(2026, 4, 22))).renewal == 0
    assert len(smtp_server.wait_for(1)) == 1


def test_send_once_without_recipients_records_nothing(app):
    assert send_once("nobody:1", ["", None], "s", "b") is False  # type: ignore[list-item]
    assert db.session.scalar(select(func.count()).select_from(SentNotification)) == 0


def test_the_reminders_job_sends_through_the_scheduler_once(app, factory, manager, smtp_server):  # noqa: F811
    from tests.test_scheduler import BUILTIN_OFF

    app.config.update(BUILTIN_OFF)
    app.config["SCHEDULE_REMINDERS"] = "daily 08:00"
    client = factory.client(language="en", manager=manager)
    factory.contact(client, email="boss@client.test")
    factory.contract(client, "standard", start=date(2025, 5, 1), end=date(2026, 4, 30))
    db.session.commit()
    now = morning(date(2026, 4, 1))
    [run] = run_due_jobs(now + timedelta(minutes=1))
    assert (run.job, run.outcome) == ("reminders", "ok"), run.error
    assert "1 renewal" in run.summary
    assert run_due_jobs(now + timedelta(hours=3)) == []
    assert len(smtp_server.wait_for(1)) == 1
