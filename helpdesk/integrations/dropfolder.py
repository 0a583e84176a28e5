"""Scheduled pick-up: files left in a drop folder per source are imported once each.

``IMPORT_DROP_LOGMEIN`` and ``IMPORT_DROP_CDR`` name the folders ("" = off). Each file is
imported with the source's default mapping, strictly (a bad row imports nothing), once by its
SHA-256: a file seen before is not imported again. Afterwards it is moved to ``done/`` or, when
rejected, to ``failed/`` inside the folder, and a report goes to the account managers (of the
clients it billed; every account manager for a rejected file). The database is committed before
the file is moved, so a crash in between only means the next run moves it without importing.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounting.imports.reasons import row_reason
from ..extensions import db
from ..models import Client, Role, User
from ..notifications.once import send_once, unique_addresses
from .imports import (
    ImportRefused,
    default_mapping,
    file_hash,
    new_batch,
    release_file,
    run_import,
)
from .models import ImportBatch

log = logging.getLogger(__name__)

FOLDERS = (("logmein", "IMPORT_DROP_LOGMEIN"), ("cdr", "IMPORT_DROP_CDR"))


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".part", ".tmp"))
    )


def _move(path: Path, target_dir: Path) -> Path:
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    n = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{n}{path.suffix}"
        n += 1
    os.replace(path, target)
    return target


def pick_up(now: datetime) -> str:
    """The scheduler's job: every file of every drop folder; a summary line."""
    lines = []
    for source, key in FOLDERS:
        folder = current_app.config.get(key) or ""
        if not folder:
            continue
        for path in _files(Path(folder)):
            lines.append(f"{path.name}: {pick_up_file(source, path)}")
    return "; ".join(lines) or "no files"


def pick_up_file(source: str, path: Path) -> str:
    content = path.read_bytes()
    digest = file_hash(content)
    seen = db.session.scalar(select(ImportBatch.id).where(
        ImportBatch.source == source, ImportBatch.file_hash == digest,
        ImportBatch.status == "imported"))
    if seen is not None:
        _move(path, path.parent / "done")
        return f"imported before (import {seen})"
    batch = new_batch(content, path.name, source, user=None, mapping=default_mapping(source),
                      origin="drop")
    try:
        result = run_import(batch, None)
    except ImportRefused as exc:
        db.session.rollback()
        log.warning("drop folder %s: %s", path, exc)
        return str(exc)
    if result.rejected:
        batch.status = "failed"
    _mail_report(batch, path)
    db.session.commit()
    release_file(batch)  # the drop folder keeps the file (done/ or failed/), not the upload store
    db.session.commit()
    _move(path, path.parent / ("failed" if result.rejected else "done"))
    return result.summary()


def _recipients(batch: ImportBatch) -> list[User]:
    client_ids = {r.get("client_id") for r in (batch.report or {}).get("rows", [])
                  if r.get("state") == "imported"}
    managers: list[User] = []
    if client_ids and batch.status == "imported":
        managers = list(db.session.scalars(select(User).join(
            Client, Client.account_manager_id == User.id).where(
            Client.id.in_(client_ids), User.active.is_(True)).distinct()))
    if not managers:
        managers = list(db.session.scalars(select(User).where(
            User.role == Role.ACCOUNT_MANAGER, User.active.is_(True))))
    return managers


def report_text(batch: ImportBatch) -> str:
    report = batch.report or {}
    lines = [
        _("File: %(name)s", name=batch.filename),
        _("Result: %(summary)s", summary=report.get("summary", "")),
        "",
    ]
    for row in report.get("rows", []):
        if row["state"] in ("bad", "unmatched", "skipped"):
            lines.append(_("line %(line)s: %(state)s, %(message)s", line=row["line_no"],
                           state=row["state"], message=row_reason(row)))
    for warning in report.get("warnings", []):
        # Reports written before reasons had codes hold plain English lines.
        lines.append(warning if isinstance(warning, str) else _(
            "line %(line)s: %(state)s, %(message)s", line=warning["line_no"],
            state=warning["ref"], message=row_reason(warning)))
    return "\n".join(lines)


def _mail_report(batch: ImportBatch, path: Path) -> None:
    for manager in _recipients(batch):
        with force_locale(manager.language or current_app.config.get("BABEL_DEFAULT_LOCALE",
                                                                      "en")):
            subject = (_("Import failed: %(name)s", name=batch.filename)
                       if batch.status == "failed"
                       else _("Import done: %(name)s", name=batch.filename))
            body = report_text(batch)
        send_once(f"import-report:{batch.id}:{manager.id}", unique_addresses([manager.email]),
                  subject, body)
