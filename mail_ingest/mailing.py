"""What every mail we send shares: our addresses and Message-IDs, threading headers written
plain (never RFC 2047-encoded), the SMTP connection with its timeout (``MAIL_TIMEOUT``), the
client's language and the stored files attached."""

from __future__ import annotations

import email.charset
import email.header
import email.policy
import secrets
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formataddr, getaddresses, parseaddr
from typing import Any

import flask_mail
from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import (
    Article,
    Client,
    Direction,
    Ticket,
)
from helpdesk.tickets.attachments import read_bytes
from mail_ingest.config import queue_addresses
from mail_ingest.msgid import make_message_id

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
class _Compat32(email.policy.Compat32):
    """compat32, writing a header that fits on its lines as it is: the generator otherwise builds
    an ``email.header.Header`` for every header of every mail to find it needs no folding."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii():
            lines = value.replace("\r\n", "\n").split("\n")
            limit = self.max_line_length or 998
            if (
                "\r" not in value
                and len(name) + 2 + len(lines[0]) <= limit
                and all(len(line) <= limit and line[:1] in (" ", "\t") for line in lines[1:])
            ):  # one line, or folded already (an encoded subject): as it is, with our line ends
                return f"{name}: {self.linesep.join(lines)}{self.linesep}"
        return super()._fold(name, value, sanitize)


#: UTF-8 with base64 ("B") encoded words in headers: Flask-Mail makes the email package try both
#: encodings for every header and keep the shorter, weighing each character in Python.
_UTF8_B = email.charset.Charset("utf-8")
_UTF8_B.header_encoding = email.charset.BASE64


def encoded_header(value: str, name: str) -> str:
    """``value`` as it goes into a header: unchanged when ASCII, else RFC 2047 base64 encoded
    words folded with CRLF."""
    if value.isascii():
        return value
    return email.header.Header(value, _UTF8_B, header_name=name).encode(linesep="\r\n")


SMTP_COMPAT32 = _Compat32(linesep="\r\n")

def _set_boundaries(msg: Any) -> None:
    """Give each multipart a random boundary that no part's text contains, found with a plain
    substring test: the generator would compile a new regular expression for each boundary it
    makes up (and so push everything else out of the ``re`` module's cache)."""
    parts = list(msg.walk())
    texts = [p.get_payload() for p in parts if not p.is_multipart()]
    if not all(isinstance(text, str) for text in texts):
        return
    for part in parts:
        if part.is_multipart() and part.get_boundary() is None:
            boundary = f"=_{secrets.token_hex(16)}"
            if not any(boundary in text for text in texts):
                part.set_boundary(boundary)


class PlainThreadingMessage(flask_mail.Message):
    """Flask-Mail's message with Message-ID, In-Reply-To and References kept plain."""

    #: The policy the mail is written with (None: Flask-Mail's ``policy.SMTP``).
    write_policy: Any = None

    def _message(self):  # type: ignore[no-untyped-def]
        msg = super()._message()
        if self.write_policy is not None:
            msg.policy = self.write_policy
        _set_boundaries(msg)
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


