"""What an import found, row by row: the outcomes, the reported rows, the totals."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...models import Client, Ticket, TimeEntry, User
from ..entry_minutes import EntryBilling
from ..importers import ParseError
from ..importers.reasons import english

if TYPE_CHECKING:
    from .matching import _Matcher

#: What an importer may be given: a path or the whole content (strict mode reads it twice).
FileSource = str | os.PathLike[str] | bytes


@dataclass(frozen=True, slots=True)
class ReportedRow:
    """A row of the file that was not imported (or imported with a remark), and why."""

    line_no: int
    ref: str
    message: str
    #: The reason's code and parameters (:mod:`..importers.reasons`), for a translated text.
    code: str = ""
    params: dict[str, Any] | None = None

    @classmethod
    def of(cls, line_no: int, ref: str, code: str, **params: Any) -> ReportedRow:
        return cls(line_no, ref, english(code, params), code, params)

    def __str__(self) -> str:
        return f"line {self.line_no} ({self.ref}): {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line_no": self.line_no, "ref": self.ref, "message": self.message,
                "code": self.code, "params": self.params or {}}


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
    #: The reason's code and parameters (``message`` is its English text).
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def say(self, state: str, code: str, **params: Any) -> None:
        """Set the state and its reason."""
        self.state, self.code, self.params = state, code, params
        self.message = english(code, params)

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


#: Called after each batch of rows with the line of the file reached and the result so far.
Progress = Callable[[int, "ImportResult"], None]


def _skip(result: ImportResult, row: RowOutcome, code: str, **params: Any) -> None:
    row.say("skipped", code, **params)
    result.skipped.append(ReportedRow.of(row.line_no, row.ref, code, **params))


def _bad_outcomes(result: ImportResult) -> None:
    for error in result.bad:
        row = RowOutcome(error.line_no, "", "bad", error.message)
        row.code, row.params = error.code, dict(error.params or {})
        result.outcome(row)


def _duplicate(result: ImportResult, row: RowOutcome) -> None:
    result.duplicates += 1
    row.say("duplicate", "duplicate")


def _stored(result: ImportResult, row: RowOutcome, entry: TimeEntry | EntryBilling | None,
            matcher: _Matcher, client: Client, started_at: datetime, ticket: Ticket | None,
            agent: User | None) -> None:
    """Count a row imported (an entry) or, in a preview, that would be (its billing)."""
    if entry is None:
        _duplicate(result, row)
        return
    result.created += 1
    result.created_minutes += entry.billable_minutes
    row.state, row.minutes = "imported", entry.billable_minutes
    if isinstance(entry, TimeEntry):
        result.entry_ids.append(entry.id)
        row.entry_id = entry.id
    row.agent_id = agent.id if agent else None
    if entry.out_of_hours:
        row.say("imported", "out_of_hours")
    if ticket is not None:
        row.ticket_id = ticket.id
    else:
        row.suggested_ticket_id = matcher.open_ticket_of_day(client, started_at)


