"""One active scheduler: a PostgreSQL advisory lock, or a lock file on SQLite.

Whoever holds the lock runs the jobs; a second ``flask scheduler`` polls until the lock is free and
then takes over. Both locks die with their holder: the operating system drops a dead process's
``flock``, and PostgreSQL drops the advisory lock when the holder's connection closes.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

#: The advisory lock key: a positive bigint derived from a fixed name (locks are per database).
LOCK_KEY = int.from_bytes(hashlib.sha256(b"helpdesk.scheduler.runner").digest()[:8]) & (2**63 - 1)


class SchedulerLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""

    def still_held(self) -> bool:
        """Whether we still hold it (a lost database connection loses the lock)."""

    def release(self) -> None:
        """Give the lock up (safe to call when not held)."""


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a dedicated connection kept open for the life of the process."""

    def __init__(self, url: str, key: int = LOCK_KEY) -> None:
        self.key = key
        self.engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # never "idle in transaction" while holding the lock
            connect_args={
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
                "application_name": "helpdesk scheduler",
            },
        )
        self.conn: Connection | None = None
        #: Why the last acquire() failed when it was not another holder (the database is down).
        self.last_error: str | None = None

    def acquire(self) -> bool:
        try:
            if self.conn is None:
                self.conn = self.engine.connect()
            got = self.conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar()
        except SQLAlchemyError as exc:
            self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            self._drop()
            return False
        self.last_error = None
        return bool(got)

    def still_held(self) -> bool:
        if self.conn is None:
            return False
        try:
            held = self.conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND objsubid = 1"
                    " AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": self.key},
            ).scalar()
        except SQLAlchemyError as exc:
            log.error("scheduler lock: connection lost: %s", exc)
            self._drop()
            return False
        return bool(held)

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
        self._drop()

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except SQLAlchemyError:
                pass
            self.conn = None


class FileLock:
    """An exclusive ``flock`` on a file (SQLite runs on one machine, so this is enough)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.fd: int | None = None
        self.last_error: str | None = None

    def acquire(self) -> bool:
        if self.fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        if not self.still_held():  # the file was replaced between open() and flock()
            self.release()
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def still_held(self) -> bool:
        """Held, and the path still names our file (a deleted lock file would admit a second)."""
        if self.fd is None:
            return False
        try:
            return os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None


def lock_for(database_uri: str, lock_file: str | os.PathLike) -> SchedulerLock:
    """The lock that fits the database: advisory on PostgreSQL, a lock file on SQLite."""
    backend = make_url(database_uri).get_backend_name()
    if backend == "postgresql":
        return AdvisoryLock(database_uri)
    if backend == "sqlite":
        return FileLock(lock_file)
    raise ValueError(f"no scheduler lock for the {backend} database")


def describe_holder(database_uri: str, lock_file: str | os.PathLike) -> str:
    """Who holds the scheduler lock now, in words (for ``flask doctor``)."""
    backend = make_url(database_uri).get_backend_name()
    if backend == "postgresql":
        engine = create_engine(database_uri, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                row = conn.execute(text(
                    "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
                ), {"key": LOCK_KEY}).first()
        finally:
            engine.dispose()
        if row is None:
            return "no scheduler holds the lock"
        return (f"held by PostgreSQL backend {row.pid} ({row.application_name or '?'} from "
                f"{row.client_addr or 'local socket'}, since {row.backend_start:%Y-%m-%d %H:%M})")
    path = Path(lock_file)
    if not path.exists():
        return "no scheduler holds the lock (no lock file)"
    probe = FileLock(path)
    if probe.acquire():
        probe.release()
        return "no scheduler holds the lock"
    pid = path.read_text().strip() or "?"
    return f"held by process {pid} ({path})"
