"""Prepared mail into tickets and articles: the batch written in a few statements, failures kept.

``store_batch`` works inside the caller's transaction and commits nothing. The batch is planned
message by message (:mod:`mail_ingest.planning`: threading that respects tenants, automatic
mail, duplicates, bounces) against lookups made once per batch (:mod:`mail_ingest.lookups`) and
then written with the batch ticket services (:mod:`helpdesk.tickets.batch`): ticket numbers in
one statement, one flush, the audit rows and acknowledgements in one INSERT each. If a message
cannot be stored, the batch is rolled back and stored again message by message, each under its
own SAVEPOINT; the one that fails is recorded as an ``IngestFailure``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError

from helpdesk.extensions import db
from helpdesk.followers.service import followers_from_mail
from helpdesk.models import (
    Article,
    AutomaticMail,
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
from helpdesk.tickets.services import NewAttachment
from mail_ingest import automatic
from mail_ingest.lookups import StoredMail, among, execute_in, load_senders, suffixes_of
from mail_ingest.notes import (  # noqa: F401 - Notice, notify_bounces: re-exported
    Notice,
    archived_note,
    bounce_note,
    bounce_notice,
    named_note,
    notify_bounces,
)
from mail_ingest.outgoing import AckJob, queue_acknowledgement
from mail_ingest.planning import (  # noqa: F401 - the kinds and id helpers: re-exported
    _EMAIL_MAX,
    _ERROR_MAX,
    _FILENAME_MAX,
    _MESSAGE_ID_MAX,
    _NAME_MAX,
    _REASON_MAX,
    _SUBJECT_MAX,
    ACTOR,
    AUTOMATIC,
    COPY,
    DUPLICATE,
    FAILED,
    NEW_TICKET,
    REPLY,
    REUSED_ID,
    UNVERIFIED,
    Planner,
    StoreSettings,
    _display,
    _Plan,
    our_ticket_number,
    reused_message_id,
    storable_message_id,
)
from mail_ingest.prepare import PreparedMessage, StoredFile

log = logging.getLogger(__name__)


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



class _Storer(Planner):
    """Plans (see :class:`~mail_ingest.planning.Planner`) and writes one batch."""

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
    resolve = (
        update(IngestFailure)
        .where(IngestFailure.resolved_at.is_(None), among(IngestFailure.message_id))
        .values(resolved_at=utcnow())
    )
    execute_in(resolve, stored)
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
