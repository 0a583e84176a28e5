"""The client portal: tickets with attachments, replies, closing, downloads, and company isolation
per role and per URL (another company's things are 404, never 403)."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import (
    ApiToken,
    Article,
    Attachment,
    PortalRole,
    Role,
    Ticket,
    TicketStatus,
)
from helpdesk.tickets.attachments import path_for, store_bytes
from helpdesk.tickets.services import NewAttachment, add_article, create_ticket, set_status
from tests.conftest import csrf_token_from


def _post(client, auth, path, data, page=None, **kw):
    """POST with the session's CSRF token (read from ``page``, else the portal home)."""
    data = dict(data)
    data["csrf_token"] = auth.csrf(page or "/portal/")
    return client.post(path, data=data, **kw)


def _download(client, url):
    """GET a file and close the response (send_file keeps the file open until then)."""
    r = client.get(url)
    r.get_data()
    r.close()
    return r


def _ticket_with_file(client_obj, *, opened_by=None, subject="Printer", internal_file=False):
    t = create_ticket(subject=subject, client_id=client_obj.id, opened_by=opened_by)
    payload = f"file of {subject}".encode()
    digest = store_bytes(payload)
    att = NewAttachment(
        filename="log.txt", content_type="text/plain", size=len(payload), sha256=digest
    )
    add_article(t, direction="in", body_text="it broke", attachments=[att])
    if internal_file:
        add_article(t, direction="out", internal=True, body_text="note", attachments=[att])
    db.session.flush()
    return t


@pytest.fixture
def company(factory):
    """Company A with an admin, a member and a sub-agent; company B with its own user and data."""
    a = factory.client("Alfa d.o.o.", language="en")
    b = factory.client("Beta d.o.o.", language="en")
    people = {
        "admin": factory.user(
            Role.CLIENT, client=a, portal_role=PortalRole.ADMIN, email="admin@alfa.test"
        ),
        "member": factory.user(
            Role.CLIENT, client=a, portal_role=PortalRole.MEMBER, email="member@alfa.test"
        ),
        "subagent": factory.user(
            Role.CLIENT, client=a, portal_role=PortalRole.SUBAGENT, email="sub@alfa.test"
        ),
        "b_user": factory.user(
            Role.CLIENT, client=b, portal_role=PortalRole.ADMIN, email="admin@beta.test"
        ),
        "agent": factory.user(Role.AGENT, email="agent@vendor.test"),
    }
    db.session.commit()
    return a, b, people


# -- opening, replying, closing ---------------------------------------------------------------


def test_client_opens_a_ticket_with_an_attachment_and_agents_see_it(client, auth, factory, company):
    a, _b, people = company
    contact = factory.contact(a, email="member@alfa.test")
    db.session.commit()
    auth.login("member@alfa.test")
    payload = b"%PDF-1.4 invoice that does not print\n" * 10
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {
            "subject": "Invoices do not print",
            "body": "Since the update.",
            "attachments": (io.BytesIO(payload), "račun 03-2026.pdf"),
        },
        page="/portal/tickets/new",
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    ticket = db.session.scalar(select(Ticket).where(Ticket.subject == "Invoices do not print"))
    assert r.headers["Location"].endswith(f"/portal/tickets/{ticket.number}")
    assert ticket.client_id == a.id and ticket.channel == "portal"
    assert ticket.opened_by_id == people["member"].id
    assert ticket.contact_id == contact.id
    assert ticket.requester_email == "member@alfa.test"
    (article,) = ticket.articles
    assert (article.direction, article.channel, article.body_text) == (
        "in",
        "portal",
        "Since the update.",
    )
    (att,) = article.attachments
    # The name keeps its letters; the bytes are stored under their hash.
    assert att.filename == "račun 03-2026.pdf"
    assert att.sha256 == hashlib.sha256(payload).hexdigest() and att.size == len(payload)
    assert path_for(att.sha256).read_bytes() == payload

    auth.logout()
    auth.login("agent@vendor.test")
    queue = client.get("/console/").get_data(as_text=True)
    assert "Invoices do not print" in queue


def test_filename_keeps_letters_but_loses_folders(client, auth, company):
    auth.login("member@alfa.test")
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {
            "subject": "Names",
            "body": "x",
            "attachments": (io.BytesIO(b"abc"), "../docs/2026/čćž.txt"),
        },
        page="/portal/tickets/new",
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    att = db.session.scalar(select(Attachment))
    assert att.filename == "čćž.txt" and att.content_type == "text/plain"


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("../../etc/passwd", "passwd"),
        ("a\r\nb\u0000c.txt", "abc.txt"),
        ("..", "attachment"),
        ("", "attachment"),
        ("x" * 300 + ".pdf", ("x" * 300 + ".pdf")[-255:]),
        ("Şükrü öztürk.xlsx", "Şükrü öztürk.xlsx"),
    ],
)
def test_clean_filename(raw, clean):
    from helpdesk.web.portal.routes import _clean_filename

    assert _clean_filename(raw) == clean


def test_contact_of_another_company_with_the_same_address_is_not_used(
    client, auth, factory, company
):
    _a, b, _people = company
    factory.contact(b, email="member@alfa.test")
    db.session.commit()
    auth.login("member@alfa.test")
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {"subject": "S", "body": "B"},
        page="/portal/tickets/new",
    )
    assert r.status_code == 302
    assert db.session.scalar(select(Ticket)).contact_id is None


def test_too_large_attachment_is_refused_next_to_the_field(client, auth, app, company):
    app.config["ATTACHMENT_MAX_BYTES"] = 1000
    auth.login("member@alfa.test")
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {
            "subject": "Big",
            "body": "file",
            "attachments": [
                (io.BytesIO(b"x" * 10), "small.txt"),
                (io.BytesIO(b"y" * 1001), "big.bin"),
            ],
        },
        page="/portal/tickets/new",
        content_type="multipart/form-data",
    )
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    error = re.search(r'<p class="error" id="attachments-error">([^<]*)</p>', html)
    assert error and "big.bin" in error.group(1)
    assert db.session.scalar(select(db.func.count()).select_from(Ticket)) == 0
    # Exactly at the limit is fine.
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {"subject": "Edge", "body": "file", "attachments": (io.BytesIO(b"z" * 1000), "edge.bin")},
        page="/portal/tickets/new",
        content_type="multipart/form-data",
    )
    assert r.status_code == 302


def test_request_over_the_server_limit_gets_a_readable_413(client, auth, app, company):
    app.config["MAX_CONTENT_LENGTH"] = 2000
    auth.login("member@alfa.test")
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {"subject": "Huge", "body": "file", "attachments": (io.BytesIO(b"q" * 5000), "huge.bin")},
        page="/portal/tickets/new",
        content_type="multipart/form-data",
    )
    assert r.status_code == 413
    assert "smaller files" in r.get_data(as_text=True)


def test_empty_subject_is_shown_next_to_the_field(client, auth, company):
    auth.login("member@alfa.test")
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {"subject": "", "body": "x"},
        page="/portal/tickets/new",
    )
    assert r.status_code == 400
    assert 'id="subject-error"' in r.get_data(as_text=True)


def test_reply_reopens_a_resolved_ticket_and_close_resolves_it(client, auth, company):
    a, _b, people = company
    t = create_ticket(subject="Slow", client_id=a.id, opened_by=people["member"])
    add_article(t, direction="in", body_text="slow")
    set_status(t, TicketStatus.RESOLVED)
    db.session.commit()
    auth.login("admin@alfa.test")
    page = f"/portal/tickets/{t.number}"
    r = _post(client, auth, f"{page}/reply", {"body": "Still slow."}, page=page)
    assert r.status_code == 302
    db.session.expire_all()
    t = db.session.get(Ticket, t.id)
    assert t.status == TicketStatus.OPEN
    last = t.articles[-1]
    assert (last.body_text, last.channel, last.direction) == ("Still slow.", "portal", "in")
    assert last.author_user_id == people["admin"].id
    r = _post(client, auth, f"{page}/close", {}, page=page)
    assert r.status_code == 302
    db.session.expire_all()
    t = db.session.get(Ticket, t.id)
    assert t.status == TicketStatus.RESOLVED and t.resolved_at is not None


def test_empty_reply_is_refused_next_to_the_field(client, auth, company):
    a, _b, _p = company
    t = create_ticket(subject="Q", client_id=a.id)
    db.session.commit()
    auth.login("member@alfa.test")
    page = f"/portal/tickets/{t.number}"
    r = _post(client, auth, f"{page}/reply", {"body": ""}, page=page)
    assert r.status_code == 400 and 'id="body-error"' in r.get_data(as_text=True)
    assert len(db.session.get(Ticket, t.id).articles) == 0


def test_internal_notes_are_not_shown(client, auth, company):
    a, _b, _p = company
    t = create_ticket(subject="Q", client_id=a.id)
    add_article(t, direction="in", body_text="public question")
    add_article(t, direction="out", internal=True, body_text="secret agent note")
    db.session.commit()
    auth.login("member@alfa.test")
    html = client.get(f"/portal/tickets/{t.number}").get_data(as_text=True)
    assert "public question" in html and "secret agent note" not in html


def test_status_filter(client, auth, company):
    a, _b, _p = company
    create_ticket(subject="still open", client_id=a.id)
    done = create_ticket(subject="all done", client_id=a.id)
    set_status(done, TicketStatus.CLOSED)
    waiting = create_ticket(subject="waiting on us", client_id=a.id)
    set_status(waiting, TicketStatus.PENDING)
    db.session.commit()
    auth.login("member@alfa.test")

    def subjects(status):
        html = client.get(f"/portal/?status={status}").get_data(as_text=True)
        return {s for s in ("still open", "all done", "waiting on us") if s in html}

    assert subjects("open") == {"still open", "waiting on us"}
    assert subjects("done") == {"all done"}
    assert subjects("pending") == {"waiting on us"}
    assert subjects("all") == {"still open", "all done", "waiting on us"}
    assert subjects("nonsense") == subjects("open")


# -- downloads ---------------------------------------------------------------------------------


def test_attachment_download_is_an_attachment_with_safe_headers(client, auth, company):
    a, _b, _p = company
    t = create_ticket(subject="html", client_id=a.id)
    payload = b"<script>alert(1)</script>"
    att = NewAttachment(
        filename='evil".html',
        content_type="text/html",
        size=len(payload),
        sha256=store_bytes(payload),
    )
    add_article(t, direction="in", body_text="see file", attachments=[att])
    db.session.commit()
    att_id = db.session.scalar(select(Attachment.id))
    auth.login("member@alfa.test")
    r = _download(client, f"/portal/attachments/{att_id}")
    assert r.status_code == 200 and r.data == payload
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Type"] == "application/octet-stream"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert '"evil".html"' not in disposition and "\n" not in disposition
    assert "sandbox" in r.headers["Content-Security-Policy"]


def test_attachment_of_an_internal_note_is_404(client, auth, company):
    a, _b, _p = company
    _ticket_with_file(a, internal_file=True)
    db.session.commit()
    internal = db.session.scalar(
        select(Attachment.id).join(Article).where(Article.internal.is_(True))
    )
    public = db.session.scalar(
        select(Attachment.id).join(Article).where(Article.internal.is_(False))
    )
    auth.login("member@alfa.test")
    assert _download(client, f"/portal/attachments/{public}").status_code == 200
    assert client.get(f"/portal/attachments/{internal}").status_code == 404


def test_dropped_attachment_is_404(client, auth, company):
    a, _b, _p = company
    t = create_ticket(subject="dropped", client_id=a.id)
    add_article(
        t,
        direction="in",
        body_text="x",
        attachments=[
            NewAttachment(
                filename="huge.iso",
                content_type="application/octet-stream",
                size=10**9,
                sha256=None,
                dropped_reason="too large",
            )
        ],
    )
    db.session.commit()
    auth.login("member@alfa.test")
    att_id = db.session.scalar(select(Attachment.id))
    assert client.get(f"/portal/attachments/{att_id}").status_code == 404
    assert "huge.iso" in client.get(f"/portal/tickets/{t.number}").get_data(as_text=True)


# -- isolation: per role and per URL --------------------------------------------------------------


def _urls_of_company_b(b, b_user):
    """Every portal URL that names something of company B."""
    t = _ticket_with_file(b, opened_by=b_user, subject="Beta secret")
    db.session.commit()
    att_id = db.session.scalar(select(Attachment.id).join(Article).where(Article.ticket_id == t.id))
    gets = [f"/portal/tickets/{t.number}", f"/portal/attachments/{att_id}"]
    posts = [
        f"/portal/tickets/{t.number}/reply",
        f"/portal/tickets/{t.number}/close",
        f"/portal/users/{b_user.id}/remove",
        f"/portal/users/{b_user.id}/resend",
    ]
    return t, gets, posts


@pytest.mark.parametrize("role", ["admin", "member", "subagent"])
def test_company_a_gets_404_on_every_url_of_company_b(client, auth, company, role):
    _a, b, people = company
    t, gets, posts = _urls_of_company_b(b, people["b_user"])
    email = people[role].email
    auth.login(email)
    for url in gets:
        assert client.get(url).status_code == 404, (role, url)
    for url in posts:
        r = _post(client, auth, url, {"body": "let me in"})
        assert r.status_code == 404, (role, url)
    html = client.get("/portal/?status=all").get_data(as_text=True)
    assert "Beta secret" not in html
    # B's ticket looks exactly like one that does not exist.
    strip = re.compile(r'value="[^"]*"')
    theirs = client.get(gets[0])
    missing = client.get("/portal/tickets/999999")
    assert strip.sub("", theirs.get_data(as_text=True)) == strip.sub(
        "", missing.get_data(as_text=True).replace("999999", gets[0].rsplit("/", 1)[1]))
    # Nothing changed on B's side.
    db.session.expire_all()
    assert len(db.session.get(Ticket, t.id).articles) == 1
    assert db.session.get(Ticket, t.id).status == TicketStatus.NEW
    assert people["b_user"].active


@pytest.mark.parametrize("role", ["admin", "member", "subagent"])
def test_company_a_gets_404_for_company_b_in_the_api(client, company, role):
    _a, b, people = company
    t, _gets, _posts = _urls_of_company_b(b, people["b_user"])
    token, plain = ApiToken.issue(people[role])
    db.session.add(token)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get(f"/api/v1/tickets/{t.number}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/clients/{b.id}/usage", headers=headers).status_code == 404
    listed = client.get("/api/v1/tickets", headers=headers).get_json()["items"]
    assert t.number not in [item["number"] for item in listed]


def test_subagent_cannot_see_a_colleagues_ticket_anywhere(client, auth, company):
    a, _b, people = company
    own = _ticket_with_file(a, opened_by=people["subagent"], subject="my own")
    colleague = _ticket_with_file(a, opened_by=people["member"], subject="colleague's")
    db.session.commit()
    col_att = db.session.scalar(
        select(Attachment.id).join(Article).where(Article.ticket_id == colleague.id)
    )
    own_att = db.session.scalar(
        select(Attachment.id).join(Article).where(Article.ticket_id == own.id)
    )
    auth.login("sub@alfa.test")
    html = client.get("/portal/?status=all").get_data(as_text=True)
    assert "my own" in html and "colleague&#39;s" not in html and "colleague's" not in html
    assert client.get(f"/portal/tickets/{own.number}").status_code == 200
    assert _download(client, f"/portal/attachments/{own_att}").status_code == 200
    assert client.get(f"/portal/tickets/{colleague.number}").status_code == 404
    assert client.get(f"/portal/attachments/{col_att}").status_code == 404
    for action in ("reply", "close"):
        r = _post(client, auth, f"/portal/tickets/{colleague.number}/{action}", {"body": "x"})
        assert r.status_code == 404
    # Company figures and user management are not a sub-agency's business (its reports cover
    # its own requests only: tests/test_report_worked_month.py).
    for url in ("/portal/hours", "/portal/contract", "/portal/users"):
        assert client.get(url).status_code == 404, url


def test_subagent_ticket_is_its_own_and_the_company_sees_it(client, auth, company):
    a, _b, people = company
    auth.login("sub@alfa.test")
    r = _post(
        client,
        auth,
        "/portal/tickets/new",
        {"subject": "From the partner", "body": "b"},
        page="/portal/tickets/new",
    )
    assert r.status_code == 302
    t = db.session.scalar(select(Ticket))
    assert t.opened_by_id == people["subagent"].id and t.client_id == a.id
    auth.logout()
    auth.login("member@alfa.test")
    assert client.get(f"/portal/tickets/{t.number}").status_code == 200


def test_staff_and_anonymous_stay_out_of_the_portal(client, auth, company):
    for url in ("/portal/tickets/new", "/portal/hours", "/portal/users"):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    auth.login("agent@vendor.test")
    assert client.get("/portal/tickets/new").status_code == 403


def test_csrf_is_required_for_portal_posts(client, auth, company):
    a, _b, _p = company
    t = create_ticket(subject="Q", client_id=a.id)
    db.session.commit()
    auth.login("member@alfa.test")
    r = client.post(f"/portal/tickets/{t.number}/close", data={})
    assert r.status_code == 400
    assert db.session.get(Ticket, t.id).status == TicketStatus.NEW
    html = client.get("/portal/tickets/new").get_data(as_text=True)
    assert csrf_token_from(html)
