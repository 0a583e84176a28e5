"""Collision warning: who else has a ticket open or is writing a reply; stale pages are stopped.

The ticket page sends a heartbeat every few seconds (:func:`heartbeat`); a row lives for
``PRESENCE_SECONDS`` after the last one. A reply or status change carries the id of the newest
article the page showed; :func:`newer_articles` says what was added since. Only flushes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Article, Ticket, User, utcnow
from ..notifications.models import TicketPresence

STATES = ("viewing", "replying")


def heartbeat(ticket: Ticket, user: User, state: str = "viewing",
              now: datetime | None = None) -> list[TicketPresence]:
    """Record that ``user`` is here; returns the others present, newest state each."""
    if state not in STATES:
        raise ValueError(f"unknown presence state {state!r}")
    now = now or utcnow()
    expires = now + timedelta(seconds=int(current_app.config.get("PRESENCE_SECONDS", 20)))
    row = db.session.scalar(select(TicketPresence).where(
        TicketPresence.ticket_id == ticket.id, TicketPresence.user_id == user.id))
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(TicketPresence(ticket_id=ticket.id, user_id=user.id, state=state,
                                              expires_at=expires))
        except IntegrityError:  # the same person's other tab got there first
            row = db.session.scalar(select(TicketPresence).where(
                TicketPresence.ticket_id == ticket.id, TicketPresence.user_id == user.id))
    if row is not None:
        row.state, row.expires_at = state, expires
    db.session.execute(delete(TicketPresence).where(TicketPresence.expires_at < now))
    db.session.flush()
    return others(ticket, user, now)


def leave(ticket: Ticket, user: User) -> None:
    db.session.execute(delete(TicketPresence).where(
        TicketPresence.ticket_id == ticket.id, TicketPresence.user_id == user.id))


def others(ticket: Ticket, user: User, now: datetime | None = None) -> list[TicketPresence]:
    now = now or utcnow()
    return list(db.session.scalars(
        select(TicketPresence).where(TicketPresence.ticket_id == ticket.id,
                                     TicketPresence.user_id != user.id,
                                     TicketPresence.expires_at >= now)
        .order_by(TicketPresence.state.desc(), TicketPresence.id)
    ))


def last_article_id(ticket: Ticket) -> int:
    return db.session.scalar(
        select(Article.id).where(Article.ticket_id == ticket.id).order_by(Article.id.desc()).limit(1)
    ) or 0


def newer_articles(ticket: Ticket, seen_id: str | int | None, user: User) -> list[Article]:
    """Articles added since the page was drawn, by somebody else (empty: the page is current).

    A form without the field (an API client, an old page) is not stopped."""
    if seen_id in (None, ""):
        return []
    try:
        seen = int(seen_id)
    except (TypeError, ValueError):
        return []
    return [a for a in db.session.scalars(
        select(Article).where(Article.ticket_id == ticket.id, Article.id > seen)
        .order_by(Article.id)
    ) if a.author_user_id != user.id]
