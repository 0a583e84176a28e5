"""Merging two tickets about the same thing: one thread, one place to log time, one SLA.

The source ticket's messages, logged time and timers move to the target; the source is closed
and points at the target (``merged_into_id``), so mail that still replies to it can follow. The
target keeps its own SLA clocks: its promise to the client started when it was opened.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..audit_log.record import record
from ..extensions import db
from ..models import Article, Direction, RunningTimer, Ticket, TicketStatus, TimeEntry, User, utcnow
from .services import add_article, set_status


class MergeError(ValueError):
    """The two tickets cannot be merged (same ticket, already merged, different clients); the
    message is a lazy translation, in the reader's language when shown."""


def final_ticket(ticket: Ticket) -> Ticket:
    """Follow ``merged_into_id`` to the ticket that lives on (for mail replying to a merged one)."""
    seen = {ticket.id}
    while ticket.merged_into_id is not None:
        nxt = db.session.get(Ticket, ticket.merged_into_id)
        if nxt is None or nxt.id in seen:
            break
        seen.add(nxt.id)
        ticket = nxt
    return ticket


def check_mergeable(source: Ticket, target: Ticket) -> None:
    """Raise :class:`MergeError` unless ``source`` may be merged into ``target``."""
    if source.id == target.id:
        raise MergeError(_l("A ticket cannot be merged into itself."))
    if source.merged_into_id is not None:
        raise MergeError(_l("Ticket #%(n)s is already merged.", n=source.number))
    if target.merged_into_id is not None:
        raise MergeError(_l("Ticket #%(n)s is merged into another ticket.", n=target.number))
    if source.client_id is not None and source.client_id != target.client_id:
        # Merging would show one client's messages to another client.
        raise MergeError(_l("The tickets belong to different clients."))


def merge_tickets(
    source: Ticket,
    target: Ticket,
    *,
    user: User | None = None,
    actor: str = "user",
    now: datetime | None = None,
) -> Ticket:
    """Move everything of ``source`` into ``target`` and close ``source``; returns ``target``."""
    check_mergeable(source, target)
    now = now or utcnow()
    db.session.flush()  # nothing pending may be lost when the bulk updates expire the session
    moved = db.session.execute(
        update(Article).where(Article.ticket_id == source.id).values(ticket_id=target.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        update(TimeEntry).where(TimeEntry.ticket_id == source.id).values(ticket_id=target.id)
        .execution_options(synchronize_session=False)
    )
    # A running timer moves unless its agent already times the target (the pair is unique).
    busy = select(RunningTimer.agent_id).where(RunningTimer.ticket_id == target.id)
    db.session.execute(
        update(RunningTimer)
        .where(RunningTimer.ticket_id == source.id, RunningTimer.agent_id.not_in(busy))
        .values(ticket_id=target.id)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if source.last_activity_at and source.last_activity_at > target.last_activity_at:
        target.last_activity_at = source.last_activity_at
    source.merged_into_id = target.id
    if source.status != TicketStatus.CLOSED:
        set_status(source, TicketStatus.CLOSED, at=now, user=user, actor=actor)
    note = f"Merged #{source.number} into #{target.number} ({moved} message(s) moved)."
    add_article(source, direction=Direction.OUT, internal=True, body_text=note, author=user,
                created_at=now)
    add_article(target, direction=Direction.OUT, internal=True, body_text=note, author=user,
                created_at=now)
    record(source, "merge", user=user, actor=actor, before={"merged_into_id": None},
           after={"merged_into_id": target.id, "articles_moved": moved})
    db.session.flush()
    return target
