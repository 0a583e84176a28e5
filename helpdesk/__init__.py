"""The helpdesk Flask application: ``create_app`` builds it; domain rules live in sub-packages."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the app. ``config`` (tests) wins over defaults, instance/config.py and HELPDESK_*."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from .config import load_config

    load_config(app, config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("helpdesk", "mail_ingest", "reports"):
        logging.getLogger(name).setLevel(app.config.get("LOG_LEVEL", "INFO"))

    from . import extensions, i18n, models  # noqa: F401  (models register their tables)
    from .auth import init_auth

    extensions.db.init_app(app)
    from flask_migrate import Migrate

    from .tickets.search import include_name

    # The full-text search objects are made by a migration, not by the models: autogenerate and
    # `flask db check` skip them.
    Migrate(
        app,
        extensions.db,
        directory=str(ROOT / "migrations"),
        render_as_batch=True,
        include_name=include_name,
    )
    extensions.csrf.init_app(app)
    extensions.mail.init_app(app)
    i18n.init_app(app)
    init_auth(app)
    _enable_sqlite_pragmas(app)

    from . import hardening
    from .web import mail_html, register_blueprints

    hardening.init_app(app)  # before the routes: the bounded <int:> converter
    register_blueprints(app)
    mail_html.init_app(app)

    from .cli import register_cli

    register_cli(app)
    return app


def create_mail_app(config: dict | None = None) -> Flask:
    """A small app that only renders and sends mail: the settings, Flask-Mail, the languages and
    the templates, without the database, the pages or the commands (the ingest's mailer process
    starts with it in a fraction of ``create_app``'s time)."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
    )
    from . import extensions, i18n
    from .config import load_config

    load_config(app, config)
    extensions.mail.init_app(app)
    i18n.init_app(app)
    return app


def _enable_sqlite_pragmas(app: Flask) -> None:
    """Foreign keys on, WAL for concurrent readers, a busy timeout instead of 'database is locked'."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    if getattr(_enable_sqlite_pragmas, "_installed", False):
        return
    _enable_sqlite_pragmas._installed = True  # type: ignore[attr-defined]

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
        module = type(dbapi_conn).__module__
        if not module.startswith("sqlite3"):
            return
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
