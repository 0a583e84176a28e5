"""Prepared mail into tickets and articles: threading, who wrote it, attachments, failures.

``store_batch`` works inside the caller's transaction and commits nothing. Tickets and articles
are made by the ticket services (``create_ticket``/``add_article``: numbers, SLA, reopening,
audit), with the actor "ingest". A message that cannot be stored is rolled back alone (its own
SAVEPOINT) and recorded as an ``IngestFailure`` while the rest of the batch goes on. The
lookups a message needs (is it stored already, which ticket it answers, which contact or client
domain sent it, the client's contracts for the SLA) are made once per batch with ``IN``
queries and then kept up to date in memory as the batch adds rows.

Threading, in order: In-Reply-To/References against stored ``Article.message_id``; one of our
own Message-IDs (``<ticket-1234.…@our-domain>``) even if that article was never stored; the
subject tag ``[#1234]``, unless the sender is a known contact of another client than the
ticket's (a tag is easy to type, so it must not put one client's mail on another's ticket);
else a new ticket. A merged ticket forwards to the ticket it was merged into.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import selectinload

from helpdesk.extensions import db
from helpdesk.followers.service import followers_from_mail
from helpdesk.models import (
    Article,
    Attachment,
    Channel,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    Contract,
    ContractAddon,
    ContractChange,
    Direction,
    IngestFailure,
    Package,
    Ticket,
    utcnow,
)
from helpdesk.tickets.merge import final_ticket
from helpdesk.tickets.services import NewAttachment, add_article, create_ticket
from mail_ingest.outgoing import AckJob, AckPolicy, queue_acknowledgement
from mail_ingest.prepare import PreparedMessage, StoredFile

log = logging.getLogger(__name__)

#: Audit actor of everything ingest creates.
ACTOR = "ingest"
#: Rows per ``IN (...)`` list: far below every database's parameter limit.
_IN_CHUNK = 500
#: Column sizes (see helpdesk.models) that mail headers may exceed.
_MESSAGE_ID_MAX = 998
_EMAIL_MAX = 254
_NAME_MAX = 200
_SUBJECT_MAX = 1000
_FILENAME_MAX = 255
_REASON_MAX = 255
_ERROR_MAX = 4000

NEW_TICKET = "new_ticket"
REPLY = "reply"
DUPLICATE = "duplicate"
FAILED = "failed"


@dataclass
class StoreOutcome:
    """What became of one message: a new ticket, a reply on one, already there, or failed."""

    uid: int
    kind: str
    message_id: str
    ticket_id: int | None = None
    article_id: int | None = None
    error: str | None = None
    #: The queued acknowledgement of a new ticket, to be mailed after the commit.
    ack: AckJob | None = None


@dataclass(frozen=True)
class StoreSettings:
    """What storing needs to know besides the mail: where it came from and who we are."""

    mailbox: str
    uidvalidity: int | None
    queue: str
    own_addresses: frozenset[str] = frozenset()
    #: The domain of our Message-IDs; their ``ticket-<number>.`` prefix names the ticket.
    message_id_domain: str | None = None
    #: Queue an acknowledgement for each new ticket (see mail_ingest.outgoing).
    acknowledge: bool = True


def our_ticket_number(message_id: str, domain: str | None) -> int | None:
    """The ticket number inside one of our Message-IDs (``<ticket-1234.….@domain>``), or None."""
    if not domain:
        return None
    match = re.fullmatch(r"<ticket-(\d{1,18})\.[^@<>\s]+@([^<>\s]+)>", message_id)
    if match is None or match.group(2).lower() != domain.lower():
        return None
    return int(match.group(1))


def storable_message_id(message_id: str) -> str:
    """The Message-ID as stored: ids longer than the column are replaced by a stable digest."""
    if len(message_id) <= _MESSAGE_ID_MAX:
        return message_id
    return f"<{hashlib.sha256(message_id.encode('utf-8', 'replace')).hexdigest()}@long-id>"


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _domains_of(address: str) -> list[str]:
    """``a@mail.firma.rs`` -> ``["mail.firma.rs", "firma.rs"]``: the domain and its parents."""
    domain = address.rpartition("@")[2].strip(".").lower()
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or ([domain] if domain else [])


def _display(name: str, address: str | None) -> str | None:
    if not address:
        return None
    name = name.replace("<", "").replace(">", "").replace('"', "").strip()
    return (f"{name} <{address}>" if name else address)[:500]


@dataclass
class _Lookups:
    """Batch-wide answers to "which ticket / contact / client", grown as the batch stores."""

    #: Message-ID -> ticket id, for stored articles (threads and duplicates alike).
    ticket_of_message: dict[str, int] = field(default_factory=dict)
    #: Ticket number -> ticket id.
    ticket_of_number: dict[int, int] = field(default_factory=dict)
    #: Held so the session's identity map keeps them (it only keeps weak references).
    tickets: dict[int, Ticket] = field(default_factory=dict)
    #: Sender address -> (contact id, client id).
    contacts: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Mail domain -> client id.
    domains: dict[str, int] = field(default_factory=dict)
    failures: dict[int, IngestFailure] = field(default_factory=dict)
    #: Clients and their contracts (with package, SLA policy, add-ons, changes) held in the
    #: identity map, so the ticket service's SLA set-up finds them without lazy loads.
    pinned: list[Any] = field(default_factory=list)


def _load_lookups(batch: Sequence[PreparedMessage], settings: StoreSettings) -> _Lookups:
    found = _Lookups()
    message_ids: set[str] = set()
    numbers: set[int] = set()
    senders: set[str] = set()
    for item in batch:
        msg = item.message
        message_ids.add(storable_message_id(msg.message_id))
        for mid in msg.thread_ids:
            message_ids.add(mid)
            number = our_ticket_number(mid, settings.message_id_domain)
            if number is not None:
                numbers.add(number)
        if msg.ticket_tag is not None:
            numbers.add(msg.ticket_tag)
        if msg.from_addr:
            senders.add(msg.from_addr.lower())
    for chunk in _chunks(sorted(message_ids)):
        rows = db.session.execute(
            select(Article.message_id, Article.ticket_id).where(Article.message_id.in_(chunk))
        )
        found.ticket_of_message.update({mid: ticket_id for mid, ticket_id in rows})
    for chunk in _chunks(sorted(numbers)):
        rows = db.session.execute(select(Ticket.number, Ticket.id).where(Ticket.number.in_(chunk)))
        found.ticket_of_number.update({number: ticket_id for number, ticket_id in rows})
    ticket_ids = sorted({*found.ticket_of_message.values(), *found.ticket_of_number.values()})
    for chunk in _chunks(ticket_ids):
        for ticket in db.session.scalars(select(Ticket).where(Ticket.id.in_(chunk))):
            found.tickets[ticket.id] = ticket
    _load_senders(found, sorted(senders))
    uids = sorted(item.uid for item in batch)
    for chunk in _chunks(uids):
        for failure in db.session.scalars(
            select(IngestFailure).where(
                IngestFailure.mailbox == settings.mailbox,
                IngestFailure.uidvalidity == settings.uidvalidity,
                IngestFailure.uid.in_(chunk),
            )
        ):
            found.failures[failure.uid] = failure
    client_ids = {client_id for _, client_id in found.contacts.values()}
    client_ids.update(found.domains.values())
    client_ids.update(t.client_id for t in found.tickets.values() if t.client_id is not None)
    _pin_clients(found, sorted(client_ids))
    return found


def _pin_clients(found: _Lookups, client_ids: Sequence[int]) -> None:
    for chunk in _chunks(client_ids):
        found.pinned.extend(db.session.scalars(select(Client).where(Client.id.in_(chunk))))
        found.pinned.extend(
            db.session.scalars(
                select(Contract)
                .where(Contract.client_id.in_(chunk))
                .options(
                    selectinload(Contract.package).selectinload(Package.sla_policy),
                    selectinload(Contract.addons).selectinload(ContractAddon.addon),
                    selectinload(Contract.changes).selectinload(ContractChange.package),
                )
            )
        )


def _load_senders(found: _Lookups, senders: Sequence[str]) -> None:
    """Contacts by address and client domains (with parent domains) for these senders."""
    for chunk in _chunks(senders):
        rows = db.session.execute(
            select(ContactEmail.email, Contact.id, Contact.client_id)
            .join(Contact, Contact.id == ContactEmail.contact_id)
            .where(ContactEmail.email.in_(chunk))
        )
        found.contacts.update(
            {email: (contact_id, client_id) for email, contact_id, client_id in rows}
        )
    domains = sorted({d for sender in senders for d in _domains_of(sender)})
    for chunk in _chunks(domains):
        rows = db.session.execute(
            select(ClientDomain.domain, ClientDomain.client_id).where(
                ClientDomain.domain.in_(chunk)
            )
        )
        found.domains.update({domain: client_id for domain, client_id in rows})


class _Storer:
    """Stores one batch; see the module docstring for the rules."""

    def __init__(self, batch: Sequence[PreparedMessage], settings: StoreSettings) -> None:
        self.settings = settings
        self.found = _load_lookups(batch, settings)
        self.acks = (
            AckPolicy(i.message.from_addr for i in batch if i.message.from_addr)
            if settings.acknowledge
            else None
        )
        #: Lookup entries the current message added: undone when its savepoint rolls back.
        self._journal: list[tuple[dict, Any]] = []
        self._ack_mark = 0

    def _remember(self, mapping: dict, key: Any, value: Any) -> None:
        if key not in mapping:
            self._journal.append((mapping, key))
        mapping[key] = value

    def begin(self) -> None:
        self._journal.clear()
        self._ack_mark = self.acks.mark() if self.acks is not None else 0

    def undo(self) -> None:
        """Forget what the rolled-back message added (its rows are gone)."""
        for mapping, key in reversed(self._journal):
            mapping.pop(key, None)
        self._journal.clear()
        if self.acks is not None:
            self.acks.rollback_to(self._ack_mark)

    # -- who wrote it ---------------------------------------------------------------------------
    def sender(self, item: PreparedMessage) -> tuple[int | None, int | None]:
        """(contact id, client id) of the sender; a client-domain match creates the contact."""
        address = (item.message.from_addr or "").lower()
        if not address or len(address) > _EMAIL_MAX or address in self.settings.own_addresses:
            return None, None
        known = self.found.contacts.get(address)
        if known is not None:
            return known
        client_id = next(
            (self.found.domains[d] for d in _domains_of(address) if d in self.found.domains), None
        )
        if client_id is None:
            return None, None
        name = item.message.from_name.strip() or address.partition("@")[0]
        contact = Contact(client_id=client_id, name=name[:_NAME_MAX], is_primary=False)
        contact.emails.append(ContactEmail(email=address))
        db.session.add(contact)
        db.session.flush()
        self._remember(self.found.contacts, address, (contact.id, client_id))
        return contact.id, client_id

    # -- which ticket ---------------------------------------------------------------------------
    def _ticket(self, ticket_id: int) -> Ticket | None:
        ticket = self.found.tickets.get(ticket_id) or db.session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        target = final_ticket(ticket)
        self._remember(self.found.tickets, ticket.id, ticket)
        self._remember(self.found.tickets, target.id, target)
        return target

    def thread(self, item: PreparedMessage, client_id: int | None) -> Ticket | None:
        """The ticket this mail answers, or None for a new one."""
        msg = item.message
        for mid in msg.thread_ids:
            ticket_id = self.found.ticket_of_message.get(mid)
            if ticket_id is not None and (ticket := self._ticket(ticket_id)) is not None:
                return ticket
        for mid in msg.thread_ids:
            number = our_ticket_number(mid, self.settings.message_id_domain)
            ticket_id = self.found.ticket_of_number.get(number) if number is not None else None
            if ticket_id is not None and (ticket := self._ticket(ticket_id)) is not None:
                return ticket
        if msg.ticket_tag is not None:
            ticket_id = self.found.ticket_of_number.get(msg.ticket_tag)
            ticket = self._ticket(ticket_id) if ticket_id is not None else None
            if ticket is not None:
                if client_id is None or ticket.client_id in (None, client_id):
                    return ticket
                log.info(
                    "mail %s names [#%s] but comes from another client: new ticket",
                    msg.message_id,
                    msg.ticket_tag,
                )
        return None

    # -- storing --------------------------------------------------------------------------------
    def store(self, item: PreparedMessage) -> StoreOutcome:
        """Store one message (the caller wraps this in a SAVEPOINT)."""
        msg = item.message
        message_id = storable_message_id(msg.message_id)
        if message_id in self.found.ticket_of_message:
            return StoreOutcome(
                item.uid, DUPLICATE, message_id, ticket_id=self.found.ticket_of_message[message_id]
            )
        contact_id, client_id = self.sender(item)
        ticket = self.thread(item, client_id)
        now = utcnow()
        kind = REPLY
        if ticket is None:
            kind = NEW_TICKET
            ticket = create_ticket(
                subject=msg.subject,
                client_id=client_id,
                contact_id=contact_id,
                channel=Channel.EMAIL,
                queue=self.settings.queue,
                requester_email=msg.from_addr[:_EMAIL_MAX] if msg.from_addr else None,
                requester_name=msg.from_name[:_NAME_MAX] or None,
                created_at=now,
                actor=ACTOR,
            )
            self._remember(self.found.tickets, ticket.id, ticket)
            self._remember(self.found.ticket_of_number, ticket.number, ticket.id)
        article = add_article(
            ticket,
            direction=Direction.IN,
            channel=Channel.EMAIL,
            body_text=msg.text,
            body_html=msg.html,
            contact_id=contact_id,
            from_addr=_display(msg.from_name, msg.from_addr),
            to_addrs=", ".join(msg.to) or None,
            cc_addrs=", ".join(msg.cc) or None,
            subject=msg.subject[:_SUBJECT_MAX],
            message_id=message_id,
            in_reply_to=msg.in_reply_to[:_MESSAGE_ID_MAX] if msg.in_reply_to else None,
            references=" ".join(msg.references) or None,
            is_auto=msg.is_auto,
            attachments=[_new_attachment(f) for f in item.files],
            created_at=now,
        )
        self._remember(self.found.ticket_of_message, message_id, ticket.id)
        followers_from_mail(ticket, [*msg.to, *msg.cc], own_addresses=self.settings.own_addresses)
        ack = self._queue_ack(ticket, article) if kind == NEW_TICKET else None
        return StoreOutcome(
            item.uid, kind, message_id, ticket_id=ticket.id, article_id=article.id, ack=ack
        )

    def write_acks(self) -> None:
        """Write the acknowledgements the batch queued (one INSERT for all of them)."""
        if self.acks is not None:
            self.acks.write()

    def _queue_ack(self, ticket: Ticket, article: Article) -> AckJob | None:
        """Queue the acknowledgement of a new ticket (mailed after the commit)."""
        if self.acks is None:
            return None
        return queue_acknowledgement(ticket, article, policy=self.acks)

    def record_failure(self, item: PreparedMessage, error: str) -> None:
        """Keep the failure for admins: a new row, or one more attempt on the existing one."""
        failure = self.found.failures.get(item.uid)
        if failure is None:
            failure = IngestFailure(
                mailbox=self.settings.mailbox,
                uidvalidity=self.settings.uidvalidity,
                uid=item.uid,
                message_id=item.message.message_id[:_MESSAGE_ID_MAX],
                subject=item.message.subject[:_SUBJECT_MAX],
                error=error[:_ERROR_MAX],
                attempts=1,
            )
            db.session.add(failure)
            self.found.failures[item.uid] = failure
        else:
            failure.attempts = (failure.attempts or 0) + 1
            failure.error = error[:_ERROR_MAX]
            failure.resolved_at = None
        db.session.flush()


def _new_attachment(stored: StoredFile) -> NewAttachment:
    return NewAttachment(
        filename=stored.filename[:_FILENAME_MAX] or "attachment",
        content_type=stored.content_type[:_FILENAME_MAX],
        size=stored.size,
        sha256=stored.sha256,
        content_id=stored.content_id[:_MESSAGE_ID_MAX] if stored.content_id else None,
        inline=stored.inline,
        dropped_reason=stored.dropped_reason[:_REASON_MAX] if stored.dropped_reason else None,
    )


def _message_id_stored(message_id: str) -> int | None:
    return db.session.scalar(select(Article.ticket_id).where(Article.message_id == message_id))


def store_batch(batch: Sequence[PreparedMessage], settings: StoreSettings) -> list[StoreOutcome]:
    """Store prepared messages in UID order inside the caller's transaction; never commits.

    A message already stored (same Message-ID, e.g. after a crash before its flag was set, or
    stored by a concurrent ingest) comes back as a duplicate. One that cannot be stored is
    rolled back alone and recorded in ``IngestFailure``. Database trouble that is not the
    message's fault (``OperationalError``: locked, connection lost) is raised so the caller
    rolls the batch back and tries again later.

    The batch is first stored under a single SAVEPOINT (the common case: every message goes
    in); only if one of them fails is it rolled back and stored again message by message, each
    under its own SAVEPOINT.
    """
    ordered = sorted(batch, key=lambda i: i.uid)
    outcomes: list[StoreOutcome] | None = None
    if all(item.error is None for item in ordered):
        try:
            with db.session.no_autoflush, db.session.begin_nested():
                storer = _Storer(ordered, settings)
                outcomes = [storer.store(item) for item in ordered]
                storer.write_acks()
        except OperationalError:
            raise
        except Exception:  # noqa: BLE001 - found again, and recorded, one by one below
            log.info("a message of the batch could not be stored: storing one by one")
            outcomes = None
    if outcomes is None:
        storer = _Storer(ordered, settings)
        outcomes = [_store_one(storer, item) for item in ordered]
        storer.write_acks()
    stored = [o.message_id for o in outcomes if o.kind in (NEW_TICKET, REPLY)]
    for chunk in _chunks(stored):
        db.session.execute(
            update(IngestFailure)
            .where(IngestFailure.resolved_at.is_(None), IngestFailure.message_id.in_(chunk))
            .values(resolved_at=utcnow())
        )
    return outcomes


def _store_one(storer: _Storer, item: PreparedMessage) -> StoreOutcome:
    message_id = storable_message_id(item.message.message_id)
    if item.error is not None:
        storer.record_failure(item, item.error)
        return StoreOutcome(item.uid, FAILED, message_id, error=item.error)
    error = ""
    for attempt in (1, 2):
        storer.begin()
        try:
            with db.session.no_autoflush, db.session.begin_nested():
                return storer.store(item)
        except OperationalError:
            storer.undo()
            raise
        except IntegrityError as exc:
            storer.undo()
            ticket_id = _message_id_stored(message_id)
            if ticket_id is not None:  # stored meanwhile by someone else: just file it away
                storer.found.ticket_of_message[message_id] = ticket_id
                return StoreOutcome(item.uid, DUPLICATE, message_id, ticket_id=ticket_id)
            error = f"{type(exc).__name__}: {exc.orig if exc.orig is not None else exc}"
            if attempt == 1:  # a contact created meanwhile by another process: look again
                address = (item.message.from_addr or "").lower()
                storer.found.contacts.pop(address, None)
                if address:
                    _load_senders(storer.found, [address])
                continue
        except Exception as exc:
            storer.undo()
            log.exception("mail uid %s (%s) could not be stored", item.uid, message_id)
            error = f"{type(exc).__name__}: {exc}"
            break
    storer.record_failure(item, error)
    return StoreOutcome(item.uid, FAILED, message_id, error=error)


# -- display -------------------------------------------------------------------------------------

_CID_REF = re.compile(
    r"""(?i)(\b(?:src|href|background)\s*=\s*)(?:"cid:([^"]*)"|'cid:([^']*)'|cid:([^\s"'>]+))"""
)


def inline_images(
    body_html: str, attachments: Iterable[Attachment], url_for_attachment: Callable[[int], str]
) -> str:
    """Point ``cid:`` references of stored HTML at the attachment download URLs, for display.

    The stored HTML keeps ``cid:`` (URLs change, the mail does not); a page calls this when it
    renders an article. References to parts that were not stored are left as they are.
    """
    by_cid = {}
    for att in attachments:
        if att.content_id and att.sha256:
            by_cid[att.content_id.strip().strip("<>").lower()] = att.id

    def replace(match: re.Match[str]) -> str:
        value = next(group for group in match.groups()[1:] if group is not None)
        cid = html_lib.unescape(value).strip().strip("<>").lower()
        attachment_id = by_cid.get(cid)
        if attachment_id is None:
            return match.group(0)
        url = html_lib.escape(url_for_attachment(attachment_id), quote=True)
        return f'{match.group(1)}"{url}"'

    return _CID_REF.sub(replace, body_html)
