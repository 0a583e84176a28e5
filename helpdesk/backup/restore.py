"""Restoring a backup: every checksum checked before anything changes, then the database and
the attachments put back, with the progress recorded so a cut-off restore says so and is re-run."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app

from ..extensions import db
from .archive import (
    BackupError,
    backup_dir,
    backup_dir_lock,
    copy_sqlite,
    database_url,
    libpq_args,
    run_tool,
    sha256_file,
    sqlite_path,
    sweep_partial,
    verify_backup,
)

log = logging.getLogger(__name__)


RESTORE_STATE = ".restore-progress.json"


def interrupted_restore() -> dict | None:
    """The progress a restore recorded and never finished (it was killed), or None."""
    state = backup_dir() / RESTORE_STATE
    try:
        return json.loads(state.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _record_restore(path: Path, step: str) -> None:
    state = backup_dir() / RESTORE_STATE
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(json.dumps({"backup": str(Path(path).resolve()), "step": step,
                               "at": datetime.now(UTC).isoformat()}))
    os.replace(tmp, state)


def restore_backup(path: Path) -> dict:
    """Replace the database and put the attachments back from a verified backup.

    Progress is recorded in BACKUP_DIR/.restore-progress.json: a restore cut off after the
    database step is reported (``flask doctor``, the next ``flask restore``) until it is run
    again; success is reported only once every attachment is back and checked.
    """
    work_parent = backup_dir()
    work_parent.mkdir(parents=True, exist_ok=True)
    with backup_dir_lock(work_parent):
        sweep_partial(work_parent)
        _record_restore(path, "database")
        manifest = _restore_locked(path, work_parent)
        (work_parent / RESTORE_STATE).unlink(missing_ok=True)
    return manifest


def _restore_locked(path: Path, work_parent: Path) -> dict:
    url = database_url()
    backend = url.get_backend_name()
    with tempfile.TemporaryDirectory(dir=work_parent, prefix=".restore-") as work:
        work_dir = Path(work)
        manifest = verify_backup(path, into=work_dir)
        if manifest["database"] != backend:
            raise BackupError(
                f"the backup is of a {manifest['database']} database; this one is {backend}"
            )
        db.session.remove()
        db.engine.dispose()  # no pooled connection may hold the old tables
        if backend == "sqlite":
            _restore_sqlite(work_dir / "database.sqlite3", sqlite_path(url))
        else:
            uri, env = libpq_args(url)
            run_tool(
                [
                    current_app.config["PG_RESTORE"],
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                    "--dbname",
                    uri,
                    str(work_dir / "database.pgdump"),
                ],
                env,
            )
        _record_restore(path, "attachments")
        root = Path(current_app.config["ATTACHMENT_DIR"])
        _restore_attachments(work_dir / "attachments", root)
        missing = [name for name, entry in manifest["files"].items()
                   if name.startswith("attachments/")
                   and not _same_file(root / name.removeprefix("attachments/"), entry)]
        if missing:
            raise BackupError(f"{len(missing)} attachment(s) not back after the restore "
                              f"(e.g. {missing[0]}): run the restore again")
    log.warning("restored %s (%s)", Path(path).name, manifest["created_at"])
    return manifest


def _same_file(path: Path, entry: dict) -> bool:
    try:
        return path.stat().st_size == entry["size"] and (
            "sha256" not in entry or sha256_file(path) == entry["sha256"])
    except FileNotFoundError:
        return False


def _restore_sqlite(copy: Path, live: Path) -> None:
    """Copy page by page into the live file (WAL-safe, and atomic for other connections)."""
    live.parent.mkdir(parents=True, exist_ok=True)
    copy_sqlite(copy, live)


def _restore_attachments(source: Path, root: Path) -> None:
    if not source.is_dir():
        return
    for file in sorted(source.rglob("*")):
        if not file.is_file():
            continue
        target = root / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{target.name}")
        shutil.copyfile(file, tmp)
        os.replace(tmp, target)


# -- commands ------------------------------------------------------------------------------------
