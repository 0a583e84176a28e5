"""Asterisk / FreePBX call records (``Master.csv``) into phone entries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ...models import EntryKind, EntrySource, User
from ..importers import ParseError
from ..importers.cdr import CdrCall, iter_calls, support_calls
from ..ledger import entry_billing, log_entry_once
from ..periods import period_of
from .columns import CdrColumns
from .matching import _batches, _default_tz, _known_refs, _Matcher, _ticket_of
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
    write: bool = True,
    columns: CdrColumns | None = None,
) -> ImportResult:
    """Import an Asterisk ``Master.csv``: answered calls between a support extension
    (``SUPPORT_EXTENSIONS``, and every staff member's ``extension``) and a contact's number
    become phone entries of their talk time, for the agent with that extension. ``columns``
    (a saved mapping) reads another CSV export by its headers; ``write=False`` is the preview."""
    cfg = current_app.config
    tz = _default_tz(tz)
    matcher_extensions = set(db.session.scalars(
        select(User.extension).where(User.extension.is_not(None))))
    extensions = list(extensions if extensions is not None else cfg["SUPPORT_EXTENSIONS"])
    extensions += sorted(e for e in matcher_extensions if e not in extensions)
    country_code = country_code or cfg.get("PHONE_COUNTRY_CODE", "381")
    fixes = fixes or {}
    mapped = columns.parser_columns() if columns is not None else None
    result = ImportResult(source=EntrySource.CDR.value)

    if not skip_bad:
        result.bad = [
            e for e in iter_calls(source, tz, encoding=encoding, collect_errors=True, columns=mapped)
            if isinstance(e, ParseError)
        ]
        if result.bad:
            result.rejected = True
            _bad_outcomes(result)
            return result

    matcher = _Matcher()

    def calls() -> Iterator[CdrCall]:
        for item in iter_calls(source, tz, encoding=encoding, collect_errors=True, columns=mapped):
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
            _import_call(call, result, matcher, known, user, fixes.get(call.call.line_no),
                         write)
        if progress:
            progress(batch[-1].line_no, result)
    _bad_outcomes(result)
    result.outcomes.sort(key=lambda o: o.line_no)
    if result.bad and not total_seen:
        result.rejected = True
    return result


def _import_call(support: Any, result: ImportResult, matcher: _Matcher, known: set[str],
                 user: User | None, fix: Fix | None, write: bool = True) -> None:
    call: CdrCall = support.call
    ref = _call_ref(call)
    number = support.raw_number or "(withheld)"
    contact = matcher.contact_by_phone.get(support.external_number) or ""
    row = RowOutcome(call.line_no, ref, "", customer=f"{number} {contact}".strip(),
                     minutes=call.billsec // 60)
    result.outcome(row)
    if ref in known:
        _duplicate(result, row)
        return
    ticket = None
    if fix is not None:
        client_id, ticket = matcher.fixed(fix)
        row.fixed = True
    else:
        client_id = (matcher.by_phone.get(support.external_number)
                     if support.external_number else None)
        ticket = _ticket_of(matcher, [call.ticket, call.userfield], client_id, result,
                           call.line_no, ref)
        if client_id is None and ticket is not None and ticket.client_id is not None:
            client_id = ticket.client_id
    if client_id is None:
        row.say("unmatched", "no_contact_number", number=number)
        result.unmatched.append(ReportedRow.of(call.line_no, ref, "no_contact_number",
                                               number=number))
        return
    row.client_id = client_id
    if call.billsec <= 0:
        _skip(result, row, "no_talk_time")
        return
    client = matcher.client(client_id)
    started_at = call.answer or call.start
    period = period_of(started_at, client.timezone)
    if matcher.month_closed(period):
        _skip(result, row, "month_closed", period=period)
        return
    agent = (matcher.agents_by_extension.get(support.extension)
             or matcher.agents_by_phone.get(support.extension))
    if agent is None:
        result.warnings.append(ReportedRow.of(call.line_no, ref, "extension_unknown",
                                              extension=support.extension))
    direction = "from" if support.direction == "in" else "to"
    note = f"Call {direction} {support.raw_number}, extension {support.extension}"
    if contact:
        note += f" ({contact})"
    ended_at = started_at + timedelta(seconds=call.billsec)
    oncall = matcher.has_oncall(client, started_at)
    if not write:
        billing = entry_billing(client, EntryKind.PHONE, started_at, ended_at, oncall=oncall,
                                rules=matcher.rules)
        known.add(ref)
        _stored(result, row, billing, matcher, client, started_at, ticket, agent)
        return
    entry = log_entry_once(
        client=client, kind=EntryKind.PHONE, started_at=started_at,
        ended_at=ended_at, agent=agent,
        source=EntrySource.CDR, external_ref=ref, note=note, user=user, actor="import",
        oncall=oncall, ticket=ticket,
    )
    known.add(ref)
    _stored(result, row, entry, matcher, client, started_at, ticket, agent)

