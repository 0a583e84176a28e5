"""LogMeIn Rescue "Session (List All)" reports: the API's TEXT output and the CSV export.

The TEXT form (``getReport_v2``) is ``OK``, a header line, then one line per session with fields
separated by ``|``, which is *not* escaped inside values. A row with more fields than the header
therefore has a ``|`` inside some value; it is read only when exactly one placement of the extra
separators gives valid dates, IDs and durations in the typed columns (a ``|`` in the technician's
name between a date and a numeric ID, say). Otherwise (a ``|`` in one of several neighbouring
free-text columns such as ``Name`` and ``Custom field 1``) the row is reported, never guessed.

The CSV export has the same headers, comma-separated with quoting (semicolon- and tab-separated
files from spreadsheets are recognised too).

Accounts rename ``Name`` and the custom fields, so the caller names the column that holds the
customer and the duration column to bill (``Work Time`` by default; ``Total Time`` includes
waiting and hold). Report times are naive local times of the zone the report was run in: pass
that zone; the sessions carry aware UTC datetimes.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import chain, combinations_with_replacement
from typing import Any

from . import (
    ParseError,
    Source,
    decoded_lines,
    localize,
    parse_hms,
    row_error,
    split_errors,
    strict,
    zone,
)

__all__ = ["LogmeinImport", "LogmeinSession", "iter_sessions", "parse_sessions"]

START = "Start Time"
END = "End Time"
SESSION_ID = "Session ID"
TECHNICIAN_NAME = "Technician Name"
TECHNICIAN_EMAIL = "Technician Email"

#: Typed columns of the standard report, used to place a ``|`` found inside a TEXT value.
_DATETIME_COLUMNS = ("start time", "end time", "last action time")
_INTEGER_COLUMNS = ("technician id", "session id", "channel id")
_DURATION_COLUMNS = (
    "connecting time",
    "waiting time",
    "total time",
    "active time",
    "work time",
    "hold time",
    "time in transfer",
    "rebooting time",
    "reconnecting time",
)
_IP_RE = re.compile(r"^[0-9A-Fa-f:.]+$")
#: More separators than this in one row are not worth untangling.
_MAX_EXTRA_SEPARATORS = 3

#: The date forms seen in Rescue reports (the Admin Center's locale decides): ISO, US
#: ``M/D/YYYY h:mm[:ss] AM``, day-first ``D/M/YYYY`` and ``D.M.YYYY[.]``, with or without seconds.
_ISO_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_SLASHED_RE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}),? (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?([AaPp])\.?[Mm]\.?)?"
)
_DOTTED_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})\.?,? (\d{1,2}):(\d{2})(?::(\d{2}))?")


@dataclass(frozen=True, slots=True)
class LogmeinSession:
    """One remote-support session of the report."""

    #: Physical line of the file where the row starts (1-based).
    line_no: int
    session_id: str
    start: datetime
    #: None while the session is still open.
    end: datetime | None
    technician_name: str
    technician_email: str
    customer: str
    #: Seconds of the chosen duration column (``Work Time`` by default).
    billable_seconds: int
    raw: dict[str, str] = field(repr=False)


@dataclass
class LogmeinImport:
    """All sessions and all bad rows of one file."""

    sessions: list[LogmeinSession]
    errors: list[ParseError]


class _DateParser:
    """Reads the report's naive local date-times (regular expressions: strptime is too slow)."""

    def __init__(self, day_first: bool) -> None:
        self.day_first = day_first

    def __call__(self, text: str) -> datetime | None:
        text = " ".join(text.split())
        meridiem = None
        if match := _ISO_RE.fullmatch(text):
            year, month, day, hour, minute, second = match.groups()
        elif match := _SLASHED_RE.fullmatch(text):
            first, other, year, hour, minute, second, meridiem = match.groups()
            month, day = (other, first) if self.day_first else (first, other)
        elif match := _DOTTED_RE.fullmatch(text):
            day, month, year, hour, minute, second = match.groups()
        else:
            return None
        h = int(hour)
        if meridiem:
            if not 1 <= h <= 12:
                return None
            h = h % 12 + (12 if meridiem in "Pp" else 0)
        try:
            return datetime(int(year), int(month), int(day), h, int(minute), int(second or 0))
        except ValueError:
            return None


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def iter_sessions(
    source: Source,
    tz: str | tzinfo,
    *,
    customer_column: str = "Name",
    duration_column: str = "Work Time",
    fmt: str = "auto",
    delimiter: str = "|",
    day_first: bool = False,
    collect_errors: bool = False,
    encoding: str | None = None,
    columns: dict[str, str] | None = None,
) -> Iterator[LogmeinSession | ParseError]:
    """Sessions of a report file, one at a time.

    A bad row raises :class:`ImportFileError` (strict) or, with ``collect_errors``, is yielded
    as a :class:`ParseError` and reading goes on. A file whose header lacks a needed column is
    always reported at once. ``fmt`` is ``"auto"``, ``"text"`` or ``"csv"``; ``delimiter`` is the
    TEXT separator (the API's ``setDelimiter``); ``day_first`` reads ``01/02/2025`` as 1 February.
    ``columns`` renames the fixed columns an account renamed: keys ``start``, ``end``,
    ``session_id``, ``technician_name``, ``technician_email`` (values: the file's headers).
    """
    if fmt not in ("auto", "text", "csv"):
        raise ValueError(f"fmt must be 'auto', 'text' or 'csv', not {fmt!r}")
    reader = _Reader(
        tz=zone(tz),
        customer_column=customer_column,
        duration_column=duration_column,
        delimiter=delimiter,
        day_first=day_first,
        columns=columns,
    )
    yield from strict(reader.read(decoded_lines(source, encoding), fmt), collect_errors)


def parse_sessions(source: Source, tz: str | tzinfo, **options: Any) -> LogmeinImport:
    """All sessions and every bad row of a report (``iter_sessions`` collecting errors)."""
    sessions, errors = split_errors(iter_sessions(source, tz, collect_errors=True, **options))
    return LogmeinImport(sessions, errors)


class _Reader:
    def __init__(
        self,
        *,
        tz: tzinfo,
        customer_column: str,
        duration_column: str,
        delimiter: str,
        day_first: bool,
        columns: dict[str, str] | None = None,
    ) -> None:
        columns = {k: v for k, v in (columns or {}).items() if v}
        self.start_col = columns.get("start", START)
        self.end_col = columns.get("end", END)
        self.session_col = columns.get("session_id", SESSION_ID)
        self.tech_name_col = columns.get("technician_name", TECHNICIAN_NAME)
        self.tech_email_col = columns.get("technician_email", TECHNICIAN_EMAIL)
        if not delimiter:
            raise ValueError("the TEXT delimiter must not be empty")
        self.tz = tz
        self.customer_column = customer_column
        self.duration_column = duration_column
        self.delimiter = delimiter
        self.parse_date = _DateParser(day_first)
        self.header: list[str] = []
        self.index: dict[str, int] = {}
        self.positions: tuple[int | None, ...] | None = None

    # -- file structure ------------------------------------------------------------------

    def read(self, lines: Iterator[str], fmt: str) -> Iterator[LogmeinSession | ParseError]:
        numbered = enumerate(lines, 1)
        first = next(((n, line) for n, line in numbered if line.strip()), None)
        if first is None:
            yield row_error(1, "empty_file")
            return
        line_no, line = first
        stripped = line.strip()
        if stripped == "OK":
            first = next(((n, line) for n, line in numbered if line.strip()), None)
            if first is None:
                yield row_error(line_no, "no_header_after_ok")
                return
            line_no, line = first
        elif re.fullmatch(r"[A-Z][A-Z_]*", stripped):
            yield row_error(line_no, "not_a_report", answer=stripped)
            return
        if fmt == "auto":
            fmt = "text" if self.delimiter in line else "csv"
        if fmt == "text":
            yield from self._read_text(line_no, line, numbered)
        else:
            yield from self._read_csv(line_no, line, numbered)

    def _set_header(self, line_no: int, names: list[str]) -> ParseError | None:
        names = [name.strip() for name in names]
        while names and not names[-1]:
            names.pop()
        seen: Counter[str] = Counter()
        header = []
        for name in names:
            seen[name] += 1
            header.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
            self.index.setdefault(_norm(name), len(header) - 1)
        self.header = header
        needed = (self.start_col, self.session_col, self.customer_column, self.duration_column)
        missing = [name for name in needed if _norm(name) not in self.index]
        if missing:
            return row_error(line_no, "header_missing",
                             columns=", ".join(map(repr, missing)), found=", ".join(header))
        return None

    def _read_text(
        self, header_no: int, header_line: str, numbered: Iterator[tuple[int, str]]
    ) -> Iterator[LogmeinSession | ParseError]:
        error = self._set_header(header_no, header_line.rstrip("\r\n").split(self.delimiter))
        if error:
            yield error
            return
        kinds = self._column_kinds()
        for line_no, line in numbered:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            values = self._split_text_row(text, kinds)
            if isinstance(values, tuple):
                yield row_error(line_no, values[0], **values[1])
            else:
                yield self._session(line_no, values)

    def _read_csv(
        self, header_no: int, header_line: str, numbered: Iterator[tuple[int, str]]
    ) -> Iterator[LogmeinSession | ParseError]:
        counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
        sep = max(counts, key=lambda s: counts[s])
        rows = csv.reader(chain([header_line], (line for _, line in numbered)), delimiter=sep)
        offset = header_no - 1
        try:
            header = next(rows)
        except csv.Error as exc:
            yield row_error(header_no, "unreadable_header", error=str(exc))
            return
        error = self._set_header(header_no, header)
        if error:
            yield error
            return
        width = len(self.header)
        while True:
            line_no = offset + rows.line_num + 1
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                yield row_error(line_no, "unreadable_csv", error=str(exc))
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            while len(row) > width and not row[-1].strip():
                row.pop()
            if len(row) != width:
                yield row_error(line_no, "field_count", count=len(row), width=width)
                continue
            yield self._session(line_no, [value.strip() for value in row])

    # -- TEXT rows with a separator inside a value ---------------------------------------

    def _column_kinds(self) -> list[str | None]:
        """Per column: the kind of value it must hold ("date", "int", ...), None for free text."""
        duration = _norm(self.duration_column)
        kinds: list[str | None] = []
        for name in self.header:
            key = _norm(name)
            if key in _DATETIME_COLUMNS or key in (_norm(self.start_col), _norm(self.end_col)):
                kinds.append("date")
            elif key in _INTEGER_COLUMNS or key == _norm(self.session_col):
                kinds.append("int")
            elif key in _DURATION_COLUMNS or key == duration:
                kinds.append("duration")
            elif key == "customer ip":
                kinds.append("ip")
            elif key == "technician email":
                kinds.append("email")
            else:
                kinds.append(None)
        return kinds

    def _valid(self, kind: str, value: str) -> bool:
        if not value:
            return True
        if kind == "date":
            return self.parse_date(value) is not None
        if kind == "int":
            return value.isascii() and value.isdigit()
        if kind == "duration":
            return parse_hms(value) is not None
        if kind == "ip":
            return _IP_RE.match(value) is not None
        return "@" in value and not any(ch.isspace() for ch in value)

    def _split_text_row(
        self, text: str, kinds: list[str | None]
    ) -> list[str] | tuple[str, dict[str, Any]]:
        """The row's values, or the reason (code, parameters) why it cannot be read."""
        sep = self.delimiter
        fields = text.split(sep)
        width = len(self.header)
        if len(fields) > width and not fields[-1].strip():
            fields.pop()  # a trailing separator
        extra = len(fields) - width
        if extra < 0:
            return "field_count", {"count": len(fields), "width": width}
        if extra == 0:
            return [value.strip() for value in fields]
        if extra > _MAX_EXTRA_SEPARATORS:
            return "field_count_separator", {"count": len(fields), "width": width,
                                            "separator": sep}
        free = [i for i, kind in enumerate(kinds) if kind is None]
        found: list[tuple[list[str], Counter[int]]] = []
        holders: set[int] = set()
        for combo in combinations_with_replacement(free, extra):
            spread = Counter(combo)
            values = self._place(fields, kinds, spread)
            if values is not None:
                found.append((values, spread))
                holders.update(spread)
        if len(found) == 1:
            return found[0][0]
        if not found:
            return "field_count_unplaced", {"count": len(fields), "width": width,
                                            "separator": sep}
        names = ", ".join(self.header[i] for i in sorted(holders))
        return "field_count_ambiguous", {"count": len(fields), "width": width,
                                         "separator": sep, "columns": names}

    def _place(
        self, fields: list[str], kinds: list[str | None], spread: Counter[int]
    ) -> list[str] | None:
        """Values when column ``i`` takes ``spread[i]`` extra fields, if the typed ones are valid."""
        values = []
        pos = 0
        for i, kind in enumerate(kinds):
            take = 1 + spread.get(i, 0)
            value = self.delimiter.join(fields[pos : pos + take]).strip()
            pos += take
            if kind is not None and not self._valid(kind, value):
                return None
            values.append(value)
        return values

    # -- one session ---------------------------------------------------------------------

    def _column_values(self, values: list[str]) -> tuple[str, ...]:
        """Start, end, session ID, duration, technician name and email, customer of a row."""
        positions = self.positions
        if positions is None:
            names = (self.start_col, self.end_col, self.session_col, self.duration_column,
                     self.tech_name_col, self.tech_email_col, self.customer_column)
            positions = self.positions = tuple(self.index.get(_norm(name)) for name in names)
        return tuple("" if i is None else values[i] for i in positions)

    def _session(self, line_no: int, values: list[str]) -> LogmeinSession | ParseError:
        start_text, end_text, session_id, duration_text, tech_name, tech_email, customer = (
            self._column_values(values)
        )
        start_naive = self.parse_date(start_text) if start_text else None
        if start_naive is None:
            return row_error(line_no, "not_a_date", column=self.start_col, value=start_text)
        end_naive = self.parse_date(end_text) if end_text else None
        if end_text and end_naive is None:
            return row_error(line_no, "not_a_date", column=self.end_col, value=end_text)
        if not session_id:
            return row_error(line_no, "empty_value", column=self.session_col)
        seconds = parse_hms(duration_text)
        if seconds is None:
            return row_error(line_no, "not_a_duration", column=self.duration_column,
                             value=duration_text)
        start = localize(start_naive, self.tz)
        end = localize(end_naive, self.tz, not_before=start) if end_naive else None
        if end is not None and end < start:
            return row_error(line_no, "session_ends_before_start", end=end_text)
        return LogmeinSession(
            line_no=line_no,
            session_id=session_id,
            start=start,
            end=end,
            technician_name=tech_name,
            technician_email=tech_email,
            customer=customer,
            billable_seconds=seconds,
            raw=dict(zip(self.header, values, strict=True)),
        )
