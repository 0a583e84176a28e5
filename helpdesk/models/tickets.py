"""Tickets, the messages on them (articles), attachments and SLA pauses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import StrEnum, UTCDateTime, enum_check, enum_column, utcnow


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting on the client: the SLA clock pauses
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


#: Sort rank of priorities: lower comes first in a queue.
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    REMOTE = "remote"
    PORTAL = "portal"


class Counter(db.Model):
    """Named counters (ticket numbers) taken atomically with UPDATE ... RETURNING."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(enum_check("status", TicketStatus), name="status"),
        CheckConstraint(enum_check("priority", Priority), name="priority"),
        CheckConstraint(enum_check("channel", Channel), name="channel"),
        CheckConstraint("merged_into_id IS NULL OR merged_into_id <> id", name="not_merged_self"),
        # The reserved-priority queue: open tickets, contract clients first, by due time.
        Index("ix_tickets_worklist", "status", "reserved", "sla_next_due", "priority_rank", "id"),
        Index("ix_tickets_client_created", "client_id", "created_at"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        # The dashboards: tickets opened and resolved in a month.
        Index("ix_tickets_created", "created_at"),
        Index("ix_tickets_resolved", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The human number, shown as "#1234" and used as the subject tag "[#1234]".
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(enum_column(TicketStatus), default=TicketStatus.NEW)
    priority: Mapped[str] = mapped_column(enum_column(Priority), default=Priority.NORMAL)
    #: PRIORITY_RANK of ``priority``, kept in step so the queue sorts on an index.
    priority_rank: Mapped[int] = mapped_column(Integer, default=2)
    channel: Mapped[str] = mapped_column(enum_column(Channel), default=Channel.EMAIL)
    #: The queue (mailbox) it came in through.
    queue: Mapped[str] = mapped_column(String(50), default="support", index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    #: The portal user who opened it (sub-agents see only their own tickets).
    opened_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    requester_email: Mapped[str | None] = mapped_column(String(254))
    requester_name: Mapped[str | None] = mapped_column(String(200))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: Unknown sender: nobody matched it to a client yet.
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A defect under the product's warranty: not billed to a client in warranty.
    warranty_defect: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The client had an active contract (reserved priority) when this was last evaluated.
    reserved: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL")
    )

    # SLA: targets fixed when the ticket opened; due times move with pauses.
    sla_clock: Mapped[str | None] = mapped_column(String(10))  # "business" | "24x7" | None
    sla_first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    sla_resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The earliest unmet due time, for ordering the queue on an index.
    sla_next_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client = relationship("Client")
    contact = relationship("Contact")
    assignee = relationship("User", foreign_keys=[assignee_id])
    opened_by = relationship("User", foreign_keys=[opened_by_id])
    articles = relationship(
        "Article", back_populates="ticket", order_by="Article.created_at, Article.id"
    )
    pauses = relationship("TicketPause", back_populates="ticket", order_by="TicketPause.started_at")

    @property
    def tag(self) -> str:
        return f"[#{self.number}]"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def __repr__(self) -> str:
        return f"<Ticket #{self.number} {self.status}>"


class TicketPause(db.Model):
    """A span during which the SLA clock stood still (ticket pending on the client)."""

    __tablename__ = "ticket_pauses"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket = relationship("Ticket", back_populates="pauses")


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class SendStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class Article(db.Model):
    """One message on a ticket: an email in or out, a portal message, or an internal note."""

    __tablename__ = "articles"
    __table_args__ = (
        CheckConstraint(enum_check("direction", Direction), name="direction"),
        CheckConstraint(
            "send_status IS NULL OR " + enum_check("send_status", SendStatus), name="send_status"
        ),
        CheckConstraint("NOT (internal AND direction = 'in')", name="internal_is_ours"),
        Index("ix_articles_ticket_created", "ticket_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(enum_column(Direction))
    #: An internal note: agents only, never mailed.
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(enum_column(Channel), default=Channel.EMAIL)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    from_addr: Mapped[str | None] = mapped_column(String(500))
    to_addrs: Mapped[str | None] = mapped_column(Text)
    cc_addrs: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(1000))
    #: Unique across all mail, ours and theirs: what makes ingest idempotent.
    message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text, default="")
    #: Sanitized (nh3) HTML, safe to show.
    body_html: Mapped[str | None] = mapped_column(Text)
    #: An auto-reply, bounce or list mail: stored, never acknowledged.
    is_auto: Mapped[bool] = mapped_column(Boolean, default=False)
    #: kind of automatic mail (mail_ingest.automatic.KINDS), e.g. "vacation".
    auto_kind: Mapped[str | None] = mapped_column(String(20))
    #: Mail whose sender is not entitled to the ticket it names: agents only, until accepted.
    unverified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The receiving server's verdicts when they failed (e.g. "dmarc=fail spf=none dkim=none").
    sender_auth: Mapped[str | None] = mapped_column(String(100))
    #: SHA-256 of what the sender wrote: tells a copy from another mail with the same Message-ID.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    send_status: Mapped[str | None] = mapped_column(enum_column(SendStatus))
    send_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket", back_populates="articles")
    author = relationship("User")
    contact = relationship("Contact")
    attachments = relationship(
        "Attachment", back_populates="article", cascade="all, delete-orphan"
    )


class Attachment(db.Model):
    """A file on an article; the bytes live under instance/attachments/ by their SHA-256."""

    __tablename__ = "attachments"
    __table_args__ = (CheckConstraint("size >= 0", name="size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    #: None when the file was not stored (too large): then ``dropped_reason`` says why.
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    content_id: Mapped[str | None] = mapped_column(String(998))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    dropped_reason: Mapped[str | None] = mapped_column(String(255))
    #: Kept, but not as it should be (e.g. decoded to nothing: stored as sent).
    warning: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    article = relationship("Article", back_populates="attachments")


class TicketFollower(db.Model):
    """An address that gets the ticket's replies in Cc: a colleague of the requester (from the
    incoming To/Cc, or added by an agent). Mail from a follower threads like the requester's."""

    __tablename__ = "ticket_followers"
    __table_args__ = (
        UniqueConstraint("ticket_id", "email", name="uq_ticket_followers_ticket_email"),
        CheckConstraint("email = lower(email)", name="follower_email_lowercase"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket")
    contact = relationship("Contact")
