"""Followers of a ticket: colleagues of the requester who get the replies in Cc.

Incoming mail keeps its To/Cc addresses of the client's own domains as followers
(:func:`followers_from_mail`, called by the ingest store); agents add and remove them
(:func:`add_follower` refuses an address of another client's domain, naming that client).
Only flushes.
"""

from __future__ import annotations

from email.utils import getaddresses

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import Client, ClientDomain, ContactEmail, Ticket, TicketFollower, User


class FollowerError(ValueError):
    """The address cannot follow this ticket; the message says why."""


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _client_of_domain(domain: str) -> Client | None:
    parts = domain.split(".")
    candidates = [".".join(parts[i:]) for i in range(len(parts) - 1)]
    rows = db.session.scalars(select(ClientDomain).where(ClientDomain.domain.in_(candidates))).all()
    rows.sort(key=lambda r: -len(r.domain))
    return rows[0].client if rows else None


def followers(ticket: Ticket) -> list[TicketFollower]:
    return list(db.session.scalars(
        select(TicketFollower).where(TicketFollower.ticket_id == ticket.id)
        .order_by(TicketFollower.id)
    ))


def follower_emails(ticket: Ticket) -> list[str]:
    return [f.email for f in followers(ticket)]


def _check(ticket: Ticket, address: str) -> str:
    address = (address or "").strip().lower()
    _name, parsed = getaddresses([address])[0] if address else ("", "")
    if not parsed or parsed.count("@") != 1 or " " in parsed or len(parsed) > 254:
        raise FollowerError(_("Not an email address: %(addr)s", addr=address or "?"))
    owner = _client_of_domain(_domain(parsed))
    if owner is not None and owner.id != ticket.client_id:
        raise FollowerError(_("%(addr)s belongs to another client's domain (%(client)s).",
                              addr=parsed, client=owner.name))
    contact = db.session.scalar(select(ContactEmail).where(ContactEmail.email == parsed))
    if contact is not None and contact.contact.client_id != ticket.client_id:
        raise FollowerError(_("%(addr)s is a contact of another client (%(client)s).",
                              addr=parsed, client=contact.contact.client.name))
    return parsed


def add_follower(ticket: Ticket, address: str, *, user: User | None = None) -> TicketFollower:
    """Add ``address`` (refused when it is another client's); an existing follower is kept."""
    email = _check(ticket, address)
    existing = db.session.scalar(select(TicketFollower).where(
        TicketFollower.ticket_id == ticket.id, TicketFollower.email == email))
    if existing is not None:
        return existing
    contact = db.session.scalar(select(ContactEmail).where(ContactEmail.email == email))
    follower = TicketFollower(ticket_id=ticket.id, email=email,
                              contact_id=contact.contact_id if contact else None,
                              added_by_id=user.id if user else None)
    with db.session.begin_nested():
        db.session.add(follower)
    return follower


def remove_follower(ticket: Ticket, follower_id: int) -> bool:
    row = db.session.get(TicketFollower, follower_id)
    if row is None or row.ticket_id != ticket.id:
        return False
    db.session.delete(row)
    db.session.flush()
    return True


def followers_from_mail(ticket: Ticket, addresses: list[str], *,
                        own_addresses: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Keep the To/Cc addresses of the ticket client's own domains as followers (ingest)."""
    if ticket.client_id is None:
        return []
    domains = set(db.session.scalars(
        select(ClientDomain.domain).where(ClientDomain.client_id == ticket.client_id)))
    requester = (ticket.requester_email or "").lower()
    known = set(follower_emails(ticket))
    added = []
    for address in addresses:
        email = (address or "").strip().lower()
        if (not email or email == requester or email in own_addresses or email in known
                or len(email) > 254):
            continue
        domain = _domain(email)
        if not any(domain == d or domain.endswith("." + d) for d in domains):
            continue
        try:
            add_follower(ticket, email)
        except FollowerError:
            continue
        known.add(email)
        added.append(email)
    return added


def reply_cc(ticket: Ticket, to: str = "") -> str:
    """The Cc line a reply starts with: the followers, minus the To address."""
    to = to.lower()
    return ", ".join(e for e in follower_emails(ticket) if e != to)
