"""What ingest writes for people: notes on tickets (a mail that named another client's ticket,
mail from an archived client, a reply that bounced) and the notice mailed to the agent whose mail bounced."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext

from helpdesk.extensions import db
from helpdesk.models import Article, Ticket, User

log = logging.getLogger(__name__)


@dataclass
class Notice:
    """A mail for agents, sent after the commit (e.g. a reply that bounced)."""

    key: str
    recipients: list[str]
    subject: str
    body: str


def in_default_language(text: Callable[[], str]) -> str:
    """Notes ingest writes are in the helpdesk's default language (no reader is known)."""
    with force_locale(current_app.config.get("DEFAULT_LANGUAGE") or "en"):
        return text()


def named_note(ticket: Ticket) -> str:
    return in_default_language(
        lambda: gettext(
            "This mail named ticket %(tag)s (In-Reply-To, References or the subject tag), but "
            "its sender is not entitled to that ticket, so it was opened here instead. "
            "Ticket %(tag)s: /console/tickets/%(number)s",
            tag=ticket.tag,
            number=ticket.number,
        )
    )


def archived_note(client_name: str) -> str:
    return in_default_language(
        lambda: gettext(
            "The sender belongs to %(client)s, which is archived, so this mail opened no ticket "
            "of that client and was not acknowledged. Decide in triage: answer it, assign it to "
            "another client, or unarchive %(client)s first.",
            client=client_name,
        )
    )


def bounce_note(article: Article, reason: str) -> str:
    return in_default_language(
        lambda: gettext(
            "The mail to %(to)s of %(when)s UTC was not delivered: %(reason)s",
            to=article.to_addrs or "?",
            when=f"{article.created_at:%Y-%m-%d %H:%M}",
            reason=reason,
        )
    )


def bounce_notice(article: Article, reason: str | None) -> Notice | None:
    ticket = article.ticket
    recipients = []
    for user_id in (article.author_user_id, ticket.assignee_id):
        user = db.session.get(User, user_id) if user_id else None
        if user is not None and user.active and user.email:
            recipients.append(user.email)
    if not recipients:
        return None
    return Notice(
        key=f"bounce:{article.id}",
        recipients=recipients,
        subject=in_default_language(
            lambda: gettext(
                "%(tag)s mail not delivered: %(subject)s", tag=ticket.tag, subject=ticket.subject
            )
        )[:300],
        body=bounce_note(article, reason or "delivery failed"),
    )


def notify_bounces(outcomes: Iterable[Any]) -> None:
    """After the batch's commit: tell the agents whose mail bounced (helpdesk.notifications.once)."""
    from helpdesk.notifications.once import send_once

    for outcome in outcomes:
        notice = outcome.notice
        if notice is None:
            continue
        try:
            send_once(notice.key, notice.recipients, notice.subject, notice.body)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("bounce notice %s not sent", notice.key)
