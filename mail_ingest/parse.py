"""Turn raw RFC 5322 bytes into a ParsedMessage the ingest pipeline can store.

Pure and defensive: no database, no network, and it never raises on any input. It uses the
standard library's MIME parser with a raw-header compat32 policy (``policy.default`` costs about
ten times more per message) and decodes only the headers and parts it needs. The work is split
by subject: :mod:`mail_ingest.headers`, :mod:`mail_ingest.charsets`, :mod:`mail_ingest.bodies`,
:mod:`mail_ingest.attachments`, :mod:`mail_ingest.automatic` and :mod:`mail_ingest.authresults`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from mail_ingest import automatic
from mail_ingest.attachments import ParsedAttachment, Walk, elide_large_runs
from mail_ingest.authresults import SenderAuth, sender_auth
from mail_ingest.bodies import walk_message
from mail_ingest.charsets import FALLBACK_CHARSETS, decode_text
from mail_ingest.headers import (
    PARSER,
    addresses,
    clean,
    decode_header_value,
    msgid_list,
    normalise_msgid,
    parse_date,
)
from mail_ingest.sanitize import html_to_text, sanitize_html

__all__ = [
    "DEFAULT_TICKET_TAG_PATTERN",
    "FALLBACK_CHARSETS",
    "MAX_TEXT_CHARS",
    "ParsedAttachment",
    "ParsedMessage",
    "decode_header_value",
    "decode_text",
    "parse_message",
]

#: Subject tag that joins a reply to an existing ticket: ``[#1234]``.
DEFAULT_TICKET_TAG_PATTERN: re.Pattern[str] = re.compile(r"\[#(\d{1,18})\]")

#: Longest text body kept per message; the rest is cut off and noted in ``defects``.
MAX_TEXT_CHARS = 1_000_000


@dataclass(frozen=True)
class ParsedMessage:
    """What ingest needs from one mail: identity, threading, people, bodies, files, flags."""

    message_id: str
    in_reply_to: str | None
    references: list[str]
    subject: str
    from_addr: str | None
    from_name: str
    to: list[str]
    cc: list[str]
    reply_to: str | None
    date: datetime | None
    text: str
    html: str | None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    is_auto: bool = False
    auto_reason: str | None = None
    #: One of mail_ingest.automatic.KINDS when ``is_auto``.
    auto_kind: str | None = None
    #: For a bounce: the Message-IDs of the returned mail, and why it was not delivered.
    bounce_of: tuple[str, ...] = ()
    bounce_reason: str | None = None
    #: What the receiving server's Authentication-Results say about the sender's domain.
    auth: SenderAuth | None = None
    ticket_tag: int | None = None
    defects: list[str] = field(default_factory=list)
    #: SHA-256 of what the sender wrote (sender, subject, bodies, files), not of the transport
    #: headers: two deliveries of one mail share it, a different mail reusing a Message-ID not.
    content_hash: str = ""

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, nearest first, for joining it to a ticket."""
        ids: list[str] = []
        for mid in [self.in_reply_to, *reversed(self.references)]:
            if mid and mid not in ids and mid != self.message_id:
                ids.append(mid)
        return ids


def content_hash(
    from_addr: str | None, subject: str, text: str, html: str | None,
    attachments: list[ParsedAttachment],
) -> str:
    digest = hashlib.sha256()
    for piece in (from_addr or "", subject, text, html or ""):
        digest.update(piece.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    for att in attachments:
        digest.update(f"{att.filename}\x00{att.size}\x00".encode("utf-8", "surrogatepass"))
        if att.payload is not None:
            digest.update(hashlib.sha256(att.payload).digest())
    return digest.hexdigest()


def _fallback_message_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@no-message-id>"


def _tidy_text(text: str, defects: list[str]) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    if len(text) > MAX_TEXT_CHARS:
        defects.append("TextTruncated")
        text = text[:MAX_TEXT_CHARS]
    return text


def _tag(subject: str, pattern: str | re.Pattern[str]) -> int | None:
    match = re.search(pattern, subject)
    if not match:
        return None
    try:
        return int(match.group(1) if match.groups() else match.group(0))
    except (ValueError, IndexError):
        return None


def parse_message(
    raw: bytes,
    *,
    max_attachment_bytes: int,
    ticket_tag_pattern: str | re.Pattern[str] = DEFAULT_TICKET_TAG_PATTERN,
    include_forwarded_text: bool = True,
    authserv_id: str | None = None,
) -> ParsedMessage:
    """Parse raw mail bytes into a ParsedMessage; never raises, problems go to ``defects``.

    ``authserv_id``: the receiving server's name in ``Authentication-Results`` (only its
    results are believed; see mail_ingest.authresults)."""
    raw = bytes(raw)
    try:
        return _parse(
            raw, max_attachment_bytes, ticket_tag_pattern, include_forwarded_text, authserv_id
        )
    except Exception as exc:  # noqa: BLE001 - the contract is to never fail on input
        return _unparseable(raw, exc, ticket_tag_pattern)


def _parse(
    raw: bytes,
    max_attachment_bytes: int,
    ticket_tag_pattern: str | re.Pattern[str],
    include_forwarded_text: bool,
    authserv_id: str | None = None,
) -> ParsedMessage:
    parseable, elided = elide_large_runs(raw)
    msg = PARSER.parsebytes(parseable)
    del parseable
    defects: list[str] = []
    charsets = tuple(dict.fromkeys(c for c in msg.get_charsets() if c))
    walk = Walk(max_attachment_bytes, defects, include_forwarded_text, raw, elided, 0, charsets)

    message_id = normalise_msgid(msg.get("message-id"))
    if message_id is None:
        defects.append("MissingMessageId")
        message_id = _fallback_message_id(raw)
    subject = decode_header_value(msg.get("subject"), defects, charsets)
    senders = addresses(msg.get("from"), defects, charsets)
    from_name, from_addr = senders[0] if senders else ("", None)
    if from_addr is None:
        defects.append("MissingFrom")
    reply_to = addresses(msg.get("reply-to"), defects, charsets)
    to = [addr for _, addr in addresses(", ".join(msg.get_all("to") or []), defects, charsets)]
    cc = [addr for _, addr in addresses(", ".join(msg.get_all("cc") or []), defects, charsets)]

    found = walk_message(msg, walk)
    plain = "\n\n".join(t.strip("\n") for t in found.plain if t.strip())
    html_source = "\n".join(found.html)
    html = sanitize_html(html_source) if html_source.strip() else ""
    text = plain if plain.strip() else html_to_text(html_source)

    auto = automatic.classify(msg, from_addr, subject)
    bounce = automatic.bounce_details(msg, walk) if auto and auto.kind == automatic.BOUNCE else None
    text = _tidy_text(text, defects)
    return ParsedMessage(
        message_id=message_id,
        in_reply_to=normalise_msgid(msg.get("in-reply-to")),
        references=msgid_list(msg.get("references")),
        subject=subject,
        from_addr=from_addr,
        from_name=from_name,
        to=to,
        cc=cc,
        reply_to=reply_to[0][1] if reply_to else None,
        date=parse_date(msg.get("date"), defects),
        text=text,
        html=html or None,
        attachments=found.attachments,
        is_auto=auto is not None,
        auto_reason=auto.reason if auto else None,
        auto_kind=auto.kind if auto else None,
        bounce_of=bounce.message_ids if bounce else (),
        bounce_reason=bounce.reason if bounce else None,
        auth=sender_auth(msg, from_addr, authserv_id),
        ticket_tag=_tag(subject, ticket_tag_pattern),
        defects=defects,
        content_hash=content_hash(from_addr, subject, text, html, found.attachments),
    )


def _unparseable(raw: bytes, exc: BaseException, pattern: str | re.Pattern[str]) -> ParsedMessage:
    """Last resort for input the MIME parser cannot handle: keep the text we can see."""
    defects = [f"Unparseable: {type(exc).__name__}: {exc}"[:300]]
    subject, text = "", ""
    try:
        head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        for line in head.split(b"\n"):
            if line[:8].lower() == b"subject:":
                subject = decode_header_value(line[8:].decode("ascii", "surrogateescape"))
                break
        text = clean(decode_text(body or raw, None, defects))[:MAX_TEXT_CHARS]
    except Exception as second:  # noqa: BLE001 - even the fallback must not raise
        defects.append(f"Unparseable: {type(second).__name__}: {second}"[:300])
    return ParsedMessage(
        message_id=_fallback_message_id(raw),
        in_reply_to=None,
        references=[],
        subject=subject,
        from_addr=None,
        from_name="",
        to=[],
        cc=[],
        reply_to=None,
        date=None,
        text=text,
        html=None,
        ticket_tag=_tag(subject, pattern),
        defects=defects,
        content_hash=hashlib.sha256(raw).hexdigest(),
    )
