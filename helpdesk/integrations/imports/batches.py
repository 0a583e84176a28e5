"""One uploaded or picked-up file through its states: stored, previewed (fixes chosen), imported
(or rejected, failed, undone, abandoned), with its progress in the database.

States: ``queued`` (a preview is wanted) -> ``previewing`` -> ``preview`` -> ``import_queued``
-> ``running`` -> ``imported`` / ``rejected`` / ``failed``. Every step is *claimed* with a
conditional UPDATE, so two tabs, a double submit or a second worker never run it twice.

Functions take the acting user and flush; ``checkpoint`` (given by a background worker, the edge)
commits after each batch of rows, so the progress shows while the work goes on. A checkpointed
import writes its rows batch by batch: the entries already written are listed on the history
row, so an interrupted import is resumed (they count as this import's, not as duplicates) or
undone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, or_, select, update

from ...accounting.imports import (
    CdrColumns,
    Fix,
    ImportResult,
    LogmeinColumns,
    import_cdr,
    import_logmein,
)
from ...accounting.ledger import LedgerError, delete_entry
from ...audit_log.record import record
from ...extensions import db
from ...models import EntrySource, TimeEntry, User, utcnow
from ..models import ImportBatch, ImportMapping, TicketSuggestion
from .mappings import mapping_columns

SOURCES = (EntrySource.LOGMEIN.value, EntrySource.CDR.value)

QUEUED, PREVIEWING, PREVIEW = "queued", "previewing", "preview"
IMPORT_QUEUED, RUNNING = "import_queued", "running"
IMPORTED, REJECTED, FAILED, UNDONE, ABANDONED = (
    "imported", "rejected", "failed", "undone", "abandoned")
#: States with work waiting or under way (their file is kept, the page shows the progress bar).
WORKING = (QUEUED, PREVIEWING, IMPORT_QUEUED, RUNNING)
#: States before the import (the file is kept; fixes may be chosen in ``preview``).
OPEN = (*WORKING, PREVIEW)

#: Commits the work so far (a background worker's); None: one transaction, the caller's.
Checkpoint = Callable[[], None] | None


class ImportRefused(ValueError):
    """An import action that cannot be done (already imported, closed month...)."""


class ImportSuperseded(ImportRefused):
    """The worker's batch was taken over (it was thought dead): it stops, writing nothing."""


def file_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _store(content: bytes, digest: str) -> str:
    folder = Path(current_app.config["IMPORT_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.dat"
    if not path.exists():
        tmp = folder / f".{digest}.{os.getpid()}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, path)
    return str(path)


def new_batch(content: bytes, filename: str, source: str, *, user: User | None,
              mapping: ImportMapping | None = None, skip_bad: bool = False,
              origin: str = "console", columns: dict[str, Any] | None = None) -> ImportBatch:
    """Keep the file and open its history row (state ``queued``: its preview is wanted).
    ``columns`` (the command line's options) replaces the mapping's columns."""
    if source not in SOURCES:
        raise ImportRefused(f"unknown source {source!r}")
    if not content.strip():
        raise ImportRefused("the file is empty")
    digest = file_hash(content)
    lines = content.count(b"\n") or 1
    batch = ImportBatch(
        source=source, origin=origin, filename=(filename or "upload")[:255], file_hash=digest,
        stored_path=_store(content, digest), mapping_id=mapping.id if mapping else None,
        columns=columns if columns is not None else mapping_columns(mapping, source),
        skip_bad=skip_bad, fixes={},
        user_id=user.id if user else None, report={"total_lines": lines}, status=QUEUED,
        progress_total=lines, heartbeat_at=utcnow(),
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def claim(batch: ImportBatch, from_states: tuple[str, ...], to_state: str, *,
          quiet_since: datetime | None = None) -> bool:
    """Move the batch to ``to_state`` if it is in one of ``from_states`` (atomically) and, with
    ``quiet_since``, its worker gave no sign of life since then."""
    conditions = [ImportBatch.id == batch.id, ImportBatch.status.in_(from_states)]
    if quiet_since is not None:
        conditions.append(or_(ImportBatch.heartbeat_at.is_(None),
                              ImportBatch.heartbeat_at < quiet_since))
    claimed = db.session.execute(
        update(ImportBatch).where(*conditions)
        .values(status=to_state, heartbeat_at=utcnow(), progress_done=0, error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(batch)
    return bool(claimed)


def _fixes(batch: ImportBatch) -> dict[int, Fix]:
    return {int(line): Fix(client_id=f.get("client_id"), ticket_id=f.get("ticket_id"))
            for line, f in (batch.fixes or {}).items()}


def _run(batch: ImportBatch, user: User | None, progress=None, *, write: bool) -> ImportResult:
    source = batch.stored_path
    if not source or not os.path.exists(source):
        raise ImportRefused("the uploaded file is gone: upload it again")
    cfg = current_app.config
    options = batch.columns or {}
    if batch.source == EntrySource.LOGMEIN:
        return import_logmein(
            source, tz=options.get("timezone") or cfg.get("IMPORT_LOGMEIN_TIMEZONE") or None,
            columns=LogmeinColumns.from_dict(options), day_first=bool(options.get("day_first")),
            skip_bad=batch.skip_bad, user=user, progress=progress, fixes=_fixes(batch),
            write=write, fmt=options.get("fmt") or "auto",
            delimiter=options.get("delimiter") or "|", encoding=options.get("encoding") or None,
        )
    extensions = options.get("extensions")
    if isinstance(extensions, str):
        extensions = [e.strip() for e in extensions.split(",") if e.strip()]
    return import_cdr(
        source, tz=options.get("timezone") or None, extensions=extensions or None,
        outside_line_prefix=options.get("outside_prefix", ""), skip_bad=batch.skip_bad,
        user=user, progress=progress, fixes=_fixes(batch), write=write,
        columns=CdrColumns.from_dict(options), encoding=options.get("encoding") or None,
    )


#: Told the line reached after each batch of rows (the command line's progress bar).
OnProgress = Callable[[int], None] | None


def _recorder(batch: ImportBatch, checkpoint: Checkpoint, previous_ids: list[int] | None = None,
              on_progress: OnProgress = None):
    """The progress callback: lines done on the history row (and, importing, the entries
    written so far), committed by the checkpoint. Each write checks the batch is still this
    worker's (same state, the heartbeat it wrote last): after a takeover by ``import_resume``
    the old worker stops (:class:`ImportSuperseded`) instead of finishing twice."""
    mine = {"status": batch.status, "beat": batch.heartbeat_at}

    def progress(line: int, result: ImportResult | None) -> None:
        now = utcnow()
        values: dict[str, Any] = {"progress_done": line, "heartbeat_at": now}
        if previous_ids is not None and result is not None:
            values["entry_ids"] = previous_ids + list(result.entry_ids)
        owned = db.session.execute(
            update(ImportBatch).where(ImportBatch.id == batch.id,
                                      ImportBatch.status == mine["status"],
                                      ImportBatch.heartbeat_at == mine["beat"])
            .values(**values).execution_options(synchronize_session=False)
        ).rowcount
        if not owned:
            raise ImportSuperseded(f"import {batch.id} was taken over by another worker")
        mine["beat"] = now
        if checkpoint is not None and result is not None:
            checkpoint()
        if on_progress is not None and result is not None:
            on_progress(line)

    def confirm() -> None:
        """Still this worker's, just before it writes the outcome."""
        progress(batch.progress_total, None)
        db.session.refresh(batch)

    progress.confirm = confirm  # type: ignore[attr-defined]
    return progress


def _keep(batch: ImportBatch, result: ImportResult) -> None:
    batch.rows = result.rows
    batch.created = result.created
    batch.created_minutes = result.created_minutes
    batch.duplicates = result.duplicates
    batch.unmatched = len(result.unmatched)
    batch.skipped = len(result.skipped)
    batch.bad = len(result.bad)
    batch.progress_done = batch.progress_total
    batch.report = {
        "total_lines": (batch.report or {}).get("total_lines", 0),
        "rows": [o.as_dict() for o in result.outcomes],
        "warnings": [w.as_dict() for w in result.warnings],
        "summary": result.summary(),
        "rejected": result.rejected,
    }


def preview(batch: ImportBatch, user: User | None, checkpoint: Checkpoint = None, *,
            on_progress: OnProgress = None) -> ImportResult:
    """What importing would do, row by row (matched and billed, nothing written); the batch is
    then in ``preview``."""
    recorder = _recorder(batch, checkpoint, on_progress=on_progress)
    result = _run(batch, user, recorder, write=False)
    recorder.confirm()
    _keep(batch, result)
    batch.created = 0  # a preview creates nothing
    batch.status = PREVIEW
    db.session.flush()
    return result


def set_fix(batch: ImportBatch, line_no: int, *, client_id: int | None,
            ticket_id: int | None, user: User | None, recompute: bool = True) -> None:
    """Choose the client or the ticket of one row of a previewed file; the preview is redone
    now, or (``recompute=False``) queued for a worker."""
    if not claim(batch, (PREVIEW,), QUEUED):
        raise _refusal(batch)
    fixes = dict(batch.fixes or {})
    if client_id is None and ticket_id is None:
        fixes.pop(str(line_no), None)
    else:
        fixes[str(line_no)] = {"client_id": client_id, "ticket_id": ticket_id}
    batch.fixes = fixes
    db.session.flush()
    if recompute:
        preview(batch, user)


def request_import(batch: ImportBatch) -> None:
    """Queue the import of a previewed file for a worker (once: a second click is refused)."""
    if (batch.report or {}).get("rejected"):
        raise ImportRefused("the file has bad rows: nothing can be imported")
    if not claim(batch, (PREVIEW,), IMPORT_QUEUED):
        raise _refusal(batch)


def run_import(batch: ImportBatch, user: User | None, checkpoint: Checkpoint = None, *,
               on_progress: OnProgress = None) -> ImportResult:
    """Import the file now (once: a second click or tab is refused); suggestions are recorded."""
    if not claim(batch, (QUEUED, PREVIEW, IMPORT_QUEUED), RUNNING):
        raise _refusal(batch)
    return execute_import(batch, user, checkpoint, on_progress=on_progress)


def _refusal(batch: ImportBatch) -> ImportRefused:
    """Why a claim failed: the work is under way, or the file is past its preview."""
    if batch.status in WORKING:
        return ImportRefused("this file is being read or imported: wait for it to finish")
    return ImportRefused("this file is imported already")


def execute_import(batch: ImportBatch, user: User | None, checkpoint: Checkpoint = None, *,
                   on_progress: OnProgress = None) -> ImportResult:
    """The import of a claimed (``running``) batch; entries written by an interrupted run of it
    count as its own."""
    previous = [int(i) for i in (batch.entry_ids or [])]
    recorder = _recorder(batch, checkpoint, previous, on_progress)
    result = _run(batch, user, recorder, write=True)
    recorder.confirm()
    if previous:
        _adopt(result, previous)
    _finish(batch, result, user)
    return result


def _adopt(result: ImportResult, previous: list[int]) -> None:
    """Rows found "already imported" because an interrupted run of this import wrote them."""
    own = {ref: (entry_id, minutes) for entry_id, ref, minutes in db.session.execute(
        select(TimeEntry.id, TimeEntry.external_ref, TimeEntry.billable_minutes)
        .where(TimeEntry.id.in_(previous)))}
    for row in result.outcomes:
        if row.state == "duplicate" and row.ref in own:
            row.entry_id, row.minutes = own.pop(row.ref)
            row.state, row.code, row.params, row.message = "imported", "", {}, ""
            result.duplicates -= 1
            result.created += 1
            result.created_minutes += row.minutes
            result.entry_ids.append(row.entry_id)


def _finish(batch: ImportBatch, result: ImportResult, user: User | None) -> None:
    _keep(batch, result)
    batch.status = REJECTED if result.rejected else IMPORTED
    batch.imported_at = utcnow()
    batch.entry_ids = list(result.entry_ids)
    for row in result.outcomes:
        if row.entry_id and row.suggested_ticket_id:
            db.session.add(TicketSuggestion(entry_id=row.entry_id, batch_id=batch.id,
                                            ticket_id=row.suggested_ticket_id))
    db.session.flush()
    record(batch, "import", user=user, actor="import",
           after={"file": batch.filename, "summary": result.summary()})


def fail(batch: ImportBatch, reason: str) -> None:
    """The preview or import stopped with an error: the batch says why (the entries an
    interrupted import wrote stay listed, so it can be undone)."""
    batch.status = FAILED
    batch.error = reason[:2000]
    batch.heartbeat_at = utcnow()
    db.session.flush()


def progress_of(batch: ImportBatch) -> dict[str, Any]:
    """For the progress bar: state, lines done of lines in the file, finished or not."""
    total = batch.progress_total or (batch.report or {}).get("total_lines", 0)
    done = total if batch.status not in WORKING else min(batch.progress_done or 0, total)
    percent = int(100 * done / total) if total else 0
    return {"status": batch.status, "working": batch.status in WORKING,
            "phase": "import" if batch.status in (IMPORT_QUEUED, RUNNING) else "preview",
            "line": done, "total": total, "percent": max(0, min(100, percent)),
            "error": batch.error}


def undo(batch: ImportBatch, user: User | None) -> int:
    """Remove the entries an import created (all, or none when one is in a closed month); a
    failed import's entries too."""
    if not (batch.status == IMPORTED or (batch.status == FAILED and batch.entry_ids)):
        raise ImportRefused("only an import can be undone")
    removed = 0
    db.session.execute(delete(TicketSuggestion).where(TicketSuggestion.batch_id == batch.id))
    for entry in db.session.scalars(
        select(TimeEntry).where(TimeEntry.id.in_(batch.entry_ids or []))
    ).all():
        try:
            delete_entry(entry, user=user, actor="import")
        except LedgerError as exc:
            raise ImportRefused(f"{exc}: add an adjustment instead") from exc
        removed += 1
    batch.status = UNDONE
    batch.undone_at = utcnow()
    db.session.flush()
    record(batch, "undo", user=user, after={"file": batch.filename, "removed": removed})
    return removed
