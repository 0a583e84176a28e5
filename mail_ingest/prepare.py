"""The CPU-heavy half of ingest, run in worker processes: parse a mail and put its files on disk.

Kept free of Flask and the database so a worker process starts fast and shares nothing with the
process that stores tickets. Attachment bytes go to the content-addressed store here (writing
and fsyncing them is the other costly part), so only their digests travel back; a file whose
message then fails to store stays on disk unreferenced, which is harmless (same bytes, same name).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from helpdesk.attachments import store_bytes
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


@dataclass(frozen=True)
class PreparedMessage:
    """One fetched mail, parsed, its files stored; ``message.attachments`` is emptied."""

    uid: int
    message: ParsedMessage
    files: tuple[StoredFile, ...]
    raw_size: int
    #: Set when the mail could not be prepared (the parser crashed): store it as a failure.
    error: str | None = None


def prepare_message(
    uid: int, raw: bytes, *, max_attachment_bytes: int, attachment_root: str
) -> PreparedMessage:
    """Parse ``raw`` (never fails on bad mail) and store its attachments under the root folder.

    Raises OSError only when the attachment store cannot be written (disk full, permissions).
    """
    parsed = parse_message(raw, max_attachment_bytes=max_attachment_bytes)
    root = Path(attachment_root)
    files = []
    for part in parsed.attachments:
        digest = store_bytes(part.payload, root) if part.payload is not None else None
        files.append(
            StoredFile(
                filename=part.filename,
                content_type=part.content_type,
                size=part.size,
                sha256=digest,
                content_id=part.content_id,
                inline=part.inline,
                dropped_reason=part.dropped_reason,
            )
        )
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
    items: list[tuple[int, bytes]], *, max_attachment_bytes: int, attachment_root: str
) -> list[PreparedMessage]:
    """:func:`prepare_message` for several mails: one round trip to a worker instead of many."""
    return [
        prepare_message(
            uid, raw, max_attachment_bytes=max_attachment_bytes, attachment_root=attachment_root
        )
        for uid, raw in items
    ]
