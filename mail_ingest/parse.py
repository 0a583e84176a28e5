"""Turn raw RFC 5322 bytes into a ParsedMessage the ingest pipeline can store.

Pure and defensive: no database, no network, and it never raises on any input. It uses the
standard library's MIME parser with a raw-header compat32 policy (``policy.default`` costs about
ten times more per message) and decodes only the headers and parts it needs, with its own
charset fallback chain for the charsets real mail lies about.
"""

from __future__ import annotations

import binascii
import codecs
import dataclasses
import hashlib
import itertools
import mimetypes
import re
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime

from mail_ingest.sanitize import html_to_text, sanitize_html

#: Subject tag that joins a reply to an existing ticket: ``[#1234]``.
DEFAULT_TICKET_TAG_PATTERN: re.Pattern[str] = re.compile(r"\[#(\d{1,18})\]")

#: Charsets tried, in this order of preference on ties, when the declared one is absent or wrong.
FALLBACK_CHARSETS: tuple[str, ...] = (
    "utf-8",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "koi8_r",
    "cp1254",
    "iso8859_9",
    "cp1252",
)

#: Longest text body kept per message; the rest is cut off and noted in ``defects``.
MAX_TEXT_CHARS = 1_000_000

_MAX_DEPTH = 40
_ELIDE_MESSAGE_BYTES = 1 << 20
_ELIDE_RUN_BYTES = 64 << 10
_BASE64_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/=]{4,998}+\r?\n)++")
_ELIDED_KEY = re.compile(rb"~~helpdesk-elided-[0-9a-f]{16}-\d+~~")
_GUESS_SAMPLE_BYTES = 8192


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
    ticket_tag: int | None = None
    defects: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, nearest first, for joining it to a ticket."""
        ids: list[str] = []
        for mid in [self.in_reply_to, *reversed(self.references)]:
            if mid and mid not in ids and mid != self.message_id:
                ids.append(mid)
        return ids


# --------------------------------------------------------------------------------------------
# Charsets
# --------------------------------------------------------------------------------------------

_CHARSET_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "unicode": "utf-8",
    "latin-2": "iso8859_2",
    "iso-8859-8-i": "iso8859_8",
    "iso-8859-6-i": "iso8859_6",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "ansi_x3.4-1968": "ascii",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-ce": "mac_latin2",
}
_WINDOWS_NAME = re.compile(r"^(?:x-)?(?:windows|win|cp|ms)[-_ ]?(\d{3,4})$")
_UNKNOWN_CHARSETS = frozenset({"unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default"})
#: Codecs that would turn mail bytes into something else than text, or are trivially lax.
_REJECTED_CODECS = frozenset(
    {
        "base64",
        "bz2",
        "hex",
        "quopri",
        "rot13",
        "rot-13",
        "uu",
        "zlib",
        "unicode_escape",
        "raw_unicode_escape",
        "idna",
        "punycode",
        "undefined",
        "mbcs",
        "oem",
        "charmap",
    }
)
#: Declared charsets that decode every byte, so a wrong declaration would go unnoticed.
_PERMISSIVE = frozenset({"latin-1", "iso8859-1", "ascii", "cp1252"})
_ASCII_COMPATIBLE_BREAKERS = ("utf-16", "utf-32", "utf-7")
_codec_cache: dict[str, str | None] = {}


def _lookup_charset(name: str | None) -> str | None:
    """Map a declared charset label to a Python codec name, or None if unusable."""
    if not name:
        return None
    key = name.strip().strip("\"'").lower()
    if key in _codec_cache:
        return _codec_cache[key]
    label = key.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*sr
    label = _CHARSET_ALIASES.get(label, label)
    match = _WINDOWS_NAME.match(label)
    if match:
        label = f"cp{match.group(1)}"
    codec: str | None = None
    if label and label not in _UNKNOWN_CHARSETS:
        try:
            info = codecs.lookup(label)
        except (LookupError, ValueError):
            info = None
        text_codec = info is not None and getattr(info, "_is_text_encoding", True)
        if text_codec and info.name not in _REJECTED_CODECS:
            codec = info.name
    if len(_codec_cache) < 512:
        _codec_cache[key] = codec
    return codec


_PREFERRED_LOWER = frozenset("čćžšđşğıöüçäëéáíóúàßабвгдђежзијклљмнњопрстћуфхцчџшщъыьэюяё")
_PREFERRED_UPPER = frozenset("ČĆŽŠĐŞĞİÖÜÇÄÉÁАБВГДЂЕЖЗИЈКЛЉМНЊОПРСТЋУФХЦЧЏШЩЪЫЬЭЮЯЁ")
_WORD = re.compile(r"[^\W\d_]+")


def _plausibility(text: str) -> float:
    """Score how much a decoding looks like real text in the languages our customers write."""
    score = 0.0
    for char, count in Counter(text).items():
        if char < "\x80":
            continue
        if char in _PREFERRED_LOWER:
            score += 2 * count
        elif char in _PREFERRED_UPPER:
            score += count
        elif char < "\xa0" or unicodedata.category(char) in ("Cc", "Co", "Cn", "So"):
            score -= 4 * count  # C1 controls, box drawing, private use: typical of a wrong table
    for word, count in Counter(_WORD.findall(text)).items():
        if word.isascii():
            continue
        penalty = 0
        cyrillic = sum(1 for c in word if "\u0400" <= c <= "\u04ff")
        if cyrillic and cyrillic != len(word):
            penalty += 3 * len(word)  # mixed scripts inside one word
        elif not cyrillic:
            non_ascii = sum(1 for c in word if c >= "\x80")
            if len(word) >= 3 and non_ascii * 2 > len(word):
                penalty += 2 * non_ascii  # Latin words are mostly ASCII letters
        for previous, current in itertools.pairwise(word):
            if previous.islower() and current.isupper():
                penalty += 2  # "рТЙЧЕФ": KOI8-R read as cp1251 and vice versa
        score -= penalty * count
    return score


def _guess_decode(data: bytes) -> tuple[str, str]:
    """Decode bytes of unknown charset: valid UTF-8 wins, else the most plausible fallback.

    Candidates are ranked on a sample so a megabyte body costs no more than a short one.
    """
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    sample = data[:_GUESS_SAMPLE_BYTES]
    ranked: list[tuple[float, int, str]] = []
    for order, name in enumerate(FALLBACK_CHARSETS):
        if name == "utf-8":
            continue
        try:
            text = sample.decode(name)
        except UnicodeDecodeError:
            continue
        ranked.append((_plausibility(text), -order, name))
    for _, _, name in sorted(ranked, reverse=True):
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", "replace"), "cp1252"


def decode_text(data: bytes, declared: str | None, defects: list[str] | None = None) -> str:
    """Decode body or header bytes: trust a declared charset that fits, otherwise guess."""
    codec = _lookup_charset(declared)
    if data.isascii() and (codec is None or not codec.startswith(_ASCII_COMPATIBLE_BREAKERS)):
        return data.decode("ascii")
    if codec is not None and codec not in _PERMISSIVE:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            pass
        else:
            if codec != "utf-8" and not codec.startswith(_ASCII_COMPATIBLE_BREAKERS):
                try:  # non-ASCII bytes that form valid UTF-8 are UTF-8 whatever the label says
                    utf8 = data.decode("utf-8")
                except UnicodeDecodeError:
                    return text
                if defects is not None:
                    defects.append(f"CharsetMismatch: declared {declared!r}, decoded as utf-8")
                return utf8
            return text
    if codec in _PERMISSIVE and codec != "ascii":
        text = data.decode(codec, "replace")
        has_c1_controls = any("\x80" <= c < "\xa0" for c in text)  # latin-1 label on cp125x
        if not has_c1_controls and "\ufffd" not in text:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return text
    text, used = _guess_decode(data)
    if defects is not None and (declared or used != "utf-8"):
        reason = "unknown" if declared and codec is None else "wrong" if declared else "missing"
        note = f"CharsetFallback: {reason} charset {declared!r}, decoded as {used}"
        if note not in defects:
            defects.append(note)
    return text


# --------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------


class _RawHeaderPolicy(Compat32):
    """compat32 that hands header values back untouched (str, folded, maybe 8-bit escaped)."""

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return value


_POLICY = _RawHeaderPolicy()
_PARSER = BytesParser(policy=_POLICY)
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


def _unfold(value: str) -> str:
    """Undo header folding (CRLF before whitespace); stray bare line breaks become spaces."""
    return _STRAY_NEWLINE.sub(" ", _FOLD.sub("", value)).strip()


def _b64_lenient(data: bytes) -> tuple[bytes, bool]:
    """Decode base64 that may carry junk, lost padding or several concatenated blocks."""
    cleaned = data.translate(None, _B64_KEEP)
    damaged = len(cleaned) != len(data.translate(None, b" \t\r\n"))
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


def _decode_words(text: str, defects: list[str] | None = None) -> str:
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
            data, damaged = _b64_lenient(payload.encode("utf-8", "surrogateescape"))
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


def _clean(text: str) -> str:
    """Drop NULs and other C0 controls that databases and browsers choke on."""
    if text.isprintable():
        return text
    return "".join(c for c in text if c.isprintable() or c in "\t\n")


def decode_header_value(value: str | None, defects: list[str] | None = None) -> str:
    """Unfold and decode one raw header value (encoded-words and raw 8-bit bytes alike)."""
    if not value:
        return ""
    text = _unfold(str(value))
    if not text.isascii():
        text = decode_text(_raw_bytes_safe(text), None, defects)
    return _clean(_decode_words(text, defects)).strip()


def _raw_bytes_safe(text: str) -> bytes:
    try:
        return _raw_bytes(text)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _addresses(value: str | None, defects: list[str]) -> list[tuple[str, str]]:
    """Parse an address header into (display name, lower-case address) pairs."""
    if not value:
        return []
    raw = _unfold(value)
    if not raw.isascii():
        raw = decode_text(_raw_bytes_safe(raw), None, defects)
    pairs = []
    try:
        parsed = getaddresses([raw])
    except Exception:  # noqa: BLE001 - the parser has raised on hostile input before
        defects.append("InvalidAddressHeader")
        return []
    for name, addr in parsed:
        addr = _clean(addr).strip().strip("<>").strip()
        if "@" not in addr or " " in addr:
            if addr or name:
                defects.append(f"InvalidAddress: {addr or name!r}"[:200])
            continue
        pairs.append((_clean(_decode_words(name, defects)).strip(), addr.lower()))
    return pairs


def _normalise_msgid(value: str | None) -> str | None:
    if not value:
        return None
    match = _MSGID.search(value)
    if match:
        return f"<{match.group(1)}>"
    token = _unfold(value).strip()
    if token and " " not in token and token.isascii() and token.isprintable():
        return f"<{token}>"
    return None


def _msgid_list(value: str | None) -> list[str]:
    if not value:
        return []
    found = [f"<{m}>" for m in _MSGID.findall(value)]
    if not found:
        single = _normalise_msgid(value)
        found = [single] if single else []
    seen: list[str] = []
    for mid in found:
        if mid not in seen:
            seen.append(mid)
    return seen


def _parse_date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(_unfold(value))
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
# --------------------------------------------------------------------------------------------

_AUTO_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autogenerated",
    "x-autoreply-from",
    "x-mail-autoreply",
)
_DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})


def _auto_reason(msg: Message, from_addr: str | None) -> str | None:
    """Why this mail was machine-sent (RFC 3834 and common conventions), or None."""
    auto = (msg.get("auto-submitted") or "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in _AUTO_HEADERS:
        if msg.get(name) is not None:
            return f"{name} header"
    if msg.get("list-id") is not None:
        return "List-Id header"
    return_path = msg.get("return-path")
    if return_path is not None and _unfold(return_path).strip(" <>") == "":
        return "empty Return-Path"
    senders = [from_addr or ""]
    sender_header = msg.get("sender")
    if sender_header:
        senders.extend(addr for _, addr in getaddresses([_unfold(sender_header)]))
    for addr in senders:
        if addr.split("@", 1)[0].lower() in _DAEMON_LOCALPARTS:
            return f"sender {addr.split('@', 1)[0].lower()}"
    if msg.get_content_type() == "multipart/report":
        report = str(msg.get_param("report-type") or "").strip().lower()
        if report in ("delivery-status", "disposition-notification"):
            return f"report: {report}"
    return None


# --------------------------------------------------------------------------------------------
# Bodies and attachments
# --------------------------------------------------------------------------------------------


@dataclass
class _Collected:
    """Bodies and files gathered while walking one (sub)tree of MIME parts."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)


@dataclass
class _Walk:
    """State shared by the whole walk."""

    max_attachment_bytes: int
    defects: list[str]
    include_forwarded_text: bool
    raw: bytes = b""
    elided: dict[str, tuple[int, int]] = field(default_factory=dict)
    counter: int = 0


_BAD_FILENAME_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def _part_defects(part: Message, walk: _Walk) -> None:
    for defect in getattr(part, "defects", ()):
        name = type(defect).__name__
        if name not in walk.defects:
            walk.defects.append(name)


def _transfer_encoding(part: Message) -> str:
    return str(part.get("content-transfer-encoding") or "").strip().lower()


def _elide_large_runs(raw: bytes) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """Set long base64 runs aside before MIME parsing, leaving a one-line marker each.

    The stdlib parser handles a 20 MB attachment line by line and holds several copies of it;
    with the runs set aside it only sees markers, and a part's bytes are read from ``raw``
    once, and only if the part is kept.
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


def _restore_elided(data: bytes, walk: _Walk) -> bytes:
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


def _elided_span(payload: str | bytes, walk: _Walk) -> tuple[int, int] | None:
    if not walk.elided or len(payload) > 200:
        return None
    key = payload.strip()
    return walk.elided.get(key if isinstance(key, str) else key.decode("ascii", "replace"))


def _raw_payload(part: Message) -> str | bytes:
    """The still-encoded payload; read directly so a large base64 string is never copied."""
    payload = getattr(part, "_payload", "")
    return payload if isinstance(payload, (str, bytes)) else ""


def _estimated_size(part: Message, walk: _Walk) -> int:
    """Decoded size of a leaf part, computed from its encoded form without decoding it."""
    payload = _raw_payload(part)
    span = _elided_span(payload, walk)
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
    if _transfer_encoding(part) != "base64":
        return encoded
    padding = len(tail) - len(tail.rstrip(b"="))
    return max(encoded * 3 // 4 - padding, 0)


def _decoded_payload(part: Message, walk: _Walk) -> bytes:
    """Transfer-decode a leaf part leniently (bad base64, stray spaces, uuencode)."""
    payload = _raw_payload(part)
    encoding = _transfer_encoding(part)
    span = _elided_span(payload, walk)
    if span is not None and encoding == "base64":
        start, end = span
        first_padding = walk.raw.find(b"=", start, end)
        if first_padding == -1 or first_padding >= end - 6:  # one block: decode in place
            try:
                return binascii.a2b_base64(memoryview(walk.raw)[start:end])
            except binascii.Error:
                pass
    data = payload if isinstance(payload, bytes) else _raw_bytes_safe(payload)
    data = _restore_elided(data, walk)
    if encoding == "base64":
        decoded, damaged = _b64_lenient(data)
        if damaged and "InvalidBase64Body" not in walk.defects:
            walk.defects.append("InvalidBase64Body")
        return decoded
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in ("x-uuencode", "uuencode", "uue", "x-uue"):
        return _uudecode(data, walk)
    return data


def _uudecode(data: bytes, walk: _Walk) -> bytes:
    out = []
    lines = iter(data.splitlines())
    for line in lines:
        if line.startswith(b"begin "):
            break
    for line in lines:
        if line.strip() in (b"end", b"`", b""):
            if line.strip() == b"end":
                break
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            walk.defects.append("InvalidUuencode")
            break
    return b"".join(out)


def _param(part: Message, name: str, header: str) -> str | None:
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
            text = decode_text(_raw_bytes_safe(text), None)
        text = _decode_words(text)
    return _clean(text).strip() or None


def _safe_filename(name: str | None) -> str | None:
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


def _default_filename(content_type: str, walk: _Walk) -> str:
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


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    if not value:
        return None
    text = _unfold(value).strip().strip("<>").strip()
    return text if text and text.isascii() else None


def _text_of(part: Message, walk: _Walk) -> str:
    """Decoded text of a text/* leaf, honouring charset lies and format=flowed."""
    data = _decoded_payload(part, walk)
    charset = part.get_content_charset(None)
    if charset is None and part.get_content_subtype() == "html":
        match = _META_CHARSET.search(data[:4096])
        if match:
            charset = match.group(1).decode("ascii", "replace")
    text = decode_text(data, charset, walk.defects)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_subtype() == "plain":
        fmt = str(part.get_param("format") or "").lower()
        if fmt == "flowed":
            text = _unflow(text, str(part.get_param("delsp") or "").lower() == "yes")
    return _clean(text)


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


def _attachment(
    part: Message,
    content_type: str,
    walk: _Walk,
    *,
    inline_default: bool,
    filename: str | None = None,
    payload: bytes | None = None,
    size: int | None = None,
) -> ParsedAttachment:
    """Build an attachment, dropping the payload unread when it is over the size limit."""
    content_id = _content_id(part)
    disposition = part.get_content_disposition()
    inline = disposition == "inline" or (inline_default and disposition != "attachment")
    if content_id and disposition != "attachment":
        inline = True
    if filename is None:
        filename = _safe_filename(
            _param(part, "filename", "content-disposition") or _param(part, "name", "content-type")
        )
    filename = filename or _default_filename(content_type, walk)
    if payload is None:
        estimated = _estimated_size(part, walk) if size is None else size
        if estimated > walk.max_attachment_bytes:
            return ParsedAttachment(
                filename,
                content_type,
                None,
                estimated,
                content_id,
                inline,
                f"larger than the {walk.max_attachment_bytes} byte limit",
            )
        payload = _decoded_payload(part, walk)
    if len(payload) > walk.max_attachment_bytes:
        return ParsedAttachment(
            filename,
            content_type,
            None,
            len(payload),
            content_id,
            inline,
            f"larger than the {walk.max_attachment_bytes} byte limit",
        )
    return ParsedAttachment(filename, content_type, payload, len(payload), content_id, inline)


def _content_type(part: Message) -> str:
    try:
        content_type = part.get_content_type()
    except Exception:  # noqa: BLE001
        return "application/octet-stream"
    if "/" not in content_type or not content_type.isascii() or " " in content_type:
        return "application/octet-stream"
    return content_type


def _walk(part: Message, walk: _Walk, depth: int = 0, related_child: bool = False) -> _Collected:
    """Collect bodies and attachments of one MIME (sub)tree."""
    found = _Collected()
    _part_defects(part, walk)
    content_type = _content_type(part)
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
                _attachment(part, content_type, walk, inline_default=False, payload=text)
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
    filename = _safe_filename(
        _param(part, "filename", "content-disposition") or _param(part, "name", "content-type")
    )
    if content_type.startswith("multipart/"):
        walk.defects.append("MultipartWithoutParts")
        found.plain.append(_text_of(part, walk))
    elif _is_body_text(part, content_type, filename):
        (found.html if content_type == "text/html" else found.plain).append(_text_of(part, walk))
    else:
        found.attachments.append(
            _attachment(part, content_type, walk, inline_default=related_child, filename=filename)
        )
    return found


def _walk_as_attachment(part: Message, walk: _Walk, depth: int) -> _Collected:
    """Report parts (delivery status, returned mail) are files, never the ticket text."""
    content_type = _content_type(part)
    if content_type == "message/rfc822" and part.is_multipart():
        found = _Collected()
        inner = part.get_payload(0)
        data = _serialise(inner, walk) if isinstance(inner, Message) else b""
        found.attachments.append(
            _attachment(
                part,
                content_type,
                walk,
                inline_default=False,
                payload=data,
                filename=_safe_filename(_param(part, "filename", "content-disposition"))
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
            _attachment(part, content_type, walk, inline_default=False, payload=data, filename=None)
        )
    else:
        found.attachments.append(_attachment(part, content_type, walk, inline_default=False))
    return found


def _serialise(message: Message, walk: _Walk) -> bytes:
    try:
        return _restore_elided(message.as_bytes(), walk)
    except Exception as exc:  # noqa: BLE001 - generator trips on some broken trees
        walk.defects.append(f"UnserialisablePart: {type(exc).__name__}")
        return b""


def _tree_size(part: Message, walk: _Walk) -> int:
    """Rough size of a nested message without serialising it (to refuse huge ones early)."""
    payload = getattr(part, "_payload", "")
    if isinstance(payload, list):
        children = (c for c in payload if isinstance(c, Message))
        return sum(_tree_size(child, walk) for child in children) + 200
    if not isinstance(payload, (str, bytes)):
        return 200
    span = _elided_span(payload, walk)
    return (span[1] - span[0] if span else len(payload)) + 200


def _forwarded(part: Message, walk: _Walk, depth: int, found: _Collected) -> None:
    """Keep a forwarded mail as an .eml file and, if wanted, quote its text in the body."""
    inner = part.get_payload(0)
    if not isinstance(inner, Message):
        return
    subject = decode_header_value(inner.get("subject"), walk.defects)
    filename = _safe_filename(_param(part, "filename", "content-disposition"))
    filename = filename or _safe_filename(f"{subject[:80]}.eml" if subject else None)
    estimated = _tree_size(inner, walk)
    if estimated > walk.max_attachment_bytes:
        found.attachments.append(
            _attachment(
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
            _attachment(
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


def _alternative(children: list[Message], walk: _Walk, depth: int, found: _Collected) -> None:
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
    part: Message, children: list[Message], walk: _Walk, depth: int, found: _Collected
) -> None:
    """The root part is the body; the others are resources it references (cid: images)."""
    if not children:
        return
    start = str(part.get_param("start") or "").strip().strip("<>")
    root_index = 0
    if start:
        for index, child in enumerate(children):
            if _content_id(child) == start:
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
) -> ParsedMessage:
    """Parse raw mail bytes into a ParsedMessage; never raises, problems go to ``defects``."""
    raw = bytes(raw)
    try:
        return _parse(raw, max_attachment_bytes, ticket_tag_pattern, include_forwarded_text)
    except Exception as exc:  # noqa: BLE001 - the contract is to never fail on input
        return _unparseable(raw, exc, ticket_tag_pattern)


def _parse(
    raw: bytes,
    max_attachment_bytes: int,
    ticket_tag_pattern: str | re.Pattern[str],
    include_forwarded_text: bool,
) -> ParsedMessage:
    parseable, elided = _elide_large_runs(raw)
    msg = _PARSER.parsebytes(parseable)
    del parseable
    defects: list[str] = []
    walk = _Walk(max_attachment_bytes, defects, include_forwarded_text, raw, elided)

    message_id = _normalise_msgid(msg.get("message-id"))
    if message_id is None:
        defects.append("MissingMessageId")
        message_id = _fallback_message_id(raw)
    subject = decode_header_value(msg.get("subject"), defects)
    senders = _addresses(msg.get("from"), defects)
    from_name, from_addr = senders[0] if senders else ("", None)
    if from_addr is None:
        defects.append("MissingFrom")
    reply_to = _addresses(msg.get("reply-to"), defects)
    to = [addr for _, addr in _addresses(", ".join(msg.get_all("to") or []), defects)]
    cc = [addr for _, addr in _addresses(", ".join(msg.get_all("cc") or []), defects)]

    found = _walk(msg, walk)
    plain = "\n\n".join(t.strip("\n") for t in found.plain if t.strip())
    html_source = "\n".join(found.html)
    html = sanitize_html(html_source) if html_source.strip() else ""
    text = plain if plain.strip() else html_to_text(html_source)

    reason = _auto_reason(msg, from_addr)
    return ParsedMessage(
        message_id=message_id,
        in_reply_to=_normalise_msgid(msg.get("in-reply-to")),
        references=_msgid_list(msg.get("references")),
        subject=subject,
        from_addr=from_addr,
        from_name=from_name,
        to=to,
        cc=cc,
        reply_to=reply_to[0][1] if reply_to else None,
        date=_parse_date(msg.get("date"), defects),
        text=_tidy_text(text, defects),
        html=html or None,
        attachments=found.attachments,
        is_auto=reason is not None,
        auto_reason=reason,
        ticket_tag=_tag(subject, ticket_tag_pattern),
        defects=defects,
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
        text = _clean(decode_text(body or raw, None))[:MAX_TEXT_CHARS]
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
    )
