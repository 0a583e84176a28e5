"""Reset and invitation links each carry a nonce of their own, recorded server-side: the attacks a
copied, replayed, outdated or forged link makes, and what still works for the owner."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from flask import g
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from helpdesk.auth import accounts
from helpdesk.auth import links as auth_links
from helpdesk.extensions import db
from helpdesk.models import LinkNonce, PortalRole, Role, User, utcnow
from helpdesk.staff.services import deactivate_staff
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD


@pytest.fixture
def people(factory):
    company = factory.client("Alfa d.o.o.")
    admin = factory.user(Role.CLIENT, client=company, portal_role=PortalRole.ADMIN,
                         email="admin@alfa.test")
    member = factory.user(Role.CLIENT, client=company, portal_role=PortalRole.MEMBER,
                          email="member@alfa.test")
    other = factory.user(Role.CLIENT, client=company, portal_role=PortalRole.MEMBER,
                         email="other@alfa.test")
    agent = factory.user(Role.AGENT, email="agent@vendor.test")
    db.session.commit()
    return {"admin": admin, "member": member, "other": other, "agent": agent}


def _issue(app, user, *, invite=False) -> str:
    with app.test_request_context():
        token = accounts.make_token(user, invite=invite)
    db.session.commit()
    return token


def _choose(app, token, password) -> int:
    """Open the link in a fresh browser and choose ``password``: the answer's status."""
    _new_browser()
    browser = app.test_client()
    page = browser.get(f"/reset/{token}")
    if page.status_code != 200:
        return page.status_code
    return browser.post(f"/reset/{token}", data={
        "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        "password": password, "confirm": password}).status_code


def _new_browser() -> None:
    """Requests here share the test's app context, where Flask-WTF caches the CSRF token of the
    browser before: drop it, as a new browser would not have it."""
    g.pop("csrf_token", None)


def _password_is(user_id: int, password: str) -> bool:
    db.session.expire_all()
    return db.session.get(User, user_id).check_password(password)


def test_a_used_link_replayed_is_refused_and_changes_nothing(app, people):
    member = people["member"]
    token = _issue(app, member)
    assert _choose(app, token, "owner-chose-this") == 302
    assert _choose(app, token, "attacker-replays") == 400
    assert _password_is(member.id, "owner-chose-this")


def test_two_tabs_of_one_link_set_the_password_once(app, people):
    """Both forms were opened while the link was good; only the first submission uses it."""
    member = people["member"]
    token = _issue(app, member)
    first, second = app.test_client(), app.test_client()
    forms = []
    for browser in (first, second):
        _new_browser()
        forms.append(browser.get(f"/reset/{token}").get_data(as_text=True))
    answers = [c.post(f"/reset/{token}", data={"csrf_token": csrf_token_from(form),
                                                "password": pw, "confirm": pw}).status_code
               for c, form, pw in zip((first, second), forms, ("first-tab-pass", "second-tab-pass"),
                                      strict=True)]
    assert answers == [302, 400]
    assert _password_is(member.id, "first-tab-pass")


def test_a_link_claimed_by_another_request_meanwhile_is_not_used_again(app, people):
    """The claim is a conditional UPDATE: of two requests that both validated the link, the one
    that comes second is refused (the race a double click makes)."""
    member = people["member"]
    token = _issue(app, member)
    with app.test_request_context():
        mine, theirs = accounts.link_for_token(token), accounts.link_for_token(token)
        assert mine is not None and theirs is not None
        accounts.set_password_through_link(mine, "the-first-request")
        with pytest.raises(accounts.LinkUsed):
            accounts.set_password_through_link(theirs, "the-second-request")
    db.session.commit()
    assert _password_is(member.id, "the-first-request")


def test_an_older_reset_link_fails_once_a_newer_one_was_mailed(app, people):
    member = people["member"]
    older = _issue(app, member)
    newer = _issue(app, member)
    assert _choose(app, older, "from-the-old-mail") == 400
    assert _choose(app, newer, "from-the-new-mail") == 302
    assert _password_is(member.id, "from-the-new-mail")


def test_a_reset_link_leaves_an_open_invitation_alone_until_one_is_used(app, people):
    member = people["member"]
    member.password_hash = None
    db.session.commit()
    invitation = _issue(app, member, invite=True)
    reset = _issue(app, member)
    with app.test_request_context():
        assert accounts.user_for_token(invitation).id == member.id
        assert accounts.user_for_token(reset).id == member.id
    assert _choose(app, invitation, "chosen-by-invite") == 302
    assert _choose(app, reset, "reset-afterwards") == 400  # the password is chosen now
    assert _password_is(member.id, "chosen-by-invite")


def test_an_unused_invitation_fails_after_removal_and_a_new_invitation(app, client, people):
    admin, member = people["admin"], people["member"]
    with app.test_request_context():
        first = accounts.make_token(member, invite=True)
        accounts.remove_user(admin, member)
        again = accounts.invite_user(admin, email=member.email, name="Again", portal_role="member")
        second = accounts.make_token(again, invite=True)
    db.session.commit()
    assert _choose(app, first, "the-old-invitation") == 400
    assert _choose(app, second, "the-new-invitation") == 302
    assert _password_is(member.id, "the-new-invitation")


def test_an_invitation_mailed_again_ends_the_first_one(app, people):
    member = people["member"]
    member.password_hash = None
    db.session.commit()
    first = _issue(app, member, invite=True)
    second = _issue(app, member, invite=True)
    assert _choose(app, first, "first-invitation") == 400
    assert _choose(app, second, "second-invitation") == 302


def test_deactivated_staff_cannot_use_the_reset_link_mailed_before(app, people):
    agent = people["agent"]
    token = _issue(app, agent)
    with app.test_request_context():
        deactivate_staff(None, agent)
        agent.active = True  # even brought back, the old link stays dead
    db.session.commit()
    assert _choose(app, token, "after-deactivation") == 400
    assert _password_is(agent.id, PASSWORD)


def test_a_link_expires_on_the_server_even_with_a_fresh_signature(app, people, monkeypatch):
    member = people["member"]
    token = _issue(app, member)
    later = utcnow() + timedelta(seconds=auth_links.max_age("reset") + 1)
    monkeypatch.setattr(auth_links, "utcnow", lambda: later)
    assert _choose(app, token, "too-late-for-this") == 400
    monkeypatch.undo()
    assert _choose(app, token, "still-in-time-now") == 302


@pytest.mark.parametrize("forgery", ["unknown_nonce", "other_users_nonce", "other_purpose"])
def test_forged_nonces_fail_even_with_the_signing_key(app, people, forgery):
    """An attacker who learnt the SECRET_KEY still cannot make a link the server did not issue."""
    member, other = people["member"], people["other"]
    token = _issue(app, other)
    with app.test_request_context():
        fingerprint = auth_links.password_fingerprint(member)
        nonce = URLSafeTimedSerializer(app.config["SECRET_KEY"],
                                       salt=auth_links.RESET_SALT).loads(token)["n"]
        salt = auth_links.INVITE_SALT if forgery == "other_purpose" else auth_links.RESET_SALT
        payload = {
            "unknown_nonce": {"u": member.id, "n": secrets.token_urlsafe(24), "p": fingerprint},
            "other_users_nonce": {"u": member.id, "n": nonce, "p": fingerprint},
            "other_purpose": {"u": other.id, "n": nonce,
                              "p": auth_links.password_fingerprint(other)},
        }[forgery]
        forged = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=salt).dumps(payload)
    assert _choose(app, forged, "forged-link-pass") == 400
    assert _password_is(member.id, PASSWORD) and _password_is(other.id, PASSWORD)
    assert _choose(app, token, "the-real-owner") == 302  # the real link still works


def test_the_database_keeps_only_a_digest_of_each_nonce(app, people):
    token = _issue(app, people["member"])
    with app.test_request_context():
        nonce = URLSafeTimedSerializer(app.config["SECRET_KEY"],
                                       salt=auth_links.RESET_SALT).loads(token)["n"]
    rows = list(db.session.scalars(select(LinkNonce)))
    assert len(rows) == 1 and rows[0].nonce_hash != nonce and nonce not in rows[0].nonce_hash
    assert rows[0].nonce_hash == LinkNonce.hash(nonce)


def test_an_unknown_address_asking_for_a_reset_records_no_link(app, client, people):
    page = client.get("/reset").get_data(as_text=True)
    r = client.post("/reset", data={"csrf_token": csrf_token_from(page),
                                    "email": "nobody@alfa.test"})
    accounts.wait_for_outbox()
    assert r.status_code == 200
    assert db.session.scalar(select(LinkNonce)) is None
