"""Two agents in two browsers on the same ticket: the second sees the first one replying, and a
reply sent from a page older than the ticket's last message is stopped with that message shown."""

from __future__ import annotations

import pytest

from helpdesk.extensions import db
from helpdesk.models import Article, Direction, Role
from helpdesk.tickets.services import add_article, create_ticket
from tests import test_browser_console as console
from tests.conftest import need_server
from tests.test_browser_console import CHROMIUM_ARGS, chromium_path

app_config = console.app_config  # fixtures shared with the console's browser test
live_server = console.live_server

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        need_server(f"playwright is not installed: {exc}")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            yield instance
        finally:
            instance.close()


def _login(browser, base: str, email: str):
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Belgrade")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")
    return context, page


def test_second_agent_sees_ayse_replying_and_a_stale_reply_is_stopped(live_server, browser,
                                                                     factory):
    factory.user(Role.AGENT, email="ayse@vendor.example", name="Ayşe")
    factory.user(Role.AGENT, email="marko@vendor.example", name="Marko")
    client = factory.client("Collide Co", domain="collide.example")
    contact = factory.contact(client, email="boss@collide.example", name="Boss")
    ticket = create_ticket(subject="VPN down", client_id=client.id, contact_id=contact.id,
                           requester_email="boss@collide.example", actor="test")
    add_article(ticket, direction=Direction.IN, body_text="VPN is down since 9.",
                from_addr="boss@collide.example")
    db.session.commit()
    url = f"{live_server}/console/tickets/{ticket.number}"

    ayse_context, ayse = _login(browser, live_server, "ayse@vendor.example")
    marko_context, marko = _login(browser, live_server, "marko@vendor.example")
    try:
        marko.goto(url)
        ayse.goto(url)
        ayse.get_by_label("Reply", exact=True).fill("Restarting the VPN gateway now.")
        # Marko's page updates by itself (no reload).
        marko.locator("#presence", has_text="Ayşe is replying").wait_for()

        ayse.get_by_role("button", name="Send reply").click()
        ayse.wait_for_url(f"{url}*")
        assert ayse.locator("article.msg.out", has_text="Restarting the VPN gateway").count()

        # Marko's page predates Ayşe's reply: his reply is stopped, hers is shown first.
        marko.get_by_label("Reply", exact=True).fill("I will call the client.")
        marko.get_by_role("button", name="Send reply").click()
        stale = marko.locator("section.stale")
        stale.wait_for()
        assert "Restarting the VPN gateway now." in stale.inner_text()
        assert marko.get_by_text("Not saved: a new message arrived").count()
        db.session.expire_all()
        bodies = [a.body_text for a in db.session.query(Article).filter_by(
            ticket_id=ticket.id, direction="out")]
        assert bodies == ["Restarting the VPN gateway now."]
    finally:
        ayse_context.close()
        marko_context.close()
