"""Mail we send about tickets: agent replies and the acknowledgement of a new ticket.

Every mail carries the ticket tag in its subject, a Message-ID of ours that names the ticket
with an HMAC of its number (``<ticket-1234-<mac>.article-77.<random>@our-domain>``, see
:mod:`mail_ingest.msgid`) and In-Reply-To/References built from the thread, so the answer comes
back to the same ticket even if a mail client drops one of them. Those three headers are
written as plain msg-id lists, folded between ids, never RFC 2047-encoded (mail programs could
not thread an encoded one), however long an id is.
Sending goes through Flask-Mail over SMTP (``MAIL_*`` settings) with a socket timeout
(``MAIL_TIMEOUT``, seconds), so a hanging server cannot hang a request or the ingest loop.

Acknowledgements follow RFC 3834: ``Auto-Submitted: auto-replied``, never to an automatic mail
or to one of our own addresses, and at most ``AUTO_REPLY_LIMIT_PER_HOUR`` per recipient, so two
auto-responders cannot keep answering each other.
"""

from __future__ import annotations

import email.policy
import logging
import multiprocessing
import multiprocessing.util
import os
import queue
import smtplib
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any

import flask_mail
from flask import Flask, current_app, render_template
from flask_babel import force_locale, lazy_gettext
from sqlalchemy import bindparam, func, select

from helpdesk.extensions import db
from helpdesk.models import (
    Article,
    AutoReply,
    Channel,
    Client,
    Direction,
    SendStatus,
    Ticket,
    utcnow,
)
from helpdesk.tickets.attachments import read_bytes
from mail_ingest.ackjournal import (  # noqa: F401 - forget_applied_journal: for ingest
    apply_journal,
    forget_applied_journal,
    journal_path,
    journal_sent,
    sync_journal,
)
from mail_ingest.config import own_addresses, queue_addresses
from mail_ingest.msgid import make_message_id

log = logging.getLogger(__name__)

#: Headers of every acknowledgement (RFC 3834; the second one is Exchange's dialect).
ACK_HEADERS = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
#: Subject of an acknowledgement (formatted with the ticket's tag and subject).
ACK_SUBJECT = lazy_gettext("Ticket %(tag)s received: %(subject)s")
#: References kept in a long thread: the first message and the latest ones (RFC 5322 3.6.4).
MAX_REFERENCES = 20
_ERROR_MAX = 2000


# -- addresses and identifiers ------------------------------------------------------------------


def _address_of(value: object) -> str:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return str(value[1])
    return parseaddr(str(value or ""))[1]


def sender_address(ticket: Ticket | None = None) -> str:
    """The address mail about ``ticket`` comes from: its queue's mailbox, else the default."""
    cfg = current_app.config
    if ticket is not None:
        address = queue_addresses(cfg).get(ticket.queue or "")
        if address:
            return address
    return _address_of(cfg.get("MAIL_DEFAULT_SENDER")) or str(cfg.get("VENDOR_EMAIL") or "")


def message_id_domain() -> str:
    """The right-hand side of our Message-IDs (``MAIL_MESSAGE_ID_DOMAIN``, else our address's)."""
    cfg = current_app.config
    domain = cfg.get("MAIL_MESSAGE_ID_DOMAIN") or sender_address().rpartition("@")[2]
    return str(domain or cfg.get("SERVER_NAME") or "helpdesk.invalid").lower()


def new_message_id(ticket: Ticket, article: Article | None = None, kind: str = "ack") -> str:
    """A fresh Message-ID of ours that names the ticket (and the article, once it has an id)."""
    part = f"article-{article.id}" if article is not None and article.id else kind
    return make_message_id(ticket.number, part, message_id_domain(), _secret())


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


# -- plain threading headers --------------------------------------------------------------------

#: Headers holding msg-id lists: written as they are, folded between ids, never encoded.
ID_HEADERS = ("Message-ID", "In-Reply-To", "References")


class _PlainIds:
    """A header value the email generator writes verbatim: msg-ids folded between ids (a line
    may exceed 78 characters when one id does: RFC 5322 allows 998, and an encoded-word would
    break threading)."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.ids = value.split()

    def fold(self, *, policy: Any) -> str:
        """The whole header line(s), for an ``email.policy.EmailPolicy``."""
        return f"{self.name}:{self._folded(len(self.name) + 1, policy.linesep)}{policy.linesep}"

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None, **_: Any) -> str:
        """The value after ``Name: ``, for ``compat32`` (which asks headers to encode)."""
        return self._folded(len(self.name) + 1, linesep)[1:]

    def _folded(self, used: int, linesep: str) -> str:
        lines = [""]
        width = used
        for mid in self.ids:
            if width + 1 + len(mid) > 78 and lines[-1]:
                lines.append("")
                width = 0
            lines[-1] += f" {mid}"
            width += 1 + len(mid)
        return linesep.join(lines)

    def __str__(self) -> str:
        return " ".join(self.ids)


#: How acknowledgements are written out: compat32 with CRLF. Flask-Mail builds every part and
#: header the compat32 way (headers encoded already) and then sets ``policy.SMTP``, which parses
#: each header again to fold it, at twice the cost of the whole mail; an acknowledgement (no
#: attachments, a few headers) needs none of its niceties, and ingest sends one per new ticket.
SMTP_COMPAT32 = email.policy.compat32.clone(linesep="\r\n")


class PlainThreadingMessage(flask_mail.Message):
    """Flask-Mail's message with Message-ID, In-Reply-To and References kept plain."""

    #: The policy the mail is written with (None: Flask-Mail's ``policy.SMTP``).
    write_policy: Any = None

    def _message(self):  # type: ignore[no-untyped-def]
        msg = super()._message()
        if self.write_policy is not None:
            msg.policy = self.write_policy
        for name in ID_HEADERS:
            value = msg.get(name)
            if value is None:
                continue
            raw = str(value)
            del msg[name]
            msg._headers.append((name, _PlainIds(name, raw)))
        return msg


def tagged_subject(ticket: Ticket, subject: str | None) -> str:
    """The subject with the ticket tag ``[#1234]`` in front, unless it is there already."""
    subject = " ".join((subject or ticket.subject or "").split())
    return subject if ticket.tag in subject else f"{ticket.tag} {subject}".strip()


def _split_addresses(value: str | None) -> list[str]:
    return [addr for _, addr in getaddresses([value or ""]) if "@" in addr]


def _recipients(article: Article, ticket: Ticket) -> list[str]:
    """The article's To, else the requester, else the ticket's contact."""
    found = _split_addresses(article.to_addrs)
    if not found and ticket.requester_email:
        found = [ticket.requester_email]
    if not found and ticket.contact is not None and ticket.contact.email:
        found = [ticket.contact.email]
    return found


def thread_headers(ticket: Ticket, before_article_id: int | None = None) -> tuple[str | None, str]:
    """(In-Reply-To, References) for a new mail on the ticket: the latest mail from the client,
    and the thread's Message-IDs (the first one and the latest ones), oldest first; only mail
    older than ``before_article_id`` counts when it is given."""
    query = (
        select(Article.message_id, Article.direction)
        .where(
            Article.ticket_id == ticket.id,
            Article.internal.is_(False),
            Article.message_id.is_not(None),
        )
        .order_by(Article.created_at, Article.id)
    )
    if before_article_id is not None:
        query = query.where(Article.id < before_article_id)
    rows = db.session.execute(query).all()
    ids = [mid for mid, _ in rows]
    incoming = [mid for mid, direction in rows if direction == Direction.IN]
    in_reply_to = incoming[-1] if incoming else (ids[-1] if ids else None)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return in_reply_to, " ".join(ids)


def _language(ticket: Ticket) -> str:
    client = db.session.get(Client, ticket.client_id) if ticket.client_id else None
    return (client.language if client else None) or current_app.config["DEFAULT_LANGUAGE"]


def _from_header(ticket: Ticket) -> str:
    return formataddr((str(current_app.config.get("VENDOR_NAME") or ""), sender_address(ticket)))


# -- SMTP ---------------------------------------------------------------------------------------


class _TimedConnection(flask_mail.Connection):
    """Flask-Mail's connection, opened with a socket timeout."""

    def configure_host(self) -> smtplib.SMTP:
        state = self.mail
        timeout = float(current_app.config.get("MAIL_TIMEOUT", 30))
        smtp_class = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        host = smtp_class(state.server, state.port, timeout=timeout)
        try:
            if state.use_tls:
                host.starttls()
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host


@contextmanager
def smtp_connection() -> Iterator[flask_mail.Connection]:
    """One SMTP session for several mails (nothing is opened when MAIL_SUPPRESS_SEND is on)."""
    connection = _TimedConnection(current_app.extensions["mail"])
    connection.host = None if connection.mail.suppress else connection.configure_host()
    try:
        yield connection
    finally:
        if connection.host is not None:
            try:
                connection.host.quit()
            except (smtplib.SMTPException, OSError):
                connection.host.close()


def _send(message: flask_mail.Message, connection: flask_mail.Connection | None) -> None:
    if connection is not None:
        connection.send(message)
        return
    with smtp_connection() as own:
        own.send(message)


def _attachments(article: Article) -> list[flask_mail.Attachment]:
    """The article's stored files (dropped ones are not attached), inline ones with Content-ID."""
    files = []
    for att in article.attachments:
        if att.sha256 is None:
            continue
        headers = {"Content-ID": f"<{att.content_id}>"} if att.inline and att.content_id else {}
        files.append(
            flask_mail.Attachment(
                filename=att.filename,
                content_type=att.content_type,
                data=read_bytes(att.sha256),
                disposition="inline" if att.inline else "attachment",
                headers=headers,
            )
        )
    return files


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


# -- acknowledgements ---------------------------------------------------------------------------
#
# The acknowledgement of a new ticket is written in the ticket's own transaction as a queued
# automatic article (an outbox), together with its AutoReply row (the rate limit counts it from
# then on). After the commit it is rendered and mailed. The moment the SMTP server accepts it,
# its Message-ID is appended to the sent journal (mail_ingest.ackjournal), so a crash after that
# cannot send it again; the article is marked sent from the results (or the journal, after a
# crash).
# One still queued (crash before sending, SMTP outage) is sent again by a later pass once it is
# INGEST_ACK_RETRY_SECONDS old, and again on every pass until the queue drains; only a
# permanent refusal (5xx) marks it failed.

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
        subject=job.subject,
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


class AcknowledgementSender:
    """Mails acknowledgements in the background, so waiting on SMTP does not hold up ingest:
    from a thread, or, for a big pass, in a mailer process (:func:`mailer_process`), where
    rendering and encoding the mails do not compete with storing tickets for this process's
    interpreter lock. Outcomes are collected with :meth:`results` and written with
    :func:`record_results`."""

    def __init__(self, app: Flask, mailer: Executor | None = None) -> None:
        self._app = app
        self._mailer = mailer
        self._futures: list[tuple[list[AckJob], Future[list[AckResult]]]] = []
        self._jobs: queue.SimpleQueue[AckJob | None] = queue.SimpleQueue()
        self._results: list[AckResult] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Message-IDs of acknowledgements handed over and not yet reported back.
        self.pending: set[str] = set()

    def submit(self, jobs: Iterable[AckJob]) -> None:
        """Hand committed acknowledgements over for mailing."""
        jobs = list(jobs)
        if not jobs:
            return
        with self._lock:
            self.pending.update(job.message_id for job in jobs)
        if self._mailer is not None:
            self._futures.append((jobs, self._mailer.submit(_deliver_in_mailer, jobs)))
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ack-sender", daemon=True)
            self._thread.start()
        for job in jobs:
            self._jobs.put(job)

    def results(self, *, wait: bool = False) -> list[AckResult]:
        """The outcomes reported since the last call (``wait``: for everything submitted)."""
        still_running = []
        for jobs, future in self._futures:
            if not (wait or future.done()):
                still_running.append((jobs, future))
                continue
            try:
                found = future.result()
            except Exception as exc:  # noqa: BLE001 - the mailer process died: try again later
                log.warning("the mailer process failed: %s", exc)
                found = [
                    AckResult(j.message_id, sent=False, retry=True, error=str(exc)) for j in jobs
                ]
            with self._lock:
                self._results.extend(found)
        self._futures = still_running
        with self._lock:
            found, self._results = self._results, []
            for result in found:
                self.pending.discard(result.message_id)
        return found

    def close(self) -> list[AckResult]:
        """Wait until everything submitted has been tried; returns the outstanding results."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        return self.results(wait=True)

    def _run(self) -> None:
        with self._app.app_context():
            session = _Session()
            try:
                while (job := self._jobs.get()) is not None:
                    result = _deliver_one(job, session)
                    if self._jobs.empty():  # a run of mailing ends: its journal to disk
                        sync_journal(journal_path())
                    with self._lock:
                        self._results.append(result)
            finally:
                sync_journal(journal_path())
                session.close()


# -- the mailer process -------------------------------------------------------------------------

_mailer_app: Flask | None = None
_mailer_session: _Session | None = None


def mailer_process(app: Flask) -> Executor:
    """A process that renders and mails acknowledgements for a big ingest pass (it builds its
    own app from this app's settings; its SMTP session stays open between batches)."""
    context = multiprocessing.get_context("spawn")
    settings = dict(app.config)
    with app.app_context():
        settings["INGEST_ACK_JOURNAL"] = journal_path()
    return ProcessPoolExecutor(
        1,
        mp_context=context,
        initializer=_start_mailer,
        initargs=(settings, os.getpid()),
    )


def _start_mailer(settings: dict[str, Any], parent_pid: int) -> None:
    global _mailer_app, _mailer_session
    from helpdesk import create_app
    from mail_ingest.lifecycle import die_with_parent

    die_with_parent(parent_pid)
    _mailer_app = create_app(settings)
    _mailer_session = _Session()
    multiprocessing.util.Finalize(None, _mailer_session.close, exitpriority=10)  # at exit: QUIT


def _deliver_in_mailer(jobs: list[AckJob]) -> list[AckResult]:
    assert _mailer_app is not None and _mailer_session is not None
    _mailer_session.broken = False  # an outage is judged afresh for every batch
    with _mailer_app.app_context():
        try:
            return [_deliver_one(job, _mailer_session) for job in jobs]
        finally:
            sync_journal(journal_path())
