"""Parsers of files exported by other systems (LogMeIn Rescue, Asterisk) into time-entry facts.

Shared pieces: reading a file line by line whatever its encoding, reporting a bad row by its
physical line number, and turning the naive local times of an export into aware UTC datetimes.
Parsers stream: a 100 MB export is never held in memory at once.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

__all__ = [
    "ImportFileError",
    "ParseError",
    "Source",
    "decoded_lines",
    "localize",
    "parse_hms",
    "row_error",
    "zone",
]

#: A file to import: a path, a binary file object, the whole content, or an iterable of byte lines.
Source = str | os.PathLike[str] | bytes | BinaryIO | Iterable[bytes]

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class ParseError:
    """A row the importer could not read: its 1-based physical line in the file, and why."""

    line_no: int
    message: str
    #: The reason's code and parameters (see :mod:`.reasons`), for a translated text.
    code: str = field(default="", compare=False)
    params: dict[str, Any] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}"


def row_error(line_no: int, code: str, **params: Any) -> ParseError:
    """A bad row with its reason (English message, code and parameters)."""
    from .reasons import english

    return ParseError(line_no, english(code, params), code, params)


class ImportFileError(ValueError):
    """Raised in strict mode at the first bad row; ``error`` says where and why."""

    def __init__(self, error: ParseError) -> None:
        super().__init__(str(error))
        self.error = error


def strict(items: Iterable[Any], collect_errors: bool) -> Iterator[Any]:
    """Pass rows through; unless errors are collected, the first bad row stops the import."""
    for item in items:
        if isinstance(item, ParseError) and not collect_errors:
            raise ImportFileError(item)
        yield item


def split_errors(items: Iterable[Any]) -> tuple[list[Any], list[ParseError]]:
    """Good rows and bad rows of a whole file, in file order."""
    good: list[Any] = []
    bad: list[ParseError] = []
    for item in items:
        (bad if isinstance(item, ParseError) else good).append(item)
    return good, bad


def zone(tz: str | tzinfo) -> tzinfo:
    """A tzinfo from a zone name or a tzinfo."""
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def localize(naive: datetime, tz: tzinfo, not_before: datetime | None = None) -> datetime:
    """Aware UTC datetime of a naive local time of ``tz``.

    In the repeated hour of an autumn DST change the first occurrence is taken, unless that
    would put the time before ``not_before`` (an end before its start), then the second.
    """
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if not_before is not None and first < not_before:
        second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
        if second >= not_before:
            return second
    return first


def decoded_lines(source: Source, encoding: str | None = None) -> Iterator[str]:
    """Text lines (with their line ends) of a file, read lazily.

    Without ``encoding``: a UTF-16 byte-order mark selects UTF-16, a UTF-8 one is dropped, and each
    line is decoded as UTF-8, or as Windows-1252 when it is not valid UTF-8 (Excel and the Windows
    tools that make these exports save in the ANSI code page).
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            yield from _decode(fh, encoding)
    elif isinstance(source, bytes | bytearray):
        yield from _decode(io.BytesIO(source), encoding)
    else:
        yield from _decode(source, encoding)


def _decode(lines: Iterable[bytes], encoding: str | None) -> Iterator[str]:
    it = iter(lines)
    first = next(it, b"")
    if not first:
        return
    if encoding is None and first.startswith(_UTF16_BOMS):
        yield from _decode_stream(first, it, "utf-16")
        return
    if encoding is not None and codecs.lookup(encoding).name.startswith("utf-16"):
        yield from _decode_stream(first, it, encoding)
        return
    utf8 = encoding is None or codecs.lookup(encoding).name == "utf-8"
    if utf8 and first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    yield _decode_line(first, encoding)
    for raw in it:
        yield _decode_line(raw, encoding)


def _decode_line(raw: bytes, encoding: str | None) -> str:
    if encoding is not None:
        return raw.decode(encoding, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _decode_stream(first: bytes, rest: Iterator[bytes], encoding: str) -> Iterator[str]:
    """Lines of a multi-byte encoding whose newline is not the byte 0x0A alone (UTF-16)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    pending = ""
    for chunk in _chain_bytes(first, rest):
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _chain_bytes(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    buf = bytearray()
    for piece in rest:
        buf += piece
        if len(buf) >= _CHUNK:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


_HMS_RE = re.compile(r"([0-9]+):([0-5][0-9]):([0-5][0-9])")


def parse_hms(text: str) -> int | None:
    """Seconds of an ``H:MM:SS`` duration (hours may exceed 24), or None if malformed."""
    match = _HMS_RE.fullmatch(text.strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds)
