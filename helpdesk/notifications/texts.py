"""The words of a bell item or notification mail, written when they are read.

An item stores its kind and parameters (:attr:`StaffNotification.params`), never a sentence, so
the same item reads in Serbian to one person and in Turkish to another, and a raw send error is
shown in plain words. Everything here uses the active locale: the console's request locale, or
``force_locale`` in the mail job.
"""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_timedelta
from flask_babel import format_percent, get_locale, gettext

from ..models import utcnow
from ..sla.service import warning_fraction
from .events import ASSIGNED, CLIENT_REPLY, MENTION, NEW_TICKET, SEND_FAILED, SLA
from .models import StaffNotification


def _sla(params: dict) -> str:
    breach = params.get("event") == "breach"
    used = format_percent(float(params.get("fraction") or warning_fraction()))
    if params.get("target") == "resolution":
        return (gettext("SLA breached: the resolution target was missed.") if breach
                else gettext("SLA warning: %(used)s of the resolution time is used.", used=used))
    return (gettext("SLA breached: the first response target was missed.") if breach
            else gettext("SLA warning: %(used)s of the first response time is used.", used=used))


def describe(item: StaffNotification) -> str:
    """What happened, as one sentence in the active language."""
    from ..replies.service import plain_reason

    params = item.params or {}
    who = params.get("by") or params.get("from") or ""
    if item.kind == NEW_TICKET:
        queue = params.get("queue") or (item.ticket.queue if item.ticket else "")
        return gettext("New ticket in queue %(queue)s.", queue=queue)
    if item.kind == CLIENT_REPLY:
        return gettext("The client replied (%(who)s).", who=who)
    if item.kind == ASSIGNED:
        if who:
            return gettext("%(who)s assigned the ticket to you.", who=who)
        return gettext("The ticket was assigned to you.")
    if item.kind == MENTION:
        return gettext("%(who)s mentioned you in an internal note.", who=who)
    if item.kind == SLA:
        return _sla(params)
    if item.kind == SEND_FAILED:
        return gettext("Your reply could not be sent: %(why)s",
                       why=plain_reason(params.get("error")))
    return item.kind


def actor(item: StaffNotification) -> str | None:
    """Who did it (a colleague's name, the client's address), when someone did."""
    params = item.params or {}
    return params.get("by") or params.get("from") or None


def ago(moment: datetime, now: datetime | None = None) -> str:
    """"5 minutes ago" in the active language."""
    delta = moment - (now or utcnow())
    return format_timedelta(delta, add_direction=True, threshold=1.0,
                            locale=str(get_locale() or "en"))
