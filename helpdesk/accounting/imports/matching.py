"""Who is who: customers to clients, technicians and extensions to agents, tickets named
in a row; looked up once per import."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ...models import (
    OPEN_STATUSES,
    STAFF_ROLES,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Ticket,
    TimeEntry,
    User,
)
from ..ledger import billing_rules, client_has_oncall, is_month_closed
from .results import Fix, ImportResult, ReportedRow, ticket_numbers

#: Rows written between progress reports and duplicate look-ups.
BATCH = 500
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


class _Matcher:
    """Who is who: customers to clients, technicians and extensions to agents (looked up once)."""

    def __init__(self) -> None:
        self.by_email = dict(db.session.execute(
            select(ContactEmail.email, Contact.client_id).join(
                Contact, Contact.id == ContactEmail.contact_id
            )
        ).all())
        self.by_domain = dict(db.session.execute(
            select(ClientDomain.domain, ClientDomain.client_id)
        ).all())
        self.by_name = {
            _name_key(name): client_id
            for client_id, name in db.session.execute(select(Client.id, Client.name))
        }
        self.by_phone = dict(db.session.execute(
            select(ContactPhone.normalized, Contact.client_id).join(
                Contact, Contact.id == ContactPhone.contact_id
            )
        ).all())
        staff = db.session.scalars(
            select(User).where(User.role.in_([str(r) for r in STAFF_ROLES]))
        ).all()
        self.agents_by_email = {u.email: u for u in staff}
        self.agents_by_email.update({u.logmein_email.lower(): u for u in staff if u.logmein_email})
        self.agents_by_extension = {u.extension.strip(): u for u in staff if u.extension}
        self.contact_by_phone = dict(db.session.execute(
            select(ContactPhone.normalized, Contact.name).join(
                Contact, Contact.id == ContactPhone.contact_id
            )
        ).all())
        self.agents_by_phone = {
            "".join(ch for ch in u.phone if ch.isdigit()): u for u in staff if u.phone
        }
        self.clients: dict[int, Client] = {}
        self.oncall: dict[tuple[int, date], bool] = {}
        self.closed: dict[str, bool] = {}
        self.tickets: dict[int, Ticket | None] = {}
        self.open_tickets: dict[int, list[tuple[int, datetime, datetime]]] = {}
        self.day_tickets: dict[tuple[int, date], int | None] = {}
        #: The billing rules, read once (a preview bills every row without writing it).
        self.rules = billing_rules()

    def client(self, client_id: int) -> Client:
        if client_id not in self.clients:
            self.clients[client_id] = db.session.get(Client, client_id)
        return self.clients[client_id]

    def customer(self, text: str) -> int | None:
        """A client by the customer's email (a contact's, then the domain's), then by name."""
        for email in _EMAIL_RE.findall(text or ""):
            email = email.lower()
            if email in self.by_email:
                return self.by_email[email]
            domain = email.split("@", 1)[1]
            while "." in domain:
                if domain in self.by_domain:
                    return self.by_domain[domain]
                domain = domain.split(".", 1)[1]
        return self.by_name.get(_name_key(text or ""))

    def has_oncall(self, client: Client, started_at: datetime) -> bool:
        day = started_at.astimezone(ZoneInfo(client.timezone)).date()
        key = (client.id, day)
        if key not in self.oncall:
            self.oncall[key] = client_has_oncall(client, day)
        return self.oncall[key]

    def ticket(self, number: int) -> Ticket | None:
        if number not in self.tickets:
            self.tickets[number] = db.session.scalar(select(Ticket).where(Ticket.number == number))
        return self.tickets[number]

    def fixed(self, fix: Fix) -> tuple[int | None, Ticket | None]:
        """The client and ticket a person chose for a row."""
        ticket = db.session.get(Ticket, fix.ticket_id) if fix.ticket_id else None
        if ticket is not None and ticket.client_id is not None:
            return ticket.client_id, ticket
        return fix.client_id, ticket

    def open_ticket_of_day(self, client: Client, started_at: datetime) -> int | None:
        """The client's open ticket active on the entry's local day (the latest), if any."""
        local = ZoneInfo(client.timezone)
        day = started_at.astimezone(local).date()
        key = (client.id, day)
        if key not in self.day_tickets:
            day_start = datetime.combine(day, time(), local).astimezone(UTC)
            day_end = day_start + timedelta(days=1)
            self.day_tickets[key] = next(
                (ticket_id for ticket_id, created_at, active_at in self._open_tickets(client.id)
                 if created_at < day_end and active_at >= day_start), None)
        return self.day_tickets[key]

    def _open_tickets(self, client_id: int) -> list[tuple[int, datetime, datetime]]:
        """The client's open tickets, latest activity first (one query per client)."""
        if client_id not in self.open_tickets:
            self.open_tickets[client_id] = [tuple(row) for row in db.session.execute(
                select(Ticket.id, Ticket.created_at, Ticket.last_activity_at).where(
                    Ticket.client_id == client_id,
                    Ticket.status.in_([str(s) for s in OPEN_STATUSES]),
                ).order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
            )]
        return self.open_tickets[client_id]

    def month_closed(self, period: str) -> bool:
        if period not in self.closed:
            self.closed[period] = is_month_closed(period)
        return self.closed[period]


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _known_refs(source: str, refs: Sequence[str]) -> set[str]:
    if not refs:
        return set()
    return set(db.session.scalars(
        select(TimeEntry.external_ref).where(
            TimeEntry.source == source, TimeEntry.external_ref.in_(list(refs))
        )
    ))


def _batches(items: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _default_tz(tz: str | None) -> str:
    return tz or current_app.config["TIMEZONE"]



def _ticket_of(matcher: _Matcher, texts: Sequence[str], client_id: int | None,
               result: ImportResult, line_no: int, ref: str) -> Ticket | None:
    """The ticket a row names, if it exists and may carry this client's time."""
    for number in ticket_numbers(*texts):
        ticket = matcher.ticket(number)
        if ticket is None:
            result.warnings.append(ReportedRow.of(line_no, ref, "no_ticket", number=number))
            continue
        if client_id is not None and ticket.client_id not in (None, client_id):
            result.warnings.append(ReportedRow.of(line_no, ref, "other_clients_ticket",
                                                  number=number))
            continue
        return ticket
    return None

