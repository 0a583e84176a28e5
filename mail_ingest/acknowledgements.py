"""Acknowledgements of new tickets (RFC 3834): queued in the ticket's own transaction as an
outbox, rendered and mailed after the commit, their outcome recorded; what a crash or an SMTP
outage left queued is found again and sent.

The acknowledgement of a new ticket is written in the ticket's own transaction as a queued
automatic article (an outbox), together with its AutoReply row (the rate limit counts it from
then on). After the commit it is rendered and mailed. The moment the SMTP server accepts it,
its Message-ID is appended to the sent journal (mail_ingest.ackjournal), so a crash after that
cannot send it again; the article is marked sent from the results (or the journal, after a
crash).
One still queued (crash before sending, SMTP outage) is sent again by a later pass once it is
INGEST_ACK_RETRY_SECONDS old, and again on every pass until the queue drains; only a
permanent refusal (5xx) marks it failed.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import flask_mail
from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import bindparam, func, select

from helpdesk.extensions import db
from helpdesk.models import (
    Article,
    AutoReply,
    Channel,
    Direction,
    SendStatus,
    Ticket,
    utcnow,
)
from mail_ingest.ackjournal import (
    apply_journal,
    journal_path,
    journal_sent,
    sync_journal,
)
from mail_ingest.config import own_addresses
from mail_ingest.mailing import (
    _ERROR_MAX,
    ACK_HEADERS,
    ACK_SUBJECT,
    MAX_REFERENCES,
    SMTP_COMPAT32,
    PlainThreadingMessage,
    _from_header,
    _language,
    _secret,
    encoded_header,
    message_id_domain,
    sender_address,
    smtp_connection,
    tagged_subject,
)
from mail_ingest.msgid import make_message_id

log = logging.getLogger(__name__)

#: A queued acknowledgement this old was left by a crash or an SMTP outage: send it again.
RETRY_AFTER = timedelta(minutes=2)


def retry_after() -> timedelta:
    """INGEST_ACK_RETRY_SECONDS as a timedelta (RETRY_AFTER by default)."""
    seconds = current_app.config.get("INGEST_ACK_RETRY_SECONDS")
    return RETRY_AFTER if seconds is None else timedelta(seconds=float(seconds))


def backlog() -> int:
    """Acknowledgements waiting to be mailed (an SMTP outage shows here)."""
    from helpdesk.mailbox.services import acknowledgement_backlog

    return acknowledgement_backlog()


@dataclass(frozen=True)
class TicketView:
    """What the acknowledgement templates show of a ticket (no database access while mailing)."""

    number: int
    subject: str

    @property
    def tag(self) -> str:
        return f"[#{self.number}]"


@dataclass(frozen=True)
class AckJob:
    """One queued acknowledgement, with everything needed to mail it (its article is found by
    ``message_id``, unique like every Message-ID we store)."""

    ticket: TicketView
    language: str
    sender: str
    recipient: str
    subject: str
    message_id: str
    in_reply_to: str | None
    references: str | None


@dataclass(frozen=True)
class AckResult:
    """The outcome of mailing one acknowledgement; ``retry``: not sent, try again later."""

    message_id: str
    sent: bool
    retry: bool = False
    error: str | None = None
    body_text: str = ""


class AckPolicy:
    """Who may be acknowledged now (no automatic mail, none of us, at most N an hour each),
    and the acknowledgements queued so far, written together by :meth:`write`."""

    def __init__(self, recipients: Iterable[str], *, now: datetime | None = None) -> None:
        cfg = current_app.config
        self.limit = int(cfg.get("AUTO_REPLY_LIMIT_PER_HOUR", 3))
        self.own = own_addresses(cfg)
        self.domain = message_id_domain()
        self.secret = _secret()
        wanted = sorted({r.lower() for r in recipients if r})
        since = (now or utcnow()) - timedelta(hours=1)
        self.counts: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            rows = db.session.execute(
                select(AutoReply.recipient, func.count(AutoReply.id))
                .where(
                    AutoReply.recipient.in_(wanted[start : start + 500]), AutoReply.sent_at >= since
                )
                .group_by(AutoReply.recipient)
            )
            self.counts.update({recipient: count for recipient, count in rows})
        self._articles: list[dict[str, Any]] = []
        self._auto_replies: list[dict[str, Any]] = []
        self._senders: dict[str, tuple[str, str]] = {}
        self._subjects: dict[str, str] = {}

    def refusal(self, recipient: str | None, *, is_auto: bool) -> str | None:
        """Why this mail must not be acknowledged, or None."""
        recipient = (recipient or "").lower()
        if is_auto:
            return "automatic mail"
        if not recipient or "@" not in recipient:
            return "no sender address"
        if recipient in self.own:
            return "our own address"
        sent = self.counts.get(recipient, 0)
        if sent >= self.limit:
            return f"{sent} acknowledgements to this address in the last hour"
        return None

    def subject(self, language: str) -> str:
        """The acknowledgement's subject template in ``language`` (translated once per batch)."""
        if language not in self._subjects:
            with force_locale(language):
                self._subjects[language] = str(ACK_SUBJECT)
        return self._subjects[language]

    def sender(self, ticket: Ticket) -> tuple[str, str]:
        """(address, From header) for mail about the ticket, looked up once per queue."""
        queue = ticket.queue or ""
        if queue not in self._senders:
            self._senders[queue] = (sender_address(ticket), _from_header(ticket))
        return self._senders[queue]

    def add(self, article: dict[str, Any], auto_reply: dict[str, Any]) -> None:
        """Queue one acknowledgement's rows; it counts towards the recipient's limit at once."""
        self._articles.append(article)
        self._auto_replies.append(auto_reply)
        recipient = auto_reply["recipient"]
        self.counts[recipient] = self.counts.get(recipient, 0) + 1

    def mark(self) -> int:
        """A point to go back to with :meth:`rollback_to` if the message's savepoint rolls back."""
        return len(self._articles)

    def rollback_to(self, mark: int) -> None:
        """Drop what was queued after ``mark`` (its ticket was rolled back)."""
        for row in self._auto_replies[mark:]:
            self.counts[row["recipient"]] -= 1
        del self._articles[mark:], self._auto_replies[mark:]

    def write(self) -> None:
        """Insert the queued acknowledgements and their AutoReply rows (two statements)."""
        if self._articles:
            db.session.execute(Article.__table__.insert(), self._articles)
            db.session.execute(AutoReply.__table__.insert(), self._auto_replies)
        self._articles, self._auto_replies = [], []


def queue_acknowledgement(
    ticket: Ticket,
    article: Article,
    *,
    policy: AckPolicy | None = None,
    now: datetime | None = None,
) -> AckJob | None:
    """Queue the acknowledgement of a new ticket opened by ``article`` (caller's transaction).

    Returns what the sender needs, or None when the policy refuses (automatic mail, our own
    address, hourly limit). The acknowledgement is an automatic outgoing article: it is not an
    agent reply and meets no SLA target. With a ``policy`` given, its rows are written when the
    caller calls ``policy.write()`` (ingest does so once per batch); without, right away.
    """
    now = now or utcnow()
    recipient = (ticket.requester_email or "").lower()
    given = policy is not None
    policy = policy or AckPolicy([recipient], now=now)
    refusal = policy.refusal(recipient, is_auto=article.is_auto)
    if refusal is not None:
        log.debug("no acknowledgement for ticket #%s: %s", ticket.number, refusal)
        return None
    language = _language(ticket)
    subject = policy.subject(language) % {"tag": ticket.tag, "subject": ticket.subject}
    subject = " ".join(subject.split())
    references = None
    if article.message_id:
        earlier = (article.references or "").split()[-(MAX_REFERENCES - 1) :]
        references = " ".join([*earlier, article.message_id])
    message_id = make_message_id(ticket.number, "ack", policy.domain, policy.secret)
    address, from_header = policy.sender(ticket)
    policy.add(
        {
            "ticket_id": ticket.id,
            "direction": Direction.OUT,
            "internal": False,
            "channel": Channel.EMAIL,
            "from_addr": address,
            "to_addrs": recipient,
            "subject": subject,
            "message_id": message_id,
            "in_reply_to": article.message_id,
            "references": references,
            "body_text": "",
            "is_auto": True,
            "send_status": SendStatus.QUEUED,
            "created_at": now,
        },
        {"recipient": recipient, "ticket_id": ticket.id, "sent_at": now},
    )
    if not given:
        policy.write()
    return AckJob(
        ticket=TicketView(ticket.number, ticket.subject),
        language=language,
        sender=from_header,
        recipient=recipient,
        subject=subject,
        message_id=message_id,
        in_reply_to=article.message_id,
        references=references,
    )


def build_acknowledgement(job: AckJob) -> flask_mail.Message:
    """The acknowledgement mail: templates in the client's language, RFC 3834 headers."""
    with force_locale(job.language):
        context = {"ticket": job.ticket}
        text = render_template("mail/acknowledgement.txt", **context)
        html = render_template("mail/acknowledgement.html", **context)
    headers = dict(ACK_HEADERS)
    if job.in_reply_to:
        headers["In-Reply-To"] = job.in_reply_to
    if job.references:
        headers["References"] = job.references
    message = PlainThreadingMessage(
        subject=encoded_header(job.subject, "Subject"),
        recipients=[job.recipient],
        body=text,
        html=html,
        sender=job.sender,
        extra_headers=headers,
    )
    message.msgId = job.message_id
    message.write_policy = SMTP_COMPAT32
    return message


def _permanent(exc: BaseException) -> bool:
    """A refusal the server will repeat (5xx); connection trouble and 4xx are worth a retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(exc, (flask_mail.BadHeaderError, ValueError))


class _Session:
    """An SMTP session opened on first use; ``broken`` once it could not be (re)opened."""

    def __init__(self) -> None:
        self._context: Any = None
        self.connection: flask_mail.Connection | None = None
        self.broken = False

    def open(self) -> flask_mail.Connection:
        if self.connection is None:
            context = smtp_connection()
            try:
                self.connection = context.__enter__()
            except Exception:
                self.broken = True
                raise
            self._context = context
        return self.connection

    def close(self) -> None:
        context, self._context, self.connection = self._context, None, None
        if context is not None:
            try:
                context.__exit__(None, None, None)
            except Exception:
                log.debug("closing the SMTP session failed", exc_info=True)


def deliver(jobs: Iterable[AckJob], session: _Session | None = None) -> list[AckResult]:
    """Mail acknowledgements over one SMTP session (reconnecting once if it drops)."""
    own = session is None
    session = session or _Session()
    results = []
    try:
        for job in jobs:
            results.append(_deliver_one(job, session))
    finally:
        sync_journal(journal_path())
        if own:
            session.close()
    return results


def _deliver_one(job: AckJob, session: _Session, journal: str | None = None) -> AckResult:
    if session.broken:
        return AckResult(job.message_id, sent=False, retry=True, error="SMTP server unavailable")
    try:
        message = build_acknowledgement(job)
    except Exception as exc:
        log.exception("acknowledgement %s could not be built", job.message_id)
        return AckResult(job.message_id, sent=False, error=f"{type(exc).__name__}: {exc}")
    error: BaseException | None = None
    for attempt in (1, 2):
        try:
            session.open().send(message)
        except Exception as exc:  # noqa: BLE001 - classified below; the ticket is safe
            error = exc
            if _permanent(exc) or session.broken:
                break
            session.close()  # dropped connection: one new session, one more try
            if attempt == 2:
                session.broken = True
            continue
        try:
            journal_sent(journal or journal_path(), job.message_id, sync=False)
        except OSError:
            log.exception("acknowledgement %s sent but not journaled", job.message_id)
        return AckResult(job.message_id, sent=True, body_text=message.body or "")
    text = f"{type(error).__name__}: {error}"[:_ERROR_MAX]
    log.warning("acknowledgement to %s not sent: %s", job.recipient, text)
    return AckResult(job.message_id, sent=False, retry=not _permanent(error), error=text)


def record_results(results: Iterable[AckResult], *, now: datetime | None = None) -> int:
    """Write mailing outcomes onto the queued articles (the caller commits); returns how many
    were sent. Retryable failures stay queued, with the error noted."""
    now = now or utcnow()
    sent, failed = [], []
    for result in results:
        if result.sent:
            sent.append({"mid": result.message_id, "body": result.body_text})
        else:
            status = SendStatus.QUEUED if result.retry else SendStatus.FAILED
            failed.append({"mid": result.message_id, "error": result.error, "status": status})
    table = Article.__table__
    if sent:
        db.session.execute(
            table.update()
            .where(table.c.message_id == bindparam("mid"))
            .values(
                send_status=SendStatus.SENT,
                sent_at=now,
                send_error=None,
                body_text=bindparam("body"),
            ),
            sent,
        )
    if failed:
        db.session.execute(
            table.update()
            .where(table.c.message_id == bindparam("mid"))
            .values(send_status=bindparam("status"), send_error=bindparam("error")),
            failed,
        )
    return len(sent)


def pending_acknowledgements(
    *, now: datetime | None = None, exclude: Iterable[str] = ()
) -> list[AckJob]:
    """Queued acknowledgements left behind (crash, SMTP outage) that are due for another try,
    after applying the sent journal (mail the SMTP server accepted before a crash)."""
    now = now or utcnow()
    apply_journal(now=now)
    base = (
        Article.direction == Direction.OUT,
        Article.is_auto.is_(True),
        Article.send_status == SendStatus.QUEUED,
    )
    skip = set(exclude)
    rows = db.session.execute(
        select(Article, Ticket)
        .join(Ticket, Ticket.id == Article.ticket_id)
        .where(*base, Article.created_at <= now - retry_after(), Article.message_id.is_not(None))
        .order_by(Article.id)
    ).all()
    return [
        AckJob(
            ticket=TicketView(ticket.number, ticket.subject),
            language=_language(ticket),
            sender=_from_header(ticket),
            recipient=ack.to_addrs or "",
            subject=ack.subject or tagged_subject(ticket, None),
            message_id=ack.message_id,
            in_reply_to=ack.in_reply_to,
            references=ack.references,
        )
        for ack, ticket in rows
        if ack.message_id not in skip
    ]


def send_acknowledgement(ticket: Ticket, article: Article, *, now: datetime | None = None) -> bool:
    """Acknowledge a new, committed ticket right away; True if the mail went out.

    The acknowledgement article and its AutoReply row are added to the session (the caller
    commits). A refusal or an SMTP failure is logged and returns False, never raises.
    """
    job = queue_acknowledgement(ticket, article, now=now)
    if job is None:
        return False
    return record_results(deliver([job]), now=now) == 1


