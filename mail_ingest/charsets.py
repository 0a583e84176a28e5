"""Charsets of mail text: declared ones checked, stateful 7-bit codecs, CJK-aware guessing.

Real mail lies about its charset, declares none, or uses ISO-2022-JP (7-bit, stateful: pure
ASCII bytes that mean Japanese). ``decode_text`` trusts a declared charset only when the bytes
fit it, then tries the other charsets the message declares, then a CJK-aware guess (EUC-family
double-byte runs, kana), then the Latin/Cyrillic guess of the languages our clients write. When
nothing fits it decodes with U+FFFD replacement characters and says so in ``defects``: never
silent garbage.
"""

from __future__ import annotations

import codecs
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

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
_GUESS_SAMPLE_BYTES = 8192


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



#: Stateful 7-bit codecs, tried when ASCII bytes carry ESC sequences (RFC 1468, 1554, 1557).
ISO_2022_CODECS: tuple[str, ...] = ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3",
                                    "iso2022_kr")
_ISO_2022_ESCAPE = re.compile(rb"\x1b[$(][@ABDJ]|\x1b\$\)C|\x1b\$\([ABDOPQ]|\x1b\.[AF]|\x1bN")
_HZ_ESCAPE = re.compile(rb"~\{[\x21-\x7e]{2}")
#: Decodings of the EUC family, whose double-byte characters have both bytes >= 0xA1.
_EUC_CODECS = ("gb18030", "euc_jp", "euc_kr")
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CJK = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")
#: Latin guesses scoring below this are judged garbage: replacement characters instead.
_GARBAGE_SCORE = -0.5


def _stateful_7bit(data: bytes, codec: str | None) -> tuple[str, str] | None:
    """ISO-2022-* (or HZ) text hidden in ASCII bytes, decoded; None when there is none."""
    if codec is not None and (codec.startswith("iso2022") or codec == "hz"):
        candidates: Iterable[str] = (codec, *ISO_2022_CODECS)
    elif b"\x1b" in data and _ISO_2022_ESCAPE.search(data):
        candidates = ISO_2022_CODECS
    elif b"~{" in data and _HZ_ESCAPE.search(data) and codec in (None, "hz"):
        candidates = ("hz",)
    else:
        return None
    for name in candidates:
        try:
            return data.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _cjk_guess(data: bytes) -> tuple[str, str] | None:
    """An EUC-family decoding (GB2312/GBK, EUC-JP, EUC-KR) when the bytes look like one.

    Latin and Cyrillic 8-bit text has mostly single high bytes between ASCII letters; CJK text
    in the EUC family comes in runs of high-byte pairs. Kana decide for Japanese, Hangul rows
    for Korean, otherwise Chinese.
    """
    runs = _HIGH_RUN.findall(data[:_GUESS_SAMPLE_BYTES])
    high = sum(len(run) for run in runs)
    paired = sum(len(run) for run in runs if len(run) % 2 == 0)
    if high < 4 or paired < 0.9 * high:
        return None
    decoded: dict[str, str] = {}
    for name in _EUC_CODECS:
        try:
            decoded[name] = data.decode(name)
        except UnicodeDecodeError:
            continue
    if not decoded:
        return None

    def share(pattern: re.Pattern[str], text: str) -> float:
        wide = sum(1 for c in text if c >= "\u0080")
        return len(pattern.findall(text)) / wide if wide else 0.0

    if "euc_jp" in decoded and share(_KANA, decoded["euc_jp"]) > 0.15:
        return decoded["euc_jp"], "euc_jp"
    if "euc_kr" in decoded and share(_HANGUL, decoded["euc_kr"]) > 0.9:
        return decoded["euc_kr"], "euc_kr"
    for name in ("gb18030", "euc_jp", "euc_kr"):
        if name in decoded and share(_CJK, decoded[name]) > 0.9:
            return decoded[name], name
    return None


def _guess_decode(data: bytes) -> tuple[str, str] | None:
    """Decode bytes of unknown charset: valid UTF-8 wins, then a CJK decoding that fits, then
    the most plausible Latin/Cyrillic table; None when every guess looks like garbage.

    Candidates are ranked on a sample so a megabyte body costs no more than a short one.
    """
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    cjk = _cjk_guess(data)
    if cjk is not None:
        return cjk
    sample = data[:_GUESS_SAMPLE_BYTES]
    high = sum(1 for byte in sample if byte >= 0x80) or 1
    ranked: list[tuple[float, int, str]] = []
    for order, name in enumerate(FALLBACK_CHARSETS):
        if name == "utf-8":
            continue
        try:
            text = sample.decode(name)
        except UnicodeDecodeError:
            continue
        ranked.append((_plausibility(text), -order, name))
    for score, _, name in sorted(ranked, reverse=True):
        if score / high < _GARBAGE_SCORE:
            return None
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    return None


def _strict(data: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _note(defects: list[str] | None, note: str) -> None:
    if defects is not None and note not in defects:
        defects.append(note)


def decode_text(
    data: bytes,
    declared: str | None,
    defects: list[str] | None = None,
    alternatives: Iterable[str | None] = (),
) -> str:
    """Decode body or header bytes: a declared charset that fits, else the message's other
    declared charsets (``alternatives``), else a guess; replacement characters and a
    ``CharsetUndecodable`` defect when nothing fits."""
    codec = _lookup_charset(declared)
    if data.isascii() and (codec is None or not codec.startswith(_ASCII_COMPATIBLE_BREAKERS)):
        stateful = _stateful_7bit(data, codec)
        if stateful is not None:
            return stateful[0]
        return data.decode("ascii")
    if codec is not None and codec not in _PERMISSIVE:
        text = _strict(data, codec)
        if text is not None:
            if codec != "utf-8" and not codec.startswith(_ASCII_COMPATIBLE_BREAKERS):
                try:  # non-ASCII bytes that form valid UTF-8 are UTF-8 whatever the label says
                    utf8 = data.decode("utf-8")
                except UnicodeDecodeError:
                    return text
                _note(defects, f"CharsetMismatch: declared {declared!r}, decoded as utf-8")
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
    reason = "unknown" if declared and codec is None else "wrong" if declared else "missing"
    for other in alternatives:
        other_codec = _lookup_charset(other)
        if other_codec in (None, codec) or other_codec in _PERMISSIVE:
            continue
        text = _strict(data, other_codec)
        if text is not None:
            _note(defects, f"CharsetFallback: {reason} charset {declared!r}, decoded as "
                           f"{other_codec} (declared elsewhere in the message)")
            return text
    guessed = _guess_decode(data)
    if guessed is None:
        _note(defects, f"CharsetUndecodable: {reason} charset {declared!r}; "
                       "undecodable bytes replaced by U+FFFD")
        return data.decode(codec if codec and codec not in _PERMISSIVE else "utf-8", "replace")
    text, used = guessed
    if declared or used != "utf-8":
        _note(defects, f"CharsetFallback: {reason} charset {declared!r}, decoded as {used}")
    return text
