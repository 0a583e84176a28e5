"""One lock per billing month: logging, editing or deleting an entry and closing its month
serialize on it, so no entry lands in a month after it was closed.

PostgreSQL: a transaction-scoped advisory lock (released at commit or rollback), taken before
the "is the month open?" check, so the check sees a close that committed while we waited.
SQLite has one writer at a time: a transaction that read the month open and then finds the
database written meanwhile fails (SQLITE_BUSY_SNAPSHOT) instead of writing into the old state.
"""

from __future__ import annotations

from sqlalchemy import text

from ..extensions import db

#: High bits of the advisory-lock key, so other advisory locks (the scheduler's) never collide.
_NAMESPACE = 0x48440000 << 32  # "HD"


def month_lock_key(period: str) -> int:
    year, month = period.split("-")
    return _NAMESPACE | (int(year) * 100 + int(month))


def lock_month(period: str) -> None:
    """Hold the billing month's lock until this transaction ends."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": month_lock_key(period)})
