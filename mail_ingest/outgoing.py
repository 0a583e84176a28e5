"""Mail we send about tickets: agent replies and the acknowledgement of a new ticket.

Every mail carries the ticket tag in its subject, a Message-ID of ours that names the ticket
with an HMAC of its number (``<ticket-1234-<mac>.article-77.<random>@our-domain>``, see
:mod:`mail_ingest.msgid`) and In-Reply-To/References built from the thread, so the answer comes
back to the same ticket even if a mail client drops one of them. Those three headers are
written as plain msg-id lists, folded between ids, never RFC 2047-encoded (mail programs could
not thread an encoded one), however long an id is.
Sending goes through Flask-Mail over SMTP (``MAIL_*`` settings) with a socket timeout
(``MAIL_TIMEOUT``, seconds), so a hanging server cannot hang a request or the ingest loop.

This module sends agent replies and gathers the names of the others: what every mail shares is
in :mod:`mail_ingest.mailing`, acknowledgements in :mod:`mail_ingest.acknowledgements` (queue,
build, deliver, record) and :mod:`mail_ingest.ackmailer` (the background sender).

Acknowledgements follow RFC 3834: ``Auto-Submitted: auto-replied``, never to an automatic mail
or to one of our own addresses, and at most ``AUTO_REPLY_LIMIT_PER_HOUR`` per recipient, so two
auto-responders cannot keep answering each other.
"""

from __future__ import annotations

import logging

import flask_mail
from flask import render_template
from flask_babel import force_locale

from helpdesk.extensions import db
from helpdesk.models import Article, Direction, SendStatus, utcnow
from mail_ingest.ackjournal import forget_applied_journal  # noqa: F401 - for ingest
from mail_ingest.ackmailer import AcknowledgementSender, mailer_process  # noqa: F401
from mail_ingest.acknowledgements import (  # noqa: F401 - re-exported
    RETRY_AFTER,
    AckJob,
    AckPolicy,
    AckResult,
    TicketView,
    backlog,
    build_acknowledgement,
    deliver,
    pending_acknowledgements,
    queue_acknowledgement,
    record_results,
    retry_after,
    send_acknowledgement,
)
from mail_ingest.mailing import (  # noqa: F401 - re-exported
    _ERROR_MAX,
    ACK_HEADERS,
    ACK_SUBJECT,
    ID_HEADERS,
    MAX_REFERENCES,
    SMTP_COMPAT32,
    PlainThreadingMessage,
    _attachments,
    _from_header,
    _language,
    _recipients,
    _send,
    _split_addresses,
    message_id_domain,
    new_message_id,
    sender_address,
    smtp_connection,
    tagged_subject,
    thread_headers,
)

log = logging.getLogger(__name__)

# -- agent replies ------------------------------------------------------------------------------


def build_reply(
    article: Article, *, message_id: str, in_reply_to: str | None, references: str
) -> flask_mail.Message:
    """The mail for an outgoing article: wrapper templates in the client's language, headers."""
    ticket = article.ticket
    with force_locale(_language(ticket)):
        context = {"ticket": ticket, "article": article, "body": article.body_text or ""}
        text = render_template("mail/reply.txt", **context)
        html = render_template("mail/reply.html", **context)
    headers = {"References": references} if references else {}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
    message = PlainThreadingMessage(
        subject=tagged_subject(ticket, article.subject),
        recipients=_recipients(article, ticket),
        cc=_split_addresses(article.cc_addrs),
        body=text,
        html=html,
        sender=_from_header(ticket),
        attachments=_attachments(article),
        extra_headers=headers,
    )
    message.msgId = message_id
    return message


def send_article(article: Article) -> bool:
    """Mail a stored outgoing article and record the outcome on it; the caller commits.

    Sets the article's Message-ID (kept across retries), In-Reply-To and References, and
    ``send_status`` "sent", or "failed" with ``send_error`` (then it returns False and can be
    sent again later); it does not raise when the mail cannot be sent.
    """
    if article.direction != Direction.OUT or article.internal:
        raise ValueError("only outgoing, non-internal articles are mailed")
    ticket = article.ticket
    db.session.flush()  # the article needs its id for the Message-ID
    if not article.message_id:
        article.message_id = new_message_id(ticket, article)
    in_reply_to, references = thread_headers(ticket, before_article_id=article.id)
    article.in_reply_to, article.references = in_reply_to, references or None
    article.subject = tagged_subject(ticket, article.subject)
    if not article.from_addr:
        article.from_addr = sender_address(ticket)
    try:
        message = build_reply(
            article,
            message_id=article.message_id,
            in_reply_to=in_reply_to,
            references=references,
        )
        if not message.recipients:
            raise ValueError("the article has no recipient")
        if not article.to_addrs:
            article.to_addrs = ", ".join(message.recipients)
        _send(message, None)
    except Exception as exc:  # noqa: BLE001 - the reply is stored; the failure is recorded
        log.warning("article %s on ticket #%s not sent: %s", article.id, ticket.number, exc)
        article.send_status = SendStatus.FAILED
        article.send_error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        db.session.flush()
        from helpdesk.notifications.events import send_failed

        send_failed(article)
        return False
    article.send_status = SendStatus.SENT
    article.send_error = None
    article.sent_at = utcnow()
    db.session.flush()
    return True


