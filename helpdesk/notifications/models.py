"""Staff notifications: what happened for whom (bell and mail), who wants what, watched queues,
presence on tickets (collision warning) and saved replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models.types import UTCDateTime, utcnow


class StaffNotification(db.Model):
    """One event for one staff member: a bell item, and a mail unless they switched it off."""

    __tablename__ = "staff_notifications"
    __table_args__ = (
        Index("ix_staff_notifications_user_read", "user_id", "read_at"),
        Index("ix_staff_notifications_unmailed", "mail_wanted", "mailed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Makes each event land once per person, whoever reports it twice.
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    #: What the text needs, not the text: it is written at view time in the reader's language
    #: (:mod:`helpdesk.notifications.texts`), e.g. ``{"target": "resolution", "event": "breach"}``
    #: or ``{"by": "Ayşe Yılmaz"}``.
    params: Mapped[dict | None] = mapped_column(JSON, default=dict)
    mail_wanted: Mapped[bool] = mapped_column(Boolean, default=True)
    bell_wanted: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")
    ticket = relationship("Ticket")


class NotificationSetting(db.Model):
    """A person's choice for one kind; no row means both mail and bell are on."""

    __tablename__ = "notification_settings"
    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_notification_settings"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    email: Mapped[bool] = mapped_column(Boolean, default=True)
    bell: Mapped[bool] = mapped_column(Boolean, default=True)


class QueueWatch(db.Model):
    """A queue whose new tickets a person wants to hear about."""

    __tablename__ = "queue_watches"
    __table_args__ = (UniqueConstraint("user_id", "queue", name="uq_queue_watches"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str] = mapped_column(String(50), index=True)


class TicketPresence(db.Model):
    """Someone has the ticket open (or is writing a reply) until ``expires_at``."""

    __tablename__ = "ticket_presence"
    __table_args__ = (UniqueConstraint("ticket_id", "user_id", name="uq_ticket_presence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: "viewing" or "replying".
    state: Mapped[str] = mapped_column(String(10), default="viewing")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user = relationship("User")


class SavedReply(db.Model):
    """A canned answer: shared (no owner) or personal, in one language, with placeholders."""

    __tablename__ = "saved_replies"
    __table_args__ = (
        UniqueConstraint("owner_id", "language", "title", name="uq_saved_replies_title"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
