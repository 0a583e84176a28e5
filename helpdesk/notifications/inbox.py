"""A person's bell: their items newest first, a page of them, marking them read.

The console's dropdown, its full page and the JSON the dropdown polls all read from here; only
items the person wants in the bell are shown. Only flushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import User, utcnow
from .models import StaffNotification


def _mine(user: User):
    return (StaffNotification.user_id == user.id) & StaffNotification.bell_wanted.is_(True)


def latest(user: User, limit: int = 10) -> list[StaffNotification]:
    return list(db.session.scalars(
        select(StaffNotification).where(_mine(user))
        .options(selectinload(StaffNotification.ticket))
        .order_by(StaffNotification.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Page:
    items: list[StaffNotification]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page(user: User, number: int = 1, per_page: int = 25) -> Page:
    """Page ``number`` (from 1) of the person's items; past the end gives the last page."""
    total = db.session.scalar(select(func.count(StaffNotification.id)).where(_mine(user))) or 0
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    items = list(db.session.scalars(
        select(StaffNotification).where(_mine(user))
        .options(selectinload(StaffNotification.ticket))
        .order_by(StaffNotification.id.desc())
        .offset((number - 1) * per_page).limit(per_page)))
    return Page(items, number, per_page, total)


def mark_read(user: User, item_id: int | None = None, now: datetime | None = None) -> int:
    """Mark one of the person's items (or all of them) read; how many changed."""
    stmt = (update(StaffNotification)
            .where(StaffNotification.user_id == user.id, StaffNotification.read_at.is_(None))
            .values(read_at=now or utcnow())
            .execution_options(synchronize_session="fetch"))
    if item_id is not None:
        stmt = stmt.where(StaffNotification.id == item_id)
    result = db.session.execute(stmt)
    db.session.flush()
    return result.rowcount or 0
