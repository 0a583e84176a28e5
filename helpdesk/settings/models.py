"""Vendor settings kept in the database (edited in /admin/settings) and extra closing days."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models.types import UTCDateTime, utcnow


class Setting(db.Model):
    """One vendor setting (a ``HELPDESK_*`` key without the prefix); the environment still wins."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ClosingDay(db.Model):
    """A day the vendor does not work besides public holidays (for one country, or for all)."""

    __tablename__ = "closing_days"
    __table_args__ = (UniqueConstraint("day", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    #: None: closed for every client; a code: only for clients whose holiday country it is.
    country: Mapped[str | None] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(200))
