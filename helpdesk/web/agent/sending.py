"""Mailing outgoing articles from the web: find the ingest issue's sender, call it after commit."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from ...extensions import db
from ...models import Article, SendStatus

log = logging.getLogger(__name__)

#: Where the function that mails an outgoing article may live (the ingest issue provides it).
SENDERS = (("helpdesk.tickets.mailer", "send_article"), ("mail_ingest.outgoing", "send_article"))


def outgoing_sender() -> Callable[[Article], object] | None:
    """The function that mails an outgoing article, when the ingest module provides one."""
    for module_name, attr in SENDERS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        sender = getattr(module, attr, None)
        if callable(sender):
            return sender
    return None


def send_after_commit(article: Article) -> str:
    """Mail a committed outgoing article: "sent", "failed" (recorded on it) or "queued" (no sender).

    The reply is committed first, so a mail server that is down never loses what the agent
    wrote; the outcome is committed after.
    """
    sender = outgoing_sender()
    if sender is None:
        log.warning("no send_article function: article %s stays queued", article.id)
        return "queued"
    try:
        sender(article)
        db.session.commit()
    except Exception:  # the reply is saved already; the failure is shown and logged
        log.exception("sending article %s failed", article.id)
        db.session.rollback()
        return "queued"
    db.session.refresh(article)
    return "failed" if article.send_status == SendStatus.FAILED else "sent"
