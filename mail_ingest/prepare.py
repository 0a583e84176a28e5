"""The CPU-heavy half of ingest, run in worker processes: parse a mail and put its files on disk.

Kept free of Flask and the database so a worker process starts fast and shares nothing with the
process that stores tickets. Attachment bytes go to the content-addressed store here, so only
their digests travel back; a file whose message then fails to store stays on disk unreferenced,
which is harmless (same bytes, same name). Files are written to a temporary name and renamed
into place; the whole batch is made durable with one ``syncfs`` (not one fsync per file) before
its tickets are committed: by the ingest process once for a batch parsed in several worker
tasks, or here for a batch parsed in one call. Temporary files left
by a killed worker are swept (:func:`sweep_temporary_files`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from helpdesk.tickets.attachments import path_for
from mail_ingest.parse import ParsedMessage, parse_message


@dataclass(frozen=True)
class StoredFile:
    """An attachment as the ticket records it: stored under ``sha256``, or dropped (reason)."""

    filename: str
    content_type: str
    size: int
    sha256: str | None
    content_id: str | None = None
    inline: bool = False
    dropped_reason: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class PreparedMessage:
    """One fetched mail, parsed, its files stored; ``message.attachments`` is emptied."""

    uid: int
    message: ParsedMessage
    files: tuple[StoredFile, ...]
    raw_size: int
    #: Set when the mail could not be prepared (the parser crashed): store it as a failure.
    error: str | None = None


log = logging.getLogger(__name__)

#: Prefix of files being written into the attachment store.
TEMP_PREFIX = ".tmp-"


def _write(data: bytes, root: Path) -> tuple[str, bool]:
    """Put ``data`` under its hash (temporary name, then rename); (digest, newly written)."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(digest, root)
    if target.exists():
        return digest, False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest, True


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def sync_store(root: Path) -> None:
    """Make everything written under ``root`` durable: one syncfs(2) for the filesystem."""
    fd = os.open(root, os.O_RDONLY)
    try:
        syncfs = getattr(_libc, "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def sweep_temporary_files(root: str | Path, older_than: float = 3600.0) -> int:
    """Delete temporary files a killed writer left in the store; returns how many."""
    root = Path(root)
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for path in root.glob(f"*/*/{TEMP_PREFIX}*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        log.info("removed %s orphan temporary attachment file(s) under %s", removed, root)
    return removed


def prepare_message(
    uid: int,
    raw: bytes,
    *,
    max_attachment_bytes: int,
    attachment_root: str,
    authserv_id: str | None = None,
    sync: bool = True,
) -> PreparedMessage:
    """Parse ``raw`` (never fails on bad mail) and store its attachments under the root folder.

    Raises OSError only when the attachment store cannot be written (disk full, permissions).
    """
    parsed = parse_message(
        raw, max_attachment_bytes=max_attachment_bytes, authserv_id=authserv_id
    )
    root = Path(attachment_root)
    files = []
    written = False
    for part in parsed.attachments:
        digest = None
        if part.payload is not None:
            digest, new = _write(part.payload, root)
            written = written or new
        files.append(
            StoredFile(
                filename=part.filename,
                content_type=part.content_type,
                size=part.size,
                sha256=digest,
                content_id=part.content_id,
                inline=part.inline,
                dropped_reason=part.dropped_reason,
                warning=part.warning,
            )
        )
    if written and sync:
        sync_store(root)
    return PreparedMessage(
        uid=uid,
        message=dataclasses.replace(parsed, attachments=[]),
        files=tuple(files),
        raw_size=len(raw),
    )


def unprepared(uid: int, raw: bytes, error: str) -> PreparedMessage:
    """A stand-in for mail whose parsing killed its worker, so it can be set aside as failed."""
    parsed = parse_message(b"", max_attachment_bytes=0)
    head = raw[:4096].decode("ascii", "replace")
    message_id = next(
        (line.split(":", 1)[1].strip() for line in head.splitlines()
         if line.lower().startswith("message-id:")),
        "",
    )  # fmt: skip
    parsed = dataclasses.replace(parsed, message_id=message_id[:998] or parsed.message_id)
    return PreparedMessage(uid=uid, message=parsed, files=(), raw_size=len(raw), error=error)


def prepare_batch(
    items: list[tuple[int, bytes]],
    *,
    max_attachment_bytes: int,
    attachment_root: str,
    authserv_id: str | None = None,
    sync: bool = True,
) -> list[PreparedMessage]:
    """:func:`prepare_message` for several mails: one round trip to a worker instead of many,
    and one sync of the attachment store for all of their files (``sync=False``: the caller
    syncs, once for several such calls, with :func:`sync_prepared`)."""
    prepared = [
        prepare_message(
            uid,
            raw,
            max_attachment_bytes=max_attachment_bytes,
            attachment_root=attachment_root,
            authserv_id=authserv_id,
            sync=False,
        )
        for uid, raw in items
    ]
    if sync:
        sync_prepared(prepared, attachment_root)
    return prepared


def sync_prepared(prepared: list[PreparedMessage], attachment_root: str) -> None:
    """Make the stored files of ``prepared`` durable (one syncfs), before their tickets commit."""
    if any(f.sha256 for item in prepared for f in item.files):
        sync_store(Path(attachment_root))
