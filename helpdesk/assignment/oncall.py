"""The on-call add-on's out-of-hours operator: who takes a client's urgent ticket at night.

A client with the ``oncall`` add-on has urgent tickets on a 24/7 clock (:mod:`helpdesk.sla`). Out
of the vendor's business hours such a ticket goes to the agent whose on-call shift covers the
moment (shifts are entered on the capacity page), not to a dedicated agent who is asleep:

* a new urgent ticket is assigned to the operator when it opens (:func:`on_call_agent_for`, used
  by auto-assignment, also with ``AUTO_ASSIGN`` off: the add-on is a promise to the client);
* an open urgent ticket whose assignee is not at work (raised to urgent later, or opened before the
  shift began) is handed to the operator by the minute job (:func:`route_to_on_call`), audited as
  ``on-call``; the operator is notified as for any assignment.

``ON_CALL_ROUTING`` (default on) switches both off. Only flushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..capacity.availability import agents_at_work, on_call_at
from ..contracts.services import active_contract, has_addon
from ..extensions import db
from ..models import OPEN_STATUSES, Client, Priority, Ticket, User
from ..sla.service import business_calendar

ON_CALL_ADDON = "oncall"


def _covered(ticket: Ticket, now: datetime, contracts: dict | None = None) -> bool:
    """Whether ``ticket`` is one the on-call operator takes at ``now``: urgent, of a client with the
    add-on that day, and ``now`` outside the client's business hours. ``contracts`` caches each
    client's answer when many tickets are asked about at once."""
    if ticket.priority != Priority.URGENT or ticket.client_id is None:
        return False
    if contracts is not None and ticket.client_id in contracts:
        return contracts[ticket.client_id]
    client = ticket.client if ticket.client is not None else db.session.get(Client, ticket.client_id)
    calendar = business_calendar(client)
    covered = False
    if not calendar.is_business_time(now):
        day = now.astimezone(calendar.tz).date()
        covered = has_addon(active_contract(client.id, day), ON_CALL_ADDON, day)
    if contracts is not None:
        contracts[ticket.client_id] = covered
    return covered


def _operator(now: datetime) -> User | None:
    agent = on_call_at(now)
    if agent is None or not agent.active or not agent.is_staff:
        return None
    return agent


def on_call_agent_for(ticket: Ticket, now: datetime) -> User | None:
    """The on-call operator who should take ``ticket`` now, or None (in hours, not urgent, no
    add-on, no shift, or routing switched off)."""
    if not current_app.config.get("ON_CALL_ROUTING", True) or not _covered(ticket, now):
        return None
    return _operator(now)


@dataclass
class OnCallReport:
    handed: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.handed)} urgent ticket(s) handed to the on-call operator"


def route_to_on_call(now: datetime) -> OnCallReport:
    """Hand open urgent tickets of on-call clients to the operator on shift when their assignee is
    not at work. A ticket already with the operator, or with someone at work, is left alone."""
    from ..tickets.services import update_fields

    report = OnCallReport()
    if not current_app.config.get("ON_CALL_ROUTING", True):
        return report
    operator = _operator(now)
    if operator is None or operator.away:
        return report
    tickets = db.session.scalars(
        select(Ticket).where(
            Ticket.status.in_([s.value for s in OPEN_STATUSES]), Ticket.priority == Priority.URGENT,
            Ticket.client_id.is_not(None),
            (Ticket.assignee_id.is_(None)) | (Ticket.assignee_id != operator.id),
        ).options(selectinload(Ticket.client), selectinload(Ticket.assignee)).order_by(Ticket.id)
    ).all()
    clients: dict[int, bool] = {}
    tickets = [t for t in tickets if _covered(t, now, clients)]
    assignees = {t.assignee.id: t.assignee for t in tickets if t.assignee is not None
                 and t.assignee.active and not t.assignee.away}
    working = agents_at_work(list(assignees.values()), now)
    for ticket in tickets:
        if ticket.assignee_id in working:
            continue
        update_fields(ticket, actor="on-call", assignee_id=operator.id)
        report.handed.append(ticket.number)
    return report
