"""Column types shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores UTC; always hands back timezone-aware UTC datetimes, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: Money: two decimal places, never a float.
Money = Numeric(12, 2, asdecimal=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


class StrEnum(str, enum.Enum):
    """An enum whose values are stored as plain strings with a CHECK constraint."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


def enum_check(column: str, enum_cls: type[StrEnum]) -> str:
    """SQL for a CHECK that the column holds one of the enum's values."""
    allowed = ", ".join(f"'{v}'" for v in enum_cls.values())
    return f"{column} IN ({allowed})"


def enum_column(enum_cls: type[StrEnum]) -> String:
    return String(max(len(v) for v in enum_cls.values()) + 4)
