"""Ticket numbers, taken atomically so two processes never hand out the same one."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from ..extensions import db
from ..models import Counter

FIRST_TICKET_NUMBER = 1000


def next_number(name: str = "ticket") -> int:
    """Increment and return the counter; the UPDATE's row lock serialises concurrent callers."""
    stmt = update(Counter).where(Counter.name == name).values(value=Counter.value + 1)
    value = db.session.scalar(stmt.returning(Counter.value))
    if value is None:
        start = db.session.scalar(
            select(Counter.value).where(Counter.name == name)
        ) or FIRST_TICKET_NUMBER
        db.session.execute(insert(Counter).values(name=name, value=start + 1))
        value = start + 1
    return value


def reserve_numbers(count: int, name: str = "ticket") -> list[int]:
    """``count`` consecutive numbers in one statement (a batch of new tickets)."""
    if count <= 0:
        return []
    stmt = update(Counter).where(Counter.name == name).values(value=Counter.value + count)
    last = db.session.scalar(stmt.returning(Counter.value))
    if last is None:
        first = next_number(name)
        if count > 1:
            last = db.session.scalar(
                update(Counter)
                .where(Counter.name == name)
                .values(value=Counter.value + count - 1)
                .returning(Counter.value)
            )
        else:
            last = first
        return list(range(first, last + 1))
    return list(range(last - count + 1, last + 1))
