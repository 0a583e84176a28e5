"""Saved replies (shared or personal, one language each) with placeholders, and failed sends.

Placeholders are written ``{client_name}``, ``{ticket_number}``, ``{agent_name}`` and
``{hours_left}``; anything else is refused when saving. Only flushes.
"""

from __future__ import annotations

import string

from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..extensions import db
from ..models import LANGUAGES, Article, SendStatus, Ticket, User
from ..notifications.models import SavedReply

PLACEHOLDERS = ("client_name", "ticket_number", "agent_name", "hours_left")


class SavedReplyError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def placeholders_in(body: str) -> list[str]:
    """The placeholder names of ``body``; raises SavedReplyError on an unknown or broken one."""
    try:
        names = [name for _lit, name, _spec, _conv in string.Formatter().parse(body or "")
                 if name is not None]
    except ValueError:
        raise SavedReplyError("body", _("A { or } is not closed. Write {{ or }} for a brace."))
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise SavedReplyError("body", _(
            "Unknown placeholder %(names)s. Use %(known)s.",
            names=", ".join("{" + n + "}" for n in unknown),
            known=", ".join("{" + n + "}" for n in PLACEHOLDERS)))
    return names


def save_reply(*, title: str, body: str, language: str, shared: bool, user: User,
               reply: SavedReply | None = None) -> SavedReply:
    title = (title or "").strip()
    if not title:
        raise SavedReplyError("title", _("Give the saved reply a title."))
    if language not in LANGUAGES:
        raise SavedReplyError("language", _("Choose a language."))
    if not (body or "").strip():
        raise SavedReplyError("body", _("Write the reply."))
    placeholders_in(body)
    owner_id = None if shared else user.id
    clash = db.session.scalar(select(SavedReply.id).where(
        SavedReply.title == title, SavedReply.language == language,
        SavedReply.owner_id.is_(None) if owner_id is None else SavedReply.owner_id == owner_id,
        SavedReply.id != (reply.id if reply else -1)))
    if clash:
        raise SavedReplyError("title", _("There is already a saved reply with this title."))
    reply = reply or SavedReply()
    reply.title, reply.body, reply.language, reply.owner_id = title[:200], body, language, owner_id
    db.session.add(reply)
    db.session.flush()
    return reply


def visible_replies(user: User, language: str | None = None) -> list[SavedReply]:
    stmt = select(SavedReply).where(or_(SavedReply.owner_id.is_(None),
                                        SavedReply.owner_id == user.id))
    if language:
        stmt = stmt.where(SavedReply.language == language)
    return list(db.session.scalars(stmt.order_by(SavedReply.language, SavedReply.title)))


def may_edit(reply: SavedReply, user: User) -> bool:
    return reply.owner_id == user.id or (reply.owner_id is None and user.role == "admin") or (
        reply.owner_id is None and user.role == "agent")


def hours_left(ticket: Ticket) -> str:
    """The client's package hours left this month ("3:15"), from the accounting rules."""
    if ticket.client is None:
        return "-"
    from ..accounting.periods import period_of
    from ..accounting.usage import usage_for
    from ..models import utcnow

    usage = usage_for(ticket.client, period_of(utcnow(), ticket.client.timezone))
    minutes = usage.remaining_minutes
    return f"{minutes // 60}:{minutes % 60:02d}"


def render_reply(reply: SavedReply, ticket: Ticket, agent: User) -> str:
    values = {
        "client_name": ticket.client.name if ticket.client else (ticket.requester_name or ""),
        "ticket_number": f"#{ticket.number}",
        "agent_name": agent.name,
        "hours_left": hours_left(ticket) if "{hours_left}" in reply.body else "",
    }
    return reply.body.format(**values)


# -- failed sends -------------------------------------------------------------------------------


def plain_reason(error: str | None) -> str:
    """A send error in words an agent understands (the raw text stays in the log)."""
    text = (error or "").lower()
    if "connectionrefused" in text or "errno 111" in text:
        return _("The mail server did not answer (connection refused). It may be down.")
    if "timeout" in text or "timed out" in text:
        return _("The mail server did not answer in time.")
    if "authentication" in text or "535" in text:
        return _("The mail server refused our login: check the mail account settings.")
    if "recipientsrefused" in text or "550" in text or "553" in text:
        return _("The mail server refused the recipient address.")
    if "no recipient" in text:
        return _("The reply has no recipient.")
    if "ssl" in text or "tls" in text or "certificate" in text:
        return _("The secure connection to the mail server failed.")
    if "gaierror" in text or "name or service" in text:
        return _("The mail server's name could not be found.")
    if "too large" in text or "552" in text:
        return _("The message is too large for the mail server.")
    return _("The mail could not be sent.")


def failed_replies(ticket: Ticket) -> list[Article]:
    return list(db.session.scalars(select(Article).where(
        Article.ticket_id == ticket.id, Article.send_status == SendStatus.FAILED,
        Article.internal.is_(False)).order_by(Article.id)))


def prepare_resend(article: Article, ticket: Ticket) -> Article:
    """Put a failed reply back in the queue (the edge sends it after commit)."""
    if article.ticket_id != ticket.id or article.send_status != SendStatus.FAILED:
        raise ValueError(_("This reply is not waiting to be sent again."))
    article.send_status = SendStatus.QUEUED
    db.session.flush()
    return article
