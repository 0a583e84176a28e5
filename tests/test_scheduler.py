"""The scheduler: fire times in the vendor's zone, exactly-once runs, made-up runs, one active
process (lock file on SQLite, advisory lock on PostgreSQL), the admin pages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.config import defaults
from helpdesk.extensions import db
from helpdesk.models import IngestFailure, JobRun, Role
from helpdesk.scheduler.jobs import JOBS, Job
from helpdesk.scheduler.lock import AdvisoryLock, FileLock
from helpdesk.scheduler.runner import (
    ERROR,
    INTERRUPTED,
    OK,
    RUNNING,
    Schedule,
    ScheduleTrigger,
    load_jobs,
    mark_interrupted_runs,
    previous_period,
    prune_job_runs,
    run_due_jobs,
    run_job_now,
)

ROOT = Path(__file__).resolve().parent.parent
BELGRADE = "Europe/Belgrade"
BUILTIN_OFF = {job.schedule_key: "off" for job in JOBS if job.schedule_key}

#: What the probe jobs were called with, in order (in-process tests).
CALLS: list[tuple[str, object]] = []


def record_tick(now: datetime) -> str:
    CALLS.append(("tick", now))
    return "ticked"


def record_period(period: str) -> None:
    CALLS.append(("monthly", period))


def record_after(period: str) -> None:
    CALLS.append(("after", period))


def fail(now: datetime) -> None:
    raise RuntimeError("the disk is full")


def probe_to_file(app) -> None:
    """For scheduler subprocesses: one line per run, with the process id."""
    with open(app.config["PROBE_FILE"], "a") as fh:
        fh.write(f"tick {os.getpid()}\n")


def probe_month_to_file(app) -> None:
    with open(app.config["PROBE_FILE"], "a") as fh:
        fh.write(f"month {os.getpid()}\n")


PROBES = [
    {
        "name": "tick",
        "target": "tests.test_scheduler:record_tick",
        "schedule": "every 1 minutes",
        "args": ["now"],
    },
    {
        "name": "monthly_probe",
        "target": "tests.test_scheduler:record_period",
        "schedule": "monthly 1 06:00",
        "args": ["period"],
        "catch_up_all": True,
    },
    {
        "name": "after_probe",
        "target": "tests.test_scheduler:record_after",
        "after": "monthly_probe",
        "args": ["period"],
    },
    {
        "name": "broken",
        "target": "tests.test_scheduler:fail",
        "schedule": "daily 03:00",
        "args": ["now"],
    },
    {"name": "missing", "target": "tests.no_such_module:run", "schedule": "daily 04:00"},
]


@pytest.fixture
def app_config():
    return {**BUILTIN_OFF, "SCHEDULER_EXTRA_JOBS": PROBES, "TIMEZONE": BELGRADE}


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs_of(job: str) -> list[JobRun]:
    return db.session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id)).all()


# -- schedules -------------------------------------------------------------------------------------


def test_schedule_settings_are_parsed_and_bad_ones_refused():
    assert Schedule.parse("off", BELGRADE) is None
    assert Schedule.parse("every 1 minutes", BELGRADE).step == timedelta(minutes=1)
    assert Schedule.parse("Every  2   Hours", BELGRADE).step == timedelta(hours=2)
    assert Schedule.parse("daily 02:00", BELGRADE).kind == "daily"
    assert Schedule.parse("monthly 1 06:00", BELGRADE).day == 1
    for bad in (
        "hourly",
        "daily 25:00",
        "daily 2",
        "monthly 0 06:00",
        "every 0 minutes",
        "monthly 32 06:00",
    ):
        with pytest.raises(ValueError):
            Schedule.parse(bad, BELGRADE)


def test_monthly_fire_time_is_local_and_follows_summer_time():
    monthly = Schedule.parse("monthly 1 06:00", BELGRADE)
    # 06:00 in Belgrade is 05:00 UTC in winter...
    assert monthly.latest(utc(2026, 3, 1, 5, 0)) == utc(2026, 3, 1, 5, 0)
    assert monthly.latest(utc(2026, 3, 1, 4, 59, 59)) == utc(2026, 2, 1, 5, 0)
    # ...and 04:00 UTC in summer.
    assert monthly.next_after(utc(2026, 3, 1, 5, 0)) == utc(2026, 4, 1, 4, 0)
    # Across the year boundary.
    assert monthly.latest(utc(2026, 1, 1, 4, 0)) == utc(2025, 12, 1, 5, 0)
    assert monthly.previous_before(utc(2026, 1, 1, 5, 0)) == utc(2025, 12, 1, 5, 0)


def test_day_31_fires_on_the_last_day_of_short_months():
    schedule = Schedule.parse("monthly 31 23:00", BELGRADE)
    assert schedule.next_after(utc(2026, 2, 1)) == utc(2026, 2, 28, 22, 0)
    assert schedule.next_after(utc(2028, 2, 1)) == utc(2028, 2, 29, 22, 0)  # leap year
    assert schedule.next_after(utc(2026, 4, 1)) == utc(2026, 4, 30, 21, 0)  # CEST


def test_daily_job_fires_once_on_both_dst_nights():
    daily = Schedule.parse("daily 02:00", BELGRADE)

    def fires(start: datetime, end: datetime) -> list[datetime]:
        out, t = [], daily.next_after(start)
        while t <= end:
            out.append(t)
            t = daily.next_after(t)
        return out

    # 29 March 2026: the clocks jump from 02:00 to 03:00; the 02:00 run happens at 03:00 CEST.
    assert fires(utc(2026, 3, 27, 12), utc(2026, 3, 30, 12)) == [
        utc(2026, 3, 28, 1),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0),
    ]
    # 25 October 2026: 02:00 happens twice; the job runs at the first one only.
    assert fires(utc(2026, 10, 24, 12), utc(2026, 10, 26, 12)) == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 26, 1),
    ]


def test_every_minute_is_aligned_and_trigger_agrees_with_schedule():
    every = Schedule.parse("every 1 minutes", BELGRADE)
    assert every.latest(utc(2026, 5, 4, 12, 0, 30)) == utc(2026, 5, 4, 12, 0)
    trigger = ScheduleTrigger(every)
    assert trigger.get_next_fire_time(None, utc(2026, 5, 4, 12, 0)) == utc(2026, 5, 4, 12, 0)
    assert trigger.get_next_fire_time(None, utc(2026, 5, 4, 12, 0, 1)) == utc(2026, 5, 4, 12, 1)
    assert trigger.get_next_fire_time(utc(2026, 5, 4, 12, 1), utc(2026, 5, 4, 12, 1, 5)) == utc(
        2026, 5, 4, 12, 2
    )


def test_period_argument_is_the_month_before_the_fire_time_in_the_vendor_zone():
    # 1 March 00:30 in Belgrade is still 28 February in UTC.
    assert previous_period(utc(2026, 2, 28, 23, 30), BELGRADE) == "2026-02"
    assert previous_period(utc(2026, 1, 1, 5, 0), BELGRADE) == "2025-12"


def test_default_schedule_has_every_job_of_the_issue(app):
    app.config.update(
        {
            key: value
            for key, value in defaults(app.instance_path).items()
            if key.startswith("SCHEDULE_")
        }
    )
    app.config["SCHEDULER_EXTRA_JOBS"] = []
    jobs = {sj.name: sj for sj in load_jobs(app.config)}
    assert set(jobs) == {
        "mail_ingest",
        "sla_sweep",
        "capacity_plan",
        "sla_escalation",
        "on_call_routing",
        "price_list",
        "notifications",
        "visit_planner",
        "reminders",
        "month_close",
        "monthly_reports",
        "contract_changes",
        "backup",
        "import_drop",
        "import_resume",
        "import_cleanup",
        "webhooks",
        "prune_job_runs",
    }
    assert jobs["mail_ingest"].schedule.step == timedelta(minutes=1)
    assert jobs["sla_sweep"].schedule.step == timedelta(minutes=1)
    assert jobs["notifications"].schedule.step == timedelta(minutes=1)
    assert (jobs["month_close"].schedule.day, str(jobs["month_close"].schedule.at)) == (
        1,
        "06:00:00",
    )
    assert jobs["monthly_reports"].job.after == "month_close"
    assert str(jobs["backup"].schedule.at) == "02:00:00"


def test_job_definitions_are_checked():
    with pytest.raises(ValueError):
        Job("x", "no_colon", "SCHEDULE_X")
    with pytest.raises(ValueError):
        Job("x", "a:b", "SCHEDULE_X", args=("yesterday",))
    with pytest.raises(ValueError):
        Job("x", "a:b", "SCHEDULE_X", after="y")


# -- exactly once, with a controllable clock -----------------------------------------------------


def test_a_fire_time_runs_once_however_often_the_runner_looks(app):
    t = utc(2026, 5, 4, 10, 0, 12)
    runs = run_due_jobs(t, only=["tick"])
    assert [(r.job, r.scheduled_for, r.outcome, r.summary) for r in runs] == [
        ("tick", utc(2026, 5, 4, 10, 0), OK, "ticked")
    ]
    assert run_due_jobs(t + timedelta(seconds=40), only=["tick"]) == []
    assert CALLS == [("tick", t)]
    run_due_jobs(t + timedelta(seconds=50), only=["tick"])
    run_due_jobs(t + timedelta(seconds=60), only=["tick"])
    assert [r.scheduled_for for r in runs_of("tick")] == [
        utc(2026, 5, 4, 10, 0),
        utc(2026, 5, 4, 10, 1),
    ]
    assert len(CALLS) == 2
    assert all(r.finished_at >= r.started_at for r in runs_of("tick"))


def test_a_run_claimed_elsewhere_is_skipped(app):
    db.session.add(
        JobRun(job="tick", scheduled_for=utc(2026, 5, 4, 10, 0), outcome=RUNNING, host="other:1")
    )
    db.session.commit()
    assert run_due_jobs(utc(2026, 5, 4, 10, 0, 30), only=["tick"]) == []
    assert CALLS == []


def test_failures_are_recorded_and_do_not_stop_other_jobs(app):
    runs = run_due_jobs(utc(2026, 5, 4, 10, 0), only=["broken", "missing", "tick"])
    by_job = {r.job: r for r in runs}
    assert by_job["broken"].outcome == ERROR and "the disk is full" in by_job["broken"].error
    assert by_job["missing"].outcome == ERROR and "tests.no_such_module" in by_job["missing"].error
    assert by_job["tick"].outcome == OK
    # A failed run is not retried for the same fire time (it is shown to the admin instead).
    assert run_due_jobs(utc(2026, 5, 4, 12, 0), only=["broken"]) == []


def test_month_close_then_reports_for_the_month_that_ended(app, monkeypatch):
    closing = types.ModuleType("helpdesk.accounting.closing")
    batch = types.ModuleType("reports.batch")
    closing.close_due_months = lambda period, actor: CALLS.append(("close", period, actor))
    batch.scheduled_monthly = lambda period, email: CALLS.append(("reports", period, email))
    monkeypatch.setitem(sys.modules, "helpdesk.accounting.closing", closing)
    monkeypatch.setitem(sys.modules, "reports.batch", batch)
    app.config["SCHEDULE_MONTH_CLOSE"] = "monthly 1 06:00"
    app.config["SCHEDULER_EXTRA_JOBS"] = []
    db.session.add(JobRun(job="month_close", scheduled_for=utc(2026, 2, 1, 5), outcome=OK))
    db.session.add(JobRun(job="monthly_reports", scheduled_for=utc(2026, 2, 1, 5), outcome=OK))
    db.session.commit()
    # 05:59 in Belgrade on the 1st: not yet.
    assert run_due_jobs(utc(2026, 3, 1, 4, 59)) == []
    runs = run_due_jobs(utc(2026, 3, 1, 5, 0, 3))
    assert [(r.job, r.outcome) for r in runs] == [("month_close", OK), ("monthly_reports", OK)]
    assert CALLS == [("close", "2026-02", "scheduler"), ("reports", "2026-02", True)]


def test_reports_wait_for_a_successful_close(app):
    app.config["SCHEDULER_EXTRA_JOBS"] = [
        {**PROBES[1], "target": "tests.test_scheduler:fail", "args": ["now"]},
        PROBES[2],
    ]
    db.session.add(JobRun(job="monthly_probe", scheduled_for=utc(2026, 2, 1, 5), outcome=OK))
    db.session.add(JobRun(job="after_probe", scheduled_for=utc(2026, 2, 1, 5), outcome=OK))
    db.session.commit()
    runs = run_due_jobs(utc(2026, 3, 2, 8, 0))
    assert [(r.job, r.outcome) for r in runs] == [("monthly_probe", ERROR)]
    assert [r.scheduled_for for r in runs_of("after_probe")] == [utc(2026, 2, 1, 5)]
    assert CALLS == []


def test_missed_monthly_run_is_made_up_once_after_a_restart(app):
    db.session.add(JobRun(job="monthly_probe", scheduled_for=utc(2026, 2, 1, 5), outcome=OK))
    db.session.add(JobRun(job="after_probe", scheduled_for=utc(2026, 2, 1, 5), outcome=OK))
    db.session.commit()
    # The server was off from 28 February to 3 March; the scheduler starts at 09:00 on the 3rd.
    restart = utc(2026, 3, 3, 8, 0)
    runs = run_due_jobs(restart, only=["monthly_probe"])
    assert [(r.job, r.scheduled_for) for r in runs] == [
        ("monthly_probe", utc(2026, 3, 1, 5)),
        ("after_probe", utc(2026, 3, 1, 5)),
    ]
    assert CALLS == [("monthly", "2026-02"), ("after", "2026-02")]
    # Restarted again the same day, and the day after: nothing runs twice.
    assert run_due_jobs(restart + timedelta(hours=1), only=["monthly_probe"]) == []
    assert run_due_jobs(restart + timedelta(days=1), only=["monthly_probe"]) == []
    assert len(CALLS) == 2


def test_every_missed_month_is_made_up_in_order_but_minutes_are_not_replayed(app):
    for job in ("monthly_probe", "after_probe", "tick"):
        db.session.add(JobRun(job=job, scheduled_for=utc(2025, 12, 1, 5), outcome=OK))
    db.session.commit()
    # Off from December to 10 February: January's and February's month runs are both made up,
    # in order; of the minute job only the latest minute runs.
    run_due_jobs(utc(2026, 2, 10, 12, 0, 30), only=["monthly_probe", "tick"])
    assert CALLS == [
        ("tick", utc(2026, 2, 10, 12, 0, 30)),
        ("monthly", "2025-12"),
        ("after", "2025-12"),
        ("monthly", "2026-01"),
        ("after", "2026-01"),
    ]
    assert [r.scheduled_for for r in runs_of("tick")] == [
        utc(2025, 12, 1, 5),
        utc(2026, 2, 10, 12, 0),
    ]


def test_a_new_installation_runs_only_the_latest_fire_time(app):
    run_due_jobs(utc(2026, 7, 15, 12, 0), only=["monthly_probe"])
    assert CALLS == [("monthly", "2026-06"), ("after", "2026-06")]


def test_a_chained_job_missing_after_a_good_parent_is_made_up(app):
    db.session.add(JobRun(job="monthly_probe", scheduled_for=utc(2026, 3, 1, 5), outcome=OK))
    db.session.commit()
    runs = run_due_jobs(utc(2026, 3, 5, 12, 0), only=["monthly_probe"])
    assert [(r.job, r.scheduled_for) for r in runs] == [("after_probe", utc(2026, 3, 1, 5))]


def test_manual_run_is_recorded_and_chains(app):
    runs = run_job_now("monthly_probe", utc(2026, 4, 20, 9, 0))
    assert [(r.job, r.outcome) for r in runs] == [("monthly_probe", OK), ("after_probe", OK)]
    assert all(r.host.endswith("(cli)") for r in runs)
    assert CALLS == [("monthly", "2026-03"), ("after", "2026-03")]


def test_cli_runs_a_job_by_name(app):
    result = app.test_cli_runner().invoke(args=["scheduler", "run", "tick"])
    assert result.exit_code == 0, result.output
    assert "tick: ok - ticked" in result.output
    result = app.test_cli_runner().invoke(args=["scheduler", "run", "broken"])
    assert result.exit_code == 1 and "the disk is full" in result.output
    listing = app.test_cli_runner().invoke(args=["scheduler", "jobs"])
    assert "monthly_probe" in listing.output and "monthly 1 06:00" in listing.output


def test_runs_left_running_by_a_dead_scheduler_are_closed(app):
    db.session.add_all(
        [
            JobRun(job="tick", scheduled_for=utc(2026, 5, 4, 10), outcome=RUNNING, host="dead:1"),
            JobRun(
                job="tick", scheduled_for=utc(2026, 5, 4, 11), outcome=RUNNING, host="h:2 (cli)"
            ),
        ]
    )
    db.session.commit()
    assert mark_interrupted_runs(utc(2026, 5, 4, 12)) == 1
    db.session.commit()
    assert [r.outcome for r in runs_of("tick")] == [INTERRUPTED, RUNNING]


def test_old_runs_are_pruned_but_each_jobs_latest_is_kept(app):
    old = utc(2026, 1, 1)
    for i in range(3):
        db.session.add(
            JobRun(
                job="tick",
                scheduled_for=old + timedelta(minutes=i),
                outcome=OK,
                started_at=old + timedelta(minutes=i),
            )
        )
    db.session.add(JobRun(job="backup", scheduled_for=old, outcome=OK, started_at=old))
    db.session.add(
        JobRun(job="tick", scheduled_for=utc(2026, 3, 1), outcome=OK, started_at=utc(2026, 3, 1))
    )
    db.session.commit()
    summary = prune_job_runs(utc(2026, 3, 2))
    db.session.commit()
    assert summary.startswith("deleted 3 ")
    assert [
        (r.job, r.scheduled_for) for r in db.session.scalars(select(JobRun).order_by(JobRun.id))
    ] == [("backup", old), ("tick", utc(2026, 3, 1))]


# -- admin pages -----------------------------------------------------------------------------------


def test_admin_sees_job_runs_and_others_do_not(client, auth, factory, app):
    admin = factory.user(Role.ADMIN)
    agent = factory.user(Role.AGENT)
    db.session.commit()
    run_due_jobs(utc(2026, 5, 4, 10, 0), only=["tick", "broken"])
    auth.login(agent.email)
    assert client.get("/admin/jobs").status_code == 403
    auth.logout()
    assert client.get("/admin/jobs").status_code == 302  # to the login page
    auth.login(admin.email)
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert 'data-job="monthly_probe"' in page and "every month on day 1 at 06:00" in page
    assert page.count('data-outcome="ok"') == 1 and page.count('data-outcome="error"') == 1
    assert "the disk is full" in page
    only_errors = client.get("/admin/jobs?outcome=error").get_data(as_text=True)
    assert 'data-outcome="ok"' not in only_errors and 'data-outcome="error"' in only_errors


def test_admin_lists_ingest_failures(client, auth, factory, app):
    admin = factory.user(Role.ADMIN)
    db.session.add(
        IngestFailure(
            mailbox="support",
            uidvalidity=7,
            uid=42,
            subject="Broken mail",
            error="UnicodeDecodeError: bad bytes",
        )
    )
    db.session.add(
        IngestFailure(
            mailbox="support",
            uidvalidity=7,
            uid=43,
            subject="Fixed one",
            error="x",
            resolved_at=utc(2026, 1, 2),
        )
    )
    db.session.commit()
    auth.login(admin.email)
    page = client.get("/admin/ingest-failures").get_data(as_text=True)
    assert "Broken mail" in page and "UnicodeDecodeError" in page and "Fixed one" not in page
    assert "Fixed one" in client.get("/admin/ingest-failures?show=all").get_data(as_text=True)


# -- one active scheduler ------------------------------------------------------------------------


def test_file_lock_admits_one_holder_and_frees_on_release(tmp_path):
    a, b = FileLock(tmp_path / "s.lock"), FileLock(tmp_path / "s.lock")
    assert a.acquire() and a.still_held()
    assert not b.acquire()
    a.release()
    assert b.acquire()
    (tmp_path / "s.lock").unlink()  # someone deleted the file: a third could lock a new one
    assert not b.still_held()
    b.release()


def test_advisory_lock_admits_one_holder_and_notices_a_lost_connection(pg_url):
    from sqlalchemy import create_engine, text

    a, b = AdvisoryLock(pg_url), AdvisoryLock(pg_url)
    admin = create_engine(pg_url)
    try:
        assert a.acquire() and a.still_held()
        assert not b.acquire()
        assert not b.still_held()
        backend = a.conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as conn:  # the server drops the holder's connection
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        assert not a.still_held()
        _wait(b.acquire, timeout=10, what="the lock to be free again")
        assert b.still_held()
    finally:
        a.release()
        b.release()
        admin.dispose()


def _prepare_database(url: str) -> None:
    from helpdesk import create_app
    from tests.conftest import base_config

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        db.create_all()
        db.session.execute(JobRun.__table__.delete())
        db.session.commit()
        db.engine.dispose()


def _attempts(url: str, job: str) -> dict[datetime, int]:
    """Each run's attempts (a run cut off by a crash is claimed again once)."""
    from helpdesk import create_app
    from tests.conftest import base_config

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        rows = {r.scheduled_for: r.attempts or 1 for r in runs_of(job)}
        db.session.remove()
        db.engine.dispose()
    return rows


def _runs(url: str, job: str) -> list[tuple[datetime, str, str]]:
    from helpdesk import create_app
    from tests.conftest import base_config

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        rows = [(r.scheduled_for, r.outcome, r.host) for r in runs_of(job)]
        db.session.remove()
        db.engine.dispose()
    return rows


class SchedulerProcess:
    """A real ``flask scheduler`` in a subprocess, with the probe jobs only."""

    def __init__(self, url: str, tmp: Path, jobs: list[dict]) -> None:
        env = dict(os.environ)
        env.update({f"HELPDESK_{k}": v for k, v in BUILTIN_OFF.items()})
        env.update(
            {
                "HELPDESK_SQLALCHEMY_DATABASE_URI": url,
                "HELPDESK_SECRET_KEY": "test-secret",
                "HELPDESK_SCHEDULER_EXTRA_JOBS": json.dumps(jobs),
                "HELPDESK_SCHEDULER_LOCK_POLL_SECONDS": "0.2",
                "HELPDESK_SCHEDULER_LOCK_FILE": str(tmp / "scheduler.lock"),
                "HELPDESK_PROBE_FILE": str(tmp / "probe.log"),
                "HELPDESK_MAIL_SUPPRESS_SEND": "true",
            }
        )
        self.log = open(tmp / f"scheduler-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app.py", "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=20)
        finally:
            self.log.close()
        return code


def _lines(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(tag, int(pid)) for tag, pid in (ln.split() for ln in path.read_text().splitlines())]


def _wait(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


TICK = {
    "name": "probe",
    "target": "tests.test_scheduler:probe_to_file",
    "schedule": "every 1 seconds",
    "args": ["app"],
}


def _database(kind: str, tmp_path: Path, request) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'scheduler.db'}"
    return request.getfixturevalue("pg_url")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_schedulers_started_at_once_run_each_job_once_and_the_second_takes_over(
    kind, tmp_path, request
):
    url = _database(kind, tmp_path, request)
    _prepare_database(url)
    probe_file = tmp_path / "probe.log"
    first, second = SchedulerProcess(url, tmp_path, [TICK]), SchedulerProcess(url, tmp_path, [TICK])
    try:
        _wait(lambda: len(_lines(probe_file)) >= 4, what="the active scheduler's runs")
        time.sleep(1.0)
        before_kill = _lines(probe_file)
        pids = {pid for _, pid in before_kill}
        assert len(pids) == 1, f"two schedulers were active at once: {pids}"
        active = first if first.pid in pids else second
        standby = second if active is first else first
        active.stop(signal.SIGKILL)  # dies without cleaning up
        _wait(
            lambda: any(pid == standby.pid for _, pid in _lines(probe_file)),
            timeout=20,
            what="the standby scheduler to take over",
        )
        _wait(lambda: sum(pid == standby.pid for _, pid in _lines(probe_file)) >= 2)
        assert standby.stop() == 0
    finally:
        first.stop(signal.SIGKILL)
        second.stop(signal.SIGKILL)
    lines = _lines(probe_file)
    runs = _runs(url, "probe")
    ok = [r for r in runs if r[1] == OK]
    interrupted = [r for r in runs if r[1] == INTERRUPTED]
    retried = [fire for fire, attempts in _attempts(url, "probe").items() if attempts > 1]
    # Every run executed once: one probe line per finished run, plus at most the one the killed
    # process started and never recorded as done (left interrupted, or run again once by the
    # standby when it took over: then that run's row is ok at its second attempt).
    assert len(ok) <= len(lines) <= len(ok) + len(interrupted) + len(retried)
    assert len(interrupted) + len(retried) <= 1
    assert len({r[0] for r in runs}) == len(runs)
    hosts = {int(r[2].rsplit(":", 1)[1]) for r in runs}
    assert hosts == {active.pid, standby.pid}
    assert {pid for _, pid in lines} == {active.pid, standby.pid}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_missed_monthly_run_is_made_up_once_by_a_restarted_scheduler(kind, tmp_path, request):
    url = _database(kind, tmp_path, request)
    _prepare_database(url)
    month = {
        "name": "probe_month",
        "target": "tests.test_scheduler:probe_month_to_file",
        "schedule": "monthly 1 06:00",
        "args": ["app"],
        "catch_up_all": True,
    }
    schedule = Schedule.parse(month["schedule"], "Europe/Belgrade")
    latest = schedule.latest(datetime.now(UTC))
    earlier = schedule.previous_before(latest)
    from helpdesk import create_app
    from tests.conftest import base_config

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():  # the month before ran; the latest was missed (server off)
        db.session.add(JobRun(job="probe_month", scheduled_for=earlier, outcome=OK, host="old:1"))
        db.session.commit()
        db.engine.dispose()
    probe_file = tmp_path / "probe.log"
    for _ in range(2):  # start, stop, start again
        proc = SchedulerProcess(url, tmp_path, [month, TICK])
        try:
            _wait(
                lambda p=proc: (
                    sum(pid == p.pid for tag, pid in _lines(probe_file) if tag == "tick") >= 2
                ),
                what="the scheduler to run",
            )
        finally:
            assert proc.stop() == 0
    assert [tag for tag, _ in _lines(probe_file)].count("month") == 1
    assert [(r[0], r[1]) for r in _runs(url, "probe_month")] == [(earlier, OK), (latest, OK)]


def test_daily_fire_near_midnight_belongs_to_the_local_day():
    """The daily fire times around midnight belong to the right local day (no off-by-one)."""
    daily = Schedule.parse("daily 00:30", BELGRADE)
    assert daily.latest(utc(2026, 6, 30, 22, 29)) == utc(2026, 6, 29, 22, 30)
    assert daily.latest(utc(2026, 6, 30, 22, 30)) == utc(2026, 6, 30, 22, 30)
    assert daily.latest(utc(2026, 6, 30, 22, 30)).astimezone(ZoneInfo(BELGRADE)).date() == date(
        2026, 7, 1
    )


# -- a run cut off by a crash is run again once (issue 16) ----------------------------------------


def slow_month_to_file(app) -> None:
    """The first attempt hangs (the test kills the process meanwhile); the second finishes."""
    path = Path(app.config["PROBE_FILE"])
    with open(path, "a") as fh:
        fh.write(f"start {os.getpid()}\n")
    if path.read_text().count("start") == 1:
        time.sleep(60)
    with open(path, "a") as fh:
        fh.write(f"closed {os.getpid()}\n")


def mail_reports_to_file(app) -> None:
    with open(app.config["PROBE_FILE"], "a") as fh:
        fh.write(f"mailed {os.getpid()}\n")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_month_close_killed_mid_way_is_finished_once_by_the_next_scheduler(
    kind, tmp_path, request
):
    url = _database(kind, tmp_path, request)
    _prepare_database(url)
    close = {"name": "probe_close", "target": "tests.test_scheduler:slow_month_to_file",
             "schedule": "monthly 1 06:00", "args": ["app"]}
    reports = {"name": "probe_reports", "target": "tests.test_scheduler:mail_reports_to_file",
               "after": "probe_close", "args": ["app"]}
    probe_file = tmp_path / "probe.log"
    first = SchedulerProcess(url, tmp_path, [close, reports])
    try:
        _wait(lambda: any(tag == "start" for tag, _ in _lines(probe_file)),
              what="the month close to start")
    finally:
        first.stop(signal.SIGKILL)  # killed during the month close
    second = SchedulerProcess(url, tmp_path, [close, reports])
    try:
        _wait(lambda: any(tag == "mailed" for tag, _ in _lines(probe_file)),
              what="the next scheduler to finish the close and mail the reports")
        time.sleep(1.0)
    finally:
        assert second.stop() == 0
    third = SchedulerProcess(url, tmp_path, [close, reports])  # a later restart changes nothing

    def taken() -> int:
        return sum(p.read_text(errors="replace").count("lock taken")
                   for p in tmp_path.glob("scheduler-*.log"))

    try:
        _wait(lambda: taken() >= 3, what="the third scheduler to take the lock")
        time.sleep(1.0)
    finally:
        assert third.stop() == 0
    tags = [tag for tag, _ in _lines(probe_file)]
    assert tags == ["start", "start", "closed", "mailed"]
    assert [r[1] for r in _runs(url, "probe_close")] == [OK]
    assert [r[1] for r in _runs(url, "probe_reports")] == [OK]


def test_a_job_failing_twice_is_mailed_to_the_admins(app, factory):
    from helpdesk.extensions import mail
    from helpdesk.models import Role

    admin = factory.user(Role.ADMIN, email="ops@vendor.test")
    db.session.commit()
    with mail.record_messages() as outbox:
        run_due_jobs(utc(2026, 3, 2, 2, 30), only=["broken"])
        assert outbox == []  # one failure: on the admin page only
        run_due_jobs(utc(2026, 3, 3, 2, 30), only=["broken"])
    (message,) = outbox
    assert message.recipients == [admin.email] and "broken" in message.subject
    assert "the disk is full" in message.body


def test_a_job_failing_twice_is_shown_on_the_admin_page(app, client, auth, factory):
    admin = factory.user(Role.ADMIN, email="ops2@vendor.test")
    db.session.commit()
    auth.login(admin.email)
    run_due_jobs(utc(2026, 3, 2, 2, 30), only=["broken"])
    assert 'id="failed-twice"' not in client.get("/admin/jobs").get_data(as_text=True)
    run_due_jobs(utc(2026, 3, 3, 2, 30), only=["broken"])
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert 'id="failed-twice"' in page and "broken" in page


# -- the real month close, killed while it runs (issue 16) -----------------------------------------

#: Starts ``flask scheduler`` after wrapping the real ``close_month``: the first attempt closes
#: the month (the row is written, not committed), notes its pid in the marker file and hangs
#: there, so the test can kill the process in the middle of the close; later attempts go through.
PAUSED_SCHEDULER = """
import os, sys, time
sys.path.insert(0, os.getcwd())
import helpdesk.accounting.closing as closing

real_close_month = closing.close_month
marker = os.environ["HELPDESK_TEST_CLOSE_MARKER"]


def close_month_then_hang_once(*args, **kwargs):
    closed = real_close_month(*args, **kwargs)
    if not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(120)
    return closed


closing.close_month = close_month_then_hang_once
from flask.cli import main

sys.argv = ["flask", "--app", "app.py", "scheduler"]
main()
"""


class RealJobsScheduler(SchedulerProcess):
    """``flask scheduler`` with the built-in month close and monthly reports only, mailing to
    the SMTP sink."""

    def __init__(self, url: str, tmp: Path, smtp) -> None:
        env = dict(os.environ)
        env.update({f"HELPDESK_{k}": v for k, v in BUILTIN_OFF.items()})
        env.update({
            "HELPDESK_SCHEDULE_MONTH_CLOSE": "monthly 1 06:00",
            "HELPDESK_TIMEZONE": BELGRADE,
            "HELPDESK_SQLALCHEMY_DATABASE_URI": url,
            "HELPDESK_SECRET_KEY": "test-secret",
            "HELPDESK_SCHEDULER_LOCK_POLL_SECONDS": "0.2",
            "HELPDESK_SCHEDULER_LOCK_FILE": str(tmp / "scheduler.lock"),
            "HELPDESK_REPORT_DIR": str(tmp / "reports"),
            "HELPDESK_MAIL_SERVER": smtp.host,
            "HELPDESK_MAIL_PORT": str(smtp.port),
            "HELPDESK_MAIL_USERNAME": smtp.user,
            "HELPDESK_MAIL_PASSWORD": smtp.password,
            "HELPDESK_MAIL_SUPPRESS_SEND": "false",
            "HELPDESK_TEST_CLOSE_MARKER": str(tmp / "close-started"),
        })
        self.log = open(tmp / f"scheduler-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-c", PAUSED_SCHEDULER], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid


def _month_close_data(url: str) -> tuple[str, list[str]]:
    """Two contract clients with a primary contact each, and time in the month to close: the
    period the scheduler closes now, and the addresses its reports go to."""
    from helpdesk import create_app
    from helpdesk.accounting.ledger import log_entry
    from helpdesk.models import EntryKind, EntrySource
    from tests.conftest import _reset_database, base_config
    from tests.factories import Factory

    period = previous_period(Schedule.parse("monthly 1 06:00", BELGRADE).latest(
        datetime.now(UTC)), BELGRADE)
    year, month = map(int, period.split("-"))
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url, TIMEZONE=BELGRADE))
    with app.app_context():
        _reset_database()
        factory = Factory()
        agent = factory.user(Role.AGENT, email="agent@vendor.test")
        recipients = []
        for name, email in (("Alfa d.o.o.", "boss@alfa.test"), ("Beta A.Ş.", "boss@beta.test")):
            client = factory.client(name)
            factory.contract(client, "standard", start=date(year - 1, 1, 1))
            factory.contact(client, email=email)
            for day in range(10, 28):  # a working day: no review holds the close
                entry = log_entry(client=client, kind=EntryKind.REMOTE, agent=agent,
                                  source=EntrySource.API, minutes=45, user=agent,
                                  started_at=datetime(year, month, day, 9, 0, tzinfo=UTC))
                if not entry.out_of_hours:
                    break
                db.session.delete(entry)
            recipients.append(email)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return period, recipients


def _closed_months(url: str) -> list[str]:
    from helpdesk import create_app
    from helpdesk.models import ClosedMonth
    from tests.conftest import base_config

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        periods = list(db.session.scalars(select(ClosedMonth.period)))
        attempts = {r.job: (r.outcome, r.attempts) for r in db.session.scalars(select(JobRun))}
        db.session.remove()
        db.engine.dispose()
    return periods, attempts


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_real_month_close_killed_mid_way_is_closed_and_mailed_once(
    kind, tmp_path, request, smtp_server
):
    """SIGKILL while ``close_due_months`` is inside the close (its row written, not committed):
    the next scheduler closes the month and the reports go out, one mail per client; a later
    restart sends nothing more."""
    url = _database(kind, tmp_path, request)
    _prepare_database(url)
    period, recipients = _month_close_data(url)
    marker = tmp_path / "close-started"
    first = RealJobsScheduler(url, tmp_path, smtp_server)
    try:
        _wait(marker.exists, timeout=40, what="the month close to start")
        assert int(marker.read_text()) == first.pid
    finally:
        first.stop(signal.SIGKILL)  # killed during the month close
    assert _closed_months(url)[0] == []  # nothing of the cut-off close was committed
    assert smtp_server.messages == []
    second = RealJobsScheduler(url, tmp_path, smtp_server)
    try:
        smtp_server.wait_for(len(recipients), timeout=40)
        _wait(lambda: _closed_months(url)[1].get("monthly_reports", ("",))[0] == OK,
              what="the reports run to be recorded")
    finally:
        assert second.stop() == 0
    third = RealJobsScheduler(url, tmp_path, smtp_server)  # a later restart changes nothing
    try:
        _wait(lambda: sum(p.read_text(errors="replace").count("lock taken")
                          for p in tmp_path.glob("scheduler-*.log")) >= 3,
              what="the third scheduler to take the lock")
        time.sleep(1.5)
    finally:
        assert third.stop() == 0
    periods, runs = _closed_months(url)
    assert periods == [period]
    assert runs["month_close"] == (OK, 2)  # cut off once, then finished
    assert runs["monthly_reports"] == (OK, 1)
    mailed = sorted(rcpt for m in smtp_server.messages for rcpt in m.rcpt_tos)
    assert mailed == sorted(recipients)  # each report once
    for received in smtp_server.messages:
        message = received.message()
        assert any(part.get_content_type() == "application/pdf"
                   for part in message.iter_attachments())
