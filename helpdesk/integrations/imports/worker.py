"""Background previews and imports: the console's uploads return at once and a worker does the
work, committing its progress after each batch of rows (the page polls it).

A small thread pool in the web process (``IMPORT_WORKERS`` threads) takes the batches the
console queues; the claims of :mod:`.batches` make a batch run once however often it is
submitted. If the process dies, the scheduler's ``import_resume`` job finds the batches whose
worker went quiet (``IMPORT_STALE_MINUTES``) and runs them itself: a preview again from the
start, an import resumed (the entries it had written count as its own). With
``IMPORT_BACKGROUND`` off (tests, a single-threaded server) the work runs in the request, by the
same function.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import or_, select

from ...extensions import db
from ...models import User
from ..models import ImportBatch
from .batches import (
    IMPORT_QUEUED,
    IMPORTED,
    PREVIEWING,
    QUEUED,
    REJECTED,
    RUNNING,
    ImportRefused,
    ImportSuperseded,
    claim,
    execute_import,
    fail,
    preview,
)
from .cleanup import release_file

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor(app: Flask) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, int(app.config["IMPORT_WORKERS"])),
                                       thread_name_prefix="import")
        return _pool


def submit(batch_id: int) -> None:
    """Have the queued work of a batch done (after the caller committed the queueing)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("IMPORT_BACKGROUND", True):
        process(batch_id)
        return
    _executor(app).submit(_in_app, app, batch_id)


def _in_app(app: Flask, batch_id: int) -> None:
    with app.app_context():
        try:
            process(batch_id)
        except Exception:  # a worker thread has no one else to tell
            log.exception("import %s: the background work failed", batch_id)
        finally:
            db.session.remove()


def process(batch_id: int) -> str:
    """Claim and do the batch's queued work (preview or import), committing as it goes; the
    outcome in a word. Nothing happens when another worker has it."""
    # The work commits after each batch of rows: keep what it looked up (clients, agents,
    # tickets) loaded instead of reading it all again after every commit.
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        return _process(batch_id)
    finally:
        session.expire_on_commit = expire


def _process(batch_id: int) -> str:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        return "gone"
    user = db.session.get(User, batch.user_id) if batch.user_id else None
    if claim(batch, (QUEUED,), PREVIEWING):
        db.session.commit()
        return _guarded(batch, lambda: preview(batch, user, checkpoint=db.session.commit))
    if claim(batch, (IMPORT_QUEUED,), RUNNING):
        db.session.commit()
        return _guarded(batch, lambda: execute_import(batch, user,
                                                      checkpoint=db.session.commit))
    db.session.rollback()
    return "taken"


def _guarded(batch: ImportBatch, work) -> str:
    batch_id = batch.id
    try:
        work()
        db.session.commit()
        if batch.status in (IMPORTED, REJECTED):
            release_file(batch)  # done: the upload is not needed any more
            db.session.commit()
    except ImportSuperseded:
        db.session.rollback()  # the worker that took it over finishes it
        log.warning("import %s: taken over by another worker, stopping", batch_id)
        return "superseded"
    except Exception as exc:
        db.session.rollback()
        batch = db.session.get(ImportBatch, batch_id)
        reason = str(exc) if isinstance(exc, ImportRefused) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ImportRefused):
            log.exception("import %s failed", batch_id)
        fail(batch, reason)
        db.session.commit()
        return "failed"
    return batch.status


def resume_stalled(now: datetime) -> str:
    """The scheduler's job: batches whose worker went quiet are queued again and run here."""
    stale = now - timedelta(minutes=int(current_app.config["IMPORT_STALE_MINUTES"]))
    quiet = or_(ImportBatch.heartbeat_at.is_(None), ImportBatch.heartbeat_at < stale)
    ids = list(db.session.scalars(select(ImportBatch.id).where(
        ImportBatch.status.in_((QUEUED, PREVIEWING, IMPORT_QUEUED, RUNNING)), quiet
    ).order_by(ImportBatch.id)))
    done = []
    for batch_id in ids:
        batch = db.session.get(ImportBatch, batch_id)
        # A dead worker's claim goes back to the queue (conditional: a live one may finish).
        if (claim(batch, (PREVIEWING,), QUEUED, quiet_since=stale)
                or claim(batch, (RUNNING,), IMPORT_QUEUED, quiet_since=stale)):
            db.session.commit()
        done.append(f"{batch_id}: {process(batch_id)}")
    return "; ".join(done) or "nothing stalled"
