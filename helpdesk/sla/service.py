"""SLA on tickets: targets from the client's package, due times on the client's business calendar.

The arithmetic is in :mod:`helpdesk.sla.clock`; this module reads tickets and contracts and writes
the due times back, so the ticket service, the sweep job and reports agree.
"""

from __future__ import annotations

from datetime import datetime, time

from flask import current_app

from ..calendar import BusinessCalendar, get_calendar
from ..contracts import active_contract, has_addon
from ..extensions import db
from ..models import Client, Priority, Ticket, TicketStatus, utcnow
from .clock import SlaTargets, due_at, targets_for

CLOCK_BUSINESS = "business"
CLOCK_24X7 = "24x7"


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def business_calendar(client: Client | None, *, always_open: bool = False) -> BusinessCalendar:
    """The working calendar of a client (its zone and country), or the vendor's default."""
    cfg = current_app.config
    tz = client.timezone if client else cfg["TIMEZONE"]
    country = client.country if client else cfg["HOLIDAY_COUNTRY"]
    return get_calendar(
        tz=tz,
        country=country,
        start=_hhmm(cfg["WORKDAY_START"]),
        end=_hhmm(cfg["WORKDAY_END"]),
        always_open=always_open,
    )


def ticket_calendar(ticket: Ticket) -> BusinessCalendar:
    return business_calendar(ticket.client, always_open=ticket.sla_clock == CLOCK_24X7)


def start_clocks(ticket: Ticket, now: datetime, *, keep_history: bool = False) -> None:
    """Fix the ticket's targets from the package in force when it opened, then its due times.

    Clients without an active (or trial) contract get no SLA target. Urgent tickets of clients with
    the on-call add-on run on a 24/7 clock.
    """
    client = db.session.get(Client, ticket.client_id) if ticket.client_id else None
    contract = active_contract(client.id, ticket.created_at.date()) if client else None
    policy = contract.package.sla_policy if contract is not None else None
    if policy is None:
        ticket.sla_clock = None
        ticket.sla_first_response_minutes = None
        ticket.sla_resolution_minutes = None
        ticket.first_response_due = None
        ticket.resolution_due = None
        ticket.sla_next_due = None
        return
    targets = targets_for(
        SlaTargets(policy.first_response_minutes, policy.resolution_minutes), ticket.priority
    )
    oncall = has_addon(contract, "oncall", ticket.created_at.date())
    ticket.sla_clock = (
        CLOCK_24X7 if oncall and ticket.priority == Priority.URGENT else CLOCK_BUSINESS
    )
    ticket.sla_first_response_minutes = targets.first_response_minutes
    ticket.sla_resolution_minutes = targets.resolution_minutes
    if not keep_history:
        ticket.first_response_warned_at = None
        ticket.resolution_warned_at = None
    recompute_due(ticket, now)


def pauses_of(ticket: Ticket) -> list[tuple[datetime, datetime | None]]:
    return [(p.started_at, p.ended_at) for p in ticket.pauses]


def recompute_due(ticket: Ticket, now: datetime | None = None) -> None:
    """Due times from the opening time, the targets and the pauses so far."""
    if ticket.sla_clock is None:
        ticket.sla_next_due = None
        return
    now = now or utcnow()
    cal = ticket_calendar(ticket)
    pauses = pauses_of(ticket)
    if ticket.sla_first_response_minutes is not None:
        ticket.first_response_due = due_at(
            cal, ticket.created_at, ticket.sla_first_response_minutes, pauses, now=now
        )
    if ticket.sla_resolution_minutes is not None:
        ticket.resolution_due = due_at(
            cal, ticket.created_at, ticket.sla_resolution_minutes, pauses, now=now
        )
    refresh_next_due(ticket)


def refresh_next_due(ticket: Ticket) -> None:
    """The earliest target still to meet, which orders the queue."""
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) or ticket.sla_clock is None:
        ticket.sla_next_due = None
    elif ticket.first_response_at is None and ticket.first_response_due is not None:
        ticket.sla_next_due = ticket.first_response_due
    else:
        ticket.sla_next_due = ticket.resolution_due
