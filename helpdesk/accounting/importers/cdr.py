"""Asterisk call detail records: ``Master.csv`` of cdr_csv, and FreePBX's CSV export.

``Master.csv`` has no header. Its columns are fixed (``accountcode`` ... ``amaflags``), followed by
``uniqueid`` (``loguniqueid=yes``), ``userfield`` (``loguserfield=yes``) and ``peeraccount,
linkedid, sequence`` (``newcdrcolumns=yes``). The optional ones are recognised per row from the
number of fields (a lone 17th field is a uniqueid when it looks like ``1496260158.0``, else a
user field), so a file written before and after a configuration change still reads; pass
``extra_columns`` to fix the layout instead. Dates are local to the PBX (give its zone, or
``"UTC"`` with ``usegmtime=yes``); an unanswered call has an empty ``answer``.

FreePBX's CDR report export has a header row beginning ``calldate`` and no answer or end time:
the end is ``calldate + duration`` and the answer ``end - billsec`` for answered calls.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import chain
from typing import Any

from . import (
    ParseError,
    Source,
    decoded_lines,
    localize,
    row_error,
    split_errors,
    strict,
    zone,
)

__all__ = [
    "CdrCall",
    "CdrImport",
    "SupportCall",
    "channel_peer",
    "iter_calls",
    "normalize_phone",
    "parse_calls",
    "support_calls",
]

BASE_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")
OPTIONAL_COLUMNS = ("uniqueid", "userfield", *NEW_COLUMNS)
_UNIQUEID_RE = re.compile(r"^(?:\S+-)?\d+\.\d+$")
_FREEPBX_REQUIRED = ("calldate", "src", "dst", "duration", "billsec", "disposition")
#: Fields a saved mapping may name (each to a header of the file) and those it must name.
MAPPED_FIELDS = ("src", "dst", "start", "answer", "end", "duration", "billsec", "uniqueid",
                 "disposition", "notes", "ticket")
MAPPED_REQUIRED = ("src", "dst", "start", "billsec")
_TEXT_FIELDS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
    "peeraccount",
    "linkedid",
    "did",
)

INBOUND = "in"
OUTBOUND = "out"


@dataclass(frozen=True, slots=True)
class CdrCall:
    """One call detail record."""

    #: Physical line of the file where the record starts (1-based).
    line_no: int
    uniqueid: str
    src: str
    dst: str
    start: datetime
    #: None for a call nobody answered.
    answer: datetime | None
    end: datetime
    #: Seconds from start to end, ringing included.
    duration: int
    #: Seconds of talk time, from answer to end.
    billsec: int
    disposition: str
    accountcode: str = ""
    dcontext: str = ""
    clid: str = ""
    channel: str = ""
    dstchannel: str = ""
    lastapp: str = ""
    lastdata: str = ""
    amaflags: str = ""
    userfield: str = ""
    peeraccount: str = ""
    linkedid: str = ""
    sequence: int | None = None
    #: The dialled inbound number (FreePBX only).
    did: str = ""
    #: Text of a mapped ticket column (a ticket number such as ``#1234``), if any.
    ticket: str = ""


@dataclass
class CdrImport:
    """All calls and all bad rows of one file."""

    calls: list[CdrCall]
    errors: list[ParseError]


@dataclass(frozen=True, slots=True)
class SupportCall:
    """An answered call between a support extension and the outside world."""

    call: CdrCall
    #: "in" (the outside called us) or "out" (we called them).
    direction: str
    extension: str
    #: The outside party, normalised by :func:`normalize_phone` ("" when withheld).
    external_number: str
    #: The outside party as the PBX wrote it.
    raw_number: str

    @property
    def billable_seconds(self) -> int:
        """Talk time: what a phone entry bills."""
        return self.call.billsec


def normalize_phone(
    number: str,
    default_country_code: str = "381",
    *,
    international_prefix: str = "00",
    trunk_prefix: str = "0",
) -> str:
    """A phone number as international digits without "+" (``381641234567``), for matching.

    ``+381 64 123-4567``, ``00381641234567``, ``064/123-4567`` and ``+381 (0)64 1234567`` all give
    ``381641234567``; a national number (trunk prefix ``0``) gets ``default_country_code``.
    Numbers without a prefix (extensions, numbers the PBX already wrote internationally) keep
    their digits; no digits at all (``anonymous``) gives "".
    """
    if not default_country_code.isdigit():
        raise ValueError(f"country code must be digits: {default_country_code!r}")
    text = number.strip()
    lowered = text.lower()
    for scheme in ("tel:", "sips:", "sip:"):
        if lowered.startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.split("@", 1)[0].split(";", 1)[0].replace("(0)", "").strip()
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if not digits:
        return ""
    if text.startswith("+"):
        return digits
    if international_prefix and digits.startswith(international_prefix):
        return digits[len(international_prefix) :]
    if trunk_prefix and digits.startswith(trunk_prefix):
        return default_country_code + digits[len(trunk_prefix) :]
    return digits


def channel_peer(channel: str) -> str:
    """The endpoint of a channel name: ``PJSIP/201-0000002a`` and ``Local/201@from-queue-1;2``
    give ``201``; "" when there is none."""
    if "/" not in channel:
        return ""
    rest = channel.split("/", 1)[1]
    if "@" in rest:
        return rest.split("@", 1)[0]
    return rest.rsplit("-", 1)[0] if "-" in rest else rest


def _clid_number(clid: str) -> str:
    """The number in a caller ID such as ``"Ana" <0641234567>``."""
    match = re.search(r"<([^>]*)>", clid)
    return match.group(1).strip() if match else ""


def support_calls(
    calls: Iterable[CdrCall],
    extensions: Iterable[str],
    default_country_code: str = "381",
    *,
    outside_line_prefix: str = "",
) -> Iterator[SupportCall]:
    """The answered calls between a support extension and an outside number.

    A call is inbound when its destination (``dst``, or the endpoint of ``dstchannel``, which
    names the agent who picked up a queue or ring-group call) is a support extension and its
    source is not; outbound the other way round. Internal calls between extensions and calls
    that touch no support extension are left out. ``outside_line_prefix`` (e.g. "9") is removed
    from dialled numbers before normalising.
    """
    support = {ext.strip() for ext in extensions if ext.strip()}
    for call in calls:
        if call.disposition.upper() != "ANSWERED":
            continue
        src_ext = _extension_of(call.src, call.channel, support)
        dst_ext = _extension_of(call.dst, call.dstchannel, support)
        if dst_ext and not src_ext:
            raw = call.src.strip() or _clid_number(call.clid)
            yield SupportCall(
                call, INBOUND, dst_ext, normalize_phone(raw, default_country_code), raw
            )
        elif src_ext and not dst_ext:
            raw = call.dst.strip()
            dialled = raw
            if outside_line_prefix and dialled.startswith(outside_line_prefix):
                dialled = dialled[len(outside_line_prefix) :]
            yield SupportCall(
                call, OUTBOUND, src_ext, normalize_phone(dialled, default_country_code), raw
            )


def _extension_of(number: str, channel: str, support: set[str]) -> str:
    number = number.strip()
    if number in support:
        return number
    peer = channel_peer(channel)
    return peer if peer in support else ""


def iter_calls(
    source: Source,
    tz: str | tzinfo,
    *,
    extra_columns: Sequence[str] | None = None,
    collect_errors: bool = False,
    encoding: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> Iterator[CdrCall | ParseError]:
    """Calls of a ``Master.csv`` (or FreePBX export) file, one at a time.

    A bad row raises :class:`ImportFileError` (strict) or, with ``collect_errors``, is yielded
    as a :class:`ParseError` and reading goes on. ``extra_columns`` fixes the columns after
    ``amaflags`` (e.g. ``("uniqueid", "userfield")``) instead of recognising them per row.
    ``columns`` (a saved mapping: field -> header of the file, see :data:`MAPPED_FIELDS`) reads
    any CSV export with a header row instead.
    """
    if extra_columns is not None:
        unknown = [name for name in extra_columns if name not in OPTIONAL_COLUMNS]
        if unknown:
            raise ValueError(f"unknown CDR columns {unknown}; known: {OPTIONAL_COLUMNS}")
    parser = _CdrParser(zone(tz), None if extra_columns is None else tuple(extra_columns),
                        {k: v for k, v in (columns or {}).items() if v and k in MAPPED_FIELDS})
    yield from strict(parser.read(decoded_lines(source, encoding)), collect_errors)


def parse_calls(source: Source, tz: str | tzinfo, **options: Any) -> CdrImport:
    """All calls and every bad row of a file (``iter_calls`` collecting errors)."""
    calls, errors = split_errors(iter_calls(source, tz, collect_errors=True, **options))
    return CdrImport(calls, errors)


class _RowError(ValueError):
    """A bad row: the reason's code and parameters (see :mod:`.reasons`)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


class _CdrParser:
    def __init__(self, tz: tzinfo, extra_columns: tuple[str, ...] | None,
                 mapped: dict[str, str] | None = None) -> None:
        self.tz = tz
        self.extra_columns = extra_columns
        self.header: dict[str, int] | None = None
        #: Field -> header of the file (a saved mapping); then field -> position.
        self.mapped = mapped or {}
        self.positions: dict[str, int] = {}

    def read(self, lines: Iterator[str]) -> Iterator[CdrCall | ParseError]:
        if self.mapped:  # another PBX's export: its separator is the header's commonest
            first_line = next(lines, "")
            sep = max((",", ";", "\t"), key=first_line.count)
            rows = csv.reader(chain([first_line], lines), delimiter=sep)
        else:
            rows = csv.reader(lines)
        first = True
        while True:
            line_no = rows.line_num + 1
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                yield row_error(line_no, "unreadable_csv", error=str(exc))
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if first and self.mapped:
                first = False
                error = self._set_mapped_header(line_no, row)
                if error:
                    yield error
                    return
                continue
            if self.positions:
                try:
                    yield self._mapped_row(line_no, row)
                except _RowError as exc:
                    yield row_error(line_no, exc.code, **self._labelled(exc.params))
                continue
            if first:
                first = False
                if row[0].strip().lower() == "calldate":
                    error = self._set_header(line_no, row)
                    if error:
                        yield error
                        return
                    continue
            try:
                yield self._freepbx(line_no, row) if self.header else self._master(line_no, row)
            except _RowError as exc:
                yield row_error(line_no, exc.code, **exc.params)

    # -- layouts -------------------------------------------------------------------------

    def _set_header(self, line_no: int, row: list[str]) -> ParseError | None:
        self.header = {}
        for i, name in enumerate(row):
            self.header.setdefault(name.strip().lower(), i)
        missing = [name for name in _FREEPBX_REQUIRED if name not in self.header]
        if missing:
            return row_error(line_no, "cdr_header_missing", columns=", ".join(missing))
        return None

    def _set_mapped_header(self, line_no: int, row: list[str]) -> ParseError | None:
        index: dict[str, int] = {}
        for i, name in enumerate(row):
            index.setdefault(" ".join(name.split()).casefold(), i)
        missing = []
        for field, header in self.mapped.items():
            position = index.get(" ".join(header.split()).casefold())
            if position is None:
                missing.append(repr(header))
            else:
                self.positions[field] = position
        absent = [f for f in MAPPED_REQUIRED if f not in self.mapped]
        if missing or absent:
            return row_error(line_no, "cdr_header_missing",
                             columns=", ".join(missing + [repr(f) for f in absent]))
        return None

    def _labelled(self, params: dict[str, Any]) -> dict[str, Any]:
        """A reason names the file's column, not the field it is mapped to."""
        column = params.get("column")
        return {**params, "column": self.mapped.get(column, column)} if column else params

    def _mapped_row(self, line_no: int, row: list[str]) -> CdrCall:
        """A row of a CSV export read through a saved mapping: the missing times follow from
        the others (end = start + duration, answer = end - talk time for an answered call)."""
        values = {field: row[i].strip() for field, i in self.positions.items() if i < len(row)}
        if len(values) < len(self.positions):
            raise _RowError("field_count", count=len(row), width=max(self.positions.values()) + 1)
        start = self._required_time(values, "start")
        billsec = _count(values, "billsec")
        duration = _count(values, "duration") if values.get("duration") else None
        answer = self._time(values, "answer", not_before=start)
        end = self._time(values, "end", not_before=answer or start)
        if end is None:
            end = start + timedelta(seconds=duration if duration is not None else billsec)
        if duration is None:
            duration = max(int((end - start).total_seconds()), billsec)
        disposition = values.get("disposition") or ("ANSWERED" if billsec > 0 else "NO ANSWER")
        if answer is None and disposition.upper() == "ANSWERED":
            answer = max(start, end - timedelta(seconds=billsec))
        values.update(duration=str(duration), disposition=disposition,
                      userfield=values.pop("notes", ""))
        call = self._call(line_no, values, start, answer, end)
        return replace(call, ticket=values.get("ticket", "")) if values.get("ticket") else call

    def _extra_layout(self, row: list[str]) -> tuple[str, ...]:
        extra = len(row) - len(BASE_COLUMNS)
        if self.extra_columns is not None:
            if extra != len(self.extra_columns):
                raise _RowError("cdr_field_count", count=len(row),
                                expected=len(BASE_COLUMNS) + len(self.extra_columns))
            return self.extra_columns
        if extra in (0, 2, 3, 5):
            return {
                0: (),
                2: ("uniqueid", "userfield"),
                3: NEW_COLUMNS,
                5: ("uniqueid", "userfield", *NEW_COLUMNS),
            }[extra]
        if extra in (1, 4):
            first_extra = row[len(BASE_COLUMNS)].strip()
            single = "uniqueid" if _UNIQUEID_RE.match(first_extra) else "userfield"
            return (single,) if extra == 1 else (single, *NEW_COLUMNS)
        raise _RowError("cdr_field_range", count=len(row), low=len(BASE_COLUMNS),
                        high=len(BASE_COLUMNS) + len(OPTIONAL_COLUMNS))

    def _master(self, line_no: int, row: list[str]) -> CdrCall:
        names = (*BASE_COLUMNS, *self._extra_layout(row))
        values = dict(zip(names, (value.strip() for value in row), strict=True))
        start = self._required_time(values, "start")
        answer = self._time(values, "answer", not_before=start)
        end = self._required_time(values, "end", not_before=answer or start)
        return self._call(line_no, values, start, answer, end)

    def _freepbx(self, line_no: int, row: list[str]) -> CdrCall:
        header = self.header or {}
        values = {name: row[i].strip() for name, i in header.items() if i < len(row)}
        if len(row) < len(header):
            raise _RowError("field_count", count=len(row), width=len(header))
        start = self._required_time(values, "calldate")
        duration = _count(values, "duration")
        billsec = _count(values, "billsec")
        end = start + timedelta(seconds=duration)
        answered = values.get("disposition", "").upper() == "ANSWERED"
        answer = end - timedelta(seconds=billsec) if answered else None
        return self._call(line_no, values, start, answer, end)

    # -- values --------------------------------------------------------------------------

    def _required_time(
        self, values: dict[str, str], name: str, not_before: datetime | None = None
    ) -> datetime:
        value = self._time(values, name, not_before)
        if value is None:
            raise _RowError("empty_value", column=name)
        return value

    def _time(
        self, values: dict[str, str], name: str, not_before: datetime | None = None
    ) -> datetime | None:
        text = values.get(name, "")
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise _RowError("not_a_cdr_date", column=name, value=text) from None
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        return localize(parsed, self.tz, not_before=not_before)

    def _call(
        self,
        line_no: int,
        values: dict[str, str],
        start: datetime,
        answer: datetime | None,
        end: datetime,
    ) -> CdrCall:
        if end < start:
            raise _RowError("call_ends_before_start")
        sequence_text = values.get("sequence", "")
        sequence = _count(values, "sequence") if sequence_text else None
        text = {name: values.get(name, "") for name in _TEXT_FIELDS}
        return CdrCall(
            line_no=line_no,
            start=start,
            answer=answer,
            end=end,
            duration=_count(values, "duration"),
            billsec=_count(values, "billsec"),
            sequence=sequence,
            **text,
        )


def _count(values: dict[str, str], name: str) -> int:
    text = values.get(name, "")
    if not (text.isascii() and text.isdigit()):
        raise _RowError("not_seconds", column=name, value=text)
    return int(text)
