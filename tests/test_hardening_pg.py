"""On PostgreSQL, the billing races of issue 16 as attacks: a timer stopped by three requests at
once, and eight writers logging into a month while it is being closed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.ledger import MonthClosed, log_entry
from helpdesk.accounting.timers import TimerStopped, running_timer, start_timer, stop_timer
from helpdesk.extensions import db
from helpdesk.models import Client, ClosedMonth, Role, RunningTimer, Ticket, TimeEntry, User
from helpdesk.tickets.services import create_ticket
from tests.test_accounting_pg import _seed, pg_apps  # noqa: F401 - the fixture
from tests.worked_example import local

pytestmark = pytest.mark.postgres


def _run_all(targets) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(target, *args):
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_a_timer_stopped_by_three_requests_at_once_is_billed_once(pg_apps):  # noqa: F811
    from tests.factories import Factory

    client_id = _seed(pg_apps[0])
    with pg_apps[0].app_context():
        agent = Factory().user(Role.AGENT, email="timer@vendor.test")
        ticket = create_ticket(subject="Remote help", client_id=client_id, actor="test")
        timer = start_timer(agent, ticket, session_code="123 456")
        timer.started_at = timer.started_at - timedelta(minutes=40)
        db.session.commit()
        agent_id, ticket_id = agent.id, ticket.id
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def stopper(app):
        with app.app_context():
            me = db.session.get(User, agent_id)
            mine = running_timer(me, db.session.get(Ticket, ticket_id))
            assert mine is not None  # every request saw the timer running
            barrier.wait()
            try:
                stop_timer(mine, user=me)
                db.session.commit()
                outcomes.append("logged")
            except TimerStopped:
                db.session.rollback()
                outcomes.append("already stopped")

    assert _run_all([(stopper, app) for app in pg_apps[:3]]) == []
    assert sorted(outcomes) == ["already stopped", "already stopped", "logged"]
    with pg_apps[0].app_context():
        entries = list(db.session.scalars(select(TimeEntry)))
        assert len(entries) == 1 and entries[0].minutes in (40, 41)  # 40 min and the test's run
        assert db.session.scalar(select(func.count()).select_from(RunningTimer)) == 0


def test_no_entry_lands_in_a_month_after_it_was_closed(pg_apps):  # noqa: F811
    client_id = _seed(pg_apps[0])
    period = "2026-03"
    barrier = threading.Barrier(len(pg_apps))
    closed_count: list[int] = []
    refused = []

    def writer(app, n):
        with app.app_context():
            client = db.session.get(Client, client_id)
            barrier.wait()
            for i in range(40):
                start = local(2026, 3, 2, 9, 0) + timedelta(days=i % 25, minutes=n)
                try:
                    log_entry(client=client, kind="phone", started_at=start, minutes=7)
                    db.session.commit()
                except MonthClosed:
                    db.session.rollback()
                    refused.append(n)
                    return

    def closer(app):
        with app.app_context():
            barrier.wait()
            # Let the writers get going, then close while they write.
            while db.session.scalar(select(func.count()).select_from(TimeEntry)) < 20:
                db.session.rollback()
            db.session.rollback()
            close_month(period, force=True)
            db.session.commit()
            # What the month held the moment its close committed.
            closed_count.append(db.session.scalar(
                select(func.count()).select_from(TimeEntry).where(TimeEntry.period == period)))

    targets = [(writer, app, n) for n, app in enumerate(pg_apps[1:], 1)] + [(closer, pg_apps[0])]
    assert _run_all(targets) == []
    with pg_apps[0].app_context():
        assert db.session.scalar(select(func.count()).select_from(ClosedMonth)) == 1
        final = db.session.scalar(
            select(func.count()).select_from(TimeEntry).where(TimeEntry.period == period))
    assert closed_count == [final]  # nothing was committed into the month after its close
    assert refused  # and writers that came later were told the month is closed
