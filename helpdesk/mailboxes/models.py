"""One row per support mailbox: what its last ingest pass did (kept apart from the UID state)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models.types import UTCDateTime


class MailboxPoll(db.Model):
    """The last pass over one mailbox (``name`` as in ``MailboxState.name``)."""

    __tablename__ = "mailbox_polls"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The last pass that read the mailbox without an error.
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: One line; None once a later pass went well.
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Messages stored (new tickets and replies) on ``taken_on``, the vendor's local day.
    taken_on: Mapped[date | None] = mapped_column(Date)
    taken_count: Mapped[int] = mapped_column(Integer, default=0)
