"""The audit log: one call records who changed what, with the values before and after."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect

from ..extensions import db
from ..models import AuditLog


def snapshot(obj: Any, fields: tuple[str, ...] | None = None) -> dict:
    """The column values of a model instance, as JSON-safe values."""
    mapper = inspect(obj).mapper
    names = fields or tuple(c.key for c in mapper.column_attrs)
    return {name: _jsonable(getattr(obj, name)) for name in names}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(
    obj: Any,
    action: str,
    *,
    user=None,
    actor: str = "user",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditLog:
    """Add an audit row for ``obj`` (flushes so a new object has its id)."""
    if obj.id is None:
        db.session.flush()
    entry = AuditLog(
        user_id=getattr(user, "id", None),
        actor=actor if user is None else "user",
        entity_type=obj.__tablename__,
        entity_id=obj.id,
        action=action,
        before=before,
        after=after if after is not None else (snapshot(obj) if action != "delete" else None),
    )
    db.session.add(entry)
    return entry
