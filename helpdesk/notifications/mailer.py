"""The notifications job: every minute, one mail per person and ticket for what is pending.

Items waiting to be mailed are grouped by (person, ticket): a burst of client replies on one
ticket is one mail. Each mail goes through :func:`helpdesk.notifications.once.send_once` with a key naming
the newest item of the group, and the items are marked mailed in the same transaction; a mail
that could not be sent leaves them pending for the next run. The caller (job, CLI) commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, url_for
from flask_babel import force_locale, gettext
from sqlalchemy import select

from ..extensions import db
from ..i18n import language_for
from ..models import Ticket, User, utcnow
from .models import StaffNotification
from .once import send_once
from .texts import describe

log = logging.getLogger(__name__)


def absolute_url(endpoint: str, **values) -> str:
    """A link for mail: on HELPDESK_PUBLIC_URL when set, never on a Host header we were sent."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        with current_app.test_request_context("/"):
            path = url_for(endpoint, **values)
        return base.rstrip("/") + path
    try:
        return url_for(endpoint, _external=True, **values)
    except RuntimeError:
        with current_app.test_request_context("/"):
            return url_for(endpoint, _external=True, **values)


def ticket_url(number: int) -> str:
    return absolute_url("agent.ticket", number=number)


@dataclass
class MailReport:
    mails_sent: int = 0
    items: int = 0
    failed: int = 0

    def summary(self) -> str:
        return f"{self.mails_sent} mail(s) for {self.items} notification(s), {self.failed} failed"


def _line(item: StaffNotification) -> str:
    return describe(item)


def _subject(items: list[StaffNotification], ticket: Ticket | None) -> str:
    tag = ticket.tag if ticket else ""
    if len(items) == 1:
        return f"{tag} {_line(items[0])}".strip()
    return gettext("%(tag)s %(n)d updates", tag=tag, n=len(items)).strip()


def compose(user: User, ticket: Ticket | None, items: list[StaffNotification]) -> tuple[str, str]:
    """(subject, body) in the person's language."""
    with force_locale(language_for(user)):
        lines = [f"- {_line(i)}" for i in items]
        body = "\n".join([
            gettext("Hello %(name)s,", name=user.name), "",
            *( [f"{ticket.tag} {ticket.subject}", ""] if ticket else [] ),
            *lines, "",
            ticket_url(ticket.number) if ticket else absolute_url("agent.notifications"),
            "", gettext("Change what you are told about: %(url)s",
                        url=absolute_url("agent.preferences")),
        ])
        return _subject(items, ticket), body


def send_pending(now: datetime | None = None) -> MailReport:
    """Mail everything pending, one mail per (person, ticket); only flushes."""
    now = now or utcnow()
    report = MailReport()
    stmt = (
        select(StaffNotification)
        .where(StaffNotification.mail_wanted.is_(True), StaffNotification.mailed_at.is_(None))
        .order_by(StaffNotification.user_id, StaffNotification.ticket_id, StaffNotification.id)
        .with_for_update(skip_locked=True)
    )
    groups: dict[tuple[int, int | None], list[StaffNotification]] = {}
    for item in db.session.scalars(stmt):
        groups.setdefault((item.user_id, item.ticket_id), []).append(item)
    for (user_id, ticket_id), items in groups.items():
        user = db.session.get(User, user_id)
        ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
        if user is None or not user.active or not user.email:
            for item in items:
                item.mail_wanted = False
            continue
        subject, body = compose(user, ticket, items)
        key = f"staff:{user_id}:{items[-1].id}"
        if send_once(key, [user.email], subject, body):
            report.mails_sent += 1
        else:
            from .once import already_sent

            if not already_sent(key):
                report.failed += 1
                continue
        for item in items:
            item.mailed_at = now
        report.items += len(items)
    db.session.flush()
    return report
