"""Prepared mail into tickets and articles: threading that respects tenants, automatic mail,
duplicates, bounces, failures.

``store_batch`` works inside the caller's transaction and commits nothing. The batch is planned
message by message against lookups made once per batch (:mod:`mail_ingest.lookups`) and then
written with the batch ticket services (:mod:`helpdesk.tickets.batch`): ticket numbers in one
statement, one flush, the audit rows and acknowledgements in one INSERT each. If a message
cannot be stored, the batch is rolled back and stored again message by message, each under its
own SAVEPOINT; the one that fails is recorded as an ``IngestFailure``.

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
treated as unknown: never linked to the client whose domain it claims. Automatic mail is never
acknowledged and opens no ticket (see :func:`_Storer.plan_automatic`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError

from helpdesk.extensions import db
from helpdesk.followers.service import followers_from_mail
from helpdesk.models import (
    Article,
    AutomaticMail,
    Channel,
    Contact,
    ContactEmail,
    Direction,
    IngestFailure,
    MailDuplicate,
    SendStatus,
    Ticket,
    utcnow,
)
from helpdesk.tickets.batch import (
    NewTicket,
    article_row,
    audit_rows,
    customer_wrote,
    insert_articles,
    insert_tickets,
    open_tickets,
)
from helpdesk.tickets.merge import final_ticket
from helpdesk.tickets.services import NewAttachment
from mail_ingest import automatic
from mail_ingest.display import inline_images  # noqa: F401 - re-exported
from mail_ingest.lookups import (
    Lookups,
    Sender,
    StoredMail,
    chunks,
    domains_of,
    load,
    load_senders,
    suffixes_of,
)
from mail_ingest.msgid import read_message_id
from mail_ingest.notes import (  # noqa: F401 - Notice, notify_bounces: re-exported
    Notice,
    archived_note,
    bounce_note,
    bounce_notice,
    named_note,
    notify_bounces,
)
from mail_ingest.outgoing import AckJob, AckPolicy, queue_acknowledgement
from mail_ingest.prepare import PreparedMessage, StoredFile

log = logging.getLogger(__name__)

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


@dataclass
class StoreOutcome:
    """What became of one message (see the kinds above)."""

    uid: int
    kind: str
    message_id: str
    ticket_id: int | None = None
    article_id: int | None = None
    error: str | None = None
    #: The queued acknowledgement of a new ticket, to be mailed after the commit.
    ack: AckJob | None = None
    #: A bounce of our mail: the article that was not delivered.
    bounced_article_id: int | None = None
    notice: Notice | None = None


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


class _Storer:
    """Plans and writes one batch; see the module docstring for the rules."""

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
    def write(self, plans: list[_Plan]) -> list[StoreOutcome]:
        """Write planned messages: one statement for the ticket numbers, one flush (contacts,
        tickets, ticket changes), then one INSERT each for articles, attachments, automatic
        mail, duplicates and audit rows."""
        now = utcnow()
        opening = [p for p in plans if p.target is not None and p.target.ticket is None]
        specs: dict[int, NewTicket] = {}
        for plan in opening:  # one spec per new ticket (replies in the batch share it)
            specs.setdefault(id(plan.target.spec), plan.target.spec)
        spec_list = list(specs.values())
        tickets = open_tickets(spec_list, now=now)
        by_spec = dict(zip(specs, tickets, strict=True))
        for plan in opening:
            plan.target.ticket = by_spec[id(plan.target.spec)]
        changes: list[tuple[Ticket, str, dict | None]] = [(t, "create", None) for t in tickets]
        for plan in plans:
            if plan.kind in (REPLY, UNVERIFIED):
                ticket = plan.target.ticket
                msg = plan.item.message
                if plan.unverified or msg.is_auto:
                    ticket.last_activity_at = now
                else:
                    before = customer_wrote(ticket, now)
                    if before is not None:
                        changes.append((ticket, "update", before))
            elif plan.bounced is not None:
                reason = (plan.item.message.bounce_reason or "delivery failed")[:2000]
                plan.bounced.send_status = SendStatus.FAILED
                plan.bounced.send_error = f"not delivered: {reason}"
        db.session.flush()
        insert_tickets(tickets, spec_list)
        rows: list[dict[str, Any]] = []
        files: list[list[NewAttachment]] = []
        warnings: list[list[str | None]] = []
        owners: list[_Plan | None] = []
        for plan in plans:
            for row, atts, notes, owner in self._article_rows(plan, now):
                rows.append(row)
                files.append(atts)
                warnings.append(notes)
                owners.append(owner)
        ids = article_rows_inserted(rows, files, warnings, now=now)
        for owner, article_id, row in zip(owners, ids, rows, strict=True):
            if owner is not None:
                owner.article = _Inserted(article_id, row["message_id"], row["is_auto"],
                                          row["references"])  # fmt: skip
        automatic_rows = [self._automatic_row(p, now) for p in plans if p.kind == AUTOMATIC]
        if automatic_rows:
            db.session.execute(AutomaticMail.__table__.insert(), automatic_rows)
        duplicate_rows = [row for p in plans if (row := self._duplicate_row(p, now)) is not None]
        if duplicate_rows:
            db.session.execute(MailDuplicate.__table__.insert(), duplicate_rows)
        audit_rows(changes, actor=ACTOR, now=now)
        return [self._outcome(plan) for plan in plans]

    def _article_rows(self, plan: _Plan, now: Any):
        """(row, attachments, warnings, owning plan) for the plan's article and its note."""
        if plan.kind not in (NEW_TICKET, REPLY, UNVERIFIED):
            if plan.bounced is not None:
                note = bounce_note(plan.bounced, plan.item.message.bounce_reason or "?")
                yield _note_row(plan.bounced.ticket_id, note, now), [], [], None
            return
        msg = plan.item.message
        ticket = plan.target.ticket
        contact = plan.sender.contact if plan.sender and not plan.unverified else None
        contact_id = contact if isinstance(contact, int) or contact is None else contact.id
        row = article_row(
            ticket.id,
            direction=Direction.IN,
            body_text=msg.text,
            now=now,
            body_html=msg.html,
            contact_id=contact_id,
            from_addr=_display(msg.from_name, msg.from_addr),
            to_addrs=", ".join(msg.to) or None,
            cc_addrs=", ".join(msg.cc) or None,
            subject=msg.subject[:_SUBJECT_MAX],
            message_id=plan.message_id,
            in_reply_to=msg.in_reply_to[:_MESSAGE_ID_MAX] if msg.in_reply_to else None,
            references=" ".join(msg.references) or None,
            is_auto=msg.is_auto,
            auto_kind=msg.auto_kind,
            unverified=plan.unverified,
            sender_auth=plan.sender_auth,
            content_hash=msg.content_hash or None,
        )
        files = plan.item.files
        yield (
            row,
            [_new_attachment(f) for f in files],
            [f.warning[:_REASON_MAX] if f.warning else None for f in files],
            plan,
        )
        if plan.named is not None:
            yield _note_row(ticket.id, named_note(plan.named), now), [], [], None
        if plan.archived is not None:
            yield _note_row(ticket.id, archived_note(plan.archived), now), [], [], None

    def _automatic_row(self, plan: _Plan, now: Any) -> dict[str, Any]:
        msg = plan.item.message
        ticket_id = plan.bounced.ticket_id if plan.bounced is not None else None
        if ticket_id is None and plan.named is not None:
            ticket_id = plan.named.id
        return {
            "message_id": plan.message_id,
            "mailbox": self.settings.mailbox,
            "uid": plan.item.uid,
            "kind": msg.auto_kind or automatic.AUTO,
            "reason": (msg.auto_reason or "")[:_REASON_MAX] or None,
            "from_addr": _display(msg.from_name, msg.from_addr),
            "subject": msg.subject[:_SUBJECT_MAX],
            "body_text": msg.text,
            "ticket_id": ticket_id,
            "article_id": plan.bounced.id if plan.bounced is not None else None,
            "created_at": now,
        }

    def _duplicate_row(self, plan: _Plan, now: Any) -> dict[str, Any] | None:
        """A copy (with the article it copies), or a reused id (with the article it became)."""
        if not (plan.kind == COPY or plan.reused) or plan.item.uid in self.found.duplicate_uids:
            return None
        self._remember(self.found.duplicate_uids, plan.item.uid, None)
        if plan.kind == COPY:
            stored = plan.stored
            article_id = stored.article_id if stored is not None else None
            ticket_id = stored.ticket_id if stored is not None else None
            if stored is not None and stored.target is not None and stored.target.ticket:
                ticket_id = stored.target.ticket.id
            kind = "copy"
        else:
            article_id, ticket_id, kind = plan.article.id, plan.target.ticket.id, "reused"
        return {
            "mailbox": self.settings.mailbox,
            "uidvalidity": self.settings.uidvalidity,
            "uid": plan.item.uid,
            "message_id": storable_message_id(plan.item.message.message_id),
            "kind": kind,
            "article_id": article_id,
            "ticket_id": ticket_id,
            "subject": plan.item.message.subject[:_SUBJECT_MAX],
            "created_at": now,
        }

    def _outcome(self, plan: _Plan) -> StoreOutcome:
        if plan.kind == COPY:
            stored = plan.stored
            ticket_id = stored.ticket_id if stored else None
            if stored is not None and stored.target is not None and stored.target.ticket:
                ticket_id = stored.target.ticket.id
            return StoreOutcome(plan.item.uid, COPY, plan.message_id, ticket_id=ticket_id)
        if plan.kind == AUTOMATIC:
            bounced = plan.bounced
            return StoreOutcome(
                plan.item.uid,
                AUTOMATIC,
                plan.message_id,
                ticket_id=bounced.ticket_id if bounced is not None else None,
                bounced_article_id=bounced.id if bounced is not None else None,
                notice=bounce_notice(bounced, plan.item.message.bounce_reason) if bounced else None,
            )
        ticket, article = plan.target.ticket, plan.article
        stored = self.found.stored[plan.message_id]
        stored.ticket_id, stored.article_id = ticket.id, article.id
        ack = None
        if plan.kind == NEW_TICKET:
            self._remember(self.found.tickets, ticket.id, ticket)
            self._remember(self.found.ticket_of_number, ticket.number, ticket.id)
            if self.acks is not None and plan.archived is None:
                ack = queue_acknowledgement(ticket, article, policy=self.acks)
        kind = REUSED_ID if plan.reused else plan.kind
        if not plan.unverified:
            msg = plan.item.message
            addresses = [*msg.to, *msg.cc]
            if self._may_follow(ticket, addresses):
                followers_from_mail(ticket, addresses, own_addresses=self.settings.own_addresses)
        return StoreOutcome(
            plan.item.uid,
            kind,
            plan.message_id,
            ticket_id=ticket.id,
            article_id=article.id,
            ack=ack,
        )

    def _may_follow(self, ticket: Ticket, addresses: list[str]) -> bool:
        """Whether an address of the mail could become a follower of the ticket (one of its
        client's domains, see ``followers_from_mail``): most mail names none, and is spared
        that function's queries."""
        if ticket.client_id is None:
            return False
        requester = (ticket.requester_email or "").lower()
        for address in addresses:
            email = (address or "").strip().lower()
            if not email or email == requester or email in self.settings.own_addresses:
                continue
            if any(self.found.domains.get(d) == ticket.client_id for d in suffixes_of(email)):
                return True
        return False

    def write_acks(self) -> None:
        """Write the acknowledgements the batch queued (one INSERT for all of them)."""
        if self.acks is not None:
            self.acks.write()

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


@dataclass(frozen=True)
class _Inserted:
    """An article inserted by the batch (what the acknowledgement needs of it)."""

    id: int
    message_id: str | None
    is_auto: bool
    references: str | None


#: The batch's article INSERT (a module attribute, so a test can make one message fail).
article_rows_inserted = insert_articles


def _note_row(ticket_id: int, text: str, now: Any) -> dict[str, Any]:
    """An internal note by ingest (not mailed, agents only)."""
    return article_row(ticket_id, direction=Direction.OUT, body_text=text, now=now, internal=True)


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
    from sqlalchemy import select

    return db.session.scalar(select(Article.ticket_id).where(Article.message_id == message_id))


def store_batch(batch: Sequence[PreparedMessage], settings: StoreSettings) -> list[StoreOutcome]:
    """Store prepared messages in UID order inside the caller's transaction; never commits.

    A message already stored (same Message-ID and content, e.g. after a crash before its flag
    was set, or stored by a concurrent ingest) comes back as a duplicate. One that cannot be
    stored is rolled back alone and recorded in ``IngestFailure``. Database trouble that is not
    the message's fault (``OperationalError``: locked, connection lost) is raised so the caller
    rolls the batch back and tries again later.
    """
    ordered = sorted(batch, key=lambda i: i.uid)
    outcomes: list[StoreOutcome] | None = None
    if all(item.error is None for item in ordered):
        try:
            with db.session.no_autoflush, db.session.begin_nested():
                storer = _Storer(ordered, settings)
                outcomes = storer.write([storer.plan(item) for item in ordered])
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
    stored = [o.message_id for o in outcomes if o.kind not in (FAILED,)]
    for chunk in chunks(stored):
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
                return storer.write([storer.plan(item)])[0]
        except OperationalError:
            storer.undo()
            raise
        except IntegrityError as exc:
            storer.undo()
            ticket_id = _message_id_stored(message_id)
            if ticket_id is not None:  # stored meanwhile by someone else: just file it away
                storer.found.stored[message_id] = StoredMail(ticket_id, None, None)
                return StoreOutcome(item.uid, COPY, message_id, ticket_id=ticket_id)
            error = f"{type(exc).__name__}: {exc.orig if exc.orig is not None else exc}"
            if attempt == 1:  # a contact created meanwhile by another process: look again
                address = (item.message.from_addr or "").lower()
                storer.found.contacts.pop(address, None)
                if address:
                    load_senders(storer.found, [address])
                continue
        except Exception as exc:
            storer.undo()
            log.exception("mail uid %s (%s) could not be stored", item.uid, message_id)
            error = f"{type(exc).__name__}: {exc}"
            break
    storer.record_failure(item, error)
    return StoreOutcome(item.uid, FAILED, message_id, error=error)
