"""Record and read how each mailbox's ingest passes went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import IngestFailure
from ..models.types import utcnow
from .models import MailboxPoll

#: An error line longer than this is cut (the full text is in the log).
MAX_ERROR = 500


def vendor_today(now: datetime) -> date:
    return now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def _row(name: str) -> MailboxPoll:
    row = db.session.scalar(select(MailboxPoll).where(MailboxPoll.name == name))
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            db.session.add(MailboxPoll(name=name, taken_count=0))
    except IntegrityError:  # made by a concurrent pass
        pass
    return db.session.scalar(select(MailboxPoll).where(MailboxPoll.name == name))


def record_poll(name: str, *, taken: int = 0, error: str | None = None,
                now: datetime | None = None) -> MailboxPoll:
    """Note one pass over mailbox ``name``: ``taken`` messages stored, ``error`` if it failed.

    The day's count restarts on the vendor's local midnight; the increment is done in SQL so
    two processes polling one mailbox both count. Flushes; the caller commits.
    """
    now = now or utcnow()
    today = vendor_today(now)
    row = _row(name)
    values: dict = {"last_poll_at": now}
    if error:
        line = " ".join(str(error).split())
        values.update(last_error=line[:MAX_ERROR], last_error_at=now)
    else:
        values.update(last_error=None, last_ok_at=now)
    same_day = MailboxPoll.taken_on.is_not(None) & (MailboxPoll.taken_on == today)
    db.session.execute(
        update(MailboxPoll).where(MailboxPoll.id == row.id).values(
            taken_count=case((same_day, MailboxPoll.taken_count + int(taken)), else_=int(taken)),
            taken_on=today,
            **values,
        )
    )
    db.session.flush()
    db.session.refresh(row)
    return row


@dataclass(frozen=True)
class PollState:
    """What the admin page shows for one mailbox."""

    name: str
    last_poll_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    taken_today: int
    failed: int


def poll_states(names: list[str], now: datetime | None = None) -> list[PollState]:
    """The state of each named mailbox, in the given order; ``failed`` counts its unresolved
    ingest failures."""
    now = now or utcnow()
    today = vendor_today(now)
    rows = {r.name: r for r in db.session.scalars(
        select(MailboxPoll).where(MailboxPoll.name.in_(names)))} if names else {}
    failed = dict(db.session.execute(
        select(IngestFailure.mailbox, func.count())
        .where(IngestFailure.mailbox.in_(names), IngestFailure.resolved_at.is_(None))
        .group_by(IngestFailure.mailbox)
    ).all()) if names else {}
    states = []
    for name in names:
        row = rows.get(name)
        states.append(PollState(
            name=name,
            last_poll_at=row.last_poll_at if row else None,
            last_ok_at=row.last_ok_at if row else None,
            last_error=row.last_error if row else None,
            last_error_at=row.last_error_at if row else None,
            taken_today=row.taken_count if row and row.taken_on == today else 0,
            failed=int(failed.get(name, 0)),
        ))
    return states
