"""Admin pages: what the scheduler ran and how it went, and mail that could not be ingested."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import render_template, request
from sqlalchemy import select

from ...extensions import db
from ...models import IngestFailure, JobRun
from ...scheduler.runner import ERROR, INTERRUPTED, OK, RUNNING, failed_twice, job_overview
from . import bp
from .schedule_words import OUTCOME_LABELS, schedule_words

PAGE_SIZE = 100
OUTCOMES = (OK, ERROR, RUNNING, INTERRUPTED)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


@bp.route("/")
def index():
    return render_template("admin/index.html")


@bp.route("/jobs")
def jobs():
    """Every job with its schedule, next and last run, then the runs newest first."""
    overview = job_overview(datetime.now(UTC))
    job = request.args.get("job") or None
    outcome = request.args.get("outcome") or None
    before = _int_arg("before")
    stmt = select(JobRun).order_by(JobRun.id.desc())
    if job:
        stmt = stmt.where(JobRun.job == job)
    if outcome in OUTCOMES:
        stmt = stmt.where(JobRun.outcome == outcome)
    if before is not None:
        stmt = stmt.where(JobRun.id < before)
    runs = db.session.scalars(stmt.limit(PAGE_SIZE + 1)).all()
    more = len(runs) > PAGE_SIZE
    runs = runs[:PAGE_SIZE]
    names = sorted(
        {status.name for status in overview}
        | set(db.session.scalars(select(JobRun.job).distinct()))
    )
    return render_template(
        "admin/jobs.html",
        overview=overview,
        failed_twice=[s.name for s in overview if s.last_run and failed_twice(s.last_run)],
        runs=runs,
        names=names,
        outcomes=OUTCOMES,
        job=job,
        outcome=outcome,
        next_before=runs[-1].id if more and runs else None,
        schedule_words=schedule_words,
        OUTCOME_LABELS={k: str(v) for k, v in OUTCOME_LABELS.items()},
    )


@bp.route("/ingest-failures")
def ingest_failures():
    """Messages ingest could not store: open ones first, newest first."""
    show = request.args.get("show", "open")
    stmt = select(IngestFailure)
    if show != "all":
        stmt = stmt.where(IngestFailure.resolved_at.is_(None))
    rows = db.session.scalars(
        stmt.order_by(
            IngestFailure.resolved_at.is_not(None),
            IngestFailure.created_at.desc(),
            IngestFailure.id.desc(),
        ).limit(500)
    ).all()
    from ...mailbox.services import intake_overview

    return render_template(
        "admin/ingest_failures.html", failures=rows, show=show, intake=intake_overview()
    )
