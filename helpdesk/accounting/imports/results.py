"""What an import found, row by row: the outcomes, the reported rows, the totals."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...models import Client, Ticket, TimeEntry, User
from ..importers import ParseError

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

    def __str__(self) -> str:
        return f"line {self.line_no} ({self.ref}): {self.message}"




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


