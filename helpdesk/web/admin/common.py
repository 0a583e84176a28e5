"""Shared bits of the admin views: field errors from the domain, saving through one domain
operation, keyset paging of lists."""

from __future__ import annotations

import base64
import json

from flask import abort, flash
from flask_babel import gettext as _
from sqlalchemy import Select, and_, func, or_

from ...clients.validate import FieldError

PAGE_SIZE = 50


def show_error(form, exc: FieldError) -> None:
    """The message next to its field; a flash when the form has no such field."""
    field = getattr(form, exc.field, None) if form is not None else None
    if field is not None and hasattr(field, "errors"):
        errors = list(field.errors or [])
        errors.append(exc.message)
        field.errors = errors
    else:
        flash(exc.message, "error")


def saved(form, operation, message=None):
    """Run one domain ``operation()`` for ``form``: on bad input roll back, show the message next
    to its field and answer None; else commit, flash ``message`` (a text, or a function of the
    result) and answer the operation's result."""
    from ...extensions import db

    try:
        result = operation()
    except FieldError as exc:
        db.session.rollback()
        show_error(form, exc)
        return None
    db.session.commit()
    if message is not None:
        flash(message(result) if callable(message) else message, "success")
    return result


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError(cursor)
        return values
    except (ValueError, json.JSONDecodeError):
        abort(400, description=_("Bad page cursor."))


def keyset_page(stmt: Select, name_col, id_col, cursor: str | None, size: int = PAGE_SIZE):
    """Rows ordered by (lower(name), id) after ``cursor``; (rows, next cursor or None)."""
    key = func.lower(name_col)
    if cursor:
        name, ident = _decode(cursor)
        stmt = stmt.where(or_(key > name, and_(key == name, id_col > int(ident))))
    rows = list(_scalars(stmt.order_by(key, id_col).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    nxt = None
    if more:
        last = rows[-1]
        nxt = _encode([getattr(last, name_col.key).lower(), getattr(last, id_col.key)])
    return rows, nxt


def _scalars(stmt):
    from ...extensions import db

    return db.session.scalars(stmt).unique()


def like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower() + "%"
