"""Visits as iCalendar (RFC 5545): an agent's feed for their calendar program, and the invitation
mailed to the client's contact when a visit is confirmed or moved.

A visit is an all-day event on its planned date (visits are agreed by day, not by hour); its UID is
stable, and its SEQUENCE grows with every change, so a calendar program updates the event it
already has instead of adding a second one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from icalendar import Calendar, Event, vCalAddress, vText
from sqlalchemy import func, select

from ..extensions import db
from ..models import AuditLog, Visit, VisitStatus
from ..notifications.once import primary_contact_emails, send_once

PRODID = "-//helpdesk//visits//EN"


def _uid(visit: Visit) -> str:
    host = (current_app.config.get("PUBLIC_URL") or "helpdesk.invalid").split("//")[-1]
    return f"visit-{visit.id}@{host.strip('/').split('/')[0]}"


def _sequence(visit: Visit) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditLog).where(
            AuditLog.entity_type == "visits", AuditLog.entity_id == visit.id,
            AuditLog.action == "update")
    ) or 0


def visit_event(visit: Visit, *, now: datetime | None = None) -> Event:
    event = Event()
    event.add("uid", _uid(visit))
    event.add("dtstamp", now or datetime.now(UTC))
    event.add("dtstart", visit.planned_date)
    event.add("dtend", visit.planned_date + timedelta(days=1))
    event.add("sequence", _sequence(visit))
    event.add("summary", _("On-site visit: %(client)s", client=visit.client.name))
    minutes = visit.duration_minutes or current_app.config["VISIT_DEFAULT_MINUTES"]
    lines = [_("Visit %(n)s of the contract year.", n=visit.sequence),
             _("Planned length: %(h)s:%(m)02d.", h=minutes // 60, m=minutes % 60)]
    if visit.notes:
        lines.append(visit.notes)
    event.add("description", "\n".join(lines))
    event.add("status", {
        VisitStatus.PROPOSED: "TENTATIVE", VisitStatus.CONFIRMED: "CONFIRMED",
        VisitStatus.DONE: "CONFIRMED", VisitStatus.CANCELLED: "CANCELLED",
    }[VisitStatus(visit.status)])
    event.add("transp", "OPAQUE")
    return event


def _calendar(name: str, method: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    if method:
        cal.add("method", method)
    return cal


def agent_feed(agent_id: int, agent_name: str, *, since_days: int = 90) -> bytes:
    """The agent's visits from ``since_days`` ago on (cancelled ones say so, then drop out)."""
    since = datetime.now(UTC).date() - timedelta(days=since_days)
    visits = db.session.scalars(
        select(Visit).where(Visit.agent_id == agent_id, Visit.planned_date >= since)
        .order_by(Visit.planned_date, Visit.id)
    ).all()
    cal = _calendar(_("Visits of %(name)s", name=agent_name))
    now = datetime.now(UTC)
    for visit in visits:
        cal.add_component(visit_event(visit, now=now))
    return cal.to_ical()


def invitation(visit: Visit, attendees: list[str]) -> bytes:
    cal = _calendar(_("On-site visit"), method="REQUEST")
    event = visit_event(visit)
    organizer = vCalAddress(f"mailto:{current_app.config['VENDOR_EMAIL']}")
    organizer.params["cn"] = vText(current_app.config["VENDOR_NAME"])
    event.add("organizer", organizer)
    for address in attendees:
        attendee = vCalAddress(f"mailto:{address}")
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=0)
    cal.add_component(event)
    return cal.to_ical()


def send_invitation(visit: Visit) -> bool:
    """Mail the visit's .ics to the client's primary contact(s), once per version of the visit
    (a moved visit is a new version: the contact's calendar updates its event)."""
    client = visit.client
    to = primary_contact_emails(client)
    if not to:
        return False
    sequence = _sequence(visit)
    with force_locale(client.language):
        ics = invitation(visit, to)
        subject = _("On-site visit on %(date)s", date=visit.planned_date.isoformat())
        body = _(
            "Dear %(client)s,\n\nour on-site visit is planned for %(date)s. The attached "
            "invitation adds it to your calendar; a later change is sent the same way.\n\n"
            "%(vendor)s",
            client=client.name, date=visit.planned_date.isoformat(),
            vendor=current_app.config["VENDOR_NAME"],
        )
    return send_once(
        f"visit-invitation:{visit.id}:{sequence}", to, subject, body,
        attachments=[("visit.ics", "text/calendar; method=REQUEST; charset=utf-8", ics)],
    )
