"""Imports as people and the scheduler run them: a stored file, a preview, fixes, the import,
the history and its undo. The rows go through :mod:`helpdesk.accounting.imports` (the code the
``flask import`` commands call too), so every path bills, de-duplicates and audits alike.

Functions take the acting user and flush; the caller (view, job, command) commits.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update

from ..accounting.imports import Fix, ImportResult, LogmeinColumns, import_cdr, import_logmein
from ..accounting.ledger import LedgerError, delete_entry, update_entry
from ..audit_log.record import record
from ..extensions import db
from ..models import EntrySource, TimeEntry, User, utcnow
from .models import ImportBatch, ImportMapping, TicketSuggestion

SOURCES = (EntrySource.LOGMEIN.value, EntrySource.CDR.value)

#: Progress of imports running in this process: batch id -> (line reached, lines in the file).
_progress: dict[int, tuple[int, int]] = {}
_progress_lock = threading.Lock()


class ImportRefused(ValueError):
    """An import action that cannot be done (already imported, closed month...)."""


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


def mapping_columns(mapping: ImportMapping | None, source: str) -> dict[str, Any]:
    if mapping is None:
        return LogmeinColumns().as_dict() if source == EntrySource.LOGMEIN else {}
    return dict(mapping.columns or {})


def new_batch(content: bytes, filename: str, source: str, *, user: User | None,
              mapping: ImportMapping | None = None, skip_bad: bool = False,
              origin: str = "console") -> ImportBatch:
    """Keep the file and open its history row (state ``preview``)."""
    if source not in SOURCES:
        raise ImportRefused(f"unknown source {source!r}")
    if not content.strip():
        raise ImportRefused("the file is empty")
    digest = file_hash(content)
    batch = ImportBatch(
        source=source, origin=origin, filename=(filename or "upload")[:255], file_hash=digest,
        stored_path=_store(content, digest), mapping_id=mapping.id if mapping else None,
        columns=mapping_columns(mapping, source), skip_bad=skip_bad, fixes={},
        user_id=user.id if user else None, report={"total_lines": content.count(b"\n") or 1},
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def _fixes(batch: ImportBatch) -> dict[int, Fix]:
    return {int(line): Fix(client_id=f.get("client_id"), ticket_id=f.get("ticket_id"))
            for line, f in (batch.fixes or {}).items()}


def _run(batch: ImportBatch, user: User | None, progress=None) -> ImportResult:
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
        )
    extensions = options.get("extensions")
    if isinstance(extensions, str):
        extensions = [e.strip() for e in extensions.split(",") if e.strip()]
    return import_cdr(
        source, tz=options.get("timezone") or None, extensions=extensions or None,
        outside_line_prefix=options.get("outside_prefix", ""), skip_bad=batch.skip_bad,
        user=user, progress=progress, fixes=_fixes(batch),
    )


def _keep(batch: ImportBatch, result: ImportResult) -> None:
    batch.rows = result.rows
    batch.created = result.created
    batch.created_minutes = result.created_minutes
    batch.duplicates = result.duplicates
    batch.unmatched = len(result.unmatched)
    batch.skipped = len(result.skipped)
    batch.bad = len(result.bad)
    batch.report = {
        "total_lines": (batch.report or {}).get("total_lines", 0),
        "rows": [o.as_dict() for o in result.outcomes],
        "warnings": [str(w) for w in result.warnings],
        "summary": result.summary(),
        "rejected": result.rejected,
    }


def preview(batch: ImportBatch, user: User | None) -> ImportResult:
    """What importing would do, row by row; nothing of it is kept but the report."""
    nested = db.session.begin_nested()
    try:
        result = _run(batch, user)
    finally:
        nested.rollback()
    _keep(batch, result)
    batch.created = 0  # a preview creates nothing
    db.session.flush()
    return result


def set_fix(batch: ImportBatch, line_no: int, *, client_id: int | None,
            ticket_id: int | None, user: User | None) -> None:
    """Choose the client or the ticket of one row of a previewed file."""
    if batch.status != "preview":
        raise ImportRefused("this file is imported already")
    fixes = dict(batch.fixes or {})
    if client_id is None and ticket_id is None:
        fixes.pop(str(line_no), None)
    else:
        fixes[str(line_no)] = {"client_id": client_id, "ticket_id": ticket_id}
    batch.fixes = fixes
    preview(batch, user)


def run_import(batch: ImportBatch, user: User | None) -> ImportResult:
    """Import the file (once: a second click or tab is refused); suggestions are recorded."""
    claimed = db.session.execute(
        update(ImportBatch).where(ImportBatch.id == batch.id, ImportBatch.status == "preview")
        .values(status="running").execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise ImportRefused("this file is imported already")
    total = (batch.report or {}).get("total_lines", 0)

    def progress(line: int) -> None:
        with _progress_lock:
            _progress[batch.id] = (line, total)

    progress(0)
    try:
        result = _run(batch, user, progress)
    finally:
        with _progress_lock:
            _progress.pop(batch.id, None)
    db.session.refresh(batch)
    _finish(batch, result, user)
    return result


def _finish(batch: ImportBatch, result: ImportResult, user: User | None) -> None:
    _keep(batch, result)
    batch.status = "rejected" if result.rejected else "imported"
    batch.imported_at = utcnow()
    batch.entry_ids = list(result.entry_ids)
    for row in result.outcomes:
        if row.entry_id and row.suggested_ticket_id:
            db.session.add(TicketSuggestion(entry_id=row.entry_id, batch_id=batch.id,
                                            ticket_id=row.suggested_ticket_id))
    db.session.flush()
    record(batch, "import", user=user, actor="import",
           after={"file": batch.filename, "summary": result.summary()})


def record_command_import(path: str | os.PathLike[str], source: str, result: ImportResult,
                          user: User | None, mapping: ImportMapping | None = None) -> ImportBatch:
    """The history row of a ``flask import`` run (so it shows, and can be undone, in the
    console); the rows were imported by the same functions."""
    content = Path(path).read_bytes()
    batch = ImportBatch(source=source, origin="cli", filename=Path(path).name[:255],
                        file_hash=file_hash(content), stored_path=None,
                        mapping_id=mapping.id if mapping else None,
                        columns=mapping_columns(mapping, source), fixes={},
                        user_id=user.id if user else None,
                        report={"total_lines": content.count(b"\n") or 1})
    db.session.add(batch)
    db.session.flush()
    _finish(batch, result, user)
    return batch


def mapping_by_name(source: str, name: str) -> ImportMapping | None:
    return db.session.scalar(select(ImportMapping).where(
        ImportMapping.source == source, ImportMapping.name == name))


def progress_of(batch: ImportBatch) -> dict[str, Any]:
    """For the progress bar: state, lines done of lines in the file."""
    with _progress_lock:
        line, total = _progress.get(batch.id, (None, None))
    if line is None:
        total = (batch.report or {}).get("total_lines", 0)
        line = total if batch.status not in ("preview", "running") else 0
    percent = int(100 * line / total) if total else 0
    return {"status": batch.status, "line": line, "total": total,
            "percent": max(0, min(100, percent))}


def undo(batch: ImportBatch, user: User | None) -> int:
    """Remove the entries an import created (all, or none when one is in a closed month)."""
    if batch.status != "imported":
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
    batch.status = "undone"
    batch.undone_at = utcnow()
    db.session.flush()
    record(batch, "undo", user=user, after={"file": batch.filename, "removed": removed})
    return removed


def confirm_suggestion(suggestion: TicketSuggestion, user: User) -> None:
    """Put the entry on the suggested ticket (one click)."""
    try:
        update_entry(suggestion.entry, user=user, ticket_id=suggestion.ticket_id)
    except LedgerError as exc:
        raise ImportRefused(str(exc)) from exc
    db.session.delete(suggestion)
    db.session.flush()


def dismiss_suggestion(suggestion: TicketSuggestion, user: User) -> None:
    db.session.delete(suggestion)
    db.session.flush()


# -- mappings ---------------------------------------------------------------------------------


def default_mapping(source: str) -> ImportMapping | None:
    return db.session.scalar(select(ImportMapping).where(
        ImportMapping.source == source, ImportMapping.is_default.is_(True)))


def save_mapping(mapping: ImportMapping | None, *, source: str, name: str,
                 columns: dict[str, Any], is_default: bool, user: User) -> ImportMapping:
    """Create or change a saved mapping; one default per source."""
    if mapping is None:
        mapping = ImportMapping(source=source)
        db.session.add(mapping)
    before = {"name": mapping.name, "columns": mapping.columns} if mapping.id else None
    mapping.name = name
    mapping.columns = columns
    if is_default:
        db.session.execute(update(ImportMapping).where(
            ImportMapping.source == source, ImportMapping.id != mapping.id if mapping.id else True
        ).values(is_default=False).execution_options(synchronize_session=False))
    mapping.is_default = is_default
    db.session.flush()
    record(mapping, "update" if before else "create", user=user, before=before,
           after={"name": name, "columns": columns, "is_default": is_default})
    return mapping
