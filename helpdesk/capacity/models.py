"""Tables of the capacity plan: when agents work, when they are away or on call, and the hours
the weekly planner reserved for each contract client."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models.types import UTCDateTime, utcnow


class WorkingHours(db.Model):
    """An agent's own hours on one weekday (local time of the vendor's zone). An agent with no
    rows works the business calendar's hours; with rows, exactly these weekdays and hours."""

    __tablename__ = "agent_working_hours"
    __table_args__ = (
        UniqueConstraint("agent_id", "weekday", name="uq_agent_working_hours_agent_weekday"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("starts < ends", name="ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: 0 Monday … 6 Sunday.
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)

    agent = relationship("User")


class DayOff(db.Model):
    """Days an agent does not work (holiday, sick leave, training): inclusive dates."""

    __tablename__ = "agent_days_off"
    __table_args__ = (CheckConstraint("first_day <= last_day", name="ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agent = relationship("User", foreign_keys=[agent_id])


class OnCallShift(db.Model):
    """The out-of-hours operator of the on-call add-on, from ``starts_at`` to ``ends_at`` (UTC)."""

    __tablename__ = "agent_on_call_shifts"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="ordered"),
        Index("ix_agent_on_call_shifts_span", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    agent = relationship("User", foreign_keys=[agent_id])


class Reservation(db.Model):
    """Minutes of one agent's week reserved for one contract client by the weekly planner."""

    __tablename__ = "capacity_reservations"
    __table_args__ = (
        UniqueConstraint("week_start", "client_id", "agent_id",
                         name="uq_capacity_reservations_week_client_agent"),
        CheckConstraint("minutes > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The Monday of the planned week.
    week_start: Mapped[date] = mapped_column(Date, index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client = relationship("Client")
    agent = relationship("User")


class CalendarFeed(db.Model):
    """The secret address of an agent's visit calendar (iCalendar), for a calendar program to
    subscribe to. Only a hash is kept; making a new address revokes the old one."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agent = relationship("User")
