"""Secret calendar addresses of agents' visit feeds: made, rotated and looked up here."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from ..audit_log.record import record
from ..capacity.models import CalendarFeed
from ..extensions import db
from ..models import User, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_feed_token(agent: User, *, user: User) -> str:
    """A new secret for the agent's feed (the previous address stops working); shown once."""
    if user.id != agent.id and user.role != "admin":
        raise PermissionError("only the agent or an admin makes a calendar address")
    token = secrets.token_urlsafe(32)
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.agent_id == agent.id))
    if feed is None:
        feed = CalendarFeed(agent_id=agent.id, token_hash=_hash(token))
        db.session.add(feed)
    else:
        feed.token_hash = _hash(token)
        feed.created_at = utcnow()
        feed.last_used_at = None
    db.session.flush()
    record(feed, "rotate", user=user, after={"agent_id": agent.id})
    return token


def agent_for_token(token: str) -> User | None:
    """The active staff member whose feed this is, or None (unknown, revoked or deactivated)."""
    if not token or len(token) > 100:
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token)))
    if feed is None or not feed.agent.active or not feed.agent.is_staff:
        return None
    feed.last_used_at = utcnow()
    return feed.agent


def has_feed(agent: User) -> bool:
    return db.session.scalar(
        select(CalendarFeed.id).where(CalendarFeed.agent_id == agent.id)) is not None
