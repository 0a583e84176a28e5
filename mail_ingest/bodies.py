"""The MIME tree walked into a text body, an HTML body and files: alternatives, related parts
(cid: images), reports (their parts are files), forwarded mail (an .eml and, if wanted, quoted)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from email.message import Message

from mail_ingest.attachments import (
    ParsedAttachment,
    Walk,
    decoded_payload,
    elided_span,
    make_attachment,
    part_content_id,
    part_content_type,
    part_defects,
    part_param,
    restore_elided,
    safe_filename,
)
from mail_ingest.charsets import decode_text
from mail_ingest.headers import clean, decode_header_value
from mail_ingest.sanitize import html_to_text

_MAX_DEPTH = 40
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


@dataclass
class _Collected:
    """Bodies and files gathered while walking one (sub)tree of MIME parts."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)


def _text_of(part: Message, walk: Walk) -> str:
    """Decoded text of a text/* leaf, honouring charset lies and format=flowed."""
    data = decoded_payload(part, walk)
    charset = part.get_content_charset(None)
    if charset is None and part.get_content_subtype() == "html":
        match = _META_CHARSET.search(data[:4096])
        if match:
            charset = match.group(1).decode("ascii", "replace")
    text = decode_text(data, charset, walk.defects, walk.charsets)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_subtype() == "plain":
        fmt = str(part.get_param("format") or "").lower()
        if fmt == "flowed":
            text = _unflow(text, str(part.get_param("delsp") or "").lower() == "yes")
    return clean(text)


def _unflow(text: str, delsp: bool) -> str:
    """Join RFC 3676 soft line breaks so paragraphs read as paragraphs."""
    out: list[str] = []
    buffer: str | None = None
    buffer_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content.removeprefix(" ")
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if buffer is not None and buffer_depth == depth:
            buffer += content
        else:
            if buffer is not None:
                out.append(">" * buffer_depth + (" " if buffer_depth else "") + buffer)
            buffer, buffer_depth = content, depth
        if not flowed:
            out.append(">" * depth + (" " if depth else "") + buffer)
            buffer = None
    if buffer is not None:
        out.append(">" * buffer_depth + (" " if buffer_depth else "") + buffer)
    return "\n".join(out)


def _is_body_text(part: Message, content_type: str, filename: str | None) -> bool:
    if content_type not in ("text/plain", "text/html"):
        return False
    return part.get_content_disposition() != "attachment" and filename is None


def _walk(part: Message, walk: Walk, depth: int = 0, related_child: bool = False) -> _Collected:
    """Collect bodies and attachments of one MIME (sub)tree."""
    found = _Collected()
    part_defects(part, walk)
    content_type = part_content_type(part)
    if depth > _MAX_DEPTH:
        walk.defects.append("NestingTooDeep")
        return found
    if content_type == "message/rfc822" and part.is_multipart():
        _forwarded(part, walk, depth, found)
        return found
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        subtype = content_type.split("/", 1)[1]
        if content_type.startswith("message/"):
            text = b"\n".join(_serialise(child, walk) for child in children)
            found.attachments.append(
                make_attachment(part, content_type, walk, inline_default=False, payload=text)
            )
        elif subtype == "alternative":
            _alternative(children, walk, depth, found)
        elif subtype == "related":
            _related(part, children, walk, depth, found)
        elif subtype == "report":
            for index, child in enumerate(children):
                if index == 0:
                    _merge(found, _walk(child, walk, depth + 1))
                else:
                    _merge(found, _walk_as_attachment(child, walk, depth + 1))
        else:
            for child in children:
                _merge(found, _walk(child, walk, depth + 1, related_child))
        return found
    filename = safe_filename(
        part_param(part, "filename", "content-disposition") or part_param(part, "name", "content-type")
    )
    if content_type.startswith("multipart/"):
        walk.defects.append("MultipartWithoutParts")
        found.plain.append(_text_of(part, walk))
    elif _is_body_text(part, content_type, filename):
        (found.html if content_type == "text/html" else found.plain).append(_text_of(part, walk))
    else:
        found.attachments.append(
            make_attachment(part, content_type, walk, inline_default=related_child, filename=filename)
        )
    return found


def _walk_as_attachment(part: Message, walk: Walk, depth: int) -> _Collected:
    """Report parts (delivery status, returned mail) are files, never the ticket text."""
    content_type = part_content_type(part)
    if content_type == "message/rfc822" and part.is_multipart():
        found = _Collected()
        inner = part.get_payload(0)
        data = _serialise(inner, walk) if isinstance(inner, Message) else b""
        found.attachments.append(
            make_attachment(
                part,
                content_type,
                walk,
                inline_default=False,
                payload=data,
                filename=safe_filename(part_param(part, "filename", "content-disposition"))
                or "returned-message.eml",
            )
        )
        return found
    if part.is_multipart() and not content_type.startswith("message/"):
        return _walk(part, walk, depth)
    found = _Collected()
    if content_type.startswith("message/") and part.is_multipart():
        data = b"\n".join(_serialise(c, walk) for c in part.get_payload() if isinstance(c, Message))
        found.attachments.append(
            make_attachment(part, content_type, walk, inline_default=False, payload=data, filename=None)
        )
    else:
        found.attachments.append(make_attachment(part, content_type, walk, inline_default=False))
    return found


def _serialise(message: Message, walk: Walk) -> bytes:
    try:
        return restore_elided(message.as_bytes(), walk)
    except Exception as exc:  # noqa: BLE001 - generator trips on some broken trees
        walk.defects.append(f"UnserialisablePart: {type(exc).__name__}")
        return b""


def _tree_size(part: Message, walk: Walk) -> int:
    """Rough size of a nested message without serialising it (to refuse huge ones early)."""
    payload = getattr(part, "_payload", "")
    if isinstance(payload, list):
        children = (c for c in payload if isinstance(c, Message))
        return sum(_tree_size(child, walk) for child in children) + 200
    if not isinstance(payload, (str, bytes)):
        return 200
    span = elided_span(payload, walk)
    return (span[1] - span[0] if span else len(payload)) + 200


def _forwarded(part: Message, walk: Walk, depth: int, found: _Collected) -> None:
    """Keep a forwarded mail as an .eml file and, if wanted, quote its text in the body."""
    inner = part.get_payload(0)
    if not isinstance(inner, Message):
        return
    subject = decode_header_value(inner.get("subject"), walk.defects)
    filename = safe_filename(part_param(part, "filename", "content-disposition"))
    filename = filename or safe_filename(f"{subject[:80]}.eml" if subject else None)
    estimated = _tree_size(inner, walk)
    if estimated > walk.max_attachment_bytes:
        found.attachments.append(
            make_attachment(
                part,
                "message/rfc822",
                walk,
                inline_default=False,
                filename=filename,
                size=estimated,
            )
        )
    else:
        found.attachments.append(
            make_attachment(
                part,
                "message/rfc822",
                walk,
                inline_default=False,
                filename=filename,
                payload=_serialise(inner, walk),
            )
        )
    if not walk.include_forwarded_text:
        return
    text_only = dataclasses.replace(walk, max_attachment_bytes=-1)  # files stay in the .eml
    inner_found = _walk(inner, text_only, depth + 1)
    text = "\n\n".join(t for t in inner_found.plain if t.strip())
    if not text and inner_found.html:
        text = html_to_text("\n".join(inner_found.html))
    header_lines = ["---------- Forwarded message ----------"]
    for label, name in (("From", "from"), ("Date", "date"), ("Subject", "subject"), ("To", "to")):
        value = decode_header_value(inner.get(name), walk.defects)
        if value:
            header_lines.append(f"{label}: {value}")
    found.plain.append("\n".join(header_lines) + "\n\n" + text.strip())


def _alternative(children: list[Message], walk: Walk, depth: int, found: _Collected) -> None:
    """Keep the last (richest) plain and HTML versions; other alternatives become files."""
    plain: list[str] | None = None
    html: list[str] | None = None
    for child in children:
        sub = _walk(child, walk, depth + 1)
        if sub.plain:
            plain = sub.plain
        if sub.html:
            html = sub.html
        found.attachments.extend(sub.attachments)
    found.plain.extend(plain or [])
    found.html.extend(html or [])


def _related(
    part: Message, children: list[Message], walk: Walk, depth: int, found: _Collected
) -> None:
    """The root part is the body; the others are resources it references (cid: images)."""
    if not children:
        return
    start = str(part.get_param("start") or "").strip().strip("<>")
    root_index = 0
    if start:
        for index, child in enumerate(children):
            if part_content_id(child) == start:
                root_index = index
                break
    for index, child in enumerate(children):
        _merge(found, _walk(child, walk, depth + 1, related_child=index != root_index))


def _merge(into: _Collected, other: _Collected) -> None:
    into.plain.extend(other.plain)
    into.html.extend(other.html)
    into.attachments.extend(other.attachments)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


#: The entry point: bodies and files of a whole message.
walk_message = _walk
