"""The package meter on the ticket header and the cost of time before it is logged.

Both are computed by the accounting rules: the month's usage is :func:`usage_for`, and the cost
of a piece of work is the difference between :func:`compute_usage` of the month with and without
it (the piece billed by :func:`entry_billing`), so overage, out-of-hours weighting, free visits,
warranty and the no-contract rate are exactly what the invoice will say.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from ..accounting import usage as usage_module
from ..accounting.ledger import billing_rules, entry_billing
from ..accounting.monthly import EntryRecord, compute_usage
from ..accounting.periods import period_of
from ..models import Client, Ticket, utcnow


@dataclass(frozen=True)
class Meter:
    period: str
    status: str
    included_minutes: int
    used_minutes: int
    left_minutes: int
    #: Minutes the month will end at if work goes on at this month's pace so far.
    forecast_minutes: int
    currency: str

    @property
    def forecast_over(self) -> bool:
        return self.included_minutes > 0 and self.forecast_minutes > self.included_minutes


def package_meter(client: Client, now: datetime | None = None) -> Meter:
    now = now or utcnow()
    period = period_of(now, client.timezone)
    usage = usage_module.usage_for(client, period)
    local = now.astimezone(ZoneInfo(client.timezone))
    days = calendar.monthrange(local.year, local.month)[1]
    elapsed = (local.day - 1) + (local.hour * 60 + local.minute) / 1440
    pace = usage.billable_minutes / elapsed if elapsed > 0 else 0
    forecast = round(pace * days) if elapsed >= 1 else usage.billable_minutes
    return Meter(period, usage.status, usage.included_minutes, usage.billable_minutes,
                 usage.remaining_minutes, max(forecast, usage.billable_minutes), usage.currency)


@dataclass(frozen=True)
class CostPreview:
    billable_minutes: int
    out_of_hours: bool
    #: Of this piece, the minutes beyond what the package still covers.
    over_package_minutes: int
    #: What the month's bill grows by.
    amount: Decimal
    currency: str
    needs_review: bool

    @property
    def costs(self) -> bool:
        return self.amount > 0


def cost_preview(client: Client, ticket: Ticket | None, kind: str, started_at: datetime,
                 minutes: int) -> CostPreview:
    """What logging ``minutes`` of ``kind`` work from ``started_at`` adds to the client's bill."""
    rules = billing_rules()
    period = period_of(started_at, client.timezone)
    billing = entry_billing(client, kind, started_at, minutes, rules=rules)
    state = usage_module.contract_state(client, period)
    records = usage_module.month_records({client.id: state}, period, rules).get(client.id, [])
    before = compute_usage(period, state, records, rules)
    extra = EntryRecord(
        kind=kind, started_at=started_at, billable_minutes=billing.billable_minutes,
        minutes=billing.minutes, out_of_hours_minutes=billing.out_of_hours_minutes,
        out_of_hours=billing.out_of_hours,
        ticket_warranty_defect=bool(ticket.warranty_defect) if ticket else False,
    )
    after = compute_usage(period, state, [*records, extra], rules)
    return CostPreview(
        billable_minutes=billing.billable_minutes,
        out_of_hours=billing.out_of_hours,
        over_package_minutes=max(after.overage_minutes - before.overage_minutes, 0),
        amount=after.total - before.total,
        currency=after.currency,
        needs_review=billing.needs_review,
    )
