"""Many tickets and articles at once, for mail ingest: the same rules as ``create_ticket`` and
``add_article`` (numbers, SLA clocks, reserved priority, audit, reopening), at a fraction of the
statements: numbers reserved in one UPDATE, objects added without flushing (the caller flushes
once for the whole batch), articles, attachments and audit rows inserted in one statement each
after that flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.orm import selectinload

from ..audit_log.record import snapshot
from ..contracts import active_contracts
from ..extensions import db
from ..models import (
    PRIORITY_RANK,
    Article,
    Attachment,
    AuditLog,
    Channel,
    Client,
    Contact,
    Contract,
    ContractAddon,
    ContractChange,
    Package,
    Priority,
    Ticket,
    TicketStatus,
)
from .numbers import reserve_numbers
from .services import AUDITED_FIELDS, NewAttachment

#: What the SLA set-up reads of a contract, loaded with it (one query each per batch).
_CONTRACT_LOADS = (
    selectinload(Contract.package).selectinload(Package.sla_policy),
    selectinload(Contract.addons).selectinload(ContractAddon.addon),
    selectinload(Contract.changes).selectinload(ContractChange.package),
)

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
    """New tickets, numbered and with their SLA clocks, not in the session yet: they are
    written by :func:`insert_tickets` once the contacts they name have ids."""
    from ..pricelist import sla_targets
    from ..sla import service as sla_service

    numbers = reserve_numbers(len(specs))
    day = now.date()
    contracts = active_contracts(
        (spec.client_id for spec in specs if spec.client_id is not None), day, options=_CONTRACT_LOADS
    )
    clocks: dict[tuple[int | None, str], dict[str, Any]] = {}
    tickets = []
    with sla_targets.remembered():  # one query per package and priority, not per client
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
                warranty_defect=False,
                created_at=now,
                updated_at=now,
                last_activity_at=now,
            )
            ticket.pauses = []
            ticket.contact_id = spec.contact_id
            if spec.client_id is not None:
                ticket.client = db.session.get(Client, spec.client_id)
            key = (spec.client_id, spec.priority)
            if key not in clocks:
                contract = contracts.get(spec.client_id) if spec.client_id is not None else None
                ticket.reserved = contract is not None  # as has_active_contract
                sla_service.start_clocks(ticket, now, contract=contract)
                clocks[key] = {name: getattr(ticket, name) for name in _CLOCK_FIELDS}
            else:
                for name, value in clocks[key].items():
                    setattr(ticket, name, value)
            tickets.append(ticket)
    return tickets


def reserve_ids(table: Table, count: int) -> list[int] | None:
    """``count`` new ids of ``table`` from its sequence, in one statement, on PostgreSQL; None
    on other databases.

    With their ids known, a batch's rows go in without RETURNING, which the driver sends as
    one statement prepared once for all rows. A multi-row ``INSERT ... RETURNING`` is a new
    statement text of thousands of parameters for every batch, and the driver parses each
    anew (a fifth of the ingest process's time on PostgreSQL went to that)."""
    if count <= 0 or db.session.get_bind().dialect.name != "postgresql":
        return None
    query = text(
        "SELECT nextval(CAST(pg_get_serial_sequence(:table, 'id') AS regclass)) "
        "FROM generate_series(1, :count)"
    )
    return list(db.session.scalars(query, {"table": table.name, "count": count}))


def insert_tickets(tickets: list[Ticket], specs: list[NewTicket]) -> None:
    """Insert tickets from :func:`open_tickets` in one statement (after the flush that gave
    their new contacts ids); sets their ids. They stay outside the session.

    On PostgreSQL the ids are reserved first (:func:`reserve_ids`). Elsewhere a Core INSERT
    with RETURNING of (id, number): the ids are matched by the unique number, so the database
    may return the rows in any order (SQLite does not promise one; asking for parameter order
    makes SQLAlchemy insert row by row there)."""
    if not tickets:
        return
    table = Ticket.__table__
    columns = [c for c in table.columns if c.key != "id"]
    rows = []
    for ticket, spec in zip(tickets, specs, strict=True):
        if spec.contact is not None:
            ticket.contact_id = spec.contact.id
        row = {}
        for column in columns:
            value = getattr(ticket, column.key)
            if value is None and column.default is not None and column.default.is_scalar:
                value = column.default.arg
            row[column.key] = value
        rows.append(row)
    reserved = reserve_ids(table, len(rows))
    if reserved is not None:
        for ticket, row, ticket_id in zip(tickets, rows, reserved, strict=True):
            row["id"] = ticket.id = ticket_id
        db.session.execute(table.insert(), rows)
        return
    result = db.session.execute(table.insert().returning(table.c.id, table.c.number), rows)
    ids = {number: ticket_id for ticket_id, number in result}
    for ticket in tickets:
        ticket.id = ids[ticket.number]


def audit_rows(changes: list[tuple[Ticket, str, dict | None]], *, actor: str, now: datetime):
    """Insert audit rows for flushed tickets in one statement: (ticket, action, before)."""
    if changes:
        db.session.execute(
            AuditLog.__table__.insert(),
            [
                {
                    "at": now,
                    "user_id": None,
                    "actor": actor if action == "create" else "system",
                    "entity_type": Ticket.__tablename__,
                    "entity_id": ticket.id,
                    "action": action,
                    "before": before,
                    "after": snapshot(ticket) if before is None else snapshot(ticket, AUDITED_FIELDS),
                }
                for ticket, action, before in changes
            ],
        )


def customer_wrote(ticket: Ticket, now: datetime) -> dict | None:
    """What ``add_article`` does when the customer writes, without flushing: a pending ticket
    resumes (its pause ends), a resolved or closed one reopens; SLA due times follow. Returns
    the audit "before" values when the status changed (see :func:`audit_rows`), else None."""
    from ..sla import service as sla_service

    ticket.last_activity_at = now
    if ticket.status not in (TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return None
    before = snapshot(ticket, AUDITED_FIELDS)
    if ticket.status == TicketStatus.PENDING:
        open_pause = next((p for p in ticket.pauses if p.ended_at is None), None)
        if open_pause is not None:
            open_pause.ended_at = now
    else:
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.status = TicketStatus.OPEN
    ticket.updated_at = now
    sla_service.recompute_due(ticket, now)
    return before


#: Article columns written by :func:`insert_articles` (every row has all of them).
ARTICLE_FIELDS = (
    "ticket_id", "direction", "internal", "channel", "author_user_id", "contact_id", "from_addr",
    "to_addrs", "cc_addrs", "subject", "message_id", "in_reply_to", "references", "body_text",
    "body_html", "is_auto", "auto_kind", "unverified", "sender_auth", "content_hash",
    "send_status", "send_error", "sent_at", "created_at",
)  # fmt: skip


def article_row(ticket_id: int, *, direction: str, body_text: str, now: datetime, **fields: Any):
    """One article row for :func:`insert_articles`; unknown fields are refused."""
    row = dict.fromkeys(ARTICLE_FIELDS)
    row.update(internal=False, channel=Channel.EMAIL, is_auto=False, unverified=False)
    unknown = set(fields) - set(ARTICLE_FIELDS)
    if unknown:
        raise TypeError(f"not article fields: {sorted(unknown)}")
    row.update(fields)
    row.update(ticket_id=ticket_id, direction=direction, body_text=body_text or "", created_at=now)
    return row


def insert_articles(
    rows: list[dict[str, Any]],
    attachments: list[list[NewAttachment]],
    warnings: list[list[str | None]],
    *,
    now: datetime,
) -> list[int | None]:
    """Insert articles and their attachments in a few statements; returns the article ids.

    Rows with a Message-ID (unique) get their ids reserved first on PostgreSQL
    (:func:`reserve_ids`); elsewhere they are inserted with RETURNING (id, message_id) and
    matched by it, in whatever order the database returns them. Rows without one (internal
    notes) are inserted without RETURNING and get None: they cannot carry attachments."""
    if not rows:
        return []
    table = Article.__table__
    keyed = [row for row in rows if row["message_id"]]
    plain = [row for row in rows if not row["message_id"]]
    found: dict[str, int] = {}
    reserved = reserve_ids(table, len(keyed))
    if reserved is not None:
        keyed = [{**row, "id": article_id} for row, article_id in zip(keyed, reserved, strict=True)]
        db.session.execute(table.insert(), keyed)
        found = {row["message_id"]: row["id"] for row in keyed}
    elif keyed:
        result = db.session.execute(
            table.insert().returning(table.c.id, table.c.message_id), keyed
        )
        found = {message_id: article_id for article_id, message_id in result}
    if plain:
        db.session.execute(table.insert(), plain)
    ids = [found[row["message_id"]] if row["message_id"] else None for row in rows]
    files = []
    for article_id, atts, notes in zip(ids, attachments, warnings, strict=True):
        if atts and article_id is None:
            raise ValueError("attachments need an article with a Message-ID")
        files += [
            {
                "article_id": article_id,
                "filename": att.filename,
                "content_type": att.content_type,
                "size": att.size,
                "sha256": att.sha256,
                "content_id": att.content_id,
                "inline": att.inline,
                "dropped_reason": att.dropped_reason,
                "warning": warning,
                "created_at": now,
            }
            for att, warning in zip(atts, notes, strict=True)
        ]
    if files:
        db.session.execute(Attachment.__table__.insert(), files)
    return ids
