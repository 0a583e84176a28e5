"""MIME leaf parts into files: lenient transfer decoding (base64 with junk, uuencode), names,
sizes known before decoding (so a part over the limit is never decoded), and base64 runs set
aside before parsing so the stdlib parser neither walks a file line by line nor holds several
copies of a 20 MB one."""

from __future__ import annotations

import binascii
import mimetypes
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from email.message import Message

from mail_ingest.charsets import decode_text
from mail_ingest.headers import b64_lenient, clean, decode_words, raw_bytes_safe, unfold

_ELIDE_MESSAGE_BYTES = 16 << 10
_ELIDE_RUN_BYTES = 4 << 10
_BASE64_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/=]{4,998}+\r?\n)++")
_ELIDED_KEY = re.compile(rb"~~helpdesk-elided-[0-9a-f]{16}-\d+~~")


@dataclass(frozen=True)
class ParsedAttachment:
    """One attached or inline part; ``payload`` is None when it was dropped (see reason)."""

    filename: str
    content_type: str
    payload: bytes | None
    size: int
    content_id: str | None = None
    inline: bool = False
    dropped_reason: str | None = None
    #: Kept, but not as it should be (e.g. it decoded to nothing: the bytes as sent).
    warning: str | None = None


@dataclass
class Walk:
    """State shared by the whole walk of one message."""

    max_attachment_bytes: int
    defects: list[str]
    include_forwarded_text: bool
    raw: bytes = b""
    elided: dict[str, tuple[int, int]] = field(default_factory=dict)
    counter: int = 0
    #: Every charset the message declares (tried when a part's own one does not fit).
    charsets: tuple[str, ...] = ()


_BAD_FILENAME_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def part_defects(part: Message, walk: Walk) -> None:
    for defect in getattr(part, "defects", ()):
        name = type(defect).__name__
        if name not in walk.defects:
            walk.defects.append(name)


def transfer_encoding(part: Message) -> str:
    return str(part.get("content-transfer-encoding") or "").strip().lower()


def elide_large_runs(raw: bytes) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """Set base64 runs (4 KB and more, in mail of 16 KB and more) aside before MIME parsing,
    leaving a one-line marker each.

    The stdlib parser reads a body line by line (a 100 KB file is some 1,300 lines, and on
    everyday mail those lines were most of the parse's time) and holds several copies of a
    20 MB attachment; with the runs set aside it only sees markers, and a part's bytes are
    read from ``raw`` once, and only if the part is kept. Whatever reads a part's payload
    goes through :func:`decoded_payload` or :func:`restore_elided`, which put the run back
    (an 8-bit text that merely looks like base64 included).
    """
    if len(raw) < _ELIDE_MESSAGE_BYTES:
        return raw, {}
    token = secrets.token_hex(8)
    pieces: list[bytes] = []
    elided: dict[str, tuple[int, int]] = {}
    position = 0
    for match in _BASE64_RUN.finditer(raw):
        start, end = match.span()
        if end - start < _ELIDE_RUN_BYTES:
            continue
        key = f"~~helpdesk-elided-{token}-{len(elided)}~~"
        newline = b"\r\n" if raw[end - 2 : end] == b"\r\n" else b"\n"
        pieces += [raw[position:start], key.encode("ascii"), newline]
        elided[key] = (start, end)
        position = end
    if not elided:
        return raw, {}
    pieces.append(raw[position:])
    return b"".join(pieces), elided


def restore_elided(data: bytes, walk: Walk) -> bytes:
    """Put set-aside runs back into payload bytes (only markers of this very parse match)."""
    if not walk.elided or b"~~helpdesk-elided-" not in data:
        return data

    def original(match: re.Match[bytes]) -> bytes:
        span = walk.elided.get(match.group(0).decode("ascii"))
        if span is None:
            return match.group(0)
        start, end = span
        newline = 2 if walk.raw[end - 2 : end] == b"\r\n" else 1  # the marker kept its own
        return walk.raw[start : end - newline]

    return _ELIDED_KEY.sub(original, data)


def elided_span(payload: str | bytes, walk: Walk) -> tuple[int, int] | None:
    if not walk.elided or len(payload) > 200:
        return None
    key = payload.strip()
    return walk.elided.get(key if isinstance(key, str) else key.decode("ascii", "replace"))


def raw_payload(part: Message) -> str | bytes:
    """The still-encoded payload; read directly so a large base64 string is never copied."""
    payload = getattr(part, "_payload", "")
    return payload if isinstance(payload, (str, bytes)) else ""


def estimated_size(part: Message, walk: Walk) -> int:
    """Decoded size of a leaf part, computed from its encoded form without decoding it."""
    payload = raw_payload(part)
    span = elided_span(payload, walk)
    if span is not None:
        start, end = span
        raw = walk.raw
        encoded = end - start - raw.count(b"\n", start, end) - raw.count(b"\r", start, end)
        tail = raw[max(end - 8, start) : end].rstrip()
    else:
        if isinstance(payload, bytes):
            payload = payload.decode("ascii", "surrogateescape")
        encoded = len(payload) - payload.count("\n") - payload.count("\r")
        tail = payload[-8:].rstrip().encode("ascii", "surrogateescape")
    if transfer_encoding(part) != "base64":
        return encoded
    padding = len(tail) - len(tail.rstrip(b"="))
    return max(encoded * 3 // 4 - padding, 0)


def decoded_payload(part: Message, walk: Walk) -> bytes:
    """Transfer-decode a leaf part leniently (bad base64, stray spaces, uuencode)."""
    payload = raw_payload(part)
    encoding = transfer_encoding(part)
    span = elided_span(payload, walk)
    if span is not None and encoding == "base64":
        start, end = span
        first_padding = walk.raw.find(b"=", start, end)
        if first_padding == -1 or first_padding >= end - 6:  # one block: decode in place
            try:
                return binascii.a2b_base64(memoryview(walk.raw)[start:end])
            except binascii.Error:
                pass
    data = payload if isinstance(payload, bytes) else raw_bytes_safe(payload)
    data = restore_elided(data, walk)
    if encoding == "base64":
        decoded, damaged = b64_lenient(data)
        if damaged and "InvalidBase64Body" not in walk.defects:
            walk.defects.append("InvalidBase64Body")
        return decoded
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in ("x-uuencode", "uuencode", "uue", "x-uue"):
        return _uudecode(data, walk)
    return data


def _uudecode(data: bytes, walk: Walk) -> bytes:
    """uudecode; without a ``begin`` line the lines are tried as they are (some mailers drop
    it). Undecodable input gives b"" and a defect (the caller keeps the bytes as sent)."""
    lines = data.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith(b"begin ")), None)
    if start is None:
        walk.defects.append("UuencodeWithoutBegin")
        start = 0
    out = []
    for line in lines[start:]:
        stripped = line.strip()
        if stripped == b"end":
            break
        if stripped in (b"`", b""):
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            walk.defects.append("InvalidUuencode")
            return b""
    return b"".join(out)


def part_param(part: Message, name: str, header: str) -> str | None:
    """A MIME parameter decoded to text, handling RFC 2231 and (illegal) encoded-words."""
    try:
        value = part.get_param(name, None, header)
    except Exception:  # noqa: BLE001 - malformed parameter lists
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _, encoded = value  # the stdlib has percent-decoded it into latin-1 code points
        try:
            data = encoded.encode("latin-1")
        except UnicodeEncodeError:
            data = encoded.encode("utf-8", "surrogateescape")
        text = decode_text(data, charset or "utf-8")
    else:
        text = str(value)
        if len(text) > 1 and text[0] == text[-1] == '"':
            text = text[1:-1]
        if not text.isascii():
            text = decode_text(raw_bytes_safe(text), None)
        text = decode_words(text)
    return clean(text).strip() or None


def safe_filename(name: str | None) -> str | None:
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _BAD_FILENAME_CHARS.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    if not name:
        return None
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name


_DEFAULT_NAMES = {
    "message/rfc822": ("message", ".eml"),
    "text/calendar": ("invite", ".ics"),
    "application/ms-tnef": ("winmail", ".dat"),
    "text/rfc822-headers": ("headers", ".txt"),
}


def default_filename(content_type: str, walk: Walk) -> str:
    """A readable name for a part that came without one: image-1.png, invite-2.ics, ..."""
    walk.counter += 1
    maintype, _, subtype = content_type.partition("/")
    if content_type in _DEFAULT_NAMES:
        stem, ext = _DEFAULT_NAMES[content_type]
    elif maintype == "message":
        stem, ext = subtype, ".txt"
    else:
        stem = "image" if maintype == "image" else "attachment"
        ext = mimetypes.guess_extension(content_type) or ".bin"
    return f"{stem}-{walk.counter}{ext}"


def part_content_id(part: Message) -> str | None:
    value = part.get("content-id")
    if not value:
        return None
    text = unfold(value).strip().strip("<>").strip()
    return text if text and text.isascii() else None


def make_attachment(
    part: Message,
    content_type: str,
    walk: Walk,
    *,
    inline_default: bool,
    filename: str | None = None,
    payload: bytes | None = None,
    size: int | None = None,
) -> ParsedAttachment:
    """Build an attachment, dropping the payload unread when it is over the size limit."""
    cid = part_content_id(part)
    disposition = part.get_content_disposition()
    inline = disposition == "inline" or (inline_default and disposition != "attachment")
    if cid and disposition != "attachment":
        inline = True
    if filename is None:
        filename = safe_filename(
            part_param(part, "filename", "content-disposition") or part_param(part, "name", "content-type")
        )
    filename = filename or default_filename(content_type, walk)
    if payload is None:
        estimated = estimated_size(part, walk) if size is None else size
        if estimated > walk.max_attachment_bytes:
            return ParsedAttachment(
                filename,
                content_type,
                None,
                estimated,
                cid,
                inline,
                f"larger than the {walk.max_attachment_bytes} byte limit",
            )
        payload = decoded_payload(part, walk)
        if not payload:
            sent = raw_payload(part)
            sent = sent if isinstance(sent, bytes) else raw_bytes_safe(sent)
            sent = restore_elided(sent, walk)
            if sent.strip():
                walk.defects.append(f"EmptyDecodedAttachment: {filename}")
                warning = (
                    f"its {transfer_encoding(part) or '7bit'} content decoded to nothing; "
                    "kept as sent"
                )
                return ParsedAttachment(
                    filename, content_type, sent, len(sent), cid, inline, None, warning
                )
    if len(payload) > walk.max_attachment_bytes:
        return ParsedAttachment(
            filename,
            content_type,
            None,
            len(payload),
            cid,
            inline,
            f"larger than the {walk.max_attachment_bytes} byte limit",
        )
    return ParsedAttachment(filename, content_type, payload, len(payload), cid, inline)


def part_content_type(part: Message) -> str:
    try:
        content_type = part.get_content_type()
    except Exception:  # noqa: BLE001
        return "application/octet-stream"
    if "/" not in content_type or not content_type.isascii() or " " in content_type:
        return "application/octet-stream"
    return content_type
