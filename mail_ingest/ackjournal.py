"""The sent journal of acknowledgements: each Message-ID is appended the moment the SMTP server
accepts the mail, so a crash before the database hears of it cannot send it again; the next pass
marks journaled acknowledgements sent before it retries the queue.

An append is one ``write`` to the file (O_APPEND): from then on it survives the death of any of
our processes (kill -9 included). It reaches the disk with an fsync at most ``SYNC_INTERVAL``
seconds later, and whenever a run of mailing ends (:func:`sync_journal`), not one fsync per mail:
only a power loss can lose an entry, and then at most that last fraction of a second's
acknowledgements are mailed a second time."""

from __future__ import annotations

import os
import time
from datetime import datetime

from flask import current_app

from helpdesk.extensions import db
from helpdesk.models import Article, SendStatus, utcnow


def journal_path() -> str:
    """Where sent acknowledgements are journaled (INGEST_ACK_JOURNAL, else the instance folder)."""
    configured = current_app.config.get("INGEST_ACK_JOURNAL")
    return str(configured or os.path.join(current_app.instance_path, "ack-sent.journal"))


#: Seconds an appended entry may wait for its fsync (see the module docstring).
SYNC_INTERVAL = 0.5
#: Journal path -> monotonic time of its first entry not yet fsynced (in this process).
_unsynced: dict[str, float] = {}


def journal_sent(path: str, message_id: str, *, sync: bool = True) -> None:
    """Record that the SMTP server accepted the mail ``message_id``; ``sync=False``: the fsync
    may wait (up to SYNC_INTERVAL, or until :func:`sync_journal`)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, message_id.encode("utf-8", "replace") + b"\n")
        now = time.monotonic()
        first = _unsynced.setdefault(path, now)
        if sync or now - first >= SYNC_INTERVAL:
            os.fsync(fd)
            _unsynced.pop(path, None)
    finally:
        os.close(fd)


def sync_journal(path: str) -> None:
    """Fsync the entries appended with ``sync=False`` (at the end of a run of mailing)."""
    if _unsynced.pop(path, None) is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # renamed away by apply_journal: read already, from the cache
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def apply_journal(*, now: datetime | None = None) -> int:
    """Mark acknowledgements the journal says were sent (after a crash) as sent; the caller
    commits. Returns how many were still queued. The journal is renamed away first, so
    appends going on meanwhile start a new one."""
    path = journal_path()
    taken = f"{path}.{os.getpid()}.applying"
    try:
        os.replace(path, taken)
    except FileNotFoundError:
        return 0
    with open(taken, "rb") as fh:
        ids = sorted({line.strip().decode("utf-8", "replace") for line in fh if line.strip()})
    table = Article.__table__
    fixed = 0
    for start in range(0, len(ids), 500):
        result = db.session.execute(
            table.update()
            .where(
                table.c.message_id.in_(ids[start : start + 500]),
                table.c.send_status == SendStatus.QUEUED,
            )
            .values(send_status=SendStatus.SENT, sent_at=now or utcnow(), send_error=None)
        )
        fixed += result.rowcount or 0
    db.session.flush()
    _journal_applied.append(taken)
    return fixed


_journal_applied: list[str] = []


def forget_applied_journal() -> None:
    """After the commit: the journal entries applied are in the database now."""
    while _journal_applied:
        try:
            os.unlink(_journal_applied.pop())
        except FileNotFoundError:
            pass
