"""Where each mail of a batch goes: threading that respects tenants, automatic mail, duplicates.

Threading: a mail names a ticket by a stored Message-ID in In-Reply-To/References, by one of
our Message-IDs (``<ticket-1234-<hmac>.…@our-domain>``, see :mod:`mail_ingest.msgid`), or by
the subject tag ``[#1234]``. Whatever names it, it joins the ticket only when the sender is
entitled to it: staff, a contact of the ticket's client, a follower of the ticket, or its
requester. Otherwise

* a known sender of another client gets a ticket of their own client, with an internal note
  linking the ticket the mail named (nothing appears on the other client's ticket);
* an unknown sender's mail is kept on the named ticket as an *unverified* article: agents see
  it and may accept it, the portal does not show it, and it reopens nothing.

A sender whose domain fails DMARC at our receiving server (``Authentication-Results``) is
treated as unknown: never linked to the client whose domain it claims. Mail from an archived
client's people opens no ticket of that client (triage, with a note, unacknowledged).
Automatic mail is never acknowledged and opens no ticket (see :meth:`Planner.plan_automatic`).
The plan is made against lookups asked once per batch (:mod:`mail_ingest.lookups`), kept up to
date in memory as the batch goes on and undone for a message whose savepoint rolls back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app

from helpdesk.extensions import db
from helpdesk.models import Article, Channel, Contact, ContactEmail, Ticket
from helpdesk.tickets.batch import NewTicket
from helpdesk.tickets.merge import final_ticket
from mail_ingest import automatic
from mail_ingest.lookups import Lookups, Sender, StoredMail, domains_of, load
from mail_ingest.msgid import read_message_id
from mail_ingest.outgoing import AckPolicy
from mail_ingest.prepare import PreparedMessage

#: Audit actor of everything ingest creates.
ACTOR = "ingest"
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
#: On a ticket, held for an agent: the sender is not entitled to the ticket it names.
UNVERIFIED = "unverified"
#: Automatic mail kept in the "automatic mail" view (or noted on the ticket it bounces from).
AUTOMATIC = "automatic"
#: A true copy of stored mail (also: the same mail read again after a crash).
COPY = "duplicate"
DUPLICATE = COPY
#: Another mail reusing a stored Message-ID: stored as its own article under a derived id.
REUSED_ID = "reused_id"
FAILED = "failed"



@dataclass(frozen=True)
class StoreSettings:
    """What storing needs to know besides the mail: where it came from and who we are."""

    mailbox: str
    uidvalidity: int | None
    queue: str
    own_addresses: frozenset[str] = frozenset()
    #: The domain of our Message-IDs; their ``ticket-<number>`` prefix names the ticket.
    message_id_domain: str | None = None
    #: Queue an acknowledgement for each new ticket (see mail_ingest.outgoing).
    acknowledge: bool = True
    #: Key of the HMAC in our Message-IDs (the app's SECRET_KEY when not given).
    secret: str | None = None


def our_ticket_number(message_id: str, domain: str | None, secret: str = "") -> int | None:
    """The ticket number inside one of our Message-IDs (verified or not), or None."""
    found = read_message_id(message_id, domain, secret)
    return found.number if found is not None else None


def storable_message_id(message_id: str) -> str:
    """The Message-ID as stored: ids longer than the column are replaced by a stable digest."""
    if len(message_id) <= _MESSAGE_ID_MAX:
        return message_id
    return f"<{hashlib.sha256(message_id.encode('utf-8', 'replace')).hexdigest()}@long-id>"


def reused_message_id(message_id: str, content_hash: str) -> str:
    """Where a different mail reusing ``message_id`` is stored: stable for the same content."""
    return storable_message_id(f"<reused-{content_hash[:24]}.{message_id.strip('<>')}>")


def _display(name: str, address: str | None) -> str | None:
    if not address:
        return None
    name = name.replace("<", "").replace(">", "").replace('"', "").strip()
    return (f"{name} <{address}>" if name else address)[:500]


@dataclass
class _Target:
    """The ticket a message goes to: stored already, or opened by this batch."""

    ticket: Ticket | None = None
    spec: NewTicket | None = None

    @property
    def client_id(self) -> int | None:
        return self.ticket.client_id if self.ticket is not None else self.spec.client_id

    @property
    def requester(self) -> str | None:
        source = self.ticket if self.ticket is not None else self.spec
        return (source.requester_email or "").lower() or None


@dataclass
class _Plan:
    """What storing one message will write."""

    item: PreparedMessage
    kind: str
    message_id: str
    target: _Target | None = None
    sender: Sender | None = None
    client_id: int | None = None
    unverified: bool = False
    #: A ticket the mail named but may not join: linked from a note on the new ticket.
    named: Ticket | None = None
    #: The archived client the sender belongs to (its name): the new ticket goes to triage.
    archived: str | None = None
    bounced: Article | None = None
    stored: StoredMail | None = None
    sender_auth: str | None = None
    reused: bool = False
    article: Any = None


class Planner:
    """Decides where each message of a batch goes (see the module docstring); the store's
    writer (:class:`mail_ingest.store._Storer`) writes what it planned."""

    def __init__(self, batch: Sequence[PreparedMessage], settings: StoreSettings) -> None:
        self.settings = settings
        self.secret = settings.secret or str(current_app.config["SECRET_KEY"])
        ids: set[str] = set()
        for item in batch:
            mid = storable_message_id(item.message.message_id)
            ids.update((mid, *item.message.thread_ids))
            if item.message.content_hash:
                ids.add(reused_message_id(mid, item.message.content_hash))
        self.found: Lookups = load(
            batch,
            mailbox=settings.mailbox,
            uidvalidity=settings.uidvalidity,
            domain=settings.message_id_domain,
            secret=self.secret,
            message_ids=ids,
        )
        self.acks = (
            AckPolicy(i.message.from_addr for i in batch if i.message.from_addr)
            if settings.acknowledge
            else None
        )
        #: Lookup entries the current message added: undone when its savepoint rolls back.
        self._journal: list[tuple[Any, Any]] = []
        self._ack_mark = 0

    def _remember(self, mapping: Any, key: Any, value: Any) -> None:
        if isinstance(mapping, set):
            if key not in mapping:
                self._journal.append((mapping, key))
                mapping.add(key)
            return
        if key not in mapping:
            self._journal.append((mapping, key))
        mapping[key] = value

    def begin(self) -> None:
        self._journal.clear()
        self._ack_mark = self.acks.mark() if self.acks is not None else 0

    def undo(self) -> None:
        """Forget what the rolled-back message added (its rows are gone)."""
        for mapping, key in reversed(self._journal):
            if isinstance(mapping, set):
                mapping.discard(key)
            else:
                mapping.pop(key, None)
        self._journal.clear()
        if self.acks is not None:
            self.acks.rollback_to(self._ack_mark)

    # -- who wrote it ---------------------------------------------------------------------------
    def sender(self, item: PreparedMessage, trusted: bool) -> Sender | None:
        """The sender's contact; a client-domain match creates one (not for a failed DMARC)."""
        address = (item.message.from_addr or "").lower()
        if not address or len(address) > _EMAIL_MAX or address in self.settings.own_addresses:
            return None
        if not trusted:
            return None
        known = self.found.contacts.get(address)
        if known is not None:
            return known
        client_id = next(
            (self.found.domains[d] for d in domains_of(address) if d in self.found.domains), None
        )
        if client_id is None or client_id in self.found.archived:
            return None  # an archived client gets no new contacts (see plan)
        name = item.message.from_name.strip() or address.partition("@")[0]
        contact = Contact(client_id=client_id, name=name[:_NAME_MAX], is_primary=False)
        contact.emails.append(ContactEmail(email=address))
        db.session.add(contact)
        sender = Sender(contact, client_id)
        self._remember(self.found.contacts, address, sender)
        return sender

    def _archived_client(self, address: str, sender: Sender | None) -> str | None:
        """The name of the archived client the sender belongs to (a contact, or a client
        domain), or None. Its mail opens no ticket of that client: it goes to triage with a
        note, and no acknowledgement promises a service the client no longer has."""
        if sender is not None:
            return self.found.archived.get(sender.client_id)
        client_id = next(
            (self.found.domains[d] for d in domains_of(address) if d in self.found.domains), None
        )
        return self.found.archived.get(client_id) if client_id is not None else None

    def _claims_client(self, address: str) -> bool:
        return address in self.found.contacts or any(
            d in self.found.domains for d in domains_of(address)
        )

    # -- which ticket ---------------------------------------------------------------------------
    def _ticket(self, ticket_id: int) -> Ticket | None:
        ticket = self.found.tickets.get(ticket_id) or db.session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        target = final_ticket(ticket)
        self._remember(self.found.tickets, ticket.id, ticket)
        self._remember(self.found.tickets, target.id, target)
        return target

    def candidates(self, item: PreparedMessage) -> Iterable[_Target]:
        """Tickets the mail names, nearest first: stored Message-IDs, our ids, the subject tag."""
        msg = item.message
        for mid in msg.thread_ids:
            stored = self.found.stored.get(mid)
            if stored is not None and stored.target is not None:
                yield stored.target
            elif stored is not None and stored.ticket_id is not None:
                ticket = self._ticket(stored.ticket_id)
                if ticket is not None:
                    yield _Target(ticket)
        for mid in msg.thread_ids:
            ours = read_message_id(mid, self.settings.message_id_domain, self.secret)
            ticket_id = self.found.ticket_of_number.get(ours.number) if ours else None
            if ticket_id is not None and (ticket := self._ticket(ticket_id)) is not None:
                yield _Target(ticket)
        if msg.ticket_tag is not None:
            ticket_id = self.found.ticket_of_number.get(msg.ticket_tag)
            ticket = self._ticket(ticket_id) if ticket_id is not None else None
            if ticket is not None:
                yield _Target(ticket)

    def entitled(self, target: _Target, address: str, sender: Sender | None) -> bool:
        """May this sender write into the ticket: staff, its client's contact, a follower, or
        the requester."""
        if address in self.found.staff or address in self.settings.own_addresses:
            return True
        if (
            sender is not None
            and target.client_id is not None
            and sender.client_id == target.client_id
        ):
            return True
        if address and address == target.requester:
            return True
        if target.ticket is not None:
            return address in self.found.followers.get(target.ticket.id, ())
        return False

    # -- planning -------------------------------------------------------------------------------
    def plan(self, item: PreparedMessage) -> _Plan:
        """Decide where one message goes (no rows written yet, lookups updated)."""
        msg = item.message
        message_id = storable_message_id(msg.message_id)
        stored = self.found.stored.get(message_id)
        reused = False
        if stored is not None:
            if stored.content_hash in (None, msg.content_hash) or not msg.content_hash:
                return _Plan(item, COPY, message_id, stored=stored)
            derived = reused_message_id(message_id, msg.content_hash)
            if derived in self.found.stored:
                return _Plan(item, COPY, derived, stored=self.found.stored[derived])
            message_id, reused = derived, True
        address = (msg.from_addr or "").lower()
        auth = msg.auth
        dmarc_failed = auth is not None and auth.dmarc_failed and self._claims_client(address)
        sender = self.sender(item, trusted=not dmarc_failed)
        plan = _Plan(
            item,
            NEW_TICKET,
            message_id,
            sender=sender,
            client_id=sender.client_id if sender else None,
            reused=reused,
            sender_auth=auth.summary() if dmarc_failed else None,
        )
        named = list(self.candidates(item))
        entitled = next((t for t in named if self.entitled(t, address, sender)), None)
        if dmarc_failed:
            entitled = None
        if msg.is_auto:
            self.plan_automatic(plan, entitled, named)
        elif entitled is not None:
            plan.kind, plan.target = REPLY, entitled
        elif named and sender is None and address not in self.found.staff:
            plan.kind, plan.target, plan.unverified = UNVERIFIED, named[0], True
        else:
            if named:
                plan.named = named[0].ticket
            plan.archived = self._archived_client(address, sender) if not dmarc_failed else None
            if plan.archived is not None:  # to triage, without the archived client
                sender = plan.sender = None
                plan.client_id = None
            plan.target = _Target(spec=self._spec(item, sender))
        stored_mail = StoredMail(None, None, msg.content_hash, target=plan.target)
        self._remember(self.found.stored, message_id, stored_mail)
        return plan

    def plan_automatic(self, plan: _Plan, entitled: _Target | None, named: list[_Target]) -> None:
        """Automatic mail: a bounce of our mail marks it not delivered; other automatic mail
        from an entitled sender goes onto its ticket as a status-neutral article; the rest is
        kept in the "automatic mail" view. Never a new ticket, never acknowledged."""
        msg = plan.item.message
        if msg.auto_kind == automatic.BOUNCE:
            for mid in msg.bounce_of:
                article = self.found.outgoing.get(mid)
                if article is not None:
                    plan.kind, plan.bounced = AUTOMATIC, article
                    return
        if entitled is not None and entitled.ticket is not None:
            plan.kind, plan.target = REPLY, entitled
            return
        plan.kind = AUTOMATIC
        if named and named[0].ticket is not None:
            plan.named = named[0].ticket

    def _spec(self, item: PreparedMessage, sender: Sender | None) -> NewTicket:
        msg = item.message
        return NewTicket(
            subject=msg.subject,
            client_id=sender.client_id if sender else None,
            contact=sender.contact if sender and not isinstance(sender.contact, int) else None,
            contact_id=sender.contact if sender and isinstance(sender.contact, int) else None,
            channel=Channel.EMAIL,
            queue=self.settings.queue,
            requester_email=msg.from_addr[:_EMAIL_MAX] if msg.from_addr else None,
            requester_name=msg.from_name[:_NAME_MAX] or None,
        )

    # -- writing --------------------------------------------------------------------------------
