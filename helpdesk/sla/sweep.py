"""The SLA sweep: record warnings (80 % of a target used) and breaches, and tell people once.

``sweep(now)`` is what the scheduler runs every minute and ``flask sla sweep`` runs by hand. Each
event is written on the ticket with the instant it happened (not the instant the sweep noticed),
so reports count the same whatever the sweep's timing. The assignee gets one email per event
(the team lead and the account manager are the next levels, helpdesk/capacity/escalation.py): the ``sent_notifications`` row with the event's key is inserted
in the same savepoint as the ticket change, so two sweeps running at once cannot both send it, and
a failed send rolls both back for the next sweep to retry. The caller (job, CLI) commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app
from flask_babel import force_locale, gettext
from flask_mail import Message
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db, mail
from ..i18n import language_for
from ..models import Client, SentNotification, Ticket, TicketStatus, User, utcnow
from ..tickets.queues import local_today, refresh_reserved_all
from .service import warning_at, warning_fraction

log = logging.getLogger(__name__)

#: Statuses whose SLA clock runs; pending tickets are paused and cannot become due.
RUNNING = (TicketStatus.NEW.value, TicketStatus.OPEN.value)
#: Statuses whose targets may still need a late event recorded (closed tickets are history).
UNSETTLED = (*RUNNING, TicketStatus.PENDING.value, TicketStatus.RESOLVED.value)
WARNING = "warning"
BREACH = "breach"


@dataclass(frozen=True)
class SlaEvent:
    """A warning or breach found on one target of a ticket."""

    ticket_id: int
    number: int
    #: "first_response" or "resolution".
    target: str
    #: "warning" or "breach".
    kind: str
    #: When it happened: the 80 % instant or the due time.
    at: datetime
    #: Whether the people in charge are told (targets already met are only recorded).
    notify: bool

    @property
    def key(self) -> str:
        """The unique key of its notification (``sent_notifications.key``)."""
        return f"sla:{self.ticket_id}:{self.target}:{self.kind}"


@dataclass
class SweepReport:
    events: list[SlaEvent] = field(default_factory=list)
    mails_sent: int = 0
    mail_failures: int = 0
    reserved_changed: int = 0

    def summary(self) -> str:
        warnings = sum(1 for e in self.events if e.kind == WARNING)
        breaches = sum(1 for e in self.events if e.kind == BREACH)
        return (f"{warnings} warning(s), {breaches} breach(es), {self.mails_sent} mail(s) sent, "
                f"{self.mail_failures} failed, {self.reserved_changed} queue flag(s) updated")


def _candidates() -> list[Ticket]:
    """Tickets with an SLA whose events are not all recorded yet."""
    pending_first = (
        Ticket.first_response_due.is_not(None) & Ticket.first_response_breached_at.is_(None)
    )
    pending_resolution = (
        Ticket.resolution_due.is_not(None) & Ticket.resolution_breached_at.is_(None)
    )
    stmt = (
        select(Ticket)
        .where(Ticket.status.in_(UNSETTLED), Ticket.sla_clock.is_not(None),
               pending_first | pending_resolution)
        .options(
            selectinload(Ticket.pauses),
            joinedload(Ticket.assignee),
            joinedload(Ticket.client).joinedload(Client.account_manager),
        )
        .order_by(Ticket.id)
    )
    return list(db.session.scalars(stmt).unique())


def find_events(ticket: Ticket, now: datetime) -> list[SlaEvent]:
    """Events due on ``ticket`` at ``now`` that its columns do not record yet."""
    events: list[SlaEvent] = []
    running = ticket.status in RUNNING
    resolved_at = ticket.resolved_at if ticket.status == TicketStatus.RESOLVED else None
    for target, minutes, due, met_at, warned, breached in (
        ("first_response", ticket.sla_first_response_minutes, ticket.first_response_due,
         ticket.first_response_at, ticket.first_response_warned_at,
         ticket.first_response_breached_at),
        ("resolution", ticket.sla_resolution_minutes, ticket.resolution_due, resolved_at,
         ticket.resolution_warned_at, ticket.resolution_breached_at),
    ):
        if minutes is None or due is None or breached is not None:
            continue
        if met_at is not None:
            # Met late while nobody swept: record it for the reports, nobody to alert now.
            if met_at > due:
                if warned is None:
                    events.append(SlaEvent(ticket.id, ticket.number, target, WARNING,
                                           warning_at(ticket, minutes, now), notify=False))
                events.append(SlaEvent(ticket.id, ticket.number, target, BREACH, due,
                                       notify=False))
            continue
        if not running:
            continue
        if now > due:
            if warned is None:
                events.append(SlaEvent(ticket.id, ticket.number, target, WARNING,
                                       warning_at(ticket, minutes, now), notify=False))
            events.append(SlaEvent(ticket.id, ticket.number, target, BREACH, due, notify=True))
        elif warned is None:
            warn = warning_at(ticket, minutes, now)
            if now >= warn:
                events.append(SlaEvent(ticket.id, ticket.number, target, WARNING, warn,
                                       notify=True))
    return events


def _record(ticket: Ticket, event: SlaEvent) -> None:
    column = f"{event.target}_{'warned' if event.kind == WARNING else 'breached'}_at"
    setattr(ticket, column, event.at)


def recipients(ticket: Ticket) -> list[User]:
    """The assignee (active staff): the first level of escalation. The team lead and the
    account manager hear of a breach from :mod:`helpdesk.capacity.escalation`."""
    from ..notifications.events import SLA, wants

    people: list[User] = []
    for user in (ticket.assignee,):
        if (user is not None and user.active and user.is_staff and user.email
                and all(p.id != user.id for p in people) and wants(user, SLA)[0]):
            people.append(user)
    return people


def _bell(ticket: Ticket, event: SlaEvent) -> None:
    from ..notifications.events import sla_event

    fraction = warning_fraction() if event.kind == WARNING else None
    for user in (ticket.assignee, ticket.client.account_manager if ticket.client else None):
        if user is not None:
            sla_event(ticket, user, f"{event.ticket_id}:{event.target}:{event.kind}",
                      target=event.target, event=event.kind, fraction=fraction)


def _ticket_link(number: int) -> str:
    from ..notifications.mailer import ticket_url

    return ticket_url(number)


def build_message(ticket: Ticket, event: SlaEvent, user: User) -> Message:
    """The mail to one person, in their language and time zone."""
    language = language_for(user)
    zone = ZoneInfo(user.timezone or current_app.config["TIMEZONE"])
    with force_locale(language):
        target = (gettext("first response") if event.target == "first_response"
                  else gettext("resolution"))
        due = ticket.first_response_due if event.target == "first_response" else (
            ticket.resolution_due)
        when = format_datetime(due, "EEE d MMM y HH:mm", tzinfo=zone, locale=language)
        if event.kind == WARNING:
            subject = gettext("%(tag)s SLA warning: %(target)s due %(when)s",
                              tag=ticket.tag, target=target, when=when)
            lead = gettext("80 %% of the %(target)s time is used; it is due %(when)s.",
                           target=target, when=when)
        else:
            subject = gettext("%(tag)s SLA breached: %(target)s was due %(when)s",
                              tag=ticket.tag, target=target, when=when)
            lead = gettext("The %(target)s target was missed; it was due %(when)s.",
                           target=target, when=when)
        client = ticket.client.name if ticket.client else gettext("unknown sender")
        body = "\n".join([
            lead,
            "",
            f"{ticket.tag} {ticket.subject}",
            gettext("Client: %(client)s", client=client),
            gettext("Priority: %(priority)s", priority=ticket.priority),
            gettext("Assignee: %(name)s",
                    name=ticket.assignee.name if ticket.assignee else gettext("nobody")),
            "",
            _ticket_link(ticket.number),
        ])
    return Message(subject=subject, recipients=[user.email], body=body)


def sweep(now: datetime | None = None, *, notify: bool = True) -> SweepReport:
    """Record due SLA warnings and breaches at ``now`` and notify once per event; only flushes."""
    now = now or utcnow()
    report = SweepReport(reserved_changed=refresh_reserved_all(local_today(now)))
    for ticket in _candidates():
        for event in find_events(ticket, now):
            _apply(ticket, event, report, notify=notify and event.notify)
    db.session.flush()
    return report


def _apply(ticket: Ticket, event: SlaEvent, report: SweepReport, *, notify: bool) -> None:
    """Record one event; mail it inside the same savepoint so a failed send undoes both."""
    people = recipients(ticket) if notify else []
    savepoint = db.session.begin_nested()
    already_sent = False
    if notify:
        try:
            with db.session.begin_nested():
                db.session.add(SentNotification(
                    key=event.key, sent_at=utcnow(),
                    recipients=", ".join(p.email for p in people) or None,
                ))
        except IntegrityError:
            already_sent = True  # another sweep told them: only record the event here
    _record(ticket, event)
    db.session.flush()
    if notify and not already_sent:
        _bell(ticket, event)
        try:
            for person in people:
                mail.send(build_message(ticket, event, person))
                report.mails_sent += 1
        except Exception:  # any mail failure: undo, the next sweep retries
            log.exception("SLA %s mail for ticket #%s failed; will retry", event.kind,
                          ticket.number)
            savepoint.rollback()
            db.session.refresh(ticket)
            report.mail_failures += 1
            return
    savepoint.commit()
    report.events.append(event)
