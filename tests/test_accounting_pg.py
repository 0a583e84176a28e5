"""On PostgreSQL: eight writers at once, logging time and importing files for one client, and
the totals come out exact (no lost and no double minutes)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from helpdesk import create_app
from helpdesk.accounting.closing import close_month
from helpdesk.accounting.imports import import_cdr, import_logmein
from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.usage import usage_for
from helpdesk.extensions import db
from helpdesk.models import AuditLog, Client, ClosedMonth, TimeEntry
from tests.conftest import base_config
from tests.test_imports_db import cdr_row, master_csv, session, text_report
from tests.worked_example import local

pytestmark = pytest.mark.postgres

WRITERS = 8
ENTRIES_PER_LOGGER = 25
CALLS = 20
SESSIONS_PER_IMPORTER = 10


def _truncate() -> None:
    names = ", ".join(f'"{t.name}"' for t in reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_apps(pg_url):
    """Eight apps on the same PostgreSQL database, each with its own engine and sessions."""
    apps = [create_app(base_config(SQLALCHEMY_DATABASE_URI=pg_url)) for _ in range(WRITERS)]
    with apps[0].app_context():
        db.create_all()
        _truncate()
    yield apps
    for app in apps:
        with app.app_context():
            db.session.remove()
            if app is apps[0]:
                _truncate()
            db.engine.dispose()


def _seed(app) -> int:
    from tests.factories import Factory

    with app.app_context():
        factory = Factory()
        client = factory.client("Concurrent d.o.o.")
        factory.contact(client, email="it@concurrent.rs", phone="064 555 0000",
                        normalized="381645550000")
        factory.contract(client, "standard", start=date(2025, 1, 1))
        db.session.commit()
        return client.id


def test_eight_concurrent_writers_total_exactly(pg_apps):
    client_id = _seed(pg_apps[0])
    # One CDR file that every importer imports at the same time (its calls must land once),
    # and a LogMeIn report of its own for each importer.
    calls = master_csv([
        cdr_row(f"1741000000.{i}", "0645550000", "201", start=f"2026-03-{3 + i % 20:02d} 10:00:00",
                answer=f"2026-03-{3 + i % 20:02d} 10:00:05",
                end=f"2026-03-{3 + i % 20:02d} 10:10:05", billsec=600)
        for i in range(CALLS)
    ])
    errors: list[BaseException] = []
    barrier = threading.Barrier(WRITERS)

    def logger(app, n: int) -> None:
        with app.app_context():
            client = db.session.get(Client, client_id)
            barrier.wait()
            for i in range(ENTRIES_PER_LOGGER):
                start = local(2026, 3, 2, 9, 0) + timedelta(days=i % 25, minutes=n)
                log_entry(client=client, kind="phone", started_at=start, minutes=7)
                db.session.commit()

    def importer(app, n: int) -> None:
        with app.app_context():
            report = text_report([
                session(f"{n}{i:03d}", "it@concurrent.rs", work="00:20:00",
                        start=f"2026-03-{2 + i:02d} 11:00:00", end=f"2026-03-{2 + i:02d} 11:30:00")
                for i in range(SESSIONS_PER_IMPORTER)
            ])
            barrier.wait()
            import_cdr(calls, tz="Europe/Belgrade", extensions=["201"])
            db.session.commit()
            import_logmein(report, tz="Europe/Belgrade")
            db.session.commit()

    def run(target, app, n: int) -> None:
        try:
            target(app, n)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=run, args=(logger if n % 2 else importer, app, n))
        for n, app in enumerate(pg_apps)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors

    loggers = WRITERS // 2
    with pg_apps[0].app_context():
        count = db.session.scalar(select(func.count()).select_from(TimeEntry))
        assert count == loggers * ENTRIES_PER_LOGGER + CALLS + loggers * SESSIONS_PER_IMPORTER
        by_source = dict(db.session.execute(
            select(TimeEntry.source, func.sum(TimeEntry.billable_minutes))
            .group_by(TimeEntry.source)
        ).all())
        # 7-minute calls bill 15; 10-minute CDR calls 15; 20 minutes of work time 30.
        assert by_source == {
            "manual": loggers * ENTRIES_PER_LOGGER * 15,
            "cdr": CALLS * 15,
            "logmein": loggers * SESSIONS_PER_IMPORTER * 30,
        }
        usage = usage_for(db.session.get(Client, client_id), "2026-03")
        assert usage.used_minutes_by_kind == {
            "phone": loggers * ENTRIES_PER_LOGGER * 15 + CALLS * 15,
            "remote": loggers * SESSIONS_PER_IMPORTER * 30,
        }
        # One audit record per entry: the imports that lost a race wrote nothing.
        audits = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.entity_type == "time_entries", AuditLog.action == "create"))
        assert audits == count


def test_concurrent_month_close_leaves_one_row(pg_apps):
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def closer(app) -> None:
        try:
            with app.app_context():
                barrier.wait()
                close_month("2026-02")
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=closer, args=(app,)) for app in pg_apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with pg_apps[0].app_context():
        assert db.session.scalar(select(func.count()).select_from(ClosedMonth)) == 1
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.entity_type == "closed_months")) == 1
