"""Which monthly reports a client has, and the PDF of one: frozen for good once its month closes.

A closed month's report is rendered once and stored (bytes and SHA-256); every later download,
mail or batch run returns those bytes, whatever changed since (a renamed account manager, a
package change). An open month's report is rendered afresh each time and marked preliminary.
Services flush; the request, the command or the job commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import or_, select

from helpdesk.accounting.ledger import insert_ignoring_conflict, is_month_closed
from helpdesk.accounting.periods import month_bounds, period_of
from helpdesk.contracts.changes import status_while_in_force
from helpdesk.extensions import db
from helpdesk.models import Client, ClosedMonth, Contract, StoredReport, TimeEntry, User, utcnow
from reports.data import report_input, requester_report_input
from reports.pdf import render_report

__all__ = [
    "StoredReportCorrupt",
    "available_periods",
    "current_period",
    "preliminary_periods",
    "report_clients",
    "report_pdf",
    "requester_report_pdf",
    "store_report",
    "stored_report",
]


class StoredReportCorrupt(RuntimeError):
    """A stored report's bytes no longer match the SHA-256 recorded with them."""


def current_period(client: Client, now: datetime | None = None) -> str:
    """The client's current (preliminary) month in its own zone, "YYYY-MM"."""
    return period_of(now or utcnow(), client.timezone)


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _next_month(period: str) -> str:
    return _month(month_bounds(period)[1])


def _contract_months(contract: Contract, last: str) -> Iterable[str]:
    """The months a contract served, up to ``last`` (a contract that never served has none)."""
    if status_while_in_force(contract) is None:
        return
    period = _month(contract.start_date)
    end = min(_month(contract.end_date), last) if contract.end_date else last
    while period <= end:
        yield period
        period = _next_month(period)


def available_periods(client: Client, now: datetime | None = None) -> list[str]:
    """Months with a contract or time entries, newest first, up to the current (preliminary) one."""
    last = current_period(client, now)
    periods: set[str] = set()
    for contract in db.session.scalars(select(Contract).where(Contract.client_id == client.id)):
        periods.update(_contract_months(contract, last))
    periods.update(
        db.session.scalars(
            select(TimeEntry.period)
            .where(TimeEntry.client_id == client.id, TimeEntry.period <= last)
            .distinct()
        )
    )
    return sorted(periods, reverse=True)


def report_clients(
    period: str, *, client_ids: Iterable[int] | None = None, now: datetime | None = None
) -> list[Client]:
    """Clients that have a report of ``period`` (as :func:`available_periods` says), by name."""
    first, after, _ = month_bounds(period)
    contracts = select(Contract).where(
        Contract.start_date < after,
        or_(Contract.end_date.is_(None), Contract.end_date >= first),
    )
    entries = select(TimeEntry.client_id).where(TimeEntry.period == period).distinct()
    clients_query = select(Client).order_by(Client.name)
    if client_ids is not None:
        ids = list(client_ids)
        contracts = contracts.where(Contract.client_id.in_(ids))
        entries = entries.where(TimeEntry.client_id.in_(ids))
        clients_query = clients_query.where(Client.id.in_(ids))
    with_report = {c.client_id for c in db.session.scalars(contracts) if status_while_in_force(c)}
    with_report.update(db.session.scalars(entries))
    return [
        client
        for client in db.session.scalars(clients_query)
        if client.id in with_report and period <= current_period(client, now)
    ]


def stored_report(client_id: int, period: str) -> StoredReport | None:
    """The frozen report of a closed month, if it was rendered already."""
    return db.session.scalar(
        select(StoredReport).where(
            StoredReport.client_id == client_id, StoredReport.period == period
        )
    )


def _checked(stored: StoredReport) -> bytes:
    if hashlib.sha256(stored.content).hexdigest() != stored.sha256:
        raise StoredReportCorrupt(
            f"stored report {stored.period} of client {stored.client_id} fails its SHA-256 check"
        )
    return stored.content


def store_report(client: Client, period: str, content: bytes) -> bytes:
    """Freeze a closed month's report; the bytes that are now stored (another writer may win)."""
    new_id = insert_ignoring_conflict(
        StoredReport,
        {
            "client_id": client.id,
            "period": period,
            "language": client.language,
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": content,
            "created_at": utcnow(),
        },
        ["client_id", "period"],
    )
    if new_id is not None:
        return content
    stored = stored_report(client.id, period)
    if stored is None:  # pragma: no cover - the conflicting row cannot vanish in our transaction
        raise RuntimeError(f"stored report {period} of client {client.id} disappeared")
    return _checked(stored)


def report_pdf(client: Client, period: str, *, now: datetime | None = None) -> bytes:
    """The client's report of ``period``: the stored bytes of a closed month, else a fresh draft.

    The first call for a closed month renders and stores it (the caller commits).
    """
    month_bounds(period)
    if is_month_closed(period):
        stored = stored_report(client.id, period)
        if stored is not None:
            return _checked(stored)
        return store_report(client, period, render_report(report_input(client, period)))
    return render_report(report_input(client, period, now=now))


def preliminary_periods(periods: Iterable[str]) -> set[str]:
    """Which of these months are not closed: their reports say PRELIMINARY (the portal too)."""
    periods = list(periods)
    closed = set(db.session.scalars(select(ClosedMonth.period).where(
        ClosedMonth.period.in_(periods)))) if periods else set()
    return set(periods) - closed


def requester_report_pdf(
    client: Client, user: User, period: str, *, now: datetime | None = None
) -> bytes:
    """A sub-agent's report of ``period``: the tickets they opened, hours only (never stored:
    it is not the company's bill, and a closed month's figures do not change anyway)."""
    month_bounds(period)
    return render_report(requester_report_input(client, user, period, now=now))
