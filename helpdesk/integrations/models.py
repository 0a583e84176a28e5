"""Tables of the integrations: import mappings and history, ticket suggestions, webhooks,
API rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models.types import UTCDateTime, utcnow


class ImportMapping(db.Model):
    """A saved column mapping of one source (``logmein`` or ``cdr``): which column holds what."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("source", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    #: Field name -> column header (LogMeIn), or options (CDR: extensions, country code).
    columns: Mapped[dict] = mapped_column(JSON, default=dict)
    #: The mapping the drop folder uses for its source.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ImportBatch(db.Model):
    """One uploaded or picked-up file: previewed, imported, failed or undone."""

    __tablename__ = "import_batches"
    __table_args__ = (Index("ix_import_batches_hash", "source", "file_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    #: ``console``, ``drop`` or ``cli``.
    origin: Mapped[str] = mapped_column(String(20), default="console")
    filename: Mapped[str] = mapped_column(String(255))
    file_hash: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    mapping_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_mappings.id", ondelete="SET NULL"))
    #: The mapping used (a copy: a later edit of the mapping does not rewrite history).
    columns: Mapped[dict] = mapped_column(JSON, default=dict)
    skip_bad: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Fixes chosen in the preview: line number -> {"client_id", "ticket_id"}.
    fixes: Mapped[dict] = mapped_column(JSON, default=dict)
    #: ``queued`` (preview wanted), ``previewing``, ``preview``, ``import_queued``, ``running``,
    #: then ``imported``, ``rejected``, ``failed``, ``undone`` or ``abandoned`` (never imported).
    status: Mapped[str] = mapped_column(String(20), default="preview")
    #: Lines of the file reached by the running preview or import, of ``progress_total``.
    progress_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Last sign of life of the worker (claimed, a batch of rows done); a stale one is resumed.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why the preview or import failed (state ``failed``).
    error: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    created_minutes: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    bad: Mapped[int] = mapped_column(Integer, default=0)
    #: The rows of the last preview or import (line, ref, state, message, client...).
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    #: Ids of the entries this import created (undo removes them).
    entry_ids: Mapped[list] = mapped_column(JSON, default=list)

    user = relationship("User")


class TicketSuggestion(db.Model):
    """An imported entry that probably belongs to a ticket: confirmed with one click."""

    __tablename__ = "ticket_suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("time_entries.id", ondelete="CASCADE"), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    entry = relationship("TimeEntry")
    ticket = relationship("Ticket")


class WebhookSubscription(db.Model):
    """Where to POST which events; the secret signs every body."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Deliveries given up on in a row (reset by a success).
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner = relationship("User")


class WebhookDelivery(db.Model):
    """One event for one subscription: tried until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(50))
    #: The JSON body exactly as sent (the signature covers these bytes).
    body: Mapped[str] = mapped_column(Text)
    #: ``pending``, ``delivered`` or ``failed`` (given up).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replay_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))

    subscription = relationship("WebhookSubscription")
    tries = relationship("WebhookAttempt", order_by="WebhookAttempt.id",
                         cascade="all, delete-orphan", back_populates="delivery")


class WebhookAttempt(db.Model):
    """One POST of a delivery and what the receiver answered."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    delivery = relationship("WebhookDelivery", back_populates="tries")


class ApiRateCounter(db.Model):
    """Requests of one token in one window (the DB-backed rate limit)."""

    __tablename__ = "api_rate_counters"
    __table_args__ = (UniqueConstraint("token_id", "window"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    #: Window start, seconds since the epoch.
    window: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, default=0)
