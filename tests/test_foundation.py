"""The foundation: configuration, constraints, accounts, access policy, CSRF, throttling."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk import create_app
from helpdesk.config import ConfigError
from helpdesk.extensions import db
from helpdesk.models import Article, Role, Ticket, TimeEntry
from helpdesk.tickets.services import add_article, create_ticket
from tests.conftest import base_config
from tests.factories import PASSWORD

# -- configuration -------------------------------------------------------------------------


def test_config_precedence_defaults_then_instance_file_then_environment(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("VENDOR_NAME = 'From File'\nCURRENCY = 'RSD'\n")
    monkeypatch.setenv("HELPDESK_CURRENCY", "TRY")
    monkeypatch.setenv("HELPDESK_BILLING_INCREMENT_MINUTES", "30")
    import helpdesk

    monkeypatch.setattr(helpdesk, "ROOT", tmp_path.parent)
    from flask import Flask

    from helpdesk.config import load_config

    app = Flask("x", instance_path=str(tmp_path), instance_relative_config=True)
    load_config(app)
    assert app.config["TIMEZONE"] == "Europe/Belgrade"  # default
    assert app.config["VENDOR_NAME"] == "From File"  # instance file over default
    assert app.config["CURRENCY"] == "TRY"  # environment over instance file
    assert app.config["BILLING_INCREMENT_MINUTES"] == 30  # parsed as JSON


def test_production_without_secret_key_refuses_to_start(monkeypatch):
    monkeypatch.delenv("HELPDESK_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="HELPDESK_SECRET_KEY"):
        create_app({"ENV": "production", "SECRET_KEY": None,
                    "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_postgres_url_uses_psycopg3():
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI="postgresql://u@h/db"))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


# -- constraints in the database ------------------------------------------------------------


def _ticket(factory):
    c = factory.client()
    return create_ticket(subject="Printer", client_id=c.id, actor="test")


def test_duplicate_message_id_is_refused(app, factory):
    t = _ticket(factory)
    add_article(t, direction="in", body_text="a", message_id="<same@x>")
    db.session.commit()
    db.session.add(Article(ticket_id=t.id, direction="in", body_text="b", message_id="<same@x>"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(Article)) == 1


def _entry(client_id, **kw):
    now = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    values = {"client_id": client_id, "kind": "phone", "source": "cdr", "started_at": now,
              "ended_at": now, "minutes": 10, "billable_minutes": 15, "period": "2026-11",
              "external_ref": "call-1"}
    values.update(kw)
    return TimeEntry(**values)


def test_duplicate_external_reference_per_source_is_refused(app, factory):
    c = factory.client()
    db.session.commit()
    db.session.add(_entry(c.id))
    db.session.commit()
    db.session.add(_entry(c.id))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # The same reference from another source is another thing.
    db.session.add(_entry(c.id, source="logmein"))
    db.session.commit()


def test_negative_minutes_are_refused_except_for_adjustments(app, factory):
    c = factory.client()
    db.session.commit()  # the client must outlive the rollback below
    db.session.add(_entry(c.id, minutes=-5, external_ref="n1"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(_entry(c.id, minutes=-5, billable_minutes=-15, external_ref="n2",
                          is_adjustment=True, reason="double-counted call"))
    db.session.commit()


def test_client_user_must_belong_to_a_client(app, factory):
    from helpdesk.models import User

    db.session.add(User(email="x@y.test", name="x", role=Role.CLIENT))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_ticket_numbers_are_unique_and_increasing(app, factory):
    c = factory.client()
    numbers = [create_ticket(subject=f"t{i}", client_id=c.id).number for i in range(5)]
    assert numbers == sorted(set(numbers)) and len(numbers) == 5


def test_times_come_back_as_aware_utc(app, factory):
    t = _ticket(factory)
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(Ticket, t.id)
    assert again.created_at.tzinfo is not None
    assert again.created_at.utcoffset().total_seconds() == 0


# -- accounts, roles, access ----------------------------------------------------------------


def test_password_is_hashed(app, factory):
    u = factory.user()
    assert PASSWORD not in (u.password_hash or "")
    assert u.check_password(PASSWORD) and not u.check_password("wrong")


def test_login_then_home_per_role(client, auth, factory):
    agent = factory.user(Role.AGENT)
    acme = factory.client()
    cu = factory.user(Role.CLIENT, client=acme)
    db.session.commit()
    r = auth.login(agent.email)
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/")
    assert client.get("/console/").status_code == 200
    auth.logout()
    r = auth.login(cu.email)
    assert r.headers["Location"].endswith("/portal/")
    assert client.get("/portal/").status_code == 200


def test_wrong_password_says_so_next_to_the_field(client, auth, factory):
    u = factory.user()
    db.session.commit()
    r = auth.login(u.email, "nope")
    assert r.status_code == 401
    assert "Wrong email or password" in r.get_data(as_text=True)


def test_client_user_cannot_reach_the_console(client, auth, factory):
    acme = factory.client()
    cu = factory.user(Role.CLIENT, client=acme)
    db.session.commit()
    auth.login(cu.email)
    assert client.get("/console/").status_code == 403
    assert client.get(f"/console/clients/{acme.id}").status_code == 403


def test_staff_cannot_use_the_portal(client, auth, factory):
    agent = factory.user(Role.AGENT)
    db.session.commit()
    auth.login(agent.email)
    assert client.get("/portal/").status_code == 403


def test_anonymous_is_sent_to_login(client):
    r = client.get("/console/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_client_user_gets_404_for_another_clients_ticket(client, auth, factory):
    a, b = factory.client("A d.o.o."), factory.client("B d.o.o.")
    ta = create_ticket(subject="ours", client_id=a.id)
    tb = create_ticket(subject="theirs", client_id=b.id)
    cu = factory.user(Role.CLIENT, client=a)
    db.session.commit()
    auth.login(cu.email)
    assert client.get(f"/portal/tickets/{ta.number}").status_code == 200
    assert client.get(f"/portal/tickets/{tb.number}").status_code == 404
    home = client.get("/portal/").get_data(as_text=True)
    assert "ours" in home and "theirs" not in home


def test_subagent_sees_only_tickets_it_opened(client, auth, factory):
    a = factory.client()
    sub = factory.user(Role.CLIENT, client=a, portal_role="subagent")
    own = create_ticket(subject="mine", client_id=a.id, opened_by=sub)
    other = create_ticket(subject="colleague", client_id=a.id)
    db.session.commit()
    auth.login(sub.email)
    assert client.get(f"/portal/tickets/{own.number}").status_code == 200
    assert client.get(f"/portal/tickets/{other.number}").status_code == 404


def test_login_redirect_never_leaves_the_site(client, factory):
    from tests.conftest import csrf_token_from

    u = factory.user()
    db.session.commit()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    r = client.post("/login?next=//evil.example/x",
                    data={"email": u.email, "password": PASSWORD, "csrf_token": token})
    assert "evil.example" not in r.headers["Location"]


# -- CSRF and throttling --------------------------------------------------------------------


def test_form_posted_without_csrf_token_is_refused(client, factory):
    u = factory.user()
    db.session.commit()
    r = client.post("/login", data={"email": u.email, "password": PASSWORD})
    assert r.status_code in (200, 400)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    assert client.get("/console/").status_code == 302  # still anonymous


def test_failed_logins_are_rate_limited(client, auth, factory, app):
    u = factory.user()
    db.session.commit()
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert auth.login(u.email, "bad").status_code == 401
    # Even the right password is refused while the account is throttled.
    r = auth.login(u.email, PASSWORD)
    assert r.status_code == 429
    assert "Too many failed attempts" in r.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_throttling_does_not_reveal_whether_the_account_exists(client, auth, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        auth.login("nobody@example.test", "bad")
    assert auth.login("nobody@example.test", "bad").status_code == 429


# -- API tokens -----------------------------------------------------------------------------


def test_api_needs_a_valid_bearer_token(client, factory, app):
    from helpdesk.models import ApiToken

    u = factory.user(Role.ADMIN)
    token, plain = ApiToken.issue(u)
    db.session.add(token)
    db.session.commit()
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert r.status_code == 200 and r.json["email"] == u.email


# -- CLI ------------------------------------------------------------------------------------


def test_cli_user_create_and_token(app, factory):
    c = factory.client()
    db.session.commit()
    runner = app.test_cli_runner()
    r = runner.invoke(args=["user", "create", "NEW@Example.test", "--role", "client",
                            "--client", str(c.id), "--password", "long-enough-1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["user", "create", "x@example.test", "--role", "client",
                            "--password", "long-enough-1"])
    assert r.exit_code != 0 and "--client is required" in r.output
    r = runner.invoke(args=["user", "token", "new@example.test"])
    assert r.exit_code == 0 and r.output.strip().startswith("hd_")


def test_demo_loads_once_and_its_logins_work(app, client, auth):
    from helpdesk.demo import DEMO_PASSWORD
    from helpdesk.models import Client, TimeEntry, User

    runner = app.test_cli_runner()
    r = runner.invoke(args=["demo"])
    assert r.exit_code == 0, r.output
    counts = [db.session.scalar(select(db.func.count()).select_from(m))
              for m in (Client, Ticket, Article, TimeEntry, User)]
    assert counts[0] >= 10 and counts[1] >= 200 and counts[3] >= 100
    r = runner.invoke(args=["demo"])
    assert "nothing changed" in r.output
    assert counts == [db.session.scalar(select(db.func.count()).select_from(m))
                      for m in (Client, Ticket, Article, TimeEntry, User)]
    statuses = {c.contracts[0].status if c.contracts else None
                for c in db.session.scalars(select(Client))}
    assert {"trial", "active", "expired", None} <= statuses
    for user in db.session.scalars(select(User)):
        r = auth.login(user.email, DEMO_PASSWORD)
        assert r.status_code == 302, user.email
        home = client.get(r.headers["Location"])
        assert home.status_code == 200, user.email
        auth.logout()


# -- migrations -----------------------------------------------------------------------------


def _flask(args, url, tmp_path):
    env = {"HELPDESK_SQLALCHEMY_DATABASE_URI": url, "FLASK_APP": "app.py",
           "HELPDESK_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "flask", *args], env=env, capture_output=True,
                          check=False, text=True, cwd=str(__import__("helpdesk").ROOT), timeout=300)


def _migrate_roundtrip(url, tmp_path):
    for args in (["db", "upgrade"], ["demo"], ["db", "downgrade", "base"], ["db", "upgrade"]):
        r = _flask(args, url, tmp_path)
        assert r.returncode == 0, (args, r.stderr[-2000:])


def test_migrations_upgrade_demo_downgrade_on_sqlite(tmp_path):
    _migrate_roundtrip(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)


@pytest.mark.postgres
def test_migrations_upgrade_demo_downgrade_on_postgresql(tmp_path, pg_url):
    from sqlalchemy import create_engine, text

    name = f"helpdesk_migrations_test_{os.getpid()}"
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _migrate_roundtrip(pg_url.rsplit("/", 1)[0] + f"/{name}", tmp_path)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_models_and_migrations_agree(tmp_path):
    """`flask db check`: the migrations build exactly the tables the models describe."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert _flask(["db", "upgrade"], url, tmp_path).returncode == 0
    r = _flask(["db", "check"], url, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
