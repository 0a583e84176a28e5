"""Staff open a ticket for a client: a phone call, a remote session, a walk-in with no email.

The console's "New ticket" page calls :func:`open_for_client`; the ticket gets the client's SLA
targets and reserved priority from :func:`~helpdesk.tickets.services.create_ticket`, and what the
caller said becomes the first message of the thread.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..models import Channel, Client, Contact, Direction, Priority, Ticket, User
from .services import add_article, create_ticket

#: How a staff member may say the client reached us (mail comes in through ingest).
STAFF_CHANNELS = (Channel.PHONE, Channel.REMOTE, Channel.EMAIL)


class OpeningError(ValueError):
    """The ticket cannot be opened as asked; ``field`` names the input that is wrong."""

    def __init__(self, field: str, message) -> None:
        super().__init__(str(message))
        self.field = field
        self.message = message


def open_for_client(
    user: User,
    *,
    client: Client,
    contact: Contact | None,
    subject: str,
    description: str,
    channel: str = Channel.PHONE,
    priority: str = Priority.NORMAL,
    assignee_id: int | None = None,
) -> Ticket:
    """A new ticket of ``client`` opened by ``user`` (staff), with the description as its first
    message from the contact. Flushes; the caller commits."""
    if client.archived_at is not None:
        raise OpeningError("client", _l("%(name)s is archived: it takes no new tickets.",
                                         name=client.name))
    if contact is not None and contact.client_id != client.id:
        raise OpeningError("contact", _l("This person is not a contact of %(name)s.",
                                         name=client.name))
    if channel not in {c.value for c in STAFF_CHANNELS}:
        raise OpeningError("channel", _l("Choose how the client reached us."))
    if priority not in Priority.values():
        raise OpeningError("priority", _l("Choose a priority."))
    subject = (subject or "").strip()
    description = (description or "").strip()
    if not subject:
        raise OpeningError("subject", _l("Write a subject."))
    if not description:
        raise OpeningError("description", _l("Write what the client asked for."))
    email = contact.email if contact is not None else None
    ticket = create_ticket(
        subject=subject,
        client_id=client.id,
        contact_id=contact.id if contact is not None else None,
        channel=channel,
        priority=priority,
        requester_email=email,
        requester_name=contact.name if contact is not None else None,
        assignee_id=assignee_id,
        user=user,
    )
    add_article(
        ticket,
        direction=Direction.IN,
        channel=channel,
        body_text=description,
        author=user,
        contact_id=contact.id if contact is not None else None,
        from_addr=email,
        subject=subject,
    )
    return ticket
