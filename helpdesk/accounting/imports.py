"""Imports of LogMeIn Rescue session reports and Asterisk call records into the time ledger.

The parsers (:mod:`.importers.logmein`, :mod:`.importers.cdr`) read files into facts; this module
matches them to clients and agents and writes entries through the ledger, so billing and audit are
the same as for time logged by hand.

* Idempotent: an entry is keyed by ``(source, external_ref)`` (the LogMeIn session ID, the CDR
  ``uniqueid``); re-importing a file adds nothing, even with two imports running at once.
* All or nothing: a file with a bad row imports nothing and names the row's line (strict mode
  reads the whole file before writing). With ``skip_bad`` every good row is imported and the bad
  ones are listed. The caller commits (one transaction) or rolls back (dry run).
* Rows that are fine but cannot be billed are listed, not imported: customers matching no client,
  sessions still open, sessions or calls of zero work time, and rows of a closed month.
* Tied to tickets: a ticket named in the notes or the ticket column (``#1234``, ``[#1234]``) gets
  the entry; otherwise the client's open ticket of that day is *suggested* (``outcomes``).
  Calls go to the agent whose ``User.extension`` took them.
* Every row's outcome is in ``ImportResult.outcomes`` (the console's preview); ``fixes`` chosen
  there (line -> client or ticket) are applied by the same code when importing. The console, the
  drop folder and the command line all call :func:`import_logmein` / :func:`import_cdr`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import (
    OPEN_STATUSES,
    STAFF_ROLES,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    EntryKind,
    EntrySource,
    Ticket,
    TimeEntry,
    User,
)
from .importers import ParseError
from .importers.cdr import CdrCall, iter_calls, support_calls
from .importers.logmein import LogmeinSession, iter_sessions
from .ledger import client_has_oncall, is_month_closed, log_entry_once
from .periods import period_of

__all__ = [
    "Fix", "ImportResult", "LogmeinColumns", "ReportedRow", "RowOutcome", "import_cdr",
    "import_logmein", "ticket_numbers",
]

#: Rows written between progress reports and duplicate look-ups.
BATCH = 500
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

#: What an importer may be given: a path or the whole content (strict mode reads it twice).
FileSource = str | os.PathLike[str] | bytes


@dataclass(frozen=True, slots=True)
class ReportedRow:
    """A row of the file that was not imported (or imported with a remark), and why."""

    line_no: int
    ref: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line_no} ({self.ref}): {self.message}"


@dataclass(frozen=True)
class LogmeinColumns:
    """Which column of a LogMeIn report holds each field (accounts rename them)."""

    customer: tuple[str, ...] = ("Name",)
    technician: str = "Technician Email"
    technician_name: str = "Technician Name"
    start: str = "Start Time"
    end: str = "End Time"
    work_time: str = "Work Time"
    session_id: str = "Session ID"
    notes: tuple[str, ...] = ()
    ticket: str = ""

    FIELDS = ("customer", "technician", "technician_name", "start", "end", "work_time",
              "session_id", "notes", "ticket")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LogmeinColumns:
        data = data or {}
        values: dict[str, Any] = {}
        for name in cls.FIELDS:
            value = data.get(name)
            if value in (None, "", []):
                continue
            if name in ("customer", "notes"):
                if isinstance(value, str):
                    value = [v for v in (p.strip() for p in value.split(",")) if v]
                values[name] = tuple(value)
            else:
                values[name] = str(value).strip()
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {name: list(v) if isinstance(v := getattr(self, name), tuple) else v
                for name in self.FIELDS}

    def parser_columns(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end, "session_id": self.session_id,
                "technician_name": self.technician_name, "technician_email": self.technician}


@dataclass(frozen=True)
class Fix:
    """A match chosen by a person for one line: the client, or a ticket (and so its client)."""

    client_id: int | None = None
    ticket_id: int | None = None


@dataclass
class RowOutcome:
    """What became of one row: ``imported``, ``duplicate``, ``unmatched``, ``skipped``, ``bad``."""

    line_no: int
    ref: str
    state: str
    message: str = ""
    customer: str = ""
    client_id: int | None = None
    ticket_id: int | None = None
    suggested_ticket_id: int | None = None
    minutes: int = 0
    entry_id: int | None = None
    agent_id: int | None = None
    fixed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_TICKET_RE = re.compile(r"(?<![\w&])\[?#(\d{1,9})\]?")


def ticket_numbers(*texts: str) -> list[int]:
    """Ticket numbers named in texts (``#1234``, ``[#1234]``), in order, once each."""
    seen: list[int] = []
    for text in texts:
        for match in _TICKET_RE.finditer(text or ""):
            number = int(match.group(1))
            if number not in seen:
                seen.append(number)
    return seen


@dataclass
class ImportResult:
    """What one import did; nothing was written when ``rejected``."""

    source: str
    #: Data rows read (sessions, or support calls for CDR files).
    rows: int = 0
    created: int = 0
    #: Billable minutes of the new entries.
    created_minutes: int = 0
    duplicates: int = 0
    #: CDR rows that are not answered support calls (internal calls, missed calls...).
    ignored: int = 0
    unmatched: list[ReportedRow] = field(default_factory=list)
    skipped: list[ReportedRow] = field(default_factory=list)
    warnings: list[ReportedRow] = field(default_factory=list)
    bad: list[ParseError] = field(default_factory=list)
    rejected: bool = False
    outcomes: list[RowOutcome] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)

    def outcome(self, row: RowOutcome) -> None:
        self.outcomes.append(row)

    def summary(self) -> str:
        """One line for the command line and the log."""
        if self.rejected:
            return (f"nothing imported: {len(self.bad)} bad row(s), first at line "
                    f"{self.bad[0].line_no}")
        return (
            f"{self.rows} rows: {self.created} entries created ({self.created_minutes} billable "
            f"minutes), {self.duplicates} already imported, {len(self.unmatched)} unmatched, "
            f"{len(self.skipped)} skipped, {len(self.bad)} bad"
            + (f", {self.ignored} not support calls" if self.ignored else "")
        )


#: Called with the line of the file reached, after each batch of rows.
Progress = Callable[[int], None]


# -- matching -------------------------------------------------------------------------------------


class _Matcher:
    """Who is who: customers to clients, technicians and extensions to agents (looked up once)."""

    def __init__(self) -> None:
        self.by_email = dict(db.session.execute(
            select(ContactEmail.email, Contact.client_id).join(
                Contact, Contact.id == ContactEmail.contact_id
            )
        ).all())
        self.by_domain = dict(db.session.execute(
            select(ClientDomain.domain, ClientDomain.client_id)
        ).all())
        self.by_name = {
            _name_key(name): client_id
            for client_id, name in db.session.execute(select(Client.id, Client.name))
        }
        self.by_phone = dict(db.session.execute(
            select(ContactPhone.normalized, Contact.client_id).join(
                Contact, Contact.id == ContactPhone.contact_id
            )
        ).all())
        staff = db.session.scalars(
            select(User).where(User.role.in_([str(r) for r in STAFF_ROLES]))
        ).all()
        self.agents_by_email = {u.email: u for u in staff}
        self.agents_by_email.update({u.logmein_email.lower(): u for u in staff if u.logmein_email})
        self.agents_by_extension = {u.extension.strip(): u for u in staff if u.extension}
        self.contact_by_phone = dict(db.session.execute(
            select(ContactPhone.normalized, Contact.name).join(
                Contact, Contact.id == ContactPhone.contact_id
            )
        ).all())
        self.agents_by_phone = {
            "".join(ch for ch in u.phone if ch.isdigit()): u for u in staff if u.phone
        }
        self.clients: dict[int, Client] = {}
        self.oncall: dict[tuple[int, date], bool] = {}
        self.closed: dict[str, bool] = {}

    def client(self, client_id: int) -> Client:
        if client_id not in self.clients:
            self.clients[client_id] = db.session.get(Client, client_id)
        return self.clients[client_id]

    def customer(self, text: str) -> int | None:
        """A client by the customer's email (a contact's, then the domain's), then by name."""
        for email in _EMAIL_RE.findall(text or ""):
            email = email.lower()
            if email in self.by_email:
                return self.by_email[email]
            domain = email.split("@", 1)[1]
            while "." in domain:
                if domain in self.by_domain:
                    return self.by_domain[domain]
                domain = domain.split(".", 1)[1]
        return self.by_name.get(_name_key(text or ""))

    def has_oncall(self, client: Client, started_at: datetime) -> bool:
        day = started_at.astimezone(ZoneInfo(client.timezone)).date()
        key = (client.id, day)
        if key not in self.oncall:
            self.oncall[key] = client_has_oncall(client, day)
        return self.oncall[key]

    def ticket(self, number: int) -> Ticket | None:
        return db.session.scalar(select(Ticket).where(Ticket.number == number))

    def fixed(self, fix: Fix) -> tuple[int | None, Ticket | None]:
        """The client and ticket a person chose for a row."""
        ticket = db.session.get(Ticket, fix.ticket_id) if fix.ticket_id else None
        if ticket is not None and ticket.client_id is not None:
            return ticket.client_id, ticket
        return fix.client_id, ticket

    def open_ticket_of_day(self, client: Client, started_at: datetime) -> int | None:
        """The client's open ticket active on the entry's local day (the latest), if any."""
        local = ZoneInfo(client.timezone)
        day = started_at.astimezone(local).date()
        day_start = datetime.combine(day, time(), local).astimezone(UTC)
        day_end = day_start + timedelta(days=1)
        return db.session.scalar(
            select(Ticket.id).where(
                Ticket.client_id == client.id,
                Ticket.status.in_([str(s) for s in OPEN_STATUSES]),
                Ticket.created_at < day_end,
                Ticket.last_activity_at >= day_start,
            ).order_by(Ticket.last_activity_at.desc(), Ticket.id.desc()).limit(1)
        )

    def month_closed(self, period: str) -> bool:
        if period not in self.closed:
            self.closed[period] = is_month_closed(period)
        return self.closed[period]


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _known_refs(source: str, refs: Sequence[str]) -> set[str]:
    if not refs:
        return set()
    return set(db.session.scalars(
        select(TimeEntry.external_ref).where(
            TimeEntry.source == source, TimeEntry.external_ref.in_(list(refs))
        )
    ))


def _batches(items: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _default_tz(tz: str | None) -> str:
    return tz or current_app.config["TIMEZONE"]


# -- LogMeIn ----------------------------------------------------------------------------------


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def import_logmein(
    source: FileSource,
    *,
    tz: str | None = None,
    customer_columns: Sequence[str] = ("Name",),
    duration_column: str = "Work Time",
    fmt: str = "auto",
    delimiter: str = "|",
    day_first: bool = False,
    encoding: str | None = None,
    skip_bad: bool = False,
    user: User | None = None,
    progress: Progress | None = None,
    columns: LogmeinColumns | None = None,
    fixes: Mapping[int, Fix] | None = None,
) -> ImportResult:
    """Import a LogMeIn Rescue session report as remote-session entries (see the module doc).

    ``customer_columns`` are tried in order for each row (e.g. a custom field holding the email,
    then ``Name`` holding the company); ``duration_column`` is the time billed (``Work Time``:
    not the waiting). ``columns`` (a saved mapping) names every column instead, the ticket and
    notes columns included. ``progress`` is called with the file line reached after each batch.
    """
    if columns is None:
        columns = LogmeinColumns(customer=tuple(customer_columns), work_time=duration_column)
    customer_columns = columns.customer
    if not customer_columns:
        raise ValueError("name at least one customer column")
    tz = _default_tz(tz)
    fixes = fixes or {}
    result = ImportResult(source=EntrySource.LOGMEIN.value)
    options: dict[str, Any] = {
        "customer_column": customer_columns[0],
        "duration_column": columns.work_time,
        "fmt": fmt,
        "delimiter": delimiter,
        "day_first": day_first,
        "encoding": encoding,
        "collect_errors": True,
        "columns": columns.parser_columns(),
    }

    if not skip_bad:
        result.bad = [e for e in iter_sessions(source, tz, **options) if isinstance(e, ParseError)]
        if result.bad:
            result.rejected = True
            for error in result.bad:
                result.outcome(RowOutcome(error.line_no, "", "bad", error.message))
            return result

    matcher = _Matcher()
    extra = [c for c in (*customer_columns[1:], *columns.notes, columns.ticket) if c]
    sessions = _checked(iter_sessions(source, tz, **options), result, extra)
    for batch in _batches(sessions):
        ids = [s.session_id for s in batch]
        known = _known_refs(EntrySource.LOGMEIN, ids)
        timed = _known_refs(EntrySource.TIMER, ids)
        for session in batch:
            _import_session(session, result, matcher, known, timed, columns, user,
                            fixes.get(session.line_no))
        if progress:
            progress(batch[-1].line_no)
    for error in result.bad:
        result.outcome(RowOutcome(error.line_no, "", "bad", error.message))
    result.outcomes.sort(key=lambda o: o.line_no)
    if result.bad and not result.rows:
        result.rejected = True
    return result


def _checked(
    items: Iterable[LogmeinSession | ParseError],
    result: ImportResult,
    extra_columns: Sequence[str],
) -> Iterator[LogmeinSession]:
    """The sessions; bad rows go to ``result.bad``; the extra mapped columns must exist."""
    header_checked = not extra_columns
    for item in items:
        if isinstance(item, ParseError):
            result.bad.append(item)
            continue
        if not header_checked:
            names = {_name_key(name) for name in item.raw}
            missing = [c for c in extra_columns if _name_key(c) not in names]
            if missing:
                result.bad.append(ParseError(
                    1, f"the header has no column {', '.join(map(repr, missing))}"
                ))
                return
            header_checked = True
        result.rows += 1
        yield item


def _column(raw: dict[str, str], name: str) -> str:
    key = _name_key(name)
    return next((value for header, value in raw.items() if _name_key(header) == key), "")


def _ticket_of(matcher: _Matcher, texts: Sequence[str], client_id: int | None,
               result: ImportResult, line_no: int, ref: str) -> Ticket | None:
    """The ticket a row names, if it exists and may carry this client's time."""
    for number in ticket_numbers(*texts):
        ticket = matcher.ticket(number)
        if ticket is None:
            result.warnings.append(ReportedRow(line_no, ref, f"no ticket #{number}"))
            continue
        if client_id is not None and ticket.client_id not in (None, client_id):
            result.warnings.append(ReportedRow(
                line_no, ref, f"ticket #{number} is another client's: not tied to it"))
            continue
        return ticket
    return None


def _import_session(
    session: LogmeinSession,
    result: ImportResult,
    matcher: _Matcher,
    known: set[str],
    timed: set[str],
    columns: LogmeinColumns,
    user: User | None,
    fix: Fix | None,
) -> None:
    ref = session.session_id
    line = session.line_no
    customers = [session.customer] + [_column(session.raw, c) for c in columns.customer[1:]]
    shown = " / ".join(text for text in customers if text) or "(empty)"
    row = RowOutcome(line, ref, "", customer=shown, minutes=session.billable_seconds // 60)
    result.outcome(row)
    if ref in known:
        result.duplicates += 1
        row.state, row.message = "duplicate", "already imported"
        return
    if ref in timed:
        result.duplicates += 1
        message = "already recorded with the console timer: not billed twice"
        row.state, row.message = "duplicate", message
        result.warnings.append(ReportedRow(line, ref, message))
        return
    texts = [_column(session.raw, c) for c in (columns.ticket, *columns.notes) if c]
    if fix is not None:
        client_id, ticket = matcher.fixed(fix)
        row.fixed = True
    else:
        client_id = next(
            (cid for cid in (matcher.customer(text) for text in customers) if cid is not None),
            None,
        )
        ticket = _ticket_of(matcher, texts, client_id, result, line, ref)
        if client_id is None and ticket is not None and ticket.client_id is not None:
            client_id = ticket.client_id
    if client_id is None:
        message = f"no client for {shown!r}"
        row.state, row.message = "unmatched", message
        result.unmatched.append(ReportedRow(line, ref, message))
        return
    row.client_id = client_id
    if session.end is None:
        _skip(result, row, "the session is still open: import it once it has ended")
        return
    if session.billable_seconds <= 0:
        _skip(result, row, "no work time")
        return
    client = matcher.client(client_id)
    period = period_of(session.start, client.timezone)
    if matcher.month_closed(period):
        _skip(result, row, f"{period} is closed: add an adjustment instead")
        return
    agent = matcher.agents_by_email.get(session.technician_email.strip().lower())
    if agent is None:
        who = session.technician_email or session.technician_name or "(none)"
        result.warnings.append(ReportedRow(
            line, ref, f"technician {who} is not a user: imported without an agent"
        ))
    ended_at = session.start + timedelta(seconds=session.billable_seconds)
    local = ZoneInfo(client.timezone)
    note = (
        f"LogMeIn session {ref}: {session.start.astimezone(local):%H:%M}"
        f"-{session.end.astimezone(local):%H:%M}, work time {_hms(session.billable_seconds)}"
    )
    notes = " ".join(_column(session.raw, c) for c in columns.notes if c).strip()
    if notes:
        note += f"\n{notes}"
    entry = log_entry_once(
        client=client, kind=EntryKind.REMOTE, started_at=session.start, ended_at=ended_at,
        agent=agent, source=EntrySource.LOGMEIN, external_ref=ref, note=note, user=user,
        actor="import", oncall=matcher.has_oncall(client, session.start), ticket=ticket,
    )
    known.add(ref)
    _stored(result, row, entry, matcher, client, session.start, ticket, agent)


def _skip(result: ImportResult, row: RowOutcome, message: str) -> None:
    row.state, row.message = "skipped", message
    result.skipped.append(ReportedRow(row.line_no, row.ref, message))


def _stored(result: ImportResult, row: RowOutcome, entry: TimeEntry | None, matcher: _Matcher,
            client: Client, started_at: datetime, ticket: Ticket | None,
            agent: User | None) -> None:
    if entry is None:
        result.duplicates += 1
        row.state, row.message = "duplicate", "already imported"
        return
    result.created += 1
    result.created_minutes += entry.billable_minutes
    result.entry_ids.append(entry.id)
    row.state, row.entry_id, row.minutes = "imported", entry.id, entry.billable_minutes
    row.agent_id = agent.id if agent else None
    if entry.out_of_hours:
        row.message = "out of hours"
    if ticket is not None:
        row.ticket_id = ticket.id
    else:
        row.suggested_ticket_id = matcher.open_ticket_of_day(client, started_at)


# -- Asterisk CDR ---------------------------------------------------------------------------------


def _call_ref(call: CdrCall) -> str:
    """The CDR's ``uniqueid``; without one, the fields that identify the record in the file."""
    if call.uniqueid:
        return call.uniqueid
    stamp = call.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}|{call.channel}|{call.dstchannel}|{call.src}|{call.dst}"[:200]


def import_cdr(
    source: FileSource,
    *,
    tz: str | None = None,
    extensions: Sequence[str] | None = None,
    country_code: str | None = None,
    outside_line_prefix: str = "",
    encoding: str | None = None,
    skip_bad: bool = False,
    user: User | None = None,
    progress: Progress | None = None,
    fixes: Mapping[int, Fix] | None = None,
) -> ImportResult:
    """Import an Asterisk ``Master.csv``: answered calls between a support extension
    (``SUPPORT_EXTENSIONS``, and every staff member's ``extension``) and a contact's number
    become phone entries of their talk time, for the agent with that extension."""
    cfg = current_app.config
    tz = _default_tz(tz)
    matcher_extensions = set(db.session.scalars(
        select(User.extension).where(User.extension.is_not(None))))
    extensions = list(extensions if extensions is not None else cfg["SUPPORT_EXTENSIONS"])
    extensions += sorted(e for e in matcher_extensions if e not in extensions)
    country_code = country_code or cfg.get("PHONE_COUNTRY_CODE", "381")
    fixes = fixes or {}
    result = ImportResult(source=EntrySource.CDR.value)

    if not skip_bad:
        result.bad = [
            e for e in iter_calls(source, tz, encoding=encoding, collect_errors=True)
            if isinstance(e, ParseError)
        ]
        if result.bad:
            result.rejected = True
            for error in result.bad:
                result.outcome(RowOutcome(error.line_no, "", "bad", error.message))
            return result

    matcher = _Matcher()

    def calls() -> Iterator[CdrCall]:
        for item in iter_calls(source, tz, encoding=encoding, collect_errors=True):
            if isinstance(item, ParseError):
                result.bad.append(item)
            else:
                yield item

    total_seen = 0
    for batch in _batches(calls()):
        total_seen += len(batch)
        support = list(support_calls(batch, extensions, country_code,
                                     outside_line_prefix=outside_line_prefix))
        result.ignored += len(batch) - len(support)
        result.rows += len(support)
        known = _known_refs(EntrySource.CDR, [_call_ref(s.call) for s in support])
        for call in support:
            _import_call(call, result, matcher, known, user, fixes.get(call.call.line_no))
        if progress:
            progress(batch[-1].line_no)
    for error in result.bad:
        result.outcome(RowOutcome(error.line_no, "", "bad", error.message))
    result.outcomes.sort(key=lambda o: o.line_no)
    if result.bad and not total_seen:
        result.rejected = True
    return result


def _import_call(support: Any, result: ImportResult, matcher: _Matcher, known: set[str],
                 user: User | None, fix: Fix | None) -> None:
    call: CdrCall = support.call
    ref = _call_ref(call)
    number = support.raw_number or "(withheld)"
    contact = matcher.contact_by_phone.get(support.external_number) or ""
    row = RowOutcome(call.line_no, ref, "", customer=f"{number} {contact}".strip(),
                     minutes=call.billsec // 60)
    result.outcome(row)
    if ref in known:
        result.duplicates += 1
        row.state, row.message = "duplicate", "already imported"
        return
    ticket = None
    if fix is not None:
        client_id, ticket = matcher.fixed(fix)
        row.fixed = True
    else:
        client_id = (matcher.by_phone.get(support.external_number)
                     if support.external_number else None)
        ticket = _ticket_of(matcher, [call.userfield], client_id, result, call.line_no, ref)
        if client_id is None and ticket is not None and ticket.client_id is not None:
            client_id = ticket.client_id
    if client_id is None:
        message = f"no contact with number {number}"
        row.state, row.message = "unmatched", message
        result.unmatched.append(ReportedRow(call.line_no, ref, message))
        return
    row.client_id = client_id
    if call.billsec <= 0:
        _skip(result, row, "no talk time")
        return
    client = matcher.client(client_id)
    started_at = call.answer or call.start
    period = period_of(started_at, client.timezone)
    if matcher.month_closed(period):
        _skip(result, row, f"{period} is closed: add an adjustment instead")
        return
    agent = (matcher.agents_by_extension.get(support.extension)
             or matcher.agents_by_phone.get(support.extension))
    if agent is None:
        result.warnings.append(ReportedRow(
            call.line_no, ref,
            f"extension {support.extension} is no user's: imported without an agent"))
    direction = "from" if support.direction == "in" else "to"
    note = f"Call {direction} {support.raw_number}, extension {support.extension}"
    if contact:
        note += f" ({contact})"
    entry = log_entry_once(
        client=client, kind=EntryKind.PHONE, started_at=started_at,
        ended_at=started_at + timedelta(seconds=call.billsec), agent=agent,
        source=EntrySource.CDR, external_ref=ref, note=note, user=user, actor="import",
        oncall=matcher.has_oncall(client, started_at), ticket=ticket,
    )
    known.add(ref)
    _stored(result, row, entry, matcher, client, started_at, ticket, agent)
