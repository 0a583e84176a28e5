"""Automatic mail (bounces, out-of-office, reports, lists) and duplicate deliveries, kept so
nothing ingest reads is lost without a trace, and shown to agents and admins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models.types import UTCDateTime, utcnow


class AutomaticMail(db.Model):
    """Machine-sent mail that opened no ticket: the "automatic mail" view. A bounce of our own
    mail names the ticket it concerns (``ticket_id``)."""

    __tablename__ = "automatic_mails"
    __table_args__ = (Index("ix_automatic_mails_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Unique like an article's: what makes storing it idempotent.
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    mailbox: Mapped[str | None] = mapped_column(String(100))
    uid: Mapped[int | None] = mapped_column(BigInteger)
    #: bounce, feedback, vacation, bulk or auto (mail_ingest.automatic.KINDS).
    kind: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    from_addr: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(1000))
    body_text: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    #: For a bounce of our mail: the article that was not delivered.
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket")


class MailDuplicate(db.Model):
    """A delivery ingest did not store as new: a true copy of stored mail (``copy``), or a
    different mail that reused a stored Message-ID and was stored under its own (``reused``)."""

    __tablename__ = "mail_duplicates"
    __table_args__ = (UniqueConstraint("mailbox", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(100))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(998))
    kind: Mapped[str] = mapped_column(String(20))
    #: The article it copies (``copy``) or was stored as (``reused``).
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
