"""Saved column mappings per source (which column holds what); one default per source, used by
the drop folder."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ...accounting.imports import LogmeinColumns
from ...audit_log.record import record
from ...extensions import db
from ...models import EntrySource, User
from ..models import ImportMapping


def mapping_columns(mapping: ImportMapping | None, source: str) -> dict[str, Any]:
    if mapping is None:
        return LogmeinColumns().as_dict() if source == EntrySource.LOGMEIN else {}
    return dict(mapping.columns or {})


def mapping_by_name(source: str, name: str) -> ImportMapping | None:
    return db.session.scalar(select(ImportMapping).where(
        ImportMapping.source == source, ImportMapping.name == name))


def default_mapping(source: str) -> ImportMapping | None:
    return db.session.scalar(select(ImportMapping).where(
        ImportMapping.source == source, ImportMapping.is_default.is_(True)))


def save_mapping(mapping: ImportMapping | None, *, source: str, name: str,
                 columns: dict[str, Any], is_default: bool, user: User) -> ImportMapping:
    """Create or change a saved mapping; one default per source."""
    if mapping is None:
        mapping = ImportMapping(source=source)
        db.session.add(mapping)
    before = {"name": mapping.name, "columns": mapping.columns} if mapping.id else None
    mapping.name = name
    mapping.columns = columns
    if is_default:
        db.session.execute(update(ImportMapping).where(
            ImportMapping.source == source, ImportMapping.id != mapping.id if mapping.id else True
        ).values(is_default=False).execution_options(synchronize_session=False))
    mapping.is_default = is_default
    db.session.flush()
    record(mapping, "update" if before else "create", user=user, before=before,
           after={"name": name, "columns": columns, "is_default": is_default})
    return mapping
