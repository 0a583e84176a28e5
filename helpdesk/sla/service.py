"""SLA on tickets: targets from the client's package, due times on the client's business calendar.

The arithmetic is in :mod:`helpdesk.sla.clock`; this module reads tickets and contracts and writes
the due times back, so the ticket service, the sweep job and reports agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from flask import current_app

from ..calendar.business import BusinessCalendar, get_calendar
from ..contracts import active_contract, has_addon
from ..extensions import db
from ..models import Client, Priority, Ticket, TicketStatus, utcnow
from .clock import due_at, elapsed_fraction

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
        closed_days=_closing_days(country),
    )


def _closing_days(country: str | None) -> frozenset:
    """The vendor's extra closing days for a holiday country (read once per request or job)."""
    from flask import g, has_app_context

    from ..settings import closing_days

    if not has_app_context():
        return frozenset()
    cache = g.setdefault("_helpdesk_closing_days", {})
    if country not in cache:
        cache[country] = closing_days(country)
    return cache[country]


def ticket_calendar(ticket: Ticket) -> BusinessCalendar:
    return business_calendar(ticket.client, always_open=ticket.sla_clock == CLOCK_24X7)


#: ``start_clocks`` looks the contract up itself.
_LOOK_UP: Any = object()


def start_clocks(
    ticket: Ticket, now: datetime, *, keep_history: bool = False, contract: Any = _LOOK_UP
) -> None:
    """Fix the ticket's targets from the package in force when it opened, then its due times.

    The targets are the package's for the ticket's priority on the day it opened
    (:func:`helpdesk.pricelist.sla_targets.targets_on`), so a later change leaves it as it was.

    Clients without an active (or trial) contract get no SLA target. Urgent tickets of clients with
    the on-call add-on run on a 24/7 clock. ``contract``: the client's active contract on the
    opening day (or None), when the caller has looked it up already (many tickets at once).
    """
    if contract is _LOOK_UP:
        client = db.session.get(Client, ticket.client_id) if ticket.client_id else None
        contract = active_contract(client.id, ticket.created_at.date()) if client else None
    targets = None
    if contract is not None:
        from ..pricelist.sla_targets import targets_on
        from ..tickets.queues import local_today

        targets = targets_on(contract.package, ticket.priority, local_today(ticket.created_at))
    if targets is None:
        ticket.sla_clock = None
        ticket.sla_first_response_minutes = None
        ticket.sla_resolution_minutes = None
        ticket.first_response_due = None
        ticket.resolution_due = None
        ticket.sla_next_due = None
        return
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


# -- reading the clocks (ticket page, sweep) ------------------------------------------------------

TARGETS = ("first_response", "resolution")


@dataclass(frozen=True)
class ClockReading:
    """One SLA target of a ticket as the console shows it and the sweep judges it."""

    #: "first_response" or "resolution".
    target: str
    target_minutes: int
    #: Due time as of ``now`` (a running pause counts as ending now).
    due: datetime
    #: When the target was met (first public reply, resolution), or None.
    met_at: datetime | None
    #: Share of the target used at ``now`` (or when it was met); may exceed 1.
    elapsed: float
    #: "met", "late" (met after the due time), "paused", "ok", "warning" or "breached".
    state: str
    paused: bool
    warned_at: datetime | None
    breached_at: datetime | None


def warning_fraction() -> float:
    return float(current_app.config.get("SLA_WARNING_FRACTION", 0.8))


def warning_at(ticket: Ticket, target_minutes: int, now: datetime | None = None) -> datetime:
    """The instant the share :func:`warning_fraction` of a target is used up."""
    return due_at(ticket_calendar(ticket), ticket.created_at, target_minutes * warning_fraction(),
                  pauses_of(ticket), now=now or utcnow())


def read_clocks(ticket: Ticket, now: datetime | None = None) -> list[ClockReading]:
    """The ticket's SLA targets with due time, share used and state; empty without an SLA."""
    if ticket.sla_clock is None:
        return []
    now = now or utcnow()
    cal = ticket_calendar(ticket)
    pauses = pauses_of(ticket)
    paused = ticket.status == TicketStatus.PENDING
    resolved_at = (
        ticket.resolved_at
        if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) else None
    )
    readings = []
    for target, minutes, met_at, warned, breached in (
        ("first_response", ticket.sla_first_response_minutes, ticket.first_response_at,
         ticket.first_response_warned_at, ticket.first_response_breached_at),
        ("resolution", ticket.sla_resolution_minutes, resolved_at,
         ticket.resolution_warned_at, ticket.resolution_breached_at),
    ):
        if minutes is None:
            continue
        at = met_at or now
        due = due_at(cal, ticket.created_at, minutes, pauses, now=at)
        used = elapsed_fraction(cal, ticket.created_at, due, at, pauses)
        if met_at is not None:
            state = "late" if met_at > due else "met"
        elif paused:
            state = "paused"
        elif now > due:
            state = "breached"
        elif used >= warning_fraction():
            state = "warning"
        else:
            state = "ok"
        readings.append(ClockReading(
            target=target, target_minutes=minutes, due=due, met_at=met_at, elapsed=used,
            state=state, paused=paused and met_at is None, warned_at=warned, breached_at=breached,
        ))
    return readings
