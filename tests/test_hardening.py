"""Issue 16, written as attacks: each test tries the defect the security review found and
asserts that it fails now."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import g
from sqlalchemy import select

from helpdesk.config import ConfigError
from helpdesk.extensions import db, mail
from helpdesk.hardening.redirects import safe_next
from helpdesk.models import ApiToken, Direction, PortalRole, Role, User
from helpdesk.tickets.queues import QueueFilter, queue_page
from helpdesk.tickets.services import add_article, create_ticket
from tests.conftest import base_config, csrf_token_from

LINK_RE = re.compile(r"(https?://\S+/reset/(\S+))")


@pytest.fixture(autouse=True)
def _per_request_g(app):
    """The fixture's app context outlives requests, so ``g`` would carry the signed-in user
    (Flask-Login) and the CSRF token (Flask-WTF) from one browser's request to another's; in
    production each request has its own. Several browsers (test clients) need that here."""

    @app.before_request
    def _fresh_g():
        g.pop("_login_user", None)
        g.pop("csrf_token", None)


@pytest.fixture
def people(factory):
    a = factory.client("Alfa d.o.o.", language="en")
    b = factory.client("Beta A.Ş.", language="tr")
    admin = factory.user(Role.CLIENT, client=a, portal_role=PortalRole.ADMIN,
                         email="admin@alfa.test")
    member = factory.user(Role.CLIENT, client=a, email="member@alfa.test")
    b_user = factory.user(Role.CLIENT, client=b, email="user@beta.test")
    agent = factory.user(Role.AGENT, email="agent@vendor.test")
    staff_admin = factory.user(Role.ADMIN, email="boss@vendor.test")
    db.session.commit()
    return {"a": a, "b": b, "admin": admin, "member": member, "b_user": b_user,
            "agent": agent, "staff_admin": staff_admin}


def _token(user: User) -> str:
    token, plain = ApiToken.issue(user, "test")
    db.session.add(token)
    db.session.commit()
    return plain


def _post_form(client, path: str, data: dict, page: str | None = None, **kw):
    html = client.get(page or path, **kw).get_data(as_text=True)
    return client.post(path, data={**data, "csrf_token": csrf_token_from(html)}, **kw)


# -- 1. links in mail ----------------------------------------------------------------------------


def test_reset_request_with_a_forged_host_mails_the_public_url(app, client, people):
    app.config["PUBLIC_URL"] = "https://help.vendor.example"
    app.config["SERVER_NAME"] = None
    with mail.record_messages() as outbox:
        html = client.get("/reset", headers={"Host": "evil.example"}).get_data(as_text=True)
        r = client.post("/reset", data={"email": "member@alfa.test",
                                        "csrf_token": csrf_token_from(html)},
                        headers={"Host": "evil.example"})
        from helpdesk.auth.accounts import wait_for_outbox

        wait_for_outbox()
    assert r.status_code == 200
    (message,) = outbox
    (link, _token_value), = LINK_RE.findall(message.body)
    assert link.startswith("https://help.vendor.example/reset/")
    assert "evil.example" not in message.body


def test_untrusted_host_is_refused(app, client, people):
    app.config["TRUSTED_HOSTS"] = ["helpdesk.test"]
    assert client.get("/login").status_code == 200
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize("missing", ["PUBLIC_URL", "SECRET_KEY", "SESSION_COOKIE_SECURE"])
def test_production_refuses_to_start_without_public_url_secret_and_secure_cookies(missing):
    good = {"ENV": "production", "PUBLIC_URL": "https://help.example", "SECRET_KEY": "k" * 32,
            "SESSION_COOKIE_SECURE": True}
    from helpdesk import create_app

    create_app(base_config(**good))  # starts
    with pytest.raises(ConfigError, match=missing):
        create_app(base_config(**{**good, missing: None if missing != "SESSION_COOKIE_SECURE"
                                  else False}))


# -- 2. search -----------------------------------------------------------------------------------


def test_client_cannot_find_a_ticket_by_a_word_of_an_internal_note(app, client, people):
    ticket = create_ticket(subject="Printer jams", client_id=people["a"].id, actor="test")
    add_article(ticket, direction=Direction.IN, body_text="The printer jams on page two.")
    add_article(ticket, direction=Direction.OUT, internal=True, author=people["agent"],
                body_text="Customer owes us money, zanzibarquux pending")
    db.session.commit()
    member_token, agent_token = _token(people["member"]), _token(people["agent"])

    def api_search(token, q):
        r = client.get(f"/api/v1/tickets?q={q}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        return [t["number"] for t in r.get_json()["items"]]

    assert api_search(member_token, "zanzibarquux") == []
    assert api_search(member_token, "zanzibar*") == []
    assert api_search(member_token, "printer") == [ticket.number]  # public words still found
    assert api_search(agent_token, "zanzibarquux") == [ticket.number]  # staff keep notes
    # The portal and the console reach search through the same queue function.
    for order in ("newest", "queue"):
        page = queue_page(people["member"],
                          QueueFilter(q="zanzibarquux", order=order, statuses=("new", "open")),
                          limit=10)
        assert page.rows == [] and page.count == 0, order


# -- 3. sessions and links -----------------------------------------------------------------------


def _cookie(client, name):
    cookie = client.get_cookie(name, domain="helpdesk.test")
    return cookie.value if cookie else None


def test_stolen_session_and_remember_cookie_die_with_a_password_reset(app, client, people):
    r = _post_form(client, "/login", {"email": "member@alfa.test", "password": "secret-pass-1",
                                      "remember": "y"})
    assert r.status_code == 302
    stolen_session, stolen_remember = _cookie(client, "session"), _cookie(client, "remember_token")
    assert stolen_session and stolen_remember
    # The owner resets the password through the mailed link (in another browser).
    from helpdesk.auth import accounts as portal_accounts

    with app.test_request_context():
        link_token = portal_accounts.make_token(people["member"])
    db.session.commit()
    owner = app.test_client()
    assert _post_form(owner, f"/reset/{link_token}",
                      {"password": "a-new-long-pass", "confirm": "a-new-long-pass"}
                      ).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen_session, domain="helpdesk.test")
    assert thief.get("/portal/").status_code == 302  # to the login page
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen_remember, domain="helpdesk.test")
    assert thief.get("/portal/").status_code == 302
    assert owner.get("/portal/").status_code == 200  # the new session works


def test_sign_out_everywhere_ends_other_sessions(app, client, people):
    _post_form(client, "/login", {"email": "member@alfa.test", "password": "secret-pass-1",
                                  "remember": "y"})
    other = app.test_client()
    _post_form(other, "/login", {"email": "member@alfa.test", "password": "secret-pass-1"})
    assert other.get("/portal/").status_code == 200
    page = client.get("/portal/").get_data(as_text=True)
    assert "/logout/everywhere" in page
    r = client.post("/logout/everywhere", data={"csrf_token": csrf_token_from(page)})
    assert r.status_code == 302
    assert other.get("/portal/").status_code == 302


def test_reused_invitation_link_fails_after_removal_and_a_new_invitation(app, client, people):
    from helpdesk.auth import accounts as portal_accounts

    admin = people["admin"]
    with app.test_request_context():
        person = portal_accounts.invite_user(admin, email="new@alfa.test", name="New",
                                             portal_role="member")
        first = portal_accounts.make_token(person, invite=True)
    db.session.commit()
    assert _post_form(client, f"/reset/{first}", {"password": "first-password",
                                                  "confirm": "first-password"}).status_code == 302
    with app.test_request_context():
        portal_accounts.remove_user(admin, db.session.get(User, person.id))
        again = portal_accounts.invite_user(admin, email="new@alfa.test", name="New",
                                            portal_role="member")
        second = portal_accounts.make_token(again, invite=True)
    db.session.commit()
    attacker = app.test_client()
    assert attacker.get(f"/reset/{first}").status_code == 400  # the old link is dead
    assert attacker.get(f"/reset/{second}").status_code == 200  # the new one works, once
    assert _post_form(attacker, f"/reset/{second}", {"password": "second-password",
                                                     "confirm": "second-password"}
                      ).status_code == 302
    assert app.test_client().get(f"/reset/{second}").status_code == 400


# -- 4. redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "/\t/evil.example", "//evil.example", "/\\evil.example",
    "https://evil.example/", "/ok\r\nSet-Cookie: x=1", "/\n/evil.example", "javascript:alert(1)",
])
def test_login_and_language_switch_never_redirect_off_site(client, people, target):
    from urllib.parse import quote, unquote

    r = _post_form(client, "/login?next=" + quote(target, safe=""),
                   {"email": "member@alfa.test", "password": "secret-pass-1"}, page="/login")
    assert r.status_code == 302
    assert r.headers["Location"] == "/portal/" or r.headers["Location"].endswith("/portal/")
    html = client.get("/portal/").get_data(as_text=True)
    r = client.post("/language", data={"language": "tr", "next": unquote(target),
                                       "csrf_token": csrf_token_from(html)})
    assert r.status_code == 302
    location = r.headers["Location"]
    assert "evil" not in location and "\n" not in location and not location.startswith("//")


def test_safe_next_keeps_local_paths():
    assert safe_next("/console/tickets/12?view=mine#x") == "/console/tickets/12?view=mine#x"
    assert safe_next("/\t/evil.example") is None and safe_next("") is None


# -- 5. the proxy --------------------------------------------------------------------------------


@pytest.fixture
def proxied_app(app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.config["PROXY_FIX_HOPS"] = 1
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)
    return app


def test_failed_logins_from_one_address_behind_the_proxy_do_not_lock_another(proxied_app,
                                                                               people):
    attacker = proxied_app.test_client()
    hop = {"X-Forwarded-For": "203.0.113.66"}
    statuses = set()
    for i in range(20):
        statuses.add(_post_form(attacker, "/login", {"email": f"victim{i % 3}@alfa.test",
                                                     "password": "wrong-pass"},
                                headers=hop).status_code)
    assert statuses <= {401, 429} and 429 in statuses
    honest = proxied_app.test_client()
    r = _post_form(honest, "/login", {"email": "boss@vendor.test", "password": "secret-pass-1"},
                   headers={"X-Forwarded-For": "198.51.100.7"})
    assert r.status_code == 302  # not locked by someone else's failures
    from helpdesk.models import LoginAttempt

    ips = set(db.session.scalars(select(LoginAttempt.ip)))
    assert "203.0.113.66" in ips and "127.0.0.1" not in ips


# -- 6. headers ----------------------------------------------------------------------------------


def test_every_page_carries_the_security_headers(client, people):
    _post_form(client, "/login", {"email": "agent@vendor.test", "password": "secret-pass-1"})
    for path in ("/login", "/console/", "/api/v1/openapi.json", "/static/app.css", "/nowhere"):
        r = client.get(path)
        r.close()
        csp = r.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp and "img-src 'self' data:" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_no_inline_script_or_style_in_templates():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    offenders = []
    for path in root.rglob("*.html"):
        if "mail" in path.parts:  # mail bodies are read in mail clients, not under our CSP
            continue
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=\"|\son[a-z]+=", text):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []


# -- 7. invitations and money --------------------------------------------------------------------


def test_invite_form_gives_one_answer_for_other_companies_and_staff(client, people):
    _post_form(client, "/login", {"email": "admin@alfa.test", "password": "secret-pass-1"})
    answers = []
    with mail.record_messages() as outbox:
        for email in ("user@beta.test", "boss@vendor.test", "nobody-yet@alfa.test"):
            r = _post_form(client, "/portal/users", {"name": "X", "email": email,
                                                     "portal_role": "member"})
            assert r.status_code == 302, email
            page = client.get("/portal/users").get_data(as_text=True)
            answers.append(page.replace(email, "ADDRESS").count("if the address can be invited"))
    assert answers == [1, 1, 1]
    assert [m.recipients for m in outbox] == [["nobody-yet@alfa.test"]]
    db.session.expire_all()
    beta = db.session.scalar(select(User).where(User.email == "user@beta.test"))
    assert beta.client_id == people["b"].id and beta.password_hash


def test_invitations_are_limited_per_company(app, client, people):
    app.config["INVITES_PER_COMPANY_PER_HOUR"] = 3
    _post_form(client, "/login", {"email": "admin@alfa.test", "password": "secret-pass-1"})
    codes = [_post_form(client, "/portal/users", {"name": "X", "email": f"p{i}@alfa.test",
                                                  "portal_role": "member"}).status_code
             for i in range(4)]
    assert codes == [302, 302, 302, 429]


def test_contract_fee_only_for_admins_and_the_clients_account_manager(client, factory, people):
    manager = factory.user(Role.ACCOUNT_MANAGER, email="am@vendor.test")
    other_manager = factory.user(Role.ACCOUNT_MANAGER, email="am2@vendor.test")
    customer = factory.client("Gama d.o.o.", manager=manager)
    contract = factory.contract(customer, "standard", start=date(2025, 1, 1))
    db.session.commit()
    amount = contract.monthly_fee if contract.monthly_fee is not None else (
        factory.package("standard").monthly_fee)
    fee = f"{amount:,.2f}"
    seen = {}
    for email in ("boss@vendor.test", "am@vendor.test", "am2@vendor.test", "agent@vendor.test"):
        c = client.application.test_client()
        _post_form(c, "/login", {"email": email, "password": "secret-pass-1"})
        page = c.get(f"/console/clients/{customer.id}").get_data(as_text=True)
        seen[email] = "Monthly fee" in page and (fee in page or fee.replace(",", "") in page)
    assert seen == {"boss@vendor.test": True, "am@vendor.test": True,
                    "am2@vendor.test": False, "agent@vendor.test": False}
    assert other_manager.id


# -- 8. bounds -----------------------------------------------------------------------------------


def test_huge_ids_and_pages_are_404_or_422_not_500(client, people):
    token = _token(people["staff_admin"])
    auth = {"Authorization": f"Bearer {token}"}
    big = 2**70
    for path in (f"/api/v1/tickets/{big}", f"/api/v1/clients/{big}/usage",
                 f"/api/v1/tickets/{2**63}"):
        r = client.get(path, headers=auth)
        assert r.status_code == 404, path
        assert r.mimetype == "application/problem+json" and r.get_json()["status"] == 404
    _post_form(client, "/login", {"email": "boss@vendor.test", "password": "secret-pass-1"})
    for path in (f"/console/tickets/{big}", f"/console/clients/{big}"):
        assert client.get(path).status_code == 404, path
    member = client.application.test_client()
    _post_form(member, "/login", {"email": "member@alfa.test", "password": "secret-pass-1"})
    assert member.get(f"/portal/?page={big}").status_code == 422
    assert member.get(f"/portal/tickets/{big}").status_code == 404


def test_huge_id_with_a_method_of_a_sibling_rule_is_404_not_405(client, people):
    """/packages/<id> has a GET and a PATCH rule: a huge id answers 404 to both (werkzeug said 405
    when the converter refused the value after the GET rule had been tried)."""
    auth = {"Authorization": f"Bearer {_token(people['staff_admin'])}"}
    for method in ("GET", "PATCH"):
        r = client.open(f"/api/v1/packages/{2**70}", method=method, headers=auth, json={})
        assert r.status_code == 404, method
        assert r.mimetype == "application/problem+json"
    assert client.delete(f"/api/v1/packages/{2**70}", headers=auth).status_code == 405


def test_an_export_of_month_0000_is_a_400_not_a_500(client, people):
    """Found by the fuzzer: year 0 passed the export's YYYY-MM check and broke the ledger."""
    auth = {"Authorization": f"Bearer {_token(people['staff_admin'])}"}
    for month in ("0000-04", "9999-12", "1969-12"):
        r = client.get(f"/api/v1/exports/usage?month={month}", headers=auth)
        assert r.status_code == 400, month
        assert r.mimetype == "application/problem+json"
    # and a client id past any row's, negative too (also the fuzzer's): 422, not a 500
    for client_id in (-(2**80), 2**80, "+" + str(2**80)):
        r = client.get("/api/v1/exports/tickets", headers=auth,
                       query_string={"month": "2026-11", "client": client_id})
        assert r.status_code == 422, client_id
    _post_form(client, "/login", {"email": "boss@vendor.test", "password": "secret-pass-1"})
    assert client.get("/console/exports/usage.csv?month=0000-04").status_code == 400
    assert client.get("/console/exports/usage.csv?month=2026-11").status_code == 200


def test_month_9999_12_is_refused_cleanly(client, factory, people):
    customer = factory.client("Delta")
    db.session.commit()
    auth = {"Authorization": f"Bearer {_token(people['staff_admin'])}"}
    for month in ("9999-12", "2026-13", "0000-01", "2026-00"):
        r = client.get(f"/api/v1/clients/{customer.id}/usage?month={month}", headers=auth)
        assert r.status_code == 400, month
        assert r.mimetype == "application/problem+json"
    _post_form(client, "/login", {"email": "boss@vendor.test", "password": "secret-pass-1"})
    assert client.get(f"/console/clients/{customer.id}/month?month=9999-12").status_code in (
        400, 404)


def test_unknown_api_urls_answer_problem_json(client, people):
    for method, path in (("GET", "/api/v1/nope"), ("GET", "/api/v2/tickets"),
                         ("DELETE", "/api/v1/tickets")):
        r = client.open(path, method=method)
        assert r.status_code in (401, 404, 405), path
        assert r.mimetype == "application/problem+json", path
        body = r.get_json()
        assert body["status"] == r.status_code and body["title"]


def test_healthz_reports_database_and_schema(client):
    r = client.get("/healthz")
    # The test schema comes from create_all (no alembic_version): reachable, but not at head.
    assert r.status_code == 503 and r.get_json()["database"] == "ok"
