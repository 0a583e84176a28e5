"""The one place tickets are created and changed: the console, the portal, ingest and the API call it.

Functions take the acting user (or an actor name for ingest and jobs) and only flush; the request,
job or ingested message that called them commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..audit_log.record import record, snapshot
from ..contracts import has_active_contract
from ..extensions import db
from ..integrations.events import emit
from ..models import (
    PRIORITY_RANK,
    Article,
    Attachment,
    Channel,
    Direction,
    Priority,
    Ticket,
    TicketPause,
    TicketStatus,
    User,
    utcnow,
)
from .numbers import next_number

AUDITED_FIELDS = ("status", "priority", "assignee_id", "client_id", "contact_id", "subject",
                  "warranty_defect", "merged_into_id", "queue")


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str | None
    content_id: str | None = None
    inline: bool = False
    dropped_reason: str | None = None


def create_ticket(
    *,
    subject: str,
    client_id: int | None,
    contact_id: int | None = None,
    channel: str = Channel.EMAIL,
    priority: str = Priority.NORMAL,
    queue: str = "support",
    requester_email: str | None = None,
    requester_name: str | None = None,
    opened_by: User | None = None,
    assignee_id: int | None = None,
    created_at: datetime | None = None,
    user: User | None = None,
    actor: str = "user",
) -> Ticket:
    """A new ticket with its number; SLA targets are set from the client's package."""
    now = created_at or utcnow()
    ticket = Ticket(
        number=next_number(),
        subject=(subject or "").strip()[:500] or "(no subject)",
        status=TicketStatus.NEW,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        channel=channel,
        queue=queue,
        client_id=client_id,
        contact_id=contact_id,
        requester_email=requester_email,
        requester_name=requester_name,
        opened_by_id=opened_by.id if opened_by else None,
        assignee_id=assignee_id,
        needs_triage=client_id is None,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    ticket.reserved = has_active_contract(client_id, now.date())
    db.session.add(ticket)
    db.session.flush()
    _apply_sla(ticket, now)
    record(ticket, "create", user=user, actor=actor)
    _after_create(ticket, user)
    emit("ticket.created", ticket)
    return ticket


def _after_create(ticket: Ticket, user: User | None) -> None:
    """Hooks for auto-assignment and staff notifications."""
    from ..assignment.service import auto_assign
    from ..notifications import events

    auto_assign(ticket, ticket.created_at)
    events.ticket_created(ticket, actor=user)


def _apply_sla(ticket: Ticket, now: datetime) -> None:
    """Hook for the SLA module: targets and due times from the client's package."""
    from ..sla import service as sla_service

    sla_service.start_clocks(ticket, now)


def add_article(
    ticket: Ticket,
    *,
    direction: str,
    body_text: str,
    body_html: str | None = None,
    internal: bool = False,
    channel: str = Channel.EMAIL,
    author: User | None = None,
    contact_id: int | None = None,
    from_addr: str | None = None,
    to_addrs: str | None = None,
    cc_addrs: str | None = None,
    subject: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    is_auto: bool = False,
    attachments: list[NewAttachment] = (),
    created_at: datetime | None = None,
) -> Article:
    """Append a message to the ticket and move its state the way a helpdesk user expects."""
    now = created_at or utcnow()
    article = Article(
        ticket=ticket,
        direction=direction,
        internal=internal,
        channel=channel,
        author_user_id=author.id if author else None,
        contact_id=contact_id,
        from_addr=from_addr,
        to_addrs=to_addrs,
        cc_addrs=cc_addrs,
        subject=subject,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        body_text=body_text or "",
        body_html=body_html,
        is_auto=is_auto,
        created_at=now,
    )
    for att in attachments:
        article.attachments.append(
            Attachment(
                filename=att.filename,
                content_type=att.content_type,
                size=att.size,
                sha256=att.sha256,
                content_id=att.content_id,
                inline=att.inline,
                dropped_reason=att.dropped_reason,
                created_at=now,
            )
        )
    db.session.add(article)
    ticket.last_activity_at = now
    if direction == Direction.IN and not is_auto:
        _on_customer_message(ticket, now)
    elif direction == Direction.OUT and not internal:
        _on_agent_reply(ticket, now)
    db.session.flush()
    if not internal:
        emit("ticket.replied", article)
    _notify_article(ticket, article, author)
    return article


def _notify_article(ticket: Ticket, article: Article, author: User | None) -> None:
    from ..notifications import events

    if article.direction == Direction.IN and not article.is_auto:
        events.client_replied(ticket, article)
    elif article.internal:
        events.note_added(ticket, article, author)


def _on_customer_message(ticket: Ticket, now: datetime) -> None:
    """The client wrote: a pending ticket resumes, a resolved or closed one reopens."""
    if ticket.status == TicketStatus.PENDING or ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        set_status(ticket, TicketStatus.OPEN, at=now, actor="system")


def _on_agent_reply(ticket: Ticket, now: datetime) -> None:
    """The first public agent reply meets the first-response target."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        from ..sla import service as sla_service

        sla_service.refresh_next_due(ticket)
    if ticket.status == TicketStatus.NEW:
        set_status(ticket, TicketStatus.OPEN, at=now, actor="system")


def set_status(
    ticket: Ticket,
    status: str,
    *,
    at: datetime | None = None,
    user: User | None = None,
    actor: str = "user",
) -> None:
    """Change status, keeping the SLA pauses and resolution times consistent."""
    if status not in TicketStatus.values():
        raise ValueError(f"unknown status {status!r}")
    if status == ticket.status:
        return
    now = at or utcnow()
    before = snapshot(ticket, AUDITED_FIELDS)
    old = ticket.status
    if old == TicketStatus.PENDING:
        open_pause = next((p for p in ticket.pauses if p.ended_at is None), None)
        if open_pause is not None:
            open_pause.ended_at = now
    if status == TicketStatus.PENDING:
        db.session.add(TicketPause(ticket=ticket, started_at=now))
    if status == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    elif status == TicketStatus.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif old in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.status = status
    ticket.updated_at = now
    db.session.flush()
    from ..sla import service as sla_service

    sla_service.recompute_due(ticket, now)
    record(ticket, "update", user=user, actor=actor, before=before,
           after=snapshot(ticket, AUDITED_FIELDS))
    emit("ticket.updated", ticket)


def update_fields(ticket: Ticket, *, user: User | None = None, actor: str = "user", **changes):
    """Assign, re-prioritise, re-file: one audited change of plain fields."""
    before = snapshot(ticket, AUDITED_FIELDS)
    for name, value in changes.items():
        if name not in AUDITED_FIELDS or name == "status":
            raise ValueError(f"{name} cannot be changed here")
        setattr(ticket, name, value)
    if "priority" in changes:
        ticket.priority_rank = PRIORITY_RANK[ticket.priority]
    if "client_id" in changes:
        ticket.needs_triage = ticket.client_id is None
        ticket.reserved = has_active_contract(ticket.client_id, utcnow().date())
    ticket.updated_at = utcnow()
    db.session.flush()
    if "assignee_id" in changes and changes["assignee_id"] != before.get("assignee_id"):
        from ..notifications import events

        events.assigned(ticket, ticket.assignee_id, actor=user,
                        stamp=ticket.updated_at.isoformat())
    if "priority" in changes or "client_id" in changes:
        from ..sla import service as sla_service

        sla_service.start_clocks(ticket, ticket.created_at, keep_history=True)
    record(ticket, "update", user=user, actor=actor, before=before,
           after=snapshot(ticket, AUDITED_FIELDS))
    emit("ticket.updated", ticket)
