"""``/healthz`` for the load balancer: the database answers and its schema is at the migration
head. 200 with ``{"status": "ok"}``, 503 otherwise (no details for anonymous callers beyond the
schema revision)."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import csrf, db


def schema_revisions() -> tuple[str | None, set[str]]:
    """(the database's Alembic revision, the migration heads in migrations/)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from flask import current_app

    current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    config = Config()
    config.set_main_option("script_location", current_app.extensions["migrate"].directory)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    return current, heads


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    @csrf.exempt
    def healthz():
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            db.session.rollback()
            return jsonify(status="error", database="unreachable"), 503
        try:
            current, heads = schema_revisions()
        except SQLAlchemyError:
            db.session.rollback()
            return jsonify(status="error", database="ok", schema="missing"), 503
        ok = current in heads
        return (jsonify(status="ok" if ok else "error", database="ok", schema=current,
                        schema_head=sorted(heads)), 200 if ok else 503)
