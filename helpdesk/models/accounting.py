"""The time ledger: entries of work done for clients, running timers and closed months."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
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


class EntryKind(StrEnum):
    REMOTE = "remote"
    PHONE = "phone"
    EMAIL = "email"
    VISIT = "visit"
    CONSULTING = "consulting"
    DEVELOPMENT = "development"  # custom work: never taken from package hours


class EntrySource(StrEnum):
    MANUAL = "manual"
    TIMER = "timer"
    LOGMEIN = "logmein"
    CDR = "cdr"
    VISIT = "visit"
    ADJUSTMENT = "adjustment"
    DEMO = "demo"
    API = "api"


class TimeEntry(db.Model):
    __tablename__ = "time_entries"
    __table_args__ = (
        CheckConstraint(enum_check("kind", EntryKind), name="kind"),
        CheckConstraint(enum_check("source", EntrySource), name="source"),
        # Only an adjustment (a correction of a closed month) may take minutes back.
        CheckConstraint("is_adjustment OR minutes >= 0", name="minutes_not_negative"),
        CheckConstraint("is_adjustment OR billable_minutes >= 0", name="billable_not_negative"),
        CheckConstraint("out_of_hours_minutes >= 0", name="ooh_not_negative"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ordered"),
        CheckConstraint("NOT is_adjustment OR reason IS NOT NULL", name="adjustment_has_reason"),
        #: A remote-session id or a call id is imported once per source.
        UniqueConstraint("source", "external_ref"),
        Index("ix_time_entries_client_period", "client_id", "period"),
        Index("ix_time_entries_ticket", "ticket_id"),
        # The dashboards' month figures (time per agent and kind, busiest clients): index only.
        Index("ix_time_entries_period_figures", "period", "client_id", "agent_id", "kind",
              "is_adjustment", "minutes", "billable_minutes"),
        # The queue's "reservation used up this week" and the capacity page's logged hours:
        # the week's entries only, index only.
        Index("ix_time_entries_started_client", "started_at", "client_id", "minutes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(enum_column(EntryKind))
    source: Mapped[str] = mapped_column(enum_column(EntrySource), default=EntrySource.MANUAL)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Minutes worked, as logged or measured.
    minutes: Mapped[int] = mapped_column(Integer)
    #: Minutes charged: rounded to the increment, out-of-hours multiplier applied.
    billable_minutes: Mapped[int] = mapped_column(Integer)
    out_of_hours_minutes: Mapped[int] = mapped_column(Integer, default=0)
    out_of_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Out-of-hours work for a client without the on-call add-on: the account manager decides.
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: The billing month in the client's zone ("YYYY-MM"): the month the entry starts in.
    period: Mapped[str] = mapped_column(String(7))
    external_ref: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    is_adjustment: Mapped[bool] = mapped_column(Boolean, default=False)
    adjusts_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("time_entries.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    client = relationship("Client")
    ticket = relationship("Ticket")
    agent = relationship("User", foreign_keys=[agent_id])


class RunningTimer(db.Model):
    """A remote session being timed; it outlives page reloads and logouts."""

    __tablename__ = "running_timers"
    __table_args__ = (
        CheckConstraint(enum_check("kind", EntryKind), name="kind"),
        UniqueConstraint("agent_id", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(enum_column(EntryKind), default=EntryKind.REMOTE)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    session_code: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)

    agent = relationship("User")
    ticket = relationship("Ticket")


class ClosedMonth(db.Model):
    """A frozen billing month: its entries can no longer change."""

    __tablename__ = "closed_months"
    __table_args__ = (CheckConstraint("length(period) = 7", name="period_format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), unique=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: The month rules it was closed under (helpdesk.accounting.monthly.RULES_VERSION): months
    #: closed before day-exact billing (version 1, the server default) keep their figures.
    rules_version: Mapped[int] = mapped_column(Integer, default=2, server_default="1")


class VisitStatus(StrEnum):
    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    DONE = "done"
    CANCELLED = "cancelled"


class Visit(db.Model):
    """An on-site visit of the contract year's entitlement (Standard 1, Extended 2)."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint(enum_check("status", VisitStatus), name="status"),
        UniqueConstraint("contract_id", "contract_year_start", "sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id", ondelete="SET NULL"))
    contract_year_start: Mapped[date] = mapped_column(Date)
    #: 1, 2, ... within the contract year.
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    planned_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(enum_column(VisitStatus), default=VisitStatus.PROPOSED)
    account_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    time_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("time_entries.id", ondelete="SET NULL"), unique=True
    )
    notes: Mapped[str | None] = mapped_column(Text)
    #: The agent who goes on site (the visit calendar and the capacity plan are per agent).
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: How long the visit takes; None: ``VISIT_DEFAULT_MINUTES``.
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client = relationship("Client")
    contract = relationship("Contract")
    account_manager = relationship("User", foreign_keys=[account_manager_id])
    agent = relationship("User", foreign_keys=[agent_id])
    time_entry = relationship("TimeEntry")
