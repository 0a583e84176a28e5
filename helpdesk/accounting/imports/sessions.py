"""LogMeIn Rescue session reports into remote-session entries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ...models import EntryKind, EntrySource, User
from ..importers import ParseError, row_error
from ..importers.logmein import LogmeinSession, iter_sessions
from ..ledger import entry_billing, log_entry_once
from ..periods import period_of
from .columns import LogmeinColumns
from .matching import _batches, _default_tz, _known_refs, _Matcher, _name_key, _ticket_of
from .results import (
    FileSource,
    Fix,
    ImportResult,
    Progress,
    ReportedRow,
    RowOutcome,
    _bad_outcomes,
    _duplicate,
    _skip,
    _stored,
)


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
    write: bool = True,
) -> ImportResult:
    """Import a LogMeIn Rescue session report as remote-session entries (see the module doc).

    ``customer_columns`` are tried in order for each row (e.g. a custom field holding the email,
    then ``Name`` holding the company); ``duration_column`` is the time billed (``Work Time``:
    not the waiting). ``columns`` (a saved mapping) names every column instead, the ticket and
    notes columns included. ``progress`` is called with the file line reached after each batch.
    ``write=False`` is the preview: every row is matched and billed, nothing is written.
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
            _bad_outcomes(result)
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
                            fixes.get(session.line_no), write)
        if progress:
            progress(batch[-1].line_no, result)
    _bad_outcomes(result)
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
                result.bad.append(row_error(
                    1, "mapped_column_missing", columns=", ".join(map(repr, missing))))
                return
            header_checked = True
        result.rows += 1
        yield item



def _column(raw: dict[str, str], name: str) -> str:
    key = _name_key(name)
    return next((value for header, value in raw.items() if _name_key(header) == key), "")



def _import_session(
    session: LogmeinSession,
    result: ImportResult,
    matcher: _Matcher,
    known: set[str],
    timed: set[str],
    columns: LogmeinColumns,
    user: User | None,
    fix: Fix | None,
    write: bool = True,
) -> None:
    ref = session.session_id
    line = session.line_no
    customers = [session.customer] + [_column(session.raw, c) for c in columns.customer[1:]]
    shown = " / ".join(text for text in customers if text) or "(empty)"
    row = RowOutcome(line, ref, "", customer=shown, minutes=session.billable_seconds // 60)
    result.outcome(row)
    if ref in known:
        _duplicate(result, row)
        return
    if ref in timed:
        result.duplicates += 1
        row.say("duplicate", "timer_duplicate")
        result.warnings.append(ReportedRow.of(line, ref, "timer_duplicate"))
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
        row.say("unmatched", "no_client", customer=shown)
        result.unmatched.append(ReportedRow.of(line, ref, "no_client", customer=shown))
        return
    row.client_id = client_id
    if session.end is None:
        _skip(result, row, "session_open")
        return
    if session.billable_seconds <= 0:
        _skip(result, row, "no_work_time")
        return
    client = matcher.client(client_id)
    period = period_of(session.start, client.timezone)
    if matcher.month_closed(period):
        _skip(result, row, "month_closed", period=period)
        return
    agent = matcher.agents_by_email.get(session.technician_email.strip().lower())
    if agent is None:
        who = session.technician_email or session.technician_name or "(none)"
        result.warnings.append(ReportedRow.of(line, ref, "technician_unknown", who=who))
    ended_at = session.start + timedelta(seconds=session.billable_seconds)
    oncall = matcher.has_oncall(client, session.start)
    if not write:
        billing = entry_billing(client, EntryKind.REMOTE, session.start, ended_at, oncall=oncall,
                                rules=matcher.rules)
        known.add(ref)
        _stored(result, row, billing, matcher, client, session.start, ticket, agent)
        return
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
        actor="import", oncall=oncall, ticket=ticket,
    )
    known.add(ref)
    _stored(result, row, entry, matcher, client, session.start, ticket, agent)

