"""Escalation in levels, after the SLA sweep has recorded warnings and breaches:

1. a warning (``SLA_WARNING_FRACTION`` of a target) goes to the assignee (the sweep's own mail);
2. a breach goes to the team lead (``ESCALATION_TEAM_LEADS``; none set: every active admin);
3. a breach still unmet ``ESCALATION_MANAGER_AFTER_HOURS`` business hours later goes to the
   client's account manager.

Each level's mail is sent once per ticket and target (``sent_notifications``), in the recipient's
language, with an absolute link; :func:`ticket_escalations` lists what was sent for the ticket page.
The job runs every minute right after the sweep; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..i18n import language_for
from ..models import OPEN_STATUSES, Client, Role, SentNotification, Ticket, TicketStatus, User
from ..notifications.once import send_once
from ..sla.service import ticket_calendar

LEVEL_LEAD = 2
LEVEL_MANAGER = 3
TARGETS = ("first_response", "resolution")


@dataclass
class EscalationReport:
    lead_mails: int = 0
    manager_mails: int = 0

    def summary(self) -> str:
        return f"{self.lead_mails} team-lead and {self.manager_mails} account-manager escalation(s)"


def team_leads() -> list[User]:
    emails = [e.lower() for e in current_app.config.get("ESCALATION_TEAM_LEADS") or []]
    stmt = select(User).where(User.active.is_(True))
    stmt = stmt.where(User.email.in_(emails)) if emails else stmt.where(User.role == Role.ADMIN)
    return [u for u in db.session.scalars(stmt.order_by(User.id)) if u.is_staff]


def _key(ticket: Ticket, target: str, level: int) -> str:
    return f"sla-escalation:{ticket.id}:{target}:{level}"


def _unmet(ticket: Ticket, target: str) -> datetime | None:
    """The breach instant of a target that is still not met, else None."""
    if target == "first_response":
        return ticket.first_response_breached_at if ticket.first_response_at is None else None
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return None
    return ticket.resolution_breached_at


def _link(number: int) -> str:
    from ..auth.accounts import external_url

    return external_url("agent.ticket", number=number)


def _mail(ticket: Ticket, target: str, level: int, person: User, breached_at: datetime) -> bool:
    language = language_for(person)
    zone = ZoneInfo(person.timezone or current_app.config["TIMEZONE"])
    with force_locale(language):
        what = (gettext("first response") if target == "first_response"
                else gettext("resolution"))
        when = format_datetime(breached_at, "EEE d MMM y HH:mm", tzinfo=zone, locale=language)
        client = ticket.client.name if ticket.client else gettext("unknown sender")
        if level == LEVEL_LEAD:
            subject = gettext("%(tag)s escalated to the team lead: %(target)s missed",
                              tag=ticket.tag, target=what)
            lead = gettext("The %(target)s target of this ticket was missed at %(when)s.",
                           target=what, when=when)
        else:
            subject = gettext("%(tag)s escalated to you: %(client)s waits since %(when)s",
                              tag=ticket.tag, client=client, when=when)
            lead = gettext(
                "The %(target)s target was missed at %(when)s and is still not met "
                "%(hours)s business hours later.", target=what, when=when,
                hours=current_app.config["ESCALATION_MANAGER_AFTER_HOURS"])
        body = "\n".join([
            lead, "",
            f"{ticket.tag} {ticket.subject}",
            gettext("Client: %(client)s", client=client),
            gettext("Assignee: %(name)s",
                    name=ticket.assignee.name if ticket.assignee else gettext("nobody")),
            "", _link(ticket.number),
        ])
    return send_once(f"{_key(ticket, target, level)}:{person.id}", [person.email], subject, body)


def escalate(now: datetime) -> EscalationReport:
    """Send the due level-2 and level-3 escalations at ``now``; each once."""
    report = EscalationReport()
    after_minutes = int(current_app.config["ESCALATION_MANAGER_AFTER_HOURS"]) * 60
    leads = team_leads()
    tickets = db.session.scalars(
        select(Ticket)
        .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]),
               or_(Ticket.first_response_breached_at.is_not(None),
                   Ticket.resolution_breached_at.is_not(None)))
        .options(joinedload(Ticket.client).joinedload(Client.account_manager),
                 joinedload(Ticket.assignee))
        .order_by(Ticket.id)
    ).unique()
    for ticket in tickets:
        for target in TARGETS:
            breached = _unmet(ticket, target)
            if breached is None or breached > now:
                continue
            for person in leads:
                if _mail(ticket, target, LEVEL_LEAD, person, breached):
                    report.lead_mails += 1
            manager = ticket.client.account_manager if ticket.client else None
            if manager is None or not manager.active:
                continue
            waited = ticket_calendar(ticket).business_minutes_between(breached, now)
            if waited >= after_minutes and _mail(ticket, target, LEVEL_MANAGER, manager,
                                                 breached):
                report.manager_mails += 1
    db.session.flush()
    return report


@dataclass(frozen=True)
class EscalationShown:
    level: int
    target: str
    sent_at: datetime
    recipients: str


def ticket_escalations(ticket: Ticket) -> list[EscalationShown]:
    """The SLA mails sent about a ticket, by level (1: the sweep's warning/breach mails)."""
    rows = db.session.execute(
        select(SentNotification.key, SentNotification.sent_at, SentNotification.recipients)
        .where(or_(SentNotification.key.like(f"sla-escalation:{ticket.id}:%"),
                   SentNotification.key.like(f"sla:{ticket.id}:%")))
        .order_by(SentNotification.sent_at, SentNotification.id)
    ).all()
    shown = []
    for key, sent_at, recipients in rows:
        parts = key.split(":")
        if parts[0] == "sla":
            shown.append(EscalationShown(1, parts[2], sent_at, recipients or ""))
        else:
            shown.append(EscalationShown(int(parts[3]), parts[2], sent_at, recipients or ""))
    return shown
