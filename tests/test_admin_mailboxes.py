"""Admin "Mailboxes": each support mailbox's last poll, last error, mail taken today, failed mail
and a real IMAP login test, against the test Dovecot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.mailboxes.models import MailboxPoll
from helpdesk.mailboxes.status import poll_states, record_poll
from helpdesk.models import IngestFailure, Role
from mail_ingest.ingest import IngestError, ingest_all
from tests.conftest import csrf_token_from
from tests.servers import ImapAccount

pytestmark = pytest.mark.imap


def mail(n: int) -> bytes:
    return (f"From: Pera <pera@acme.example>\r\nTo: support@helpdesk.example\r\n"
            f"Subject: Problem {n}\r\nMessage-ID: <mbx-{n}@acme.example>\r\n"
            "Date: Thu, 03 Dec 2026 09:30:00 +0100\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nŠtampač ne radi.\r\n").encode()


@pytest.fixture
def app_config(imap_account: ImapAccount) -> dict[str, Any]:
    common = {"host": imap_account.host, "port": imap_account.port, "security": "plain",
              "processed_folder": "", "failed_folder": ""}
    return {
        "IMAP_MAILBOXES": [
            {**common, "name": "support", "user": imap_account.user,
             "password": imap_account.password},
            {**common, "name": "billing", "user": imap_account.user, "password": "wrong-one",
             "queue": "billing"},
        ],
        "INGEST_PARSE_WORKERS": 0,
        "MAIL_DEFAULT_SENDER": "support@helpdesk.example",
    }


@pytest.fixture
def admin(factory, auth):
    user = factory.user(Role.ADMIN, name="Ada Admin")
    db.session.commit()
    auth.login(user.email)
    return user


def _rows(html: str) -> dict[str, str]:
    import re

    return {m.group(1): m.group(2) for m in re.finditer(
        r'<tr data-mailbox="([^"]+)">(.*?)</tr>', html, re.DOTALL)}


def test_page_shows_last_poll_error_taken_today_and_failed(client, admin, imap_account):
    imap_account.append(mail(1))
    imap_account.append(mail(2))
    with pytest.raises(IngestError):
        ingest_all()
    db.session.add(IngestFailure(mailbox="support", uid=77, error="bad mail", subject="x"))
    db.session.add(IngestFailure(mailbox="support", uid=78, error="old", subject="y",
                                 resolved_at=datetime.now(UTC)))
    db.session.commit()
    resp = client.get("/admin/mailboxes")
    assert resp.status_code == 200
    rows = _rows(resp.get_data(as_text=True))
    assert set(rows) == {"support", "billing"}
    support, billing = rows["support"], rows["billing"]
    assert '<td data-label="Taken today" class="taken">2</td>' in support
    assert 'class="failed"><a href="/admin/ingest-failures">1</a>' in support
    assert "<time datetime=" in support and "badge bad" not in support
    assert '<td data-label="Taken today" class="taken">0</td>' in billing
    assert "badge bad" in billing and "log in as" in billing
    assert imap_account.password not in resp.get_data(as_text=True)
    assert "wrong-one" not in resp.get_data(as_text=True)
    # A later good pass clears the error line and keeps counting the day.
    imap_account.append(mail(3))
    with pytest.raises(IngestError):
        ingest_all()
    states = {s.name: s for s in poll_states(["support", "billing"])}
    assert states["support"].taken_today == 3 and states["support"].last_error is None
    assert states["billing"].last_error and states["billing"].last_ok_at is None


def _test(client, index: int):
    token = csrf_token_from(client.get("/admin/mailboxes").get_data(as_text=True))
    return client.post(f"/admin/mailboxes/{index}/test", data={"csrf_token": token})


def test_test_connection_logs_in_for_real(client, admin, imap_account):
    imap_account.append(mail(1))
    resp = _test(client, 0)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-ok="yes"' in html
    assert f"support: signed in as {imap_account.user}; 1 message in INBOX." in html
    # Testing is not a poll: nothing recorded, nothing ingested.
    assert db.session.scalar(select(MailboxPoll.id)) is None


def test_wrong_password_is_one_clear_line(client, admin, imap_account):
    resp = _test(client, 1)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'data-ok="no"' in html
    line = html.split('id="test-result" data-ok="no">', 1)[1].split("</p>", 1)[0]
    assert line == (f"billing: the server refused the user name or password for "
                    f"{imap_account.user}.")


def test_wrong_password_in_turkish(client, admin, imap_account):
    token = csrf_token_from(client.get("/admin/mailboxes").get_data(as_text=True))
    client.post("/language", data={"language": "tr", "csrf_token": token})
    html = _test(client, 1).get_data(as_text=True)
    assert "the server refused" not in html and imap_account.user in html


@pytest.mark.parametrize("app_config", [{}], indirect=False)
def test_nothing_listening_names_host_and_port(app, client, admin, unused_port):
    app.config["IMAP_MAILBOXES"] = [{"name": "dead", "host": "127.0.0.1", "port": unused_port,
                                     "user": "u", "password": "p", "security": "plain",
                                     "timeout": 3}]
    html = _test(client, 0).get_data(as_text=True)
    assert f"dead: the server cannot be reached: connect to 127.0.0.1:{unused_port}" in html


def test_unknown_mailbox_forged_form_and_non_admins(client, admin, auth, factory):
    assert _test(client, 5).status_code == 404
    assert client.post("/admin/mailboxes/0/test", data={}).status_code == 400
    agent = factory.user(Role.AGENT)
    db.session.commit()
    auth.logout()
    auth.login(agent.email)
    assert client.get("/admin/mailboxes").status_code == 403
    assert client.post("/admin/mailboxes/0/test",
                       data={"csrf_token": auth.csrf("/console/")}).status_code == 403


def test_broken_settings_are_one_line_not_a_traceback(app, client, admin):
    app.config["IMAP_MAILBOXES"] = [{"name": "x", "host": "mail.example.com", "user": "u",
                                     "security": "plain"}]
    resp = client.get("/admin/mailboxes")
    assert resp.status_code == 200
    assert "only allowed for loopback hosts" in resp.get_data(as_text=True)


def test_taken_today_restarts_at_the_vendors_midnight(app):
    app.config["TIMEZONE"] = "Europe/Istanbul"  # UTC+3 all year
    record_poll("support", taken=4, now=datetime(2026, 12, 31, 20, 30, tzinfo=UTC))  # 23:30
    db.session.commit()
    assert poll_states(["support"], now=datetime(2026, 12, 31, 20, 59, tzinfo=UTC))[0] \
        .taken_today == 4
    # 00:05 on New Year's Day in Istanbul: a new day, a new count.
    assert poll_states(["support"], now=datetime(2026, 12, 31, 21, 5, tzinfo=UTC))[0] \
        .taken_today == 0
    record_poll("support", taken=1, now=datetime(2026, 12, 31, 21, 5, tzinfo=UTC))
    db.session.commit()
    state = poll_states(["support"], now=datetime(2026, 12, 31, 21, 6, tzinfo=UTC))[0]
    assert state.taken_today == 1
    record_poll("support", error="connect to x:993: refused\n  details",
                now=datetime(2026, 12, 31, 21, 7, tzinfo=UTC))
    db.session.commit()
    state = poll_states(["support"], now=datetime(2026, 12, 31, 21, 8, tzinfo=UTC))[0]
    assert state.last_error == "connect to x:993: refused details" and state.taken_today == 1


# -- the same for scripts: API and command --------------------------------------------------


def test_api_lists_mailboxes_and_tests_a_login(client, factory, imap_account):
    from tests.test_api import Api

    spec = client.get("/api/v1/openapi.json").get_json()
    admin = factory.user(Role.ADMIN)
    agent = factory.user(Role.AGENT)
    record_poll("support", taken=2)
    db.session.commit()
    api = Api(client, spec, admin)
    listed = api.call("GET", "/api/v1/mailboxes").get_json()
    assert [m["name"] for m in listed] == ["support", "billing"]
    assert listed[0]["taken_today"] == 2 and "password" not in listed[0]
    good = api.call("POST", "/api/v1/mailboxes/0/test").get_json()
    assert good["ok"] is True and good["messages"] == 0
    bad = api.call("POST", "/api/v1/mailboxes/1/test").get_json()
    assert (bad["ok"], bad["kind"]) == (False, "auth")
    api.call("POST", "/api/v1/mailboxes/9/test", expect=404)
    Api(client, spec, agent).call("GET", "/api/v1/mailboxes", expect=403)


def test_command_lists_and_tests_the_mailboxes(app, imap_account):
    record_poll("billing", error="log in as 'x': [AUTHENTICATIONFAILED] Authentication failed.")
    db.session.commit()
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["mailboxes"])
    assert listing.exit_code == 0, listing.output
    assert "support:" in listing.output and "last poll never" in listing.output
    assert "billing:" in listing.output and "last error: log in as" in listing.output
    tested = runner.invoke(args=["mailboxes", "--test"])
    assert tested.exit_code == 1
    assert "test: ok, 0 message(s) in INBOX" in tested.output
    assert "test: auth:" in tested.output
