"""Webhooks against a real HTTP receiver on 127.0.0.1: signed bodies, retries with back-off
through the scheduler's job, the delivery log, replay, and disabling after repeated failure."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from helpdesk.extensions import db, mail
from helpdesk.integrations import webhooks
from helpdesk.integrations.models import WebhookDelivery
from helpdesk.models import Role
from helpdesk.scheduler.runner import run_job_now
from helpdesk.tickets.services import create_ticket
from tests.conftest import csrf_token_from


class Receiver:
    """Answers the first ``failures`` POSTs with 500, then 200; keeps what it got."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                failing = len(receiver.received) <= receiver.failures
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"boom" if failing else b"thanks")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver(failures=2)
    yield r
    r.close()


@pytest.fixture
def owner(factory):
    user = factory.user(Role.ADMIN, email="owner@vendor.test")
    db.session.commit()
    return user


def test_signed_retried_with_back_off_and_logged(app, owner, receiver):
    app.config.update(WEBHOOK_RETRY_BASE_SECONDS=60, WEBHOOK_MAX_ATTEMPTS=5)
    sub = webhooks.create_subscription(owner, receiver.url, ["ticket.created"])
    db.session.commit()
    ticket = create_ticket(subject="Server down", client_id=None, actor="t")
    db.session.commit()

    t0 = datetime.now(UTC)
    for step, (offset, expected) in enumerate([(0, 1), (30, 1), (61, 2), (150, 2), (181, 3)]):
        run_job_now("webhooks", t0 + timedelta(seconds=offset))
        assert len(receiver.received) == expected, (step, offset)

    headers, body = receiver.received[-1]
    assert webhooks.verify(sub.secret, body, headers["X-Helpdesk-Signature"])
    assert not webhooks.verify("whsec_wrong", body, headers["X-Helpdesk-Signature"])
    assert not webhooks.verify(sub.secret, body.replace(b"Server", b"Serwer"),
                               headers["X-Helpdesk-Signature"])
    old = headers["X-Helpdesk-Signature"]
    assert not webhooks.verify(sub.secret, body, old, now=datetime.now(UTC).timestamp() + 3600)
    event = json.loads(body)
    assert event["event"] == "ticket.created" and event["data"]["number"] == ticket.number
    assert headers["X-Helpdesk-Event"] == "ticket.created"

    delivery = db.session.scalar(select(WebhookDelivery))
    db.session.refresh(delivery)
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [(a.status_code, a.response) for a in delivery.tries] == [
        (500, "boom"), (500, "boom"), (200, "thanks")]
    # Same body each time: a receiver de-duplicates on the event id.
    assert len({b for _, b in receiver.received}) == 1


def test_the_log_page_shows_every_try_and_replays(app, client, auth, owner, receiver):
    receiver.failures = 0
    sub = webhooks.create_subscription(owner, receiver.url, ["ticket.created"])
    create_ticket(subject="Hello", client_id=None, actor="t")
    db.session.commit()
    run_job_now("webhooks")
    auth.login("owner@vendor.test")
    page = client.get(f"/integrations/webhooks/{sub.id}").get_data(as_text=True)
    assert "thanks" in page and "200" in page
    delivery = db.session.scalar(select(WebhookDelivery))
    client.post(f"/integrations/webhooks/deliveries/{delivery.id}/replay",
                data={"csrf_token": csrf_token_from(page)})
    run_job_now("webhooks", datetime.now(UTC) + timedelta(seconds=1))
    assert len(receiver.received) == 2
    assert receiver.received[0][1] == receiver.received[1][1]


def test_a_subscription_is_disabled_after_repeated_failure_and_its_owner_told(app, owner):
    app.config.update(WEBHOOK_MAX_ATTEMPTS=1, WEBHOOK_DISABLE_AFTER=2)
    dead = Receiver(failures=10**6)
    try:
        sub = webhooks.create_subscription(owner, dead.url, ["ticket.created"])
        create_ticket(subject="One", client_id=None, actor="t")
        create_ticket(subject="Two", client_id=None, actor="t")
        db.session.commit()
        with mail.record_messages() as sent:
            run_job_now("webhooks")
        db.session.refresh(sub)
        assert sub.active is False and sub.disabled_at is not None
        assert [m.recipients for m in sent] == [["owner@vendor.test"]]
        assert dead.url in sent[0].subject
        create_ticket(subject="Three", client_id=None, actor="t")  # not queued any more
        db.session.commit()
        assert db.session.scalar(select(db.func.count(WebhookDelivery.id))) == 2
    finally:
        dead.close()


def test_a_rolled_back_change_sends_nothing(owner, receiver):
    webhooks.create_subscription(owner, receiver.url, ["ticket.created"])
    db.session.commit()
    create_ticket(subject="Never", client_id=None, actor="t")
    db.session.rollback()
    assert db.session.scalar(select(db.func.count(WebhookDelivery.id))) == 0


def test_subscriptions_need_http_urls_and_events(owner):
    with pytest.raises(webhooks.WebhookError):
        webhooks.create_subscription(owner, "file:///etc/passwd", ["ticket.created"])
    with pytest.raises(webhooks.WebhookError):
        webhooks.create_subscription(owner, "http://x.test/", ["nope"])


def test_webhooks_through_the_api_and_the_command(app, client, owner, receiver, factory):
    from tests.test_api import Api

    spec = client.get("/api/v1/openapi.json").get_json()
    api = Api(client, spec, owner)
    made = api.call("POST", "/api/v1/webhooks", json={
        "url": receiver.url, "events": ["time.logged"]}, expect=201).get_json()
    assert made["secret"].startswith("whsec_")
    listed = api.call("GET", "/api/v1/webhooks").get_json()["items"]
    assert [s["id"] for s in listed] == [made["id"]] and "secret" not in listed[0]
    api.call("POST", "/api/v1/webhooks", json={"url": "ftp://x", "events": ["time.logged"]},
             expect=422)
    agent = factory.user(Role.AGENT)
    db.session.commit()
    Api(client, spec, agent).call("GET", f"/api/v1/webhooks/{made['id']}/deliveries",
                                  expect=404)  # not theirs
    receiver.failures = 0
    from helpdesk.accounting.ledger import log_entry

    other = factory.client("Hooked")
    log_entry(client=other, kind="phone", started_at=datetime.now(UTC), minutes=5)
    db.session.commit()
    run_job_now("webhooks")
    log = api.call("GET", f"/api/v1/webhooks/{made['id']}/deliveries").get_json()["items"]
    assert log[0]["status"] == "delivered" and log[0]["tries"][0]["status_code"] == 200
    assert json.loads(receiver.received[0][1])["data"]["minutes"] == 5
    api.call("POST", f"/api/v1/webhooks/deliveries/{log[0]['id']}/replay", expect=201)
    r = client.delete(f"/api/v1/webhooks/{made['id']}",
                      headers={"Authorization": f"Bearer {api.plain}"})
    assert r.status_code == 204

    runner = app.test_cli_runner()
    out = runner.invoke(args=["webhooks", "add", receiver.url, "--event", "month.closed",
                              "--owner", "owner@vendor.test"])
    assert out.exit_code == 0 and "signing secret: whsec_" in out.output, out.output
    assert "month.closed" in runner.invoke(args=["webhooks", "list"]).output
    sub_id = out.output.split()[1].rstrip(";")
    assert runner.invoke(args=["webhooks", "remove", sub_id]).exit_code == 0
