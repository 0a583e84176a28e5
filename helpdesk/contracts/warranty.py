"""The product warranty: warranty-defect tickets, and the maintenance-contract offer before it ends.

* A ticket of a client whose product is under warranty (``Client.warranty_until`` on or after the
  client's today) can be marked as a warranty defect by an agent or account manager; its work up
  to the warranty's last day is then not billed (see :mod:`helpdesk.accounting.monthly`). Unmarking
  needs a reason; both are audited.
* ``WARRANTY_OFFER_DAYS`` (30) days before the warranty's last day, the client's primary contacts
  and its account manager get the offer of a maintenance contract, once, in the client's language
  (a client that already has an active contract for the day after the warranty gets none).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale, format_date, gettext
from sqlalchemy import select

from ..audit_log.record import record, snapshot
from ..extensions import db
from ..models import Client, ContractStatus, Role, Ticket, User, utcnow
from ..notifications.once import client_recipients, send_once
from .services import active_contract

MARKING_ROLES = (Role.ADMIN, Role.AGENT, Role.ACCOUNT_MANAGER)


class WarrantyError(ValueError):
    """A warranty marking that cannot be made; the message is for the user."""


def client_today(client: Client, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(client.timezone)).date()


def under_warranty(client: Client | None, day: date) -> bool:
    return client is not None and client.warranty_until is not None and day <= client.warranty_until


def set_warranty_defect(ticket: Ticket, defect: bool, *, user: User, reason: str = "",
                        now: datetime | None = None) -> Ticket:
    """Mark (``defect=True``) or unmark a ticket as a warranty defect."""
    if user.role not in MARKING_ROLES:
        raise WarrantyError(gettext("Only agents and account managers mark warranty defects."))
    client = db.session.get(Client, ticket.client_id) if ticket.client_id else None
    reason = (reason or "").strip()
    if defect:
        if ticket.warranty_defect:
            raise WarrantyError(gettext("The ticket is already marked as a warranty defect."))
        if client is None or not under_warranty(client, client_today(client, now)):
            raise WarrantyError(gettext("The client's product is not under warranty."))
    else:
        if not ticket.warranty_defect:
            raise WarrantyError(gettext("The ticket is not marked as a warranty defect."))
        if not reason:
            raise WarrantyError(gettext("Say why it is not a warranty defect."))
    if len(reason) > 500:
        raise WarrantyError(gettext("The reason is at most 500 characters."))
    before = snapshot(ticket, ("warranty_defect",))
    ticket.warranty_defect = defect
    db.session.flush()
    record(ticket, "warranty_mark" if defect else "warranty_unmark", user=user,
           before=before, after={"warranty_defect": defect, "reason": reason or None})
    return ticket


def send_warranty_offers(now: datetime) -> int:
    """The maintenance-contract offer, ``WARRANTY_OFFER_DAYS`` before each warranty's end."""
    days = int(current_app.config["WARRANTY_OFFER_DAYS"])
    horizon = now.date() + timedelta(days=days + 1)
    clients = db.session.scalars(
        select(Client)
        .where(Client.warranty_until.is_not(None), Client.warranty_until <= horizon,
               Client.warranty_until >= now.date() - timedelta(days=1))
        .order_by(Client.id)
    ).all()
    sent = 0
    for client in clients:
        if getattr(client, "archived_at", None) is not None:
            continue
        today = client_today(client, now)
        left = (client.warranty_until - today).days
        if left < 0 or left > days:
            continue
        after = active_contract(client.id, client.warranty_until + timedelta(days=1))
        if after is not None and after.status == ContractStatus.ACTIVE:
            continue
        key = f"warranty-offer:{client.id}:{client.warranty_until.isoformat()}"
        with force_locale(client.language):
            subject, body = _offer_text(client)
        sent += send_once(key, client_recipients(client), subject, body)
    return sent


def _offer_text(client: Client) -> tuple[str, str]:
    manager = client.account_manager
    end = format_date(client.warranty_until, "long")
    subject = gettext("Your product warranty ends on %(date)s", date=end)
    body = gettext(
        "Dear %(client)s,\n\nthe warranty of your product ends on %(end)s. After that, "
        "support and repairs are billed per hour unless you have a maintenance contract.\n\n"
        "With a maintenance contract you keep reserved priority for your tickets, a monthly "
        "allowance of support hours and on-site visits. %(manager)s, your account manager, "
        "will gladly send you an offer: just reply to this message.\n\n%(vendor)s",
        client=client.name,
        end=end,
        manager=manager.name if manager else current_app.config["VENDOR_NAME"],
        vendor=current_app.config["VENDOR_NAME"],
    )
    return subject, body
