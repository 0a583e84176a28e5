"""Runs of the jobs, each exactly once: claim ``JobRun(job, scheduled_for)``, run, record.

The clock is a parameter: :func:`run_due_jobs` and :func:`run_job_due` take ``now``, compute each
job's latest fire time up to it and run whatever has no ``JobRun`` yet, so the same functions make
up runs missed while no scheduler was running. A run a crash cut off is run again once.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import JobRun
from .jobs import JOBS, Job
from .schedule import Schedule

log = logging.getLogger("helpdesk.scheduler.runner")

RUNNING, OK, ERROR, INTERRUPTED = "running", "ok", "error", "interrupted"
#: At most this many missed fire times of a ``catch_up_all`` job are made up at once.
MAX_CATCH_UP = 12
#: Marks runs started by hand (``flask scheduler run``), which a new scheduler must not interrupt.
MANUAL_SUFFIX = " (cli)"


# -- what: the jobs of this installation -----------------------------------------------------


@dataclass(frozen=True)
class ScheduledJob:
    job: Job
    #: None for a job that runs after another one.
    schedule: Schedule | None

    @property
    def name(self) -> str:
        return self.job.name


def load_jobs(config: Mapping[str, Any]) -> list[ScheduledJob]:
    """The enabled jobs: the built-in ones and SCHEDULER_EXTRA_JOBS, minus those set to "off"."""
    tz = config["TIMEZONE"]
    jobs = list(JOBS)
    for extra in config.get("SCHEDULER_EXTRA_JOBS") or ():
        fields = dict(extra)
        fields["args"] = tuple(fields.get("args", ()))
        fields["options"] = tuple(dict(fields.get("options", {})).items())
        fields.setdefault("schedule_key", None)
        jobs.append(Job(**fields))
    names = [j.name for j in jobs]
    if len(names) != len(set(names)):
        raise ValueError(f"job names must be unique: {names}")
    timed: dict[str, ScheduledJob] = {}
    for job in jobs:
        if job.after is None:
            spec = job.schedule if job.schedule is not None else config[job.schedule_key]
            schedule = Schedule.parse(spec, tz)
            if schedule is not None:
                timed[job.name] = ScheduledJob(job, schedule)
    chained = [ScheduledJob(j, None) for j in jobs if j.after is not None and j.after in timed]
    return [*timed.values(), *chained]


def resolve(target: str) -> Callable[..., Any]:
    """The function a job calls, imported now (a missing module fails this run, not the rest)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def previous_period(moment: datetime, tz: str) -> str:
    """The billing month before the local month of ``moment`` ("YYYY-MM")."""
    first = moment.astimezone(ZoneInfo(tz)).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


# -- running: claim, run, record -------------------------------------------------------------


def host_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _recorded(job: str, fire: datetime) -> JobRun | None:
    return db.session.scalar(select(JobRun).where(JobRun.job == job, JobRun.scheduled_for == fire))


def _argument(kind: str, fire: datetime, now: datetime) -> Any:
    if kind == "now":
        return now
    if kind == "period":
        return previous_period(fire, current_app.config["TIMEZONE"])
    return current_app._get_current_object()  # "app"


def _summary(result: Any) -> str | None:
    if result is None:
        return None
    return str(result)[:2000]


def run_once(job: Job, fire: datetime, now: datetime, *, manual: bool = False) -> JobRun | None:
    """Claim (job, fire) and run it; None when it was claimed before. The run commits its work.

    A run a crash cut off (``interrupted``) is claimed again once: the jobs are idempotent, so
    the month close, the reports or the backup that was going is finished, and only once.
    """
    recorded = _recorded(job.name, fire)
    if recorded is not None:
        if recorded.outcome != INTERRUPTED or (recorded.attempts or 1) >= MAX_ATTEMPTS:
            return None
        run_id = _reclaim(recorded.id, manual)
        if run_id is None:
            return None
        log.warning("job %s at %s: interrupted before; running it again", job.name,
                    fire.isoformat())
    else:
        run = JobRun(
            job=job.name,
            scheduled_for=fire,
            started_at=_wall_clock(),
            outcome=RUNNING,
            host=host_id() + (MANUAL_SUFFIX if manual else ""),
        )
        db.session.add(run)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            log.info("job %s at %s: already claimed elsewhere", job.name, fire.isoformat())
            return None
        run_id = run.id
    log.info("job %s at %s: started", job.name, fire.isoformat())
    try:
        function = resolve(job.target)
        result = function(*(_argument(kind, fire, now) for kind in job.args), **dict(job.options))
        run = db.session.get(JobRun, run_id)
        run.outcome, run.summary, run.finished_at = OK, _summary(result), _wall_clock()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("job %s at %s failed", job.name, fire.isoformat())
        run = db.session.get(JobRun, run_id)
        run.outcome, run.error, run.finished_at = (
            ERROR,
            traceback.format_exc()[-8000:],
            _wall_clock(),
        )
        db.session.commit()
        _alert_if_failed_twice(run)
    return run


#: A run is tried at most this often: the first time, and once more after an interruption.
MAX_ATTEMPTS = 2


def _reclaim(run_id: int, manual: bool) -> int | None:
    """Take an interrupted run for a second attempt; None when another scheduler took it."""
    result = db.session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.outcome == INTERRUPTED,
               JobRun.attempts < MAX_ATTEMPTS)
        .values(outcome=RUNNING, attempts=JobRun.attempts + 1, started_at=_wall_clock(),
                finished_at=None, host=host_id() + (MANUAL_SUFFIX if manual else ""))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return run_id if result.rowcount == 1 else None


def failed_twice(run: JobRun) -> bool:
    """This failure follows an interruption, or the job's previous run failed too."""
    if run.outcome != ERROR:
        return False
    if (run.attempts or 1) >= MAX_ATTEMPTS:
        return True
    previous = db.session.scalar(
        select(JobRun).where(JobRun.job == run.job, JobRun.scheduled_for < run.scheduled_for)
        .order_by(JobRun.scheduled_for.desc()).limit(1)
    )
    return previous is not None and previous.outcome in (ERROR, INTERRUPTED)


def _alert_if_failed_twice(run: JobRun) -> None:
    """Mail the admins (once per run) when a job failed twice; the admin page shows it too."""
    if not failed_twice(run):
        return
    from ..models import Role, SentNotification, User

    key = f"job-failed-twice:{run.id}"
    if db.session.scalar(select(SentNotification.id).where(SentNotification.key == key)):
        return
    admins = [u.email for u in db.session.scalars(
        select(User).where(User.role == Role.ADMIN, User.active.is_(True)))]
    db.session.add(SentNotification(key=key, recipients=", ".join(admins)))
    db.session.commit()
    if not admins:
        return
    from flask_mail import Message

    from ..extensions import mail

    last_line = (run.error or "").strip().splitlines()[-1:] or [""]
    message = Message(
        subject=f"[helpdesk] job {run.job} failed twice",
        recipients=admins,
        body=(f"The scheduled job {run.job} (for {run.scheduled_for:%Y-%m-%d %H:%M} UTC) failed "
              f"again: {last_line[0]}\n\nSee Admin > Jobs for the details; run it by hand "
              f"with `flask scheduler run {run.job}` once the cause is fixed.\n"),
    )
    try:
        mail.send(message)
    except Exception:
        log.exception("could not mail the admins about job %s", run.job)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def due_fires(sj: ScheduledJob, now: datetime) -> list[datetime]:
    """Fire times to look at: the latest, or for ``catch_up_all`` every one since the last run.

    A ``catch_up_all`` job walks back from the latest fire time to the first one it has a run for
    (at most MAX_CATCH_UP, never before the job's first recorded run); a job without any run
    starts with the latest, so a new installation does not replay history.
    """
    latest = sj.schedule.latest(now)
    if not sj.job.catch_up_all:
        return [latest]
    first_run = db.session.scalar(
        select(func.min(JobRun.scheduled_for)).where(JobRun.job == sj.name)
    )
    if first_run is None:
        return [latest]
    fires: list[datetime] = []
    fire = latest
    while len(fires) < MAX_CATCH_UP and fire >= first_run:
        fires.append(fire)
        if _recorded(sj.name, fire) is not None:
            break
        fire = sj.schedule.previous_before(fire)
    return sorted(fires)


def run_job_due(sj: ScheduledJob, now: datetime, jobs: list[ScheduledJob]) -> list[JobRun]:
    """Run a timed job's due fire times that have no run yet, each followed by its chained jobs."""
    chained = [d for d in jobs if d.job.after == sj.name]
    runs: list[JobRun] = []
    for fire in due_fires(sj, now):
        run = run_once(sj.job, fire, now)
        if run is not None:
            runs.append(run)
        for dep in chained:
            parent = _recorded(sj.name, fire)
            if parent is not None and parent.outcome == OK:
                dep_run = run_once(dep.job, fire, now)
                if dep_run is not None:
                    runs.append(dep_run)
    return runs


def run_due_jobs(now: datetime, *, only: Iterable[str] | None = None) -> list[JobRun]:
    """Run every job whose latest fire time up to ``now`` has not run: the scheduler's one step.

    The process does the same per job (:func:`run_job_due`, from each job's APScheduler trigger,
    and once for every job at start, which makes up missed runs); tests call it with any clock.
    """
    wanted = set(only) if only is not None else None
    jobs = load_jobs(current_app.config)
    runs: list[JobRun] = []
    for sj in jobs:
        if sj.schedule is not None and (wanted is None or sj.name in wanted):
            runs.extend(run_job_due(sj, now, jobs))
    return runs


def run_job_now(name: str, now: datetime | None = None) -> list[JobRun]:
    """Run one job by hand, recorded like any run (scheduled for ``now``), then its chained jobs."""
    now = now or _wall_clock()
    jobs = load_jobs(current_app.config)
    by_name = {sj.name: sj for sj in jobs}
    if name not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        raise click.UsageError(f"no enabled job {name!r} (enabled: {known})")
    runs = []
    run = run_once(by_name[name].job, now, now, manual=True)
    if run is not None:
        runs.append(run)
        for dep in jobs:
            if dep.job.after == name and run.outcome == OK:
                dep_run = run_once(dep.job, now, now, manual=True)
                if dep_run is not None:
                    runs.append(dep_run)
    return runs


def mark_interrupted_runs(now: datetime) -> int:
    """Runs a dead scheduler left "running" are closed as interrupted; :func:`run_once` runs
    each of them again once."""
    result = db.session.execute(
        update(JobRun)
        .where(JobRun.outcome == RUNNING, JobRun.host.not_like(f"%{MANUAL_SUFFIX}"))
        .values(
            outcome=INTERRUPTED,
            finished_at=now,
            error="the scheduler process stopped while this run was going",
        )
    )
    db.session.flush()
    return result.rowcount or 0


def prune_job_runs(now: datetime) -> str:
    """Delete finished runs older than JOB_RUN_KEEP_DAYS, keeping each job's latest run."""
    cutoff = now - timedelta(days=int(current_app.config["JOB_RUN_KEEP_DAYS"]))
    latest_ids = select(func.max(JobRun.id)).group_by(JobRun.job)
    result = db.session.execute(
        delete(JobRun).where(
            JobRun.started_at < cutoff, JobRun.outcome != RUNNING, JobRun.id.not_in(latest_ids)
        )
    )
    db.session.flush()
    return f"deleted {result.rowcount or 0} job runs started before {cutoff:%Y-%m-%d}"


@dataclass(frozen=True)
class JobStatus:
    """A job as the admin page and ``flask scheduler jobs`` show it."""

    name: str
    description: str
    schedule: str
    next_run: datetime | None
    last_run: JobRun | None


def job_overview(now: datetime) -> list[JobStatus]:
    rows = []
    jobs = load_jobs(current_app.config)
    parents = {sj.name: sj for sj in jobs}
    for sj in jobs:
        last = db.session.scalar(
            select(JobRun)
            .where(JobRun.job == sj.name)
            .order_by(JobRun.scheduled_for.desc(), JobRun.id.desc())
            .limit(1)
        )
        if sj.schedule is not None:
            schedule, next_run = sj.schedule.text, sj.schedule.next_after(now)
        else:
            parent = parents[sj.job.after]
            schedule = f"after {sj.job.after}"
            next_run = parent.schedule.next_after(now)
        rows.append(JobStatus(sj.name, sj.job.description, schedule, next_run, last))
    return rows
