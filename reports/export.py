"""Exports of a month as CSV or XLSX: time entries, tickets, and the usage per client.

Rows are streamed: the entry and ticket queries run with ``yield_per`` (a server-side cursor on
PostgreSQL), the CSV writer hands out text chunk by chunk, and the XLSX writer is openpyxl's
write-only workbook (rows go to a temporary file, not into memory), so 100k rows keep memory
flat. The usage rows are :func:`helpdesk.accounting.usage.usage_many`'s figures, the very numbers
the usage API returns; the time-entry rows are the ledger's stored worked and billable minutes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from helpdesk.accounting.periods import month_bounds
from helpdesk.accounting.tariff import KINDS
from helpdesk.accounting.usage import month_utc_bounds, usage_many
from helpdesk.extensions import db
from helpdesk.models import Client, ClosedMonth, Ticket, TimeEntry, User
from reports.service import report_clients

__all__ = [
    "EXPORTS",
    "FORMATS",
    "Export",
    "ExportScope",
    "csv_chunks",
    "export",
    "write_csv",
    "write_xlsx",
]

#: What can be exported, and in which formats.
EXPORTS = ("time-entries", "tickets", "usage")
FORMATS = ("csv", "xlsx")

#: Rows fetched per round trip (and per CSV chunk).
BATCH = 2000

TIME_ENTRY_COLUMNS = (
    "id", "client_id", "client", "ticket_number", "started_at", "ended_at", "kind", "source",
    "agent", "worked_minutes", "billable_minutes", "out_of_hours_minutes", "needs_review",
    "reviewed", "is_adjustment", "adjusts_entry_id", "reason", "period",
)
TICKET_COLUMNS = (
    "number", "client_id", "client", "subject", "status", "priority", "queue", "channel",
    "assignee", "created_at", "first_response_due", "first_response_at",
    "first_response_breached", "resolution_due", "resolved_at", "resolution_breached",
    "closed_at",
)
_KIND_COLUMNS = tuple(f"used_{kind}_minutes" for kind in sorted(KINDS))
USAGE_COLUMNS = (
    "client_id", "client", "month", "status", "currency", "included_minutes", "worked_minutes",
    "billable_minutes", "out_of_hours_surcharge_minutes", "adjustment_minutes",
    "remaining_minutes", "out_of_hours_minutes", "overage_minutes", "overage_amount",
    "development_minutes", "development_amount", "free_visit_minutes", "visits_used",
    "warranty_minutes", "no_contract_amount", "fee", "addons_amount", "total", "closed",
    *_KIND_COLUMNS,
)


@dataclass(frozen=True)
class ExportScope:
    """Whose rows: one client, an account manager's clients, or everyone (both None)."""

    client_id: int | None = None
    manager_id: int | None = None

    def clients(self, stmt: Select, client_column: Any) -> Select:
        if self.client_id is not None:
            stmt = stmt.where(client_column == self.client_id)
        if self.manager_id is not None:
            stmt = stmt.where(client_column.in_(
                select(Client.id).where(Client.account_manager_id == self.manager_id)))
        return stmt


@dataclass(frozen=True)
class Export:
    """A named table: its header and its rows (an iterator: read it once)."""

    name: str
    period: str
    columns: tuple[str, ...]
    rows: Iterator[tuple[Any, ...]]

    @property
    def filename_stem(self) -> str:
        return f"{self.name}_{self.period}"


def export(name: str, period: str, scope: ExportScope | None = None) -> Export:
    """The export ``name`` ("time-entries", "tickets", "usage") of ``period`` ("YYYY-MM")."""
    month_bounds(period)
    scope = scope or ExportScope()
    if name == "time-entries":
        return Export(name, period, TIME_ENTRY_COLUMNS, _time_entry_rows(period, scope))
    if name == "tickets":
        return Export(name, period, TICKET_COLUMNS, _ticket_rows(period, scope))
    if name == "usage":
        return Export(name, period, USAGE_COLUMNS, _usage_rows(period, scope))
    raise ValueError(f"unknown export {name!r}; expected one of {', '.join(EXPORTS)}")


def _stream(stmt: Select) -> Iterator[Any]:
    """Rows of a query, BATCH at a time (a server-side cursor where the database has one)."""
    yield from db.session.execute(stmt.execution_options(yield_per=BATCH))


def _time_entry_rows(period: str, scope: ExportScope) -> Iterator[tuple[Any, ...]]:
    agent = aliased(User)
    reviewer_set = TimeEntry.reviewed_by_id.is_not(None)
    stmt = (
        select(
            TimeEntry.id, TimeEntry.client_id, Client.name, Ticket.number, TimeEntry.started_at,
            TimeEntry.ended_at, TimeEntry.kind, TimeEntry.source, agent.name, TimeEntry.minutes,
            TimeEntry.billable_minutes, TimeEntry.out_of_hours_minutes, TimeEntry.needs_review,
            reviewer_set, TimeEntry.is_adjustment, TimeEntry.adjusts_entry_id, TimeEntry.reason,
            TimeEntry.period,
        )
        .join(Client, Client.id == TimeEntry.client_id)
        .outerjoin(Ticket, Ticket.id == TimeEntry.ticket_id)
        .outerjoin(agent, agent.id == TimeEntry.agent_id)
        .where(TimeEntry.period == period)
        .order_by(TimeEntry.client_id, TimeEntry.started_at, TimeEntry.id)
    )
    for row in _stream(scope.clients(stmt, TimeEntry.client_id)):
        yield tuple(row)


def _ticket_rows(period: str, scope: ExportScope) -> Iterator[tuple[Any, ...]]:
    """Tickets opened in the month (the vendor's month: tickets are not billed per client)."""
    start, end = month_utc_bounds(period, current_app.config["TIMEZONE"])
    assignee = aliased(User)
    stmt = (
        select(
            Ticket.number, Ticket.client_id, Client.name, Ticket.subject, Ticket.status,
            Ticket.priority, Ticket.queue, Ticket.channel, assignee.name, Ticket.created_at,
            Ticket.first_response_due, Ticket.first_response_at,
            Ticket.first_response_breached_at.is_not(None), Ticket.resolution_due,
            Ticket.resolved_at, Ticket.resolution_breached_at.is_not(None), Ticket.closed_at,
        )
        .outerjoin(Client, Client.id == Ticket.client_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .where(Ticket.created_at >= start, Ticket.created_at < end,
               Ticket.merged_into_id.is_(None))
        .order_by(Ticket.created_at, Ticket.id)
    )
    for row in _stream(scope.clients(stmt, Ticket.client_id)):
        yield tuple(row)


def _usage_rows(period: str, scope: ExportScope) -> Iterator[tuple[Any, ...]]:
    ids = None
    if scope.client_id is not None or scope.manager_id is not None:
        ids = list(db.session.scalars(scope.clients(select(Client.id), Client.id)))
    clients = report_clients(period, client_ids=ids)
    closed = db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period))
    for start in range(0, len(clients), 500):
        chunk = clients[start : start + 500]
        usages = usage_many(chunk, period)
        for client in chunk:
            usage = usages[client.id]
            by_kind = usage.used_minutes_by_kind
            yield (
                client.id, client.name, period, usage.status, usage.currency,
                usage.included_minutes, usage.worked_minutes, usage.billable_minutes,
                usage.out_of_hours_surcharge_minutes, usage.adjustment_minutes,
                usage.remaining_minutes, usage.out_of_hours_minutes, usage.overage_minutes,
                usage.overage_amount, usage.development_minutes, usage.development_amount,
                usage.free_visit_minutes, usage.visits_used, usage.warranty_minutes,
                usage.no_contract_amount, usage.fee,
                sum((addon.amount for addon in usage.addons), Decimal("0.00")),
                usage.total, closed is not None,
                *(by_kind.get(kind, 0) for kind in sorted(KINDS)),
            )


# -- writers ----------------------------------------------------------------------------------


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def csv_chunks(data: Export) -> Iterator[str]:
    """The CSV text (header first), in chunks of BATCH rows: for a streamed download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(data.columns)
    for count, row in enumerate(data.rows, start=1):
        writer.writerow([_csv_value(value) for value in row])
        if count % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(data: Export, out: IO[str]) -> int:
    """Write the CSV to a text file; the number of data rows."""
    counted = _Counted(data.rows)
    for chunk in csv_chunks(Export(data.name, data.period, data.columns, iter(counted))):
        out.write(chunk)
    return counted.count


class _Counted:
    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self.rows:
            self.count += 1
            yield row


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
    return value


def write_xlsx(data: Export, target: str | Path | IO[bytes]) -> int:
    """Write the XLSX (openpyxl write-only: rows stream to disk); the number of data rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=data.name[:31])
    bold = Font(bold=True)
    header = []
    for name in data.columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    rows = 0
    for row in data.rows:  # datetimes get openpyxl's date format by themselves
        sheet.append([_xlsx_value(value) for value in row])
        rows += 1
    workbook.save(target)
    return rows


def write(data: Export, fmt: str, path: Path) -> int:
    """Write an export to ``path`` through a temporary name (no half-written file is left)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected csv or xlsx")
    partial = path.with_name(path.name + ".part")
    try:
        if fmt == "csv":
            with partial.open("w", encoding="utf-8", newline="") as out:
                rows = write_csv(data, out)
        else:
            rows = write_xlsx(data, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return rows

