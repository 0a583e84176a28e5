"""Mail headers: raw values unfolded and decoded (RFC 2047 words, raw 8-bit bytes), addresses,
Message-ID lists and dates, all without raising on hostile input."""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime

from mail_ingest.charsets import decode_text


class _RawHeaderPolicy(Compat32):
    """compat32 that hands header values back untouched (str, folded, maybe 8-bit escaped)."""

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return value


_POLICY = _RawHeaderPolicy()
#: The MIME parser of ingest: compat32 with raw header values (policy.default costs ~10x).
PARSER = BytesParser(policy=_POLICY)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_STRAY_NEWLINE = re.compile(r"[\r\n]+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t]+")
_MSGID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_B64_KEEP = bytes(range(256)).translate(
    None, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)


def _raw_bytes(value: str) -> bytes:
    """Undo the parser's surrogateescape so 8-bit header bytes can be decoded properly."""
    return value.encode("ascii", "surrogateescape")


def unfold(value: str) -> str:
    """Undo header folding (CRLF before whitespace); stray bare line breaks become spaces."""
    return _STRAY_NEWLINE.sub(" ", _FOLD.sub("", value)).strip()


def b64_lenient(data: bytes) -> tuple[bytes, bool]:
    """Decode base64 that may carry junk, lost padding or several concatenated blocks."""
    cleaned = data.translate(None, _B64_KEEP)
    damaged = len(cleaned) != len(data.translate(None, b" \t\r\n"))
    if not damaged and len(cleaned) % 4 == 0 and b"=" not in cleaned[:-2]:
        try:  # the common case: well-formed base64, decoded in one call
            return binascii.a2b_base64(cleaned, strict_mode=True), False
        except binascii.Error:
            pass
    out = []
    for chunk in re.split(rb"=+", cleaned):
        if not chunk:
            continue
        extra = len(chunk) % 4
        if extra == 1:
            chunk, damaged = chunk[:-1], True
        elif extra:
            chunk += b"=" * (4 - extra)
        try:
            out.append(binascii.a2b_base64(chunk))
        except binascii.Error:
            damaged = True
    return b"".join(out), damaged


def decode_words(text: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded-words, joining adjacent ones so split characters survive."""
    if "=?" not in text:
        return text
    pieces: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        previous_is_word = bool(pieces) and pieces[-1][0] is not None
        if gap and not (previous_is_word and not _BETWEEN_WORDS.sub("", gap)):
            pieces.append((None, gap))
        charset, encoding, payload = match.groups()
        if encoding in "bB":
            data, damaged = b64_lenient(payload.encode("utf-8", "surrogateescape"))
            if damaged and defects is not None:
                defects.append("InvalidBase64EncodedWord")
        else:
            data = binascii.a2b_qp(payload.replace("_", " ").encode("utf-8", "surrogateescape"))
        label = charset.split("*", 1)[0].lower()
        previous = pieces[-1][1] if pieces and pieces[-1][0] == label else None
        if isinstance(previous, bytes):
            pieces[-1] = (label, previous + data)
        else:
            pieces.append((label, data))
        position = match.end()
    pieces.append((None, text[position:]))
    out = []
    for label, data in pieces:
        if isinstance(data, bytes):
            out.append(decode_text(data, label, defects))
        else:
            out.append(data)
    return "".join(out)


def clean(text: str) -> str:
    """Drop NULs and other C0 controls that databases and browsers choke on."""
    if text.isprintable():
        return text
    return "".join(c for c in text if c.isprintable() or c in "\t\n")


def decode_header_value(
    value: str | None, defects: list[str] | None = None, alternatives: Sequence[str] = ()
) -> str:
    """Unfold and decode one raw header value (encoded-words and raw 8-bit bytes alike)."""
    if not value:
        return ""
    text = unfold(str(value))
    if not text.isascii():
        text = decode_text(raw_bytes_safe(text), None, defects, alternatives)
    return clean(decode_words(text, defects)).strip()


def raw_bytes_safe(text: str) -> bytes:
    try:
        return _raw_bytes(text)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def addresses(
    value: str | None, defects: list[str], alternatives: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Parse an address header into (display name, lower-case address) pairs."""
    if not value:
        return []
    raw = unfold(value)
    if not raw.isascii():
        raw = decode_text(raw_bytes_safe(raw), None, defects, alternatives)
    pairs = []
    try:
        parsed = getaddresses([raw])
    except Exception:  # noqa: BLE001 - the parser has raised on hostile input before
        defects.append("InvalidAddressHeader")
        return []
    for name, addr in parsed:
        addr = clean(addr).strip().strip("<>").strip()
        if "@" not in addr or " " in addr:
            if addr or name:
                defects.append(f"InvalidAddress: {addr or name!r}"[:200])
            continue
        pairs.append((clean(decode_words(name, defects)).strip(), addr.lower()))
    return pairs


def normalise_msgid(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID.search(value)
    if match:
        return f"<{match.group(1)}>"
    token = unfold(value).strip()
    if token and " " not in token and token.isascii() and token.isprintable():
        return f"<{token}>"
    return None


def msgid_list(value: str | None) -> list[str]:
    if not value:
        return []
    found = [f"<{m}>" for m in _MSGID.findall(value)]
    if not found:
        single = normalise_msgid(value)
        found = [single] if single else []
    seen: list[str] = []
    for mid in found:
        if mid not in seen:
            seen.append(mid)
    return seen


def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(unfold(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("InvalidDate")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.append("InvalidDate")
        return None


# --------------------------------------------------------------------------------------------
# Auto-replies
