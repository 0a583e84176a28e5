"""Everything storing a batch of mail needs to know from the database, asked once per batch with
``IN`` queries and then kept up to date in memory as the batch adds rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ARRAY, any_, bindparam, func, select
from sqlalchemy.orm import selectinload

from helpdesk.extensions import db
from helpdesk.models import (
    STAFF_ROLES,
    Article,
    AutomaticMail,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    Direction,
    IngestFailure,
    MailDuplicate,
    Ticket,
    TicketFollower,
    User,
)
from mail_ingest.msgid import read_message_id

#: Rows per ``IN (...)`` list: far below every database's parameter limit.
IN_CHUNK = 500


#: The values of an ``IN`` list, bound when the statement runs (see :func:`rows_in`).
VALUES = bindparam("values", expanding=True)


def among(column: Any) -> Any:
    """``column`` is one of the values :func:`rows_in` binds. ``IN (...)`` on SQLite; on
    PostgreSQL ``= ANY(array)``, one parameter: an expanded list is a new statement text for
    every length, which the driver converts to PostgreSQL's placeholders anew each time (a
    regular-expression pass over hundreds of parameters, per query, per batch)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("values", type_=ARRAY(column.type)))
    return column.in_(VALUES)


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def rows_in(query: Any, values: Sequence[Any], *, scalars: bool = False) -> Iterator[Any]:
    """Run ``query`` (its IN list is :func:`among`) for ``values``, IN_CHUNK at a time.

    Bound at execution, the list is neither coerced value by value nor part of the statement,
    so the statement is compiled once and cached (a literal list of hundreds of Message-IDs
    costs more to build than to run)."""
    run = db.session.scalars if scalars else db.session.execute
    for chunk in chunks(values):
        yield from run(query, {"values": list(chunk)})


def execute_in(statement: Any, values: Sequence[Any]) -> None:
    """Run an UPDATE or DELETE whose list is :func:`among` for ``values``, as :func:`rows_in`
    runs a query."""
    for chunk in chunks(values):
        db.session.execute(statement, {"values": list(chunk)})


def suffixes_of(address: str) -> list[str]:
    """``a@mail.firma.rs`` -> ``["mail.firma.rs", "firma.rs", "rs"]``: every domain a client's
    domain may be for the address to belong to it (the followers' rule)."""
    domain = address.rpartition("@")[2].strip(".").lower()
    labels = domain.split(".") if domain else []
    return [".".join(labels[i:]) for i in range(len(labels))]


def domains_of(address: str) -> list[str]:
    """``a@mail.firma.rs`` -> ``["mail.firma.rs", "firma.rs"]``: the domain and its parents."""
    domain = address.rpartition("@")[2].strip(".").lower()
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or ([domain] if domain else [])


@dataclass
class StoredMail:
    """A stored article, as far as threading and duplicate detection need it."""

    ticket_id: int | None
    article_id: int | None
    content_hash: str | None
    #: For a ticket opened earlier in this very batch (not flushed yet).
    target: Any = None


@dataclass
class Sender:
    """A known sender: the contact (an id, or a Contact not flushed yet) and its client."""

    contact: int | Contact
    client_id: int

    @property
    def contact_id(self) -> int | None:
        return self.contact if isinstance(self.contact, int) else self.contact.id


@dataclass
class Lookups:
    """Batch-wide answers to "which ticket / contact / client", grown as the batch stores."""

    #: Message-ID -> the stored mail (articles and automatic mail alike).
    stored: dict[str, StoredMail] = field(default_factory=dict)
    #: Ticket number -> ticket id.
    ticket_of_number: dict[int, int] = field(default_factory=dict)
    #: Held so the session's identity map keeps them (it only keeps weak references).
    tickets: dict[int, Ticket] = field(default_factory=dict)
    #: Ticket id -> addresses following it.
    followers: dict[int, set[str]] = field(default_factory=dict)
    #: Sender address -> known contact.
    contacts: dict[str, Sender] = field(default_factory=dict)
    #: Staff addresses among the senders.
    staff: set[str] = field(default_factory=set)
    #: Mail domain -> client id (the senders' domains and those of the To/Cc addresses).
    domains: dict[str, int] = field(default_factory=dict)
    #: Our outgoing articles that bounces in the batch return, by Message-ID.
    outgoing: dict[str, Article] = field(default_factory=dict)
    failures: dict[int, IngestFailure] = field(default_factory=dict)
    #: UIDs of this batch already recorded as duplicates.
    duplicate_uids: set[int] = field(default_factory=set)
    #: Archived clients among the senders' (id -> name): their mail goes to triage.
    archived: dict[int, str] = field(default_factory=dict)
    #: Clients held in the identity map, so the SLA set-up finds them.
    pinned: list[Any] = field(default_factory=list)


def load(
    batch: Sequence[Any],
    *,
    mailbox: str,
    uidvalidity: int | None,
    domain: str | None,
    secret: str,
    message_ids: Iterable[str],
) -> Lookups:
    """The lookups for ``batch`` (PreparedMessage items); ``message_ids``: the ids to look for
    (the mail's own, the ids they answer, and the ids a reused id would be stored under)."""
    found = Lookups()
    numbers: set[int] = set()
    senders: set[str] = set()
    recipients: set[str] = set()
    bounced: set[str] = set()
    for item in batch:
        msg = item.message
        for mid in msg.thread_ids:
            ours = read_message_id(mid, domain, secret)
            if ours is not None:
                numbers.add(ours.number)
        if msg.ticket_tag is not None:
            numbers.add(msg.ticket_tag)
        if msg.from_addr:
            senders.add(msg.from_addr.lower())
        recipients.update(address.lower() for address in (*msg.to, *msg.cc) if address)
        bounced.update(msg.bounce_of)
    wanted = sorted(set(message_ids))
    query = select(Article.message_id, Article.ticket_id, Article.id, Article.content_hash)
    for mid, ticket_id, article_id, digest in rows_in(
        query.where(among(Article.message_id)), wanted
    ):
        found.stored[mid] = StoredMail(ticket_id, article_id, digest)
    query = select(AutomaticMail.message_id, AutomaticMail.ticket_id)
    for mid, ticket_id in rows_in(query.where(among(AutomaticMail.message_id)), wanted):
        found.stored.setdefault(mid, StoredMail(ticket_id, None, None))
    query = select(Article).where(
        among(Article.message_id), Article.direction == Direction.OUT
    )
    for article in rows_in(query, sorted(bounced), scalars=True):
        found.outgoing[article.message_id] = article
    query = select(Ticket.number, Ticket.id).where(among(Ticket.number))
    found.ticket_of_number.update(dict(rows_in(query, sorted(numbers))))
    ticket_ids = sorted(
        {
            *(s.ticket_id for s in found.stored.values() if s.ticket_id is not None),
            *found.ticket_of_number.values(),
            *(a.ticket_id for a in found.outgoing.values()),
        }
    )
    query = select(Ticket).where(among(Ticket.id)).options(selectinload(Ticket.pauses))
    for ticket in rows_in(query, ticket_ids, scalars=True):
        found.tickets[ticket.id] = ticket
    query = select(TicketFollower.ticket_id, TicketFollower.email)
    for ticket_id, email in rows_in(query.where(among(TicketFollower.ticket_id)), ticket_ids):
        found.followers.setdefault(ticket_id, set()).add(email.lower())
    load_senders(found, sorted(senders))
    uids = sorted(item.uid for item in batch)
    query = select(IngestFailure).where(
        IngestFailure.mailbox == mailbox,
        IngestFailure.uidvalidity == uidvalidity,
        among(IngestFailure.uid),
    )
    for failure in rows_in(query, uids, scalars=True):
        found.failures[failure.uid] = failure
    query = select(MailDuplicate.uid).where(
        MailDuplicate.mailbox == mailbox,
        MailDuplicate.uidvalidity == uidvalidity,
        among(MailDuplicate.uid),
    )
    found.duplicate_uids.update(rows_in(query, uids, scalars=True))
    # the clients new tickets may be opened for
    client_ids = {sender.client_id for sender in found.contacts.values()}
    client_ids.update(found.domains.values())
    pin_clients(found, sorted(client_ids))
    # To/Cc addresses of a client's domain may become followers of its tickets
    load_domains(found, {d for address in recipients for d in suffixes_of(address)})
    return found


def pin_clients(found: Lookups, client_ids: Sequence[int]) -> None:
    """Hold the clients new tickets may be opened for (the SLA set-up reads them; their
    contracts are read with the tickets, see helpdesk.tickets.batch.open_tickets)."""
    clients = list(rows_in(select(Client).where(among(Client.id)), client_ids, scalars=True))
    found.pinned.extend(clients)
    found.archived.update({c.id: c.name for c in clients if c.archived_at is not None})


def load_senders(found: Lookups, senders: Sequence[str]) -> None:
    """Contacts by address, staff, and client domains (with parent domains) for these senders."""
    query = (
        select(ContactEmail.email, Contact.id, Contact.client_id)
        .join(Contact, Contact.id == ContactEmail.contact_id)
        .where(among(ContactEmail.email))
    )
    found.contacts.update(
        {
            email: Sender(contact_id, client_id)
            for email, contact_id, client_id in rows_in(query, senders)
        }
    )
    query = select(User.email).where(
        among(func.lower(User.email, type_=User.email.type)),
        User.role.in_([str(role) for role in STAFF_ROLES]),
        User.active.is_(True),
    )
    found.staff.update(email.lower() for email in rows_in(query, senders, scalars=True))
    load_domains(found, {d for sender in senders for d in domains_of(sender)})


def load_domains(found: Lookups, domains: Iterable[str]) -> None:
    """Client domains among ``domains`` (those already known are not asked again)."""
    wanted = sorted(set(domains) - found.domains.keys())
    query = select(ClientDomain.domain, ClientDomain.client_id).where(
        among(ClientDomain.domain)
    )
    found.domains.update(dict(rows_in(query, wanted)))
