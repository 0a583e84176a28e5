"""Backups of the database and the attachments (``flask backup``); restoring is in :mod:`.restore`.

A backup is one ``helpdesk-backup-YYYYMMDDTHHMMSSZ.tar.gz`` in BACKUP_DIR holding

* ``manifest.json``: when, which database kind, the schema revision, row counts, and the size and
  SHA-256 of every other file in the archive;
* ``database.sqlite3`` (SQLite's online backup API: a consistent copy while the app runs) or
  ``database.pgdump`` (``pg_dump -Fc``);
* ``attachments/...``: the attachment store, content-addressed, as it is on disk;

plus ``<name>.sha256`` next to it (``sha256sum -c`` format). The database is copied first and the
attachments after, so every attachment a copied row points to is in the archive. Backups older
than BACKUP_KEEP_DAYS are deleted (the newest is always kept).

A restore checks every checksum before it changes anything, then replaces the database
(``pg_restore --clean --if-exists`` on PostgreSQL) and puts the attachments back. Stop the web
app and the scheduler while restoring.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url

from ..extensions import db

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
PREFIX = "helpdesk-backup-"
SUFFIX = ".tar.gz"
_NAME = re.compile(r"helpdesk-backup-(\d{8}T\d{6}Z)(?:-\d+)?\.tar\.gz")
_CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size: int
    sha256: str
    manifest: dict

    def __str__(self) -> str:
        files = len(self.manifest["files"]) - 1
        return f"{self.path.name} ({self.size:,} bytes, {files} attachment file(s))"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def backup_dir() -> Path:
    return Path(current_app.config["BACKUP_DIR"])


def database_url() -> URL:
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory"):
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def libpq_args(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and an environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def run_tool(args: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{args[0]} is not installed (setting PG_DUMP / PG_RESTORE)") from exc
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


# -- making a backup ---------------------------------------------------------------------------


def _dump_database(target_dir: Path) -> str:
    """Write the database copy into ``target_dir``; returns its file name."""
    url = database_url()
    backend = url.get_backend_name()
    if backend == "sqlite":
        out = target_dir / "database.sqlite3"
        copy_sqlite(sqlite_path(url), out)
        return out.name
    if backend == "postgresql":
        out = target_dir / "database.pgdump"
        uri, env = libpq_args(url)
        run_tool(
            [
                current_app.config["PG_DUMP"],
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--file",
                str(out),
                "--dbname",
                uri,
            ],
            env,
        )
        return out.name
    raise BackupError(f"no backup method for the {backend} database")


def copy_sqlite(source_path: Path, dest_path: Path) -> None:
    """Copy a SQLite database page by page with its online backup API (consistent while other
    connections write; the destination is replaced atomically for its readers)."""
    source = sqlite3.connect(source_path)
    dest = sqlite3.connect(dest_path)
    try:
        with dest:
            source.backup(dest)
    finally:
        dest.close()
        source.close()


def _attachment_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(".tmp-"):
            yield path


def _row_counts() -> dict[str, int]:
    counts = {}
    for table in db.metadata.sorted_tables:
        counts[table.name] = db.session.scalar(select(func.count()).select_from(table))
    return counts


def _schema_revision() -> str | None:
    try:
        return db.session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001 - databases made by create_all have no alembic table
        db.session.rollback()
        return None


def create_backup(now: datetime | None = None) -> BackupInfo:
    """Back up the database and the attachments into one archive in BACKUP_DIR."""
    now = now or datetime.now(UTC)
    target_dir = backup_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = target_dir / f"{PREFIX}{stamp}{SUFFIX}"
    n = 1
    while path.exists():
        n += 1
        path = target_dir / f"{PREFIX}{stamp}-{n}{SUFFIX}"
    attachments = Path(current_app.config["ATTACHMENT_DIR"])
    with backup_dir_lock(target_dir):
        sweep_partial(target_dir)
        return _write_backup(now, target_dir, path, attachments)


@contextmanager
def backup_dir_lock(target_dir: Path) -> Iterator[None]:
    """One backup or restore at a time per BACKUP_DIR (a killed holder's lock goes with it)."""
    fd = os.open(target_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def sweep_partial(target_dir: Path) -> list[Path]:
    """Remove what a killed backup or restore left: its work directory and partial archive.

    Called with the BACKUP_DIR lock held, so nothing swept is still being written.
    """
    swept = []
    for leftover in sorted(target_dir.glob(".work-*")) + sorted(target_dir.glob(".restore-*")):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
            swept.append(leftover)
    for leftover in sorted(target_dir.glob(f".partial-{PREFIX}*")):
        leftover.unlink(missing_ok=True)
        swept.append(leftover)
    if swept:
        log.warning("removed %d leftover(s) of an interrupted backup: %s", len(swept),
                    ", ".join(p.name for p in swept))
    return swept


def _write_backup(now: datetime, target_dir: Path, path: Path, attachments: Path) -> BackupInfo:
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".work-") as work:
        work_dir = Path(work)
        db_name = _dump_database(work_dir)
        files = {db_name: _file_entry(work_dir / db_name)}
        members = [(work_dir / db_name, db_name)]
        for file in _attachment_files(attachments):
            arcname = "attachments/" + file.relative_to(attachments).as_posix()
            files[arcname] = _file_entry(file)
            members.append((file, arcname))
        manifest = {
            "format": FORMAT_VERSION,
            "created_at": now.astimezone(UTC).isoformat(),
            "database": database_url().get_backend_name(),
            "schema_revision": _schema_revision(),
            "row_counts": _row_counts(),
            "files": files,
        }
        manifest_path = work_dir / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        partial = work_dir / "archive.tar.gz"
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            tar.add(manifest_path, "manifest.json", recursive=False)
            for file, arcname in members:
                tar.add(file, arcname, recursive=False)
        digest = sha256_file(partial)
        os.replace(partial, path)
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    info = BackupInfo(path, path.stat().st_size, digest, manifest)
    log.info("backup written: %s", info)
    return info


def _file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def backups() -> list[Path]:
    """Backup archives in BACKUP_DIR, oldest first."""
    folder = backup_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.fullmatch(p.name))


def _taken_at(path: Path) -> datetime:
    stamp = _NAME.fullmatch(path.name).group(1)
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def prune_backups(now: datetime) -> list[Path]:
    """Delete backups older than BACKUP_KEEP_DAYS; the newest one always stays."""
    keep_days = int(current_app.config["BACKUP_KEEP_DAYS"])
    cutoff = now - timedelta(days=keep_days)
    existing = backups()
    removed = []
    for path in existing[:-1]:
        if _taken_at(path) < cutoff:
            path.unlink()
            Path(f"{path}.sha256").unlink(missing_ok=True)
            removed.append(path)
    return removed


def run_backup(now: datetime) -> str:
    """The daily job: a new backup, then the old ones pruned."""
    info = create_backup(now)
    removed = prune_backups(now)
    return f"{info}; {len(removed)} old backup(s) removed"


# -- checking and restoring ----------------------------------------------------------------------


def verify_backup(path: Path, into: Path | None = None) -> dict:
    """Check the archive's checksums (and extract it into ``into``); returns the manifest.

    Raises :class:`BackupError` on any mismatch, missing or unexpected file, or unsafe member.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file {path}")
    sidecar = Path(f"{path}.sha256")
    if sidecar.is_file():
        expected = sidecar.read_text().split()[0]
        if sha256_file(path) != expected:
            raise BackupError(f"{path.name}: the archive does not match its .sha256 file")
    try:
        with tarfile.open(path, "r:gz") as tar:
            manifest = _read_manifest(tar)
            files = manifest["files"]
            seen = set()
            for member in tar:
                if member.name == "manifest.json":
                    continue
                _check_member(member, files)
                source = tar.extractfile(member)
                digest = hashlib.sha256()
                out = None
                if into is not None:
                    target = into.joinpath(*PurePosixPath(member.name).parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    out = open(target, "wb")  # noqa: SIM115 - closed below
                try:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        if out is not None:
                            out.write(chunk)
                finally:
                    if out is not None:
                        out.close()
                if digest.hexdigest() != files[member.name]["sha256"]:
                    raise BackupError(f"{member.name}: checksum mismatch")
                seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path.name}: not a readable backup archive ({exc})") from exc
    missing = set(files) - seen
    if missing:
        raise BackupError(f"{path.name}: files missing from the archive: {sorted(missing)[:5]}")
    return manifest


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        member = tar.getmember("manifest.json")
    except KeyError as exc:
        raise BackupError("the archive has no manifest.json") from exc
    manifest = json.loads(tar.extractfile(member).read())
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return manifest


def _check_member(member: tarfile.TarInfo, files: dict) -> None:
    name = PurePosixPath(member.name)
    if not member.isfile() or name.is_absolute() or ".." in name.parts:
        raise BackupError(f"unsafe archive member {member.name!r}")
    if member.name not in files:
        raise BackupError(f"{member.name}: not listed in the manifest")
    if member.size != files[member.name]["size"]:
        raise BackupError(f"{member.name}: size differs from the manifest")
