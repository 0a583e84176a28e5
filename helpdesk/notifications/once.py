"""Notifications sent once per event: the one place that sends reminders and warnings by mail.

``send_once(key, ...)`` records ``key`` in ``SentNotification`` (unique) in the caller's
transaction, inside a savepoint, and sends only if the key was not there yet. A failed send rolls
the savepoint back, so the key stays free and the next run tries again; a concurrent sender of the
same key fails on the unique key and sends nothing. What remains is the unavoidable gap between
handing the mail to the SMTP server and the caller's commit: a crash exactly there sends twice.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable

from flask import current_app
from flask_mail import Message
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db, mail
from ..models import Client, Contact, SentNotification, User

log = logging.getLogger(__name__)

#: Tells auto-responders (and our own mail ingest) not to answer.
AUTO_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}


def already_sent(key: str) -> bool:
    return (
        db.session.scalar(select(SentNotification.id).where(SentNotification.key == key))
        is not None
    )


def send_once(
    key: str,
    recipients: Iterable[str],
    subject: str,
    body: str,
    *,
    html: str | None = None,
    sender: str | None = None,
    attachments: Iterable[tuple[str, str, bytes]] = (),
) -> bool:
    """Send a mail for ``key`` unless it went before; True if it was sent now.

    The caller commits (a job run, a request); without recipients nothing is sent or recorded.
    ``attachments`` are ``(filename, content type, bytes)``, e.g. a calendar invitation.
    """
    if len(key) > 300:
        raise ValueError("notification keys are at most 300 characters")
    to = unique_addresses(recipients)
    if not to or already_sent(key):
        return False
    message = Message(
        subject=subject,
        recipients=to,
        body=body,
        html=html,
        sender=sender or current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers=dict(AUTO_HEADERS),
    )
    for filename, content_type, data in attachments:
        message.attach(filename, content_type, data)
    db.session.flush()  # the caller's pending changes stay outside the savepoint
    try:
        with db.session.begin_nested():
            db.session.add(SentNotification(key=key, recipients=", ".join(to)))
            db.session.flush()
            mail.send(message)
    except IntegrityError:
        log.info("notification %s: sent by someone else meanwhile", key)
        return False
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("notification %s to %s not sent (will retry): %s", key, to, exc)
        return False
    return True


def unique_addresses(addresses: Iterable[str | None]) -> list[str]:
    """Addresses in order, lower-cased, without blanks or repeats."""
    seen: list[str] = []
    for address in addresses:
        address = (address or "").strip().lower()
        if address and address not in seen:
            seen.append(address)
    return seen


def primary_contact_emails(client: Client) -> list[str]:
    """The addresses of the client's primary contacts (who get reminders and reports)."""
    contacts = db.session.scalars(
        select(Contact)
        .where(Contact.client_id == client.id, Contact.is_primary.is_(True))
        .order_by(Contact.id)
    ).all()
    return unique_addresses(c.email for c in contacts)


def account_manager_email(client: Client) -> str | None:
    if client.account_manager_id is None:
        return None
    manager = db.session.get(User, client.account_manager_id)
    return manager.email if manager is not None and manager.active else None


def client_recipients(client: Client) -> list[str]:
    """Primary contact(s) and the account manager: who hears about the client's contract."""
    return unique_addresses([*primary_contact_emails(client), account_manager_email(client)])
