"""Triage of unknown senders: suggest the client, link the ticket to a client and contact.

Linking goes through :func:`helpdesk.tickets.services.update_fields`, so the SLA targets (from the
client's package), the reserved-priority flag and billing follow the client. Only flushes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import (
    Article,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Direction,
    Ticket,
    User,
)
from ..tickets.services import update_fields

_PHONE_RE = re.compile(r"\+?\d[\d ()/.-]{6,}\d")


class TriageError(ValueError):
    """The link was refused; the message says why, in the agent's language."""


@dataclass(frozen=True)
class Suggestion:
    client: Client
    #: "domain", "phone" or "signature".
    reason: str
    detail: str


def sender_domain(ticket: Ticket) -> str | None:
    address = (ticket.requester_email or "").lower()
    return address.rpartition("@")[2] or None if "@" in address else None


def _texts(ticket: Ticket) -> list[str]:
    return list(db.session.scalars(
        select(Article.body_text).where(Article.ticket_id == ticket.id,
                                        Article.direction == Direction.IN).order_by(Article.id)
    ))


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def suggestions(ticket: Ticket, *, country_code: str = "381") -> list[Suggestion]:
    """Clients the sender may belong to: domain first, then a phone, then a name in the text."""
    found: list[Suggestion] = []
    seen: set[int] = set()

    def add(client: Client | None, reason: str, detail: str) -> None:
        if client is not None and client.id not in seen and client.archived_at is None:
            seen.add(client.id)
            found.append(Suggestion(client, reason, detail))

    domain = sender_domain(ticket)
    if domain:
        parts = domain.split(".")
        candidates = [".".join(parts[i:]) for i in range(len(parts) - 1)]
        for row in db.session.scalars(select(ClientDomain).where(ClientDomain.domain.in_(candidates))):
            add(row.client, "domain", row.domain)
    texts = _texts(ticket)
    numbers = set()
    for text in texts:
        for match in _PHONE_RE.finditer(text or ""):
            digits = _digits(match.group())
            if digits.startswith("00"):
                digits = digits[2:]
            elif digits.startswith("0"):
                digits = country_code + digits[1:]
            numbers.add(digits)
    if numbers:
        for phone in db.session.scalars(
            select(ContactPhone).where(ContactPhone.normalized.in_(sorted(numbers)))
        ):
            add(phone.contact.client, "phone", phone.number)
    joined = "\n".join(t[-2000:] for t in texts if t).lower()  # signatures sit at the end
    if joined:
        for client in db.session.scalars(
            select(Client).where(Client.archived_at.is_(None)).order_by(Client.name)
        ):
            name = client.name.lower()
            if len(name) >= 3 and re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", joined):
                add(client, "signature", client.name)
    return found


def triage_tickets(limit: int = 100) -> list[Ticket]:
    return list(db.session.scalars(
        select(Ticket).where(Ticket.needs_triage.is_(True), Ticket.merged_into_id.is_(None))
        .order_by(Ticket.created_at, Ticket.id).limit(limit)
    ))


def link_ticket(
    ticket: Ticket,
    client: Client,
    *,
    user: User,
    contact: Contact | None = None,
    create_contact: bool = True,
    add_domain: bool = False,
) -> Contact | None:
    """Put an unknown sender's ticket on ``client`` (and a contact), refusing what does not fit."""
    if client.archived_at is not None:
        raise TriageError(_("%(name)s is archived: its tickets cannot be linked.", name=client.name))
    if contact is not None and contact.client_id != client.id:
        raise TriageError(_("%(contact)s is a contact of another client.", contact=contact.name))
    address = (ticket.requester_email or "").strip().lower()
    if contact is None and create_contact and address:
        existing = db.session.scalar(select(ContactEmail).where(ContactEmail.email == address))
        if existing is not None:
            if existing.contact.client_id != client.id:
                raise TriageError(_("%(addr)s is already a contact of %(client)s.", addr=address,
                                    client=existing.contact.client.name))
            contact = existing.contact
        else:
            name = (ticket.requester_name or "").strip() or address.partition("@")[0]
            contact = Contact(client_id=client.id, name=name[:200], is_primary=False)
            contact.emails.append(ContactEmail(email=address))
            db.session.add(contact)
            db.session.flush()
    if add_domain:
        domain = sender_domain(ticket)
        if not domain:
            raise TriageError(_("The sender has no mail domain to add."))
        row = db.session.scalar(select(ClientDomain).where(ClientDomain.domain == domain))
        if row is not None and row.client_id != client.id:
            raise TriageError(_("The domain %(domain)s belongs to %(client)s.", domain=domain,
                                client=row.client.name))
        if row is None:
            db.session.add(ClientDomain(client_id=client.id, domain=domain))
    update_fields(ticket, user=user, client_id=client.id,
                  contact_id=contact.id if contact else ticket.contact_id)
    # The sender's earlier messages on this ticket now belong to the contact.
    if contact is not None:
        for article in db.session.scalars(select(Article).where(
                Article.ticket_id == ticket.id, Article.direction == Direction.IN,
                Article.contact_id.is_(None))):
            article.contact_id = contact.id
    db.session.flush()
    return contact
