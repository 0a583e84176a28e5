"""A client's month entry by entry: the same usage as :func:`usage_for`, with every entry explained.

:func:`usage_for` lets the database add up the entries the rules only add; a report that prints
why each entry bills what it bills needs them one by one. :func:`usage_detail` hands the same
rules (:func:`helpdesk.accounting.monthly.compute_usage`) one record per entry, so its sums are
those of :func:`usage_for` and each entry gets an explanation: the rule codes that made its
billed time differ from its worked time, and whether it counted against the package, was billed
apart (development) or not charged (free visit, warranty).
"""

from __future__ import annotations

from sqlalchemy import false, func, select

from ..extensions import db
from ..models import Client, Ticket, TimeEntry
from .day_exact import day_exact
from .explain import plain_billable_minutes
from .ledger import billing_rules
from .monthly import EntryRecord, Usage, compute_usage
from .tariff import BillingRules
from .usage import (
    _build_state,
    _check_period,
    _load_catalogue,
    _load_contracts,
    _visit_starts,
    month_bounds,
)

__all__ = ["usage_detail"]


def _entry_records(client_id: int, period: str, rules: BillingRules) -> list[EntryRecord]:
    defect = func.coalesce(Ticket.warranty_defect, false())
    rows = db.session.execute(
        select(
            TimeEntry.id, TimeEntry.kind, TimeEntry.started_at, TimeEntry.billable_minutes,
            TimeEntry.minutes, TimeEntry.out_of_hours_minutes, TimeEntry.out_of_hours,
            TimeEntry.is_adjustment, defect,
        )
        .outerjoin(Ticket, Ticket.id == TimeEntry.ticket_id)
        .where(TimeEntry.client_id == client_id, TimeEntry.period == period)
        .order_by(TimeEntry.started_at, TimeEntry.id)
    )
    return [
        EntryRecord(
            id=entry_id,
            kind=kind,
            started_at=started,
            billable_minutes=billable,
            minutes=minutes,
            out_of_hours_minutes=ooh_minutes,
            out_of_hours=bool(ooh),
            ticket_warranty_defect=bool(warranty_defect),
            is_adjustment=bool(adjustment),
            plain_billable_minutes=(
                plain_billable_minutes(kind, minutes, rules) if ooh and not adjustment else None
            ),
        )
        for entry_id, kind, started, billable, minutes, ooh_minutes, ooh, adjustment,
        warranty_defect in rows
    ]


def usage_detail(client: Client, period: str, *, rules: BillingRules | None = None) -> Usage:
    """:func:`usage_for` of one client's month with ``explanations`` for every entry (by id)."""
    _check_period(period)
    rules = rules or billing_rules()
    _, after, _ = month_bounds(period)
    state = _build_state(
        client, period, _load_contracts([client.id], after).get(client.id, []),
        _load_catalogue(period), _visit_starts([client.id], period).get(client.id, []),
        exact=day_exact(period),
    )
    return compute_usage(period, state, _entry_records(client.id, period, rules), rules)
