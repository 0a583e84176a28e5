"""A client's contract history: terms, upgrades, downgrades, add-ons, trial conversion, end.

Built from the contract rows themselves (each term is a row chained by ``previous_id``, the
package history is ``ContractChange``, add-ons are ``ContractAddon`` with their days), so it can
never disagree with what the bills are computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import ChangeKind, Client, Contract, ContractStatus

#: Event kinds, in the order they are listed on one day.
KINDS = ("start", "trial_start", "trial_conversion", "renewal", "upgrade", "downgrade",
         "addon_added", "addon_removed", "renewal_cancelled", "trial_end", "end")


@dataclass(frozen=True)
class HistoryEvent:
    day: date
    kind: str
    #: Package (or add-on) name the event is about, and the package before (upgrades).
    name: str
    before: str | None = None


def contract_history(client: Client, first: date | None = None,
                     after: date | None = None) -> list[HistoryEvent]:
    """The events on days ``first`` <= day < ``after`` (all when not given), oldest first."""
    contracts = db.session.scalars(
        select(Contract).where(Contract.client_id == client.id)
        .options(selectinload(Contract.changes), selectinload(Contract.addons))
        .order_by(Contract.start_date, Contract.id)
    ).all()
    by_id = {c.id: c for c in contracts}
    zone = ZoneInfo(client.timezone)
    events: list[HistoryEvent] = []
    for c in contracts:
        previous = by_id.get(c.previous_id) if c.previous_id else None
        if previous is None:
            kind = "trial_start" if c.status == ContractStatus.TRIAL else "start"
        elif previous.status == ContractStatus.TRIAL:
            kind = "trial_conversion"
        else:
            kind = "renewal"
        first_package = c.changes[0].package if c.changes else c.package
        events.append(HistoryEvent(c.start_date, kind, first_package.name))
        for change in c.changes:
            if change.kind in (ChangeKind.UPGRADE, ChangeKind.DOWNGRADE):
                events.append(HistoryEvent(
                    change.effective_date, change.kind, change.package.name,
                    change.from_package.name if change.from_package else None))
        for item in c.addons:
            if item.start_date > c.start_date:
                events.append(HistoryEvent(item.start_date, "addon_added", item.addon.name))
            if item.end_date is not None and (c.end_date is None or item.end_date < c.end_date):
                events.append(HistoryEvent(item.end_date, "addon_removed", item.addon.name))
        if c.renewal_cancelled_at is not None:
            events.append(HistoryEvent(c.renewal_cancelled_at.astimezone(zone).date(),
                                       "renewal_cancelled", c.package.name))
        if c.ended_reason == "ended":
            events.append(HistoryEvent(c.end_date, "end", c.package.name))
        elif c.ended_reason == "trial_ended":
            events.append(HistoryEvent(c.end_date, "trial_end", c.package.name))
    events = [e for e in events if (first is None or e.day >= first)
              and (after is None or e.day < after)]
    return sorted(events, key=lambda e: (e.day, KINDS.index(e.kind)))
