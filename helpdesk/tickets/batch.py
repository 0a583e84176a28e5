"""Many tickets and articles at once, for mail ingest: the same rules as ``create_ticket`` and
``add_article`` (numbers, SLA clocks, reserved priority, audit, reopening), at a fraction of the
statements: numbers reserved in one UPDATE, objects added without flushing (the caller flushes
once for the whole batch), audit rows inserted in one statement after that flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from ..audit import snapshot
from ..contracts import has_active_contract
from ..extensions import db
from ..models import (
    PRIORITY_RANK,
    Article,
    Attachment,
    AuditLog,
    Channel,
    Client,
    Contact,
    Direction,
    Priority,
    Ticket,
    TicketStatus,
)
from .numbers import reserve_numbers
from .services import NewAttachment, _on_customer_message

#: Ticket columns set by the SLA module when a ticket opens (copied between tickets of one
#: client opened at the same instant with the same priority: they get the same clocks).
_CLOCK_FIELDS = (
    "reserved",
    "sla_clock",
    "sla_first_response_minutes",
    "sla_resolution_minutes",
    "first_response_due",
    "resolution_due",
    "sla_next_due",
)


@dataclass
class NewTicket:
    """What a ticket opened by mail needs; ``contact`` may be a contact not flushed yet."""

    subject: str
    client_id: int | None
    contact: Contact | None = None
    contact_id: int | None = None
    channel: str = Channel.EMAIL
    queue: str = "support"
    requester_email: str | None = None
    requester_name: str | None = None
    priority: str = Priority.NORMAL


def open_tickets(specs: list[NewTicket], *, now: datetime) -> list[Ticket]:
    """New tickets (added to the session, not flushed), numbered and with their SLA clocks."""
    from ..sla import service as sla_service

    numbers = reserve_numbers(len(specs))
    clocks: dict[tuple[int | None, str], dict[str, Any]] = {}
    tickets = []
    for spec, number in zip(specs, numbers, strict=True):
        ticket = Ticket(
            number=number,
            subject=(spec.subject or "").strip()[:500] or "(no subject)",
            status=TicketStatus.NEW,
            priority=spec.priority,
            priority_rank=PRIORITY_RANK[spec.priority],
            channel=spec.channel,
            queue=spec.queue,
            client_id=spec.client_id,
            requester_email=spec.requester_email,
            requester_name=spec.requester_name,
            needs_triage=spec.client_id is None,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
        )
        ticket.pauses = []
        ticket.articles = []
        if spec.contact is not None:
            ticket.contact = spec.contact
        else:
            ticket.contact_id = spec.contact_id
        if spec.client_id is not None:
            ticket.client = db.session.get(Client, spec.client_id)
        key = (spec.client_id, spec.priority)
        if key not in clocks:
            ticket.reserved = has_active_contract(spec.client_id, now.date())
            sla_service.start_clocks(ticket, now)
            clocks[key] = {name: getattr(ticket, name) for name in _CLOCK_FIELDS}
        else:
            for name, value in clocks[key].items():
                setattr(ticket, name, value)
        db.session.add(ticket)
        tickets.append(ticket)
    return tickets


def audit_opened(tickets: list[Ticket], *, actor: str, now: datetime) -> None:
    """The "create" audit rows of flushed new tickets, in one INSERT."""
    if tickets:
        db.session.execute(
            insert(AuditLog),
            [
                {
                    "at": now,
                    "user_id": None,
                    "actor": actor,
                    "entity_type": Ticket.__tablename__,
                    "entity_id": ticket.id,
                    "action": "create",
                    "before": None,
                    "after": snapshot(ticket),
                }
                for ticket in tickets
            ],
        )


def new_article(
    ticket: Ticket,
    *,
    direction: str,
    body_text: str,
    now: datetime,
    attachments: list[NewAttachment] = (),
    warnings: list[str | None] | None = None,
    **fields: Any,
) -> Article:
    """An article on ``ticket`` (added to the session, not flushed); see ``record_activity``."""
    article = Article(
        ticket=ticket, direction=direction, body_text=body_text or "", created_at=now, **fields
    )
    for index, att in enumerate(attachments):
        article.attachments.append(
            Attachment(
                filename=att.filename,
                content_type=att.content_type,
                size=att.size,
                sha256=att.sha256,
                content_id=att.content_id,
                inline=att.inline,
                dropped_reason=att.dropped_reason,
                warning=warnings[index] if warnings else None,
                created_at=now,
            )
        )
    db.session.add(article)
    ticket.last_activity_at = now
    return article


def record_activity(ticket: Ticket, article: Article, now: datetime) -> None:
    """After the flush: what the customer's mail does to the ticket (a pending ticket
    resumes, a resolved one reopens), as ``add_article`` does. Automatic, unverified and
    internal articles change nothing."""
    if (
        article.direction == Direction.IN
        and not article.is_auto
        and not article.unverified
        and ticket.status in (TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED)
    ):
        _on_customer_message(ticket, now)
