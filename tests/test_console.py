"""The agent console: SLA clocks on the ticket page, ticket work, client page, access per role."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import (
    Article,
    AuditLog,
    Role,
    SendStatus,
    Ticket,
    TicketPause,
    Visit,
)
from helpdesk.tickets.attachments import store_bytes
from helpdesk.tickets.services import NewAttachment, add_article, create_ticket
from helpdesk.web.agent import sending

BELGRADE = ZoneInfo("Europe/Belgrade")
ISTANBUL = ZoneInfo("Europe/Istanbul")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Page(HTMLParser):
    """The bits of a page the tests look at: elements by id, labels, controls, access keys."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.labels_for: set[str] = set()
        self.controls: list[dict] = []
        self.accesskeys: list[str] = []
        self.kbd: list[str] = []
        self._open: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        a["_tag"], a["_text"] = tag, ""
        if "id" in a:
            self.by_id[a["id"]] = a
        if tag == "label" and a.get("for"):
            self.labels_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        if "accesskey" in a:
            self.accesskeys.append(a["accesskey"])
        if tag not in VOID:
            self._open.append((tag, a))

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for tag, a in self._open:
            a["_text"] += data
        if self._open and self._open[-1][0] == "kbd":
            self.kbd.append(data.strip())

    def text(self, element_id: str) -> str:
        return " ".join(self.by_id[element_id]["_text"].split())


@pytest.fixture
def agent(factory, auth):
    user = factory.user(Role.AGENT, name="Ana Agent")
    db.session.commit()
    auth.login(user.email)
    return user


# -- acceptance: SLA due times end to end ----------------------------------------------------------

CASES = [
    # (what, package, addons, zone, country, created (local), priority, first response due (local))
    ("Friday afternoon, Standard, normal: Monday 11:30",
     "standard", (), BELGRADE, "RS", (2026, 11, 20, 15, 30), "normal", (2026, 11, 23, 11, 30)),
    ("Friday before Statehood Day (Mon+Tue off): Wednesday 11:30",
     "standard", (), BELGRADE, "RS", (2027, 2, 12, 15, 30), "normal", (2027, 2, 17, 11, 30)),
    ("Friday before the switch to winter time: Monday 11:30 on the new offset",
     "standard", (), BELGRADE, "RS", (2026, 10, 23, 15, 30), "normal", (2026, 10, 26, 11, 30)),
    ("Good Friday and Easter Monday (Orthodox 2026) are off: Tuesday 11:30",
     "standard", (), BELGRADE, "RS", (2026, 4, 9, 15, 30), "normal", (2026, 4, 14, 11, 30)),
    ("Extended halves it: Monday 09:30",
     "extended", (), BELGRADE, "RS", (2026, 11, 20, 15, 30), "normal", (2026, 11, 23, 9, 30)),
    ("Basic, 8 h: Monday 15:30",
     "basic", (), BELGRADE, "RS", (2026, 11, 20, 15, 30), "normal", (2026, 11, 23, 15, 30)),
    ("low priority doubles Standard: Monday 15:30",
     "standard", (), BELGRADE, "RS", (2026, 11, 20, 15, 30), "low", (2026, 11, 23, 15, 30)),
    ("urgent halves Standard: Monday 09:30",
     "standard", (), BELGRADE, "RS", (2026, 11, 20, 15, 30), "urgent", (2026, 11, 23, 9, 30)),
    ("urgent with on-call runs around the clock: Friday 17:30",
     "standard", ("oncall",), BELGRADE, "RS", (2026, 11, 20, 15, 30), "urgent",
     (2026, 11, 20, 17, 30)),
    ("Turkish client: half day before Republic Day, then the holiday: Friday 10:30",
     "standard", (), ISTANBUL, "TR", (2026, 10, 28, 11, 30), "normal", (2026, 10, 30, 10, 30)),
]


@pytest.mark.parametrize("what,package,addons,zone,country,created,priority,due", CASES,
                         ids=[c[0] for c in CASES])
def test_ticket_page_shows_first_response_due(
    client, factory, agent, what, package, addons, zone, country, created, priority, due
):
    c = factory.client(country=country, timezone=zone.key)
    factory.contract(c, package, start=date(2025, 1, 1), addons=addons)
    t = create_ticket(subject="Acceptance", client_id=c.id, priority=priority,
                      created_at=local(zone, *created), actor="test")
    db.session.commit()
    expected = local(zone, *due)
    assert t.first_response_due == expected

    page = Page(client.get(f"/console/tickets/{t.number}").get_data(as_text=True))
    clock = page.by_id["sla-first_response"]
    assert datetime.fromisoformat(clock["data-due"]) == expected
    shown = page.text("sla-first_response")
    in_belgrade = expected.astimezone(BELGRADE)
    assert in_belgrade.strftime("%a, %b %-d, %Y, %H:%M") in shown, shown
    if zone is not BELGRADE:
        assert f"client time {expected.astimezone(zone).strftime('%a %H:%M')}" in shown
    assert "% used" in shown


def test_no_active_contract_means_no_sla_target(client, factory, agent):
    expired = factory.client()
    factory.contract(expired, "standard", status="expired")
    none = factory.client()
    for c in (expired, none):
        t = create_ticket(subject="No SLA", client_id=c.id, actor="test")
        db.session.commit()
        assert t.first_response_due is None and t.sla_next_due is None
        html = client.get(f"/console/tickets/{t.number}").get_data(as_text=True)
        assert "No SLA target" in html and 'id="sla-first_response"' not in html


def test_clock_shows_share_used_and_pause(client, factory, agent):
    c = factory.client()
    factory.contract(c, "standard", start=date(2025, 1, 1))
    t = create_ticket(subject="Clock", client_id=c.id, created_at=local(BELGRADE, 2026, 11, 17, 8),
                      actor="test")
    # Pending from 09:00 until now: one business hour used of four, the clock stands still.
    db.session.add(TicketPause(ticket=t, started_at=local(BELGRADE, 2026, 11, 17, 9)))
    t.status = "pending"
    db.session.commit()
    page = Page(client.get(f"/console/tickets/{t.number}").get_data(as_text=True))
    shown = page.text("sla-first_response")
    assert "25 % used" in shown and "paused" in shown
    assert page.by_id["sla-first_response"]["data-state"] == "paused"


# -- access per role ------------------------------------------------------------------------------


@pytest.fixture
def world(factory):
    """One of everything a console URL can point at."""
    c = factory.client("Access Co")
    factory.contract(c, "standard")
    t = create_ticket(subject="Access", client_id=c.id, actor="test")
    a = add_article(t, direction="in", body_text="hello", attachments=[NewAttachment(
        filename="a.txt", content_type="text/plain", size=2, sha256=store_bytes(b"hi"))])
    db.session.commit()
    return {"client": c, "ticket": t, "attachment": a.attachments[0]}


def _console_urls(app, world) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every rule of the agent blueprint."""
    values = {"number": world["ticket"].number, "client_id": world["client"].id,
              "attachment_id": world["attachment"].id}
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("agent."):
                continue
            args = {name: values.get(name, 1) for name in rule.arguments}
            url = url_for(rule.endpoint, **args, _external=False)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                urls.append((rule.endpoint, method, url))
    assert len(urls) >= 10
    return urls


def test_anonymous_visitors_are_sent_to_the_login(app, client, auth, world):
    token = auth.csrf("/login")
    for endpoint, method, url in _console_urls(app, world):
        r = client.open(url, method=method, data={"csrf_token": token})
        assert r.status_code == 302, (endpoint, method, r.status_code)
        assert "/login" in r.headers["Location"], endpoint


def test_client_users_are_refused_every_console_url(app, client, auth, factory, world):
    user = factory.user(Role.CLIENT, client=world["client"], portal_role="admin")
    db.session.commit()
    auth.login(user.email)
    token = auth.csrf("/portal/")
    for endpoint, method, url in _console_urls(app, world):
        r = client.open(url, method=method, data={"csrf_token": token})
        assert r.status_code == 403, (endpoint, method, r.status_code)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AGENT, Role.ACCOUNT_MANAGER])
def test_staff_open_every_console_page(client, auth, factory, world, role):
    user = factory.user(role)
    db.session.commit()
    auth.login(user.email)
    c, t = world["client"], world["ticket"]
    for url in ("/console/", "/console/?view=mine", "/console/?view=unassigned",
                "/console/?view=due", f"/console/?client={c.id}", "/console/?status=closed",
                "/console/?status=any&q=access", f"/console/tickets/{t.number}", "/console/clients",
                f"/console/clients/{c.id}", f"/console/attachments/{world['attachment'].id}"):
        with client.get(url) as r:
            assert r.status_code == 200, url


def test_unknown_ids_are_404(client, agent):
    for url in ("/console/tickets/999999", "/console/clients/999999",
                "/console/attachments/999999"):
        with client.get(url) as r:
            assert r.status_code == 404, url


# -- working on a ticket --------------------------------------------------------------------------


@pytest.fixture
def ticket(factory):
    c = factory.client("Work Co")
    factory.contract(c, "standard")
    contact = factory.contact(c, email="boss@work.example")
    t = create_ticket(subject="Invoices do not print", client_id=c.id, contact_id=contact.id,
                      requester_email="boss@work.example", actor="test")
    add_article(t, direction="in", body_text="Nothing prints since the update.",
                from_addr="boss@work.example")
    db.session.commit()
    return t


def _post(client, auth, url, data, **kw):
    page_url = url.rsplit("/", 1)[0]
    data = dict(data)
    token = auth.csrf(page_url)
    for prefix in ("reply", "note", "assign", "status", "priority", "merge"):
        data.setdefault(f"{prefix}-csrf_token", token)
    return client.post(url, data=data, **kw)


def test_reply_with_attachment_is_sent_after_commit(client, auth, agent, ticket, monkeypatch):
    sent = []

    def fake_send(article):
        assert db.session.get(Article, article.id) is not None  # committed before sending
        sent.append(article.id)
        article.send_status = SendStatus.SENT

    monkeypatch.setattr(sending, "outgoing_sender", lambda: fake_send)
    r = _post(client, auth, f"/console/tickets/{ticket.number}/reply", {
        "reply-to": "boss@work.example", "reply-cc": "Ana <ana@work.example>",
        "reply-body": "Please update the driver.", "reply-then_status": "pending",
        "reply-attachments": [(io.BytesIO(b"driver notes"), "notes.txt", "text/plain")],
    }, content_type="multipart/form-data")
    assert r.status_code == 302
    db.session.expire_all()
    article = db.session.scalar(select(Article).where(Article.ticket_id == ticket.id,
                                                      Article.direction == "out"))
    assert sent == [article.id] and article.send_status == "sent"
    assert article.to_addrs == "boss@work.example" and article.cc_addrs == "ana@work.example"
    assert [(f.filename, f.size) for f in article.attachments] == [("notes.txt", 12)]
    t = db.session.get(Ticket, ticket.id)
    assert t.status == "pending" and t.first_response_at == article.created_at
    page = client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert "Please update the driver." in page and "Reply sent." in page


def test_reply_without_a_sender_stays_queued(client, auth, agent, ticket, monkeypatch):
    monkeypatch.setattr(sending, "outgoing_sender", lambda: None)
    r = _post(client, auth, f"/console/tickets/{ticket.number}/reply",
              {"reply-to": "boss@work.example", "reply-body": "Hello"}, follow_redirects=True)
    assert "could not be sent yet" in r.get_data(as_text=True)
    db.session.expire_all()
    article = db.session.scalar(select(Article).where(Article.direction == "out"))
    assert article.send_status == "queued"


def test_form_errors_sit_next_to_their_fields(client, auth, agent, ticket):
    r = _post(client, auth, f"/console/tickets/{ticket.number}/reply",
              {"reply-to": "not an address", "reply-body": ""})
    assert r.status_code == 400
    page = Page(r.get_data(as_text=True))
    assert page.by_id["reply-body"].get("aria-invalid") == "true"
    assert page.text("reply-body-error") == "Write the reply."
    assert "not an email address" in page.text("reply-to-error").lower()
    r = _post(client, auth, f"/console/tickets/{ticket.number}/merge", {"merge-target": "99999"})
    assert r.status_code == 400
    assert "There is no ticket #99999" in Page(r.get_data(as_text=True)).text("merge-target-error")


def test_internal_note_assign_status_priority(client, auth, agent, ticket, factory):
    other = factory.user(Role.AGENT, name="Other Agent")
    db.session.commit()
    base = f"/console/tickets/{ticket.number}"
    assert _post(client, auth, f"{base}/note", {"note-body": "Called them."}).status_code == 302
    assert _post(client, auth, f"{base}/assign",
                 {"assign-assignee": str(other.id)}).status_code == 302
    assert _post(client, auth, f"{base}/status", {"status-status": "open"}).status_code == 302
    assert _post(client, auth, f"{base}/priority",
                 {"priority-priority": "urgent"}).status_code == 302
    db.session.expire_all()
    t = db.session.get(Ticket, ticket.id)
    note = db.session.scalar(select(Article).where(Article.internal.is_(True)))
    assert note.body_text == "Called them." and note.author_user_id == agent.id
    assert (t.assignee_id, t.status, t.priority, t.priority_rank) == (other.id, "open", "urgent", 0)
    # Urgent halves the Standard first-response target.
    assert t.sla_first_response_minutes == 120
    audits = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "tickets",
                                                       AuditLog.action == "update")).all()
    assert {a.user_id for a in audits} == {agent.id} and len(audits) >= 3
    assert t.first_response_at is None  # an internal note is no response to the client
    r = _post(client, auth, f"{base}/assign", {"assign-assignee": "123456"})
    assert r.status_code == 400
    r = _post(client, auth, f"{base}/status", {"status-status": "bogus"})
    assert r.status_code == 400


def test_merge_moves_the_thread_and_closes_the_source(client, auth, agent, ticket, factory):
    source = create_ticket(subject="Same problem again", client_id=ticket.client_id, actor="t")
    add_article(source, direction="in", body_text="Still nothing prints.")
    stranger = create_ticket(subject="Other company", client_id=factory.client().id, actor="t")
    db.session.commit()
    r = _post(client, auth, f"/console/tickets/{source.number}/merge",
              {"merge-target": str(stranger.number)})
    assert r.status_code == 400 and "different clients" in r.get_data(as_text=True)
    r = _post(client, auth, f"/console/tickets/{source.number}/merge",
              {"merge-target": str(source.number)})
    assert r.status_code == 400 and "itself" in r.get_data(as_text=True)
    r = _post(client, auth, f"/console/tickets/{source.number}/merge",
              {"merge-target": str(ticket.number)})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/tickets/{ticket.number}")
    db.session.expire_all()
    src, dst = db.session.get(Ticket, source.id), db.session.get(Ticket, ticket.id)
    assert src.status == "closed" and src.merged_into_id == dst.id
    bodies = [a.body_text for a in dst.articles]
    assert "Still nothing prints." in bodies and "Nothing prints since the update." in bodies
    page = client.get(f"/console/tickets/{src.number}").get_data(as_text=True)
    assert "Merged into" in page and f"#{dst.number}" in page


def test_attachments_download_safely(client, agent, ticket):
    evil = add_article(ticket, direction="in", body_text="files", attachments=[
        NewAttachment(filename='../../evil"name\r\n.html', content_type="text/html", size=20,
                      sha256=store_bytes(b"<script>x</script>")),
        NewAttachment(filename="shot.png", content_type="image/png", size=4,
                      sha256=store_bytes(b"\x89PNG")),
        NewAttachment(filename="huge.iso", content_type="application/octet-stream",
                      size=10**10, sha256=None, dropped_reason="too large"),
    ])
    db.session.commit()
    html_att, png, dropped = evil.attachments
    with client.get(f"/console/attachments/{html_att.id}?inline=1") as r:
        assert r.status_code == 200 and r.data == b"<script>x</script>"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Type"] == "application/octet-stream"
        disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\n" not in disposition
    assert "evilname.html" in disposition and ".." not in disposition
    with client.get(f"/console/attachments/{png.id}?inline=1") as r:
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["Content-Disposition"].startswith("inline")
        assert "sandbox" in r.headers["Content-Security-Policy"]
    with client.get(f"/console/attachments/{png.id}") as r:
        assert r.headers["Content-Disposition"].startswith("attachment")
    with client.get(f"/console/attachments/{dropped.id}") as r:
        assert r.status_code == 410
    page = client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert f"/console/attachments/{png.id}" in page and "too large" in page


# -- keyboard and small screens -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["ticket", "queue", "client"])
def test_every_control_has_a_label_and_every_access_key_is_documented(
    client, agent, ticket, path
):
    url = {"ticket": f"/console/tickets/{ticket.number}", "queue": "/console/",
           "client": f"/console/clients/{ticket.client_id}"}[path]
    html = client.get(url).get_data(as_text=True)
    page = Page(html)
    for control in page.controls:
        assert control.get("id") in page.labels_for, control
    assert page.accesskeys, "no access keys"
    documented = set(page.kbd)
    for key in page.accesskeys:
        assert key in documented, f"access key {key!r} is not in the shortcuts list"
    assert len(page.accesskeys) == len(set(page.accesskeys)), "an access key is used twice"
    assert 'name="viewport"' in html


# -- the client page ------------------------------------------------------------------------------


def test_client_page_shows_contract_contacts_tickets_and_visits(client, factory, agent):
    manager = factory.user(Role.ACCOUNT_MANAGER, name="Mila Manager")
    c = factory.client("Page Co", manager=manager)
    contract = factory.contract(c, "extended", start=date(2026, 1, 1), addons=("cloud_backup",))
    factory.contact(c, email="it@page.example", phone="+381 11 222 333", name="Iva IT")
    db.session.add(Visit(client_id=c.id, contract_id=contract.id,
                         contract_year_start=date(2026, 1, 1), planned_date=date(2026, 12, 3),
                         notes="Server room"))
    for i in range(30):
        create_ticket(subject=f"Ticket {i:02d}", client_id=c.id, actor="t",
                      created_at=local(BELGRADE, 2026, 11, 2, 8, i))
    db.session.commit()
    r = client.get(f"/console/clients/{c.id}")
    html = r.get_data(as_text=True)
    for expected in ("Extended", "Cloud backup", "Mila Manager", "it@page.example",
                     "+381 11 222 333", "Server room", "Dec 3, 2026", "Ticket 29",
                     "Open tickets: 30"):
        assert expected in html, expected
    assert "Ticket 04" not in html  # 25 per page, newest first
    cursor = re.search(r'href="[^"]*cursor=([^"&]+)"', html).group(1)
    second = client.get(f"/console/clients/{c.id}?cursor={cursor}").get_data(as_text=True)
    assert "Ticket 04" in second and "Ticket 00" in second and "Ticket 05" not in second
    assert client.get(f"/console/clients/{c.id}?cursor=garbage").status_code == 400


def test_queue_page_rows_explain_their_place(client, factory, agent):
    std = factory.client("Contract Co")
    factory.contract(std, "standard")
    nobody = factory.client("Walk-in Co")
    old = local(BELGRADE, 2026, 11, 2, 9)
    create_ticket(subject="Overdue one", client_id=std.id, actor="t", created_at=old)
    create_ticket(subject="Walk-in one", client_id=nobody.id, actor="t")
    db.session.commit()
    html = client.get("/console/").get_data(as_text=True)
    rows = re.findall(r"<tr data-number.*?</tr>", html, re.DOTALL)
    assert "Overdue one" in rows[0] and "Contract" in rows[0] and "overdue by" in rows[0]
    assert "Walk-in one" in rows[1] and "No contract" in rows[1] and "waiting" in rows[1]
    searched = client.get("/console/?q=walk-in").get_data(as_text=True)
    assert "Walk-in one" in searched and "Overdue one" not in searched
    closed = create_ticket(subject="Old walk-in visit", client_id=nobody.id, actor="t")
    closed.status = "closed"
    db.session.commit()
    # A search looks through closed tickets too, unless a status is chosen.
    assert "Old walk-in visit" in client.get("/console/?q=walk-in").get_data(as_text=True)
    assert "Old walk-in visit" not in client.get("/console/?q=walk-in&status=open").get_data(
        as_text=True)
    assert client.get("/console/?cursor=nonsense").status_code == 302
