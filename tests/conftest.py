"""Fixtures: an app on SQLite (or on PostgreSQL with HELPDESK_TEST_DATABASE_URL), a clean database
per test, a logged-in test client, and factories for the domain objects."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from helpdesk import create_app
from helpdesk.extensions import db

pytest_plugins = ["tests.servers"]


def need_server(reason: str) -> None:
    """A required server is missing: fail in CI, skip on a laptop (one rule, in tests/servers.py)."""
    from tests.servers import need_server as _need_server

    _need_server(reason)

TEST_DB_URL = os.environ.get("HELPDESK_TEST_DATABASE_URL")
PG_DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

_tmp_root = Path(tempfile.mkdtemp(prefix="helpdesk-tests-"))
_schema_ready: set[str] = set()


def database_url() -> str:
    if TEST_DB_URL:
        return TEST_DB_URL
    return f"sqlite:///{_tmp_root / 'test.db'}"


def base_config(**overrides) -> dict:
    cfg = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url(),
        "ATTACHMENT_DIR": str(_tmp_root / "attachments"),
        "BACKUP_DIR": str(_tmp_root / "backups"),
        "REPORT_DIR": str(_tmp_root / "reports"),
        "SCHEDULER_LOCK_FILE": str(_tmp_root / "scheduler.lock"),
        "INGEST_ACK_JOURNAL": str(_tmp_root / "ack-sent.journal"),
        "MAIL_SUPPRESS_SEND": True,
        "SERVER_NAME": "helpdesk.test",
        "SETUP_REDIRECT": False,  # most tests have no admin; tests of the first run turn it on
        "AUTO_ASSIGN": False,  # tests of auto-assignment turn it on
        "IMPORT_BACKGROUND": False,  # console imports in the request; browser tests turn it on
    }
    cfg.update(overrides)
    return cfg


def _reset_database() -> None:
    """Empty every table (fast, and works after tests that committed)."""
    engine = db.engine
    tables = list(reversed(db.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for t in tables:
                conn.execute(t.delete())
            conn.execute(text("PRAGMA foreign_keys=ON"))


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change settings."""
    return {}


@pytest.fixture
def app(app_config):
    application = create_app(base_config(**app_config))
    with application.app_context():
        url = application.config["SQLALCHEMY_DATABASE_URI"]
        if url not in _schema_ready:
            db.drop_all()
            db.create_all()
            _schema_ready.add(url)
        _reset_database()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1) or m.group(2)


class AuthActions:
    """Log in and out through the real forms, CSRF token included."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str = "secret-pass-1"):
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": self.csrf("/login")}
        )

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": self.csrf("/")})

    def csrf(self, path: str) -> str:
        """The CSRF token of the session, read from a page that has a form."""
        page = self.client.get(path, follow_redirects=True)
        return csrf_token_from(page.get_data(as_text=True))


@pytest.fixture
def auth(client):
    return AuthActions(client)


# -- factories -----------------------------------------------------------------------------


@pytest.fixture
def factory(app):
    from tests.factories import Factory

    return Factory()


# -- PostgreSQL for tests that need it whatever the main database is ------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database (the CI one when given, else one made here)."""
    if TEST_DB_URL and TEST_DB_URL.startswith("postgresql"):
        yield TEST_DB_URL
        return
    admin_url = os.environ.get("HELPDESK_TEST_PG_ADMIN_URL", PG_DEFAULT_ADMIN_URL)
    name = f"helpdesk_pytest_{os.getpid()}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        need_server(f"PostgreSQL not reachable at {admin_url}: {exc}")
    yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def future_date(days: int) -> date:
    return date.today() + timedelta(days=days)
