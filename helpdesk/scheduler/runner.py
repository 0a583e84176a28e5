"""``flask scheduler``: the one process that runs every recurring job, each run exactly once.

Two safeguards make a run happen once:

* **one active scheduler** - the process holds a lock (:mod:`helpdesk.scheduler.lock`) for as long
  as it runs; a second one waits and takes over when the first dies;
* **one run per fire time** - a run is claimed by inserting ``JobRun(job, scheduled_for)``, which
  is unique, before the job starts; a claim that fails to insert means somebody ran it already.

The clock is a parameter: :func:`run_due_jobs` and :func:`run_job_due` take ``now``, compute each
job's latest fire time up to it and run whatever has no ``JobRun`` yet. APScheduler only decides
*when* to call them; the same functions make up runs missed while no scheduler was running (the
server was off at 06:00 on the 1st): at start every job is fired once, and finds its missing run.

This module is the process and its commands; the schedules are in :mod:`.schedule`, claiming and
recording runs in :mod:`.runs` (re-exported here).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from ..extensions import db
from .lock import SchedulerLock, lock_for
from .runs import (  # noqa: F401  (the scheduler's API, imported from here by views and tests)
    ERROR,
    INTERRUPTED,
    MANUAL_SUFFIX,
    MAX_ATTEMPTS,
    MAX_CATCH_UP,
    OK,
    RUNNING,
    JobStatus,
    ScheduledJob,
    _wall_clock,
    due_fires,
    failed_twice,
    host_id,
    job_overview,
    load_jobs,
    mark_interrupted_runs,
    previous_period,
    prune_job_runs,
    resolve,
    run_due_jobs,
    run_job_due,
    run_job_now,
    run_once,
)
from .schedule import Schedule, ScheduleTrigger  # noqa: F401

log = logging.getLogger(__name__)


# -- the process -------------------------------------------------------------------------------


def _fire(app: Flask, name: str) -> None:
    """What APScheduler calls: run the job's due fire time with the real clock."""
    with app.app_context():
        jobs = load_jobs(app.config)
        sj = next(j for j in jobs if j.name == name)
        run_job_due(sj, _wall_clock(), jobs)


def serve(app: Flask, *, stop: threading.Event | None = None) -> None:
    """Run the scheduler until stopped: wait for the lock, run jobs while holding it.

    A lock lost on the way (the database connection dropped) stops the jobs and goes back to
    waiting, so two processes never both believe they are the active one for long; the unique
    claim on ``JobRun`` covers that short moment.
    """
    stop = stop or threading.Event()
    cfg = app.config
    lock = lock_for(cfg["SQLALCHEMY_DATABASE_URI"], cfg["SCHEDULER_LOCK_FILE"])
    poll = float(cfg["SCHEDULER_LOCK_POLL_SECONDS"])
    current: dict[str, BlockingScheduler | None] = {"scheduler": None}

    def terminate(signum: int, _frame: object) -> None:
        log.info("scheduler: signal %s, stopping", signum)
        stop.set()
        _shutdown(current["scheduler"])

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate)
        signal.signal(signal.SIGINT, terminate)
    standing_by = False
    try:
        while not stop.is_set():
            if not lock.acquire():
                error = getattr(lock, "last_error", None)
                if error:  # not another scheduler: the database did not answer
                    log.error("scheduler %s: database unreachable (%s); retrying in %ss",
                              host_id(), error, poll)
                    standing_by = False
                elif not standing_by:
                    log.info("scheduler %s: another scheduler is active; standing by", host_id())
                    standing_by = True
                stop.wait(poll)
                continue
            standing_by = False
            log.info("scheduler %s: lock taken, running jobs", host_id())
            with app.app_context():
                interrupted = mark_interrupted_runs(_wall_clock())
                db.session.commit()
                if interrupted:
                    log.warning("scheduler: %d run(s) of a stopped scheduler closed", interrupted)
            lost = _run_while_locked(app, lock, poll, stop, current)
            lock.release()
            if lost:
                log.error("scheduler %s: lock lost; jobs stopped, waiting again", host_id())
    finally:
        lock.release()


def _run_while_locked(
    app: Flask, lock: SchedulerLock, poll: float, stop: threading.Event, current: dict
) -> bool:
    """Run APScheduler until a stop or a lost lock (returns True for a lost lock)."""
    cfg = app.config
    scheduler = BlockingScheduler(
        timezone=ZoneInfo(cfg["TIMEZONE"]),
        executors={"default": ThreadPoolExecutor(int(cfg["SCHEDULER_MAX_WORKERS"]))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    lost = threading.Event()
    start = datetime.now(UTC)
    for sj in load_jobs(cfg):
        if sj.schedule is not None:
            # First call right away: it runs whatever was missed while no scheduler ran.
            scheduler.add_job(
                _fire,
                ScheduleTrigger(sj.schedule),
                args=[app, sj.name],
                id=sj.name,
                name=sj.name,
                next_run_time=start,
            )

    def heartbeat() -> None:
        if stop.is_set():
            _shutdown(scheduler)
        elif not lock.still_held():
            lost.set()
            _shutdown(scheduler)

    scheduler.add_job(heartbeat, IntervalTrigger(seconds=poll), id="lock-heartbeat")
    current["scheduler"] = scheduler
    try:
        if not stop.is_set():
            scheduler.start()  # blocks until shut down
    finally:
        current["scheduler"] = None
    return lost.is_set()


def _shutdown(scheduler: BlockingScheduler | None) -> None:
    if scheduler is not None and scheduler.running:
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)


# -- commands ----------------------------------------------------------------------------------


@click.group("scheduler", cls=AppGroup, invoke_without_command=True)
@click.pass_context
@with_appcontext
def scheduler_cli(ctx: click.Context) -> None:
    """Run the job scheduler (only one is active; others wait and take over)."""
    if ctx.invoked_subcommand is None:
        serve(current_app._get_current_object())


@scheduler_cli.command("jobs")
def list_jobs() -> None:
    """List the jobs with their schedule, next run and last outcome."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    for status in job_overview(_wall_clock()):
        last = status.last_run
        last_text = (
            f"{last.outcome} {last.started_at.astimezone(tz):%Y-%m-%d %H:%M}"
            if last
            else "never run"
        )
        next_text = f"{status.next_run.astimezone(tz):%Y-%m-%d %H:%M}" if status.next_run else "-"
        click.echo(f"{status.name:<18} {status.schedule:<20} next {next_text}   last {last_text}")


@scheduler_cli.command("run")
@click.argument("name")
def run_command(name: str) -> None:
    """Run one job now (recorded on the job-runs page like a scheduled run)."""
    runs = run_job_now(name)
    for run in runs:
        click.echo(f"{run.job}: {run.outcome}" + (f" - {run.summary}" if run.summary else ""))
        if run.outcome == ERROR:
            click.echo(run.error, err=True)
    if any(run.outcome != OK for run in runs):
        raise SystemExit(1)


COMMANDS = [scheduler_cli]
