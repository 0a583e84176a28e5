"""Company users (invite, remove), password reset by signed, expiring links, and sign-in and reset
answers that do not reveal which addresses have an account."""

from __future__ import annotations

import re
import time

import pytest
from flask import g, template_rendered
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from helpdesk.auth import accounts as portal_accounts
from helpdesk.extensions import db, mail
from helpdesk.models import ApiToken, AuditLog, PortalRole, Role, User
from tests.factories import PASSWORD

LINK_RE = re.compile(r"https?://\S+/reset/(\S+)")


@pytest.fixture
def company(factory):
    a = factory.client("Alfa d.o.o.", language="sr_Latn")
    b = factory.client("Beta A.Ş.", language="tr")
    admin = factory.user(
        Role.CLIENT,
        client=a,
        portal_role=PortalRole.ADMIN,
        email="admin@alfa.test",
        name="Ana Admin",
    )
    member = factory.user(
        Role.CLIENT, client=a, portal_role=PortalRole.MEMBER, email="member@alfa.test"
    )
    b_admin = factory.user(
        Role.CLIENT, client=b, portal_role=PortalRole.ADMIN, email="admin@beta.test"
    )
    db.session.commit()
    return a, b, admin, member, b_admin


@pytest.fixture
def outbox(app):
    with mail.record_messages() as sent:
        yield sent


def _post(client, auth, path, data, page):
    data = dict(data, csrf_token=auth.csrf(page))
    return client.post(path, data=data)


def _link_token(message) -> str:
    m = LINK_RE.search(message.body)
    assert m, message.body
    return m.group(1)


# -- invitations -----------------------------------------------------------------------------


def test_admin_invites_a_user_who_sets_a_password_through_the_link(client, auth, company, outbox):
    a, _b, admin, _m, _ba = company
    auth.login(admin.email)
    r = _post(
        client,
        auth,
        "/portal/users",
        {"name": "Nova Osoba", "email": "Nova@Alfa.test", "portal_role": "subagent"},
        "/portal/users",
    )
    assert r.status_code == 302
    new = db.session.scalar(select(User).where(User.email == "nova@alfa.test"))
    assert new.client_id == a.id and new.role == Role.CLIENT
    assert new.portal_role == PortalRole.SUBAGENT and new.password_hash is None
    assert (
        db.session.scalar(
            select(AuditLog).where(
                AuditLog.entity_id == new.id,
                AuditLog.entity_type == "users",
                AuditLog.action == "invite",
            )
        ).user_id
        == admin.id
    )
    (message,) = outbox
    assert message.recipients == ["nova@alfa.test"]
    # Written in the company's language (Serbian), naming the inviter.
    assert "Ana Admin" in message.body and "Dobar dan" in message.body
    token = _link_token(message)
    auth.logout()
    # No password yet: signing in does not work.
    assert auth.login("nova@alfa.test", "").status_code in (200, 401)
    page = client.get(f"/reset/{token}")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    r = _post(
        client,
        auth,
        f"/reset/{token}",
        {"password": "a-long-password", "confirm": "a-long-password"},
        f"/reset/{token}",
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/portal/")
    auth.logout()
    assert auth.login("nova@alfa.test", "a-long-password").status_code == 302
    auth.logout()
    # The link worked once: the password changed, so it is spent.
    assert client.get(f"/reset/{token}").status_code == 400


def test_invite_form_errors_are_next_to_the_fields(client, auth, company, outbox):
    _a, _b, admin, member, b_admin = company
    auth.login(admin.email)
    r = _post(
        client,
        auth,
        "/portal/users",
        {"name": "X", "email": "not-an-address", "portal_role": "member"},
        "/portal/users",
    )
    assert r.status_code == 400 and 'id="email-error"' in r.get_data(as_text=True)
    # Another company's address gets the answer of a sent invitation (tests/test_hardening.py);
    # the company's own active people are listed on the page anyway.
    for taken in (member.email, admin.email):
        r = _post(
            client,
            auth,
            "/portal/users",
            {"name": "X", "email": taken, "portal_role": "member"},
            "/portal/users",
        )
        assert r.status_code == 400, taken
        assert 'id="email-error"' in r.get_data(as_text=True)
    r = _post(
        client,
        auth,
        "/portal/users",
        {"name": "X", "email": "x@alfa.test", "portal_role": "superuser"},
        "/portal/users",
    )
    assert r.status_code == 400
    assert outbox == []
    # The other company's admin was not moved or touched.
    db.session.expire_all()
    assert db.session.get(User, b_admin.id).client_id == b_admin.client_id


def test_only_company_admins_manage_users(client, auth, company):
    _a, _b, _admin, member, _ba = company
    auth.login(member.email)
    assert client.get("/portal/users").status_code == 404
    r = _post(
        client,
        auth,
        "/portal/users",
        {"name": "X", "email": "x@alfa.test", "portal_role": "member"},
        "/portal/",
    )
    assert r.status_code == 404
    r = _post(client, auth, f"/portal/users/{member.id}/remove", {}, "/portal/")
    assert r.status_code == 404
    assert db.session.scalar(select(User).where(User.email == "x@alfa.test")) is None


def test_admin_removes_a_user_who_then_cannot_sign_in_or_use_tokens_or_links(client, auth, company):
    _a, _b, admin, member, _ba = company
    token, plain = ApiToken.issue(member)
    db.session.add(token)
    link = portal_accounts.make_token(member)
    db.session.commit()
    auth.login(admin.email)
    r = _post(client, auth, f"/portal/users/{member.id}/remove", {}, "/portal/users")
    assert r.status_code == 302
    auth.logout()
    db.session.expire_all()
    gone = db.session.get(User, member.id)
    assert not gone.active and gone.password_hash is None
    assert auth.login(member.email).status_code == 401
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert api.status_code == 401
    assert client.get(f"/reset/{link}").status_code == 400


def test_removed_user_is_signed_out_at_once(client, app, auth, company):
    _a, _b, admin, member, _ba = company
    from tests.conftest import AuthActions

    def as_other_browser():
        # Requests of the tests share the app context, so the per-request user (Flask-Login)
        # and CSRF token (Flask-WTF) kept in ``g`` would leak between test clients.
        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    other = app.test_client()
    AuthActions(other).login(member.email)
    assert other.get("/portal/").status_code == 200
    as_other_browser()
    auth.login(admin.email)
    _post(client, auth, f"/portal/users/{member.id}/remove", {}, "/portal/users")
    as_other_browser()
    assert other.get("/portal/").status_code == 302


def test_admin_cannot_remove_itself_or_another_companys_user(client, auth, company):
    _a, _b, admin, _m, b_admin = company
    auth.login(admin.email)
    r = _post(client, auth, f"/portal/users/{admin.id}/remove", {}, "/portal/users")
    assert r.status_code == 302
    r = _post(client, auth, f"/portal/users/{b_admin.id}/remove", {}, "/portal/users")
    assert r.status_code == 404
    db.session.expire_all()
    assert db.session.get(User, admin.id).active and db.session.get(User, b_admin.id).active


def test_removed_user_can_be_invited_again(client, auth, company, outbox):
    _a, _b, admin, member, _ba = company
    auth.login(admin.email)
    _post(client, auth, f"/portal/users/{member.id}/remove", {}, "/portal/users")
    r = _post(
        client,
        auth,
        "/portal/users",
        {"name": "Back Again", "email": member.email, "portal_role": "member"},
        "/portal/users",
    )
    assert r.status_code == 302
    db.session.expire_all()
    back = db.session.get(User, member.id)
    assert back.active and back.password_hash is None and back.name == "Back Again"
    assert len(outbox) == 1 and outbox[0].recipients == [member.email]


def test_invitation_can_be_sent_again_while_pending(client, auth, company, outbox):
    _a, _b, admin, member, _ba = company
    auth.login(admin.email)
    _post(
        client,
        auth,
        "/portal/users",
        {"name": "Pending", "email": "pending@alfa.test", "portal_role": "member"},
        "/portal/users",
    )
    pending = db.session.scalar(select(User).where(User.email == "pending@alfa.test"))
    r = _post(client, auth, f"/portal/users/{pending.id}/resend", {}, "/portal/users")
    assert r.status_code == 302 and len(outbox) == 2
    # Someone with a password gets no invitation link.
    _post(client, auth, f"/portal/users/{member.id}/resend", {}, "/portal/users")
    assert len(outbox) == 2


def test_invitation_mail_failure_is_reported_to_the_admin(client, auth, company, monkeypatch):
    _a, _b, admin, _m, _ba = company

    def refuse(_message):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr(mail, "send", refuse)
    auth.login(admin.email)
    r = _post(
        client,
        auth,
        "/portal/users",
        {"name": "Z", "email": "z@alfa.test", "portal_role": "member"},
        "/portal/users",
    )
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "could not be sent" in page or "nije moguće poslati" in page
    # The user exists; the admin can send the link again later.
    assert db.session.scalar(select(User).where(User.email == "z@alfa.test")) is not None


def test_turkish_company_gets_the_invitation_in_turkish(app, company):
    _a, _b, _admin, _m, b_admin = company
    with app.test_request_context():
        new = portal_accounts.invite_user(
            b_admin, email="yeni@beta.test", name="Yeni", portal_role="member"
        )
        message = portal_accounts.invite_message(new, b_admin)
    assert "Merhaba Yeni" in message.body
    assert "davet" in message.subject.lower()


# -- password reset ----------------------------------------------------------------------------


def test_reset_link_changes_the_password_once(client, auth, company, outbox):
    _a, _b, _admin, member, _ba = company
    r = _post(client, auth, "/reset", {"email": " MEMBER@alfa.test "}, "/reset")
    assert r.status_code == 200
    portal_accounts.wait_for_outbox()
    (message,) = outbox
    assert message.recipients == [member.email]
    token = _link_token(message)
    r = _post(
        client,
        auth,
        f"/reset/{token}",
        {"password": "short", "confirm": "short"},
        f"/reset/{token}",
    )
    assert r.status_code == 200 and 'id="password-error"' in r.get_data(as_text=True)
    r = _post(
        client,
        auth,
        f"/reset/{token}",
        {"password": "brand-new-pass", "confirm": "other-new-pass"},
        f"/reset/{token}",
    )
    assert 'id="confirm-error"' in r.get_data(as_text=True)
    r = _post(
        client,
        auth,
        f"/reset/{token}",
        {"password": "brand-new-pass", "confirm": "brand-new-pass"},
        f"/reset/{token}",
    )
    assert r.status_code == 302
    auth.logout()
    assert auth.login(member.email, PASSWORD).status_code == 401
    assert auth.login(member.email, "brand-new-pass").status_code == 302
    auth.logout()
    assert client.get(f"/reset/{token}").status_code == 400


def test_reset_answer_is_the_same_for_unknown_addresses_and_no_mail_goes(
    client, auth, company, outbox
):
    known = _post(client, auth, "/reset", {"email": "member@alfa.test"}, "/reset")
    unknown = _post(client, auth, "/reset", {"email": "nobody@alfa.test"}, "/reset")
    portal_accounts.wait_for_outbox()
    assert known.status_code == unknown.status_code == 200
    strip = re.compile(r'value="[^"]*"')  # CSRF tokens differ
    assert strip.sub("", known.get_data(as_text=True)) == strip.sub(
        "", unknown.get_data(as_text=True)
    )
    assert [m.recipients for m in outbox] == [["member@alfa.test"]]


def test_reset_does_the_same_work_for_known_and_unknown_addresses(app, company):
    """Same templates rendered and same queries either way: the timing does not tell."""
    rendered: list[str] = []

    def remember(_sender, template, context, **_kw):
        rendered.append(template.name)

    template_rendered.connect(remember, app)
    try:
        with app.test_request_context():
            real = portal_accounts.request_password_reset("member@alfa.test")
            known = list(rendered)
            rendered.clear()
            fake = portal_accounts.request_password_reset("nobody@alfa.test")
            unknown = list(rendered)
    finally:
        template_rendered.disconnect(remember, app)
    assert real is not None and fake is None
    assert known == unknown == ["auth/reset_email.txt"]


def test_reset_mail_is_limited_per_address(client, auth, company, outbox):
    for _ in range(3):
        _post(client, auth, "/reset", {"email": "member@alfa.test"}, "/reset")
    portal_accounts.wait_for_outbox()
    assert len(outbox) == 1


def test_removed_user_gets_no_reset_mail(client, auth, company, outbox):
    _a, _b, _admin, member, _ba = company
    member.active = False
    db.session.commit()
    r = _post(client, auth, "/reset", {"email": member.email}, "/reset")
    portal_accounts.wait_for_outbox()
    assert r.status_code == 200 and outbox == []


def test_reset_link_expires(app, company, monkeypatch):
    _a, _b, _admin, member, _ba = company
    max_age = portal_accounts.DEFAULT_RESET_MAX_AGE
    with app.test_request_context():
        real_now = time.time()
        monkeypatch.setattr(
            TimestampSigner, "get_timestamp", lambda self: int(real_now - max_age - 5)
        )
        old = portal_accounts.make_token(member)
        monkeypatch.setattr(
            TimestampSigner, "get_timestamp", lambda self: int(real_now - max_age + 60)
        )
        recent = portal_accounts.make_token(member)
        monkeypatch.undo()
        assert portal_accounts.user_for_token(old) is None
        assert portal_accounts.user_for_token(recent).id == member.id


def test_invitation_link_lasts_longer_than_a_reset_link(app, company, monkeypatch):
    _a, _b, _admin, member, _ba = company
    member.password_hash = None
    db.session.commit()
    with app.test_request_context():
        three_days_ago = int(time.time() - 3 * 86400)
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: three_days_ago)
        invite = portal_accounts.make_token(member, invite=True)
        reset = portal_accounts.make_token(member)
        monkeypatch.undo()
        assert portal_accounts.user_for_token(invite).id == member.id
        assert portal_accounts.user_for_token(reset) is None


@pytest.mark.parametrize("forge", ["tampered", "other_salt", "other_key", "not_a_dict"])
def test_forged_links_do_not_work(app, company, forge):
    _a, _b, _admin, member, _ba = company
    with app.test_request_context():
        good = portal_accounts.make_token(member)
        payload = {"u": member.id, "p": portal_accounts.password_fingerprint(member)}
        token = {
            "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
            "other_salt": URLSafeTimedSerializer(
                app.config["SECRET_KEY"], salt="something-else"
            ).dumps(payload),
            "other_key": URLSafeTimedSerializer(
                "another-key", salt=portal_accounts.RESET_SALT
            ).dumps(payload),
            "not_a_dict": URLSafeTimedSerializer(
                app.config["SECRET_KEY"], salt=portal_accounts.RESET_SALT
            ).dumps([member.id]),
        }[forge]
        assert portal_accounts.user_for_token(good).id == member.id
        assert portal_accounts.user_for_token(token) is None


def test_link_dies_when_the_password_changes_another_way(app, company):
    _a, _b, _admin, member, _ba = company
    with app.test_request_context():
        token = portal_accounts.make_token(member)
        member.set_password("changed-by-the-cli")
        db.session.commit()
        assert portal_accounts.user_for_token(token) is None


def test_reset_link_in_mail_uses_the_configured_public_url(app, company):
    app.config["PUBLIC_URL"] = "https://support.vendor.example/"
    # A request that came in under another Host header must not put that host in the link.
    with app.test_request_context("/reset", base_url="http://evil.example/"):
        message = portal_accounts.request_password_reset("member@alfa.test")
    assert "https://support.vendor.example/reset/" in message.body
    assert "evil.example" not in message.body


# -- sign-in without enumeration ------------------------------------------------------------------


def test_authenticate_does_the_same_hashing_for_unknown_addresses(app, company, monkeypatch):
    """One password-hash check of the same cost either way: the answer's timing does not tell
    whether the address has an account (wall-clock timing is too noisy to assert here)."""
    from werkzeug import security

    import helpdesk.models.users as users_module

    _a, _b, _admin, member, _ba = company
    checks: list[str] = []

    def counting(pwhash, password):
        checks.append(pwhash.split("$", 1)[0])  # the method and its cost parameters
        return security.check_password_hash(pwhash, password)

    monkeypatch.setattr(users_module, "check_password_hash", counting)
    monkeypatch.setattr(portal_accounts, "check_password_hash", counting)
    outcomes = {}
    for label, email in [("known", member.email), ("unknown", "nobody@alfa.test"),
                         ("no password", "pending@alfa.test")]:
        if label == "no password":
            pending = User(email=email, name="P", role=Role.CLIENT, client_id=member.client_id,
                           portal_role=PortalRole.MEMBER)
            db.session.add(pending)
            db.session.commit()
        checks.clear()
        outcomes[label] = (portal_accounts.authenticate(email, "wrong password"), list(checks))
    known_cost = outcomes["known"][1]
    assert len(known_cost) == 1
    for label, (user, cost) in outcomes.items():
        assert user is None and cost == known_cost, label
    assert portal_accounts.authenticate(member.email, PASSWORD).id == member.id
    member.active = False
    db.session.commit()
    assert portal_accounts.authenticate(member.email, PASSWORD) is None


def test_login_answer_is_the_same_for_unknown_and_known_addresses(client, auth, company):
    _a, _b, _admin, member, _ba = company
    known = auth.login(member.email, "wrong password")
    unknown = auth.login("nobody@alfa.test", "wrong password")
    assert known.status_code == unknown.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", known.get_data(as_text=True)) == strip.sub(
        "", unknown.get_data(as_text=True)
    )
