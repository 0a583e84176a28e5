"""Layout in a real browser: the console and the portal fit a 1366-pixel laptop and a 375-pixel
phone without sideways scrolling; on the phone the header collapses behind a menu button and
stacked table rows keep their column labels. Screenshots go to $LAYOUT_SHOTS when it is set."""

from __future__ import annotations

import os
from datetime import date

import pytest

from helpdesk.extensions import db
from helpdesk.models import Role
from helpdesk.tickets.services import add_article, create_ticket
from tests import test_browser_console as console

pytestmark = pytest.mark.browser

#: The console test's fixtures: a live server on a free port, SERVER_NAME unset.
app_config = console.app_config
live_server = console.live_server

WIDTHS = (1366, 375)
LONG_WORD = "Ausfall-" * 12 + "Druckerwarteschlangenverwaltungsdienst"


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover
        from tests.conftest import need_server

        need_server(f"playwright is not installed: {exc}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=console.chromium_path(), args=console.CHROMIUM_ARGS,
                              headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def world(factory):
    agent = factory.user(Role.AGENT, email="ana@vendor.example", name="Ana Agent")
    client = factory.client("Dunav Shipping d.o.o. Beograd — Centrala i skladište", language="en")
    factory.contract(client, "standard", start=date(2025, 1, 1))
    contact = factory.contact(client, email="emma@danubeshipping.example", name="Emma Danube")
    portal_user = factory.user(Role.CLIENT, email="emma@danubeshipping.example", client=client,
                               portal_role="admin", name="Emma Danube")
    tickets = []
    for n in range(3):
        t = create_ticket(subject=f"Outlook keeps asking for the password {n} {LONG_WORD}",
                          client_id=client.id, contact_id=contact.id,
                          requester_email="emma@danubeshipping.example", actor="test")
        add_article(t, direction="in", from_addr="emma@danubeshipping.example",
                    body_text="Since this morning Outlook asks again and again.\n" + LONG_WORD
                    + "\n" + "https://example.com/" + "a" * 180)
        tickets.append(t)
    db.session.commit()
    return {"agent": agent, "client": client, "portal_user": portal_user, "ticket": tickets[0]}


def _login(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def _overflow(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _shot(page, name: str) -> None:
    folder = os.environ.get("LAYOUT_SHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_console_pages_fit_without_sideways_scrolling(live_server, browser, world, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB",
                                  timezone_id="Europe/Belgrade")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        _login(page, live_server, world["agent"].email)
        pages = {
            "queue": "/console/",
            "ticket": f"/console/tickets/{world['ticket'].number}",
            "client": f"/console/clients/{world['client'].id}",
        }
        for name, path in pages.items():
            page.goto(live_server + path)
            _shot(page, f"{name}-{width}")
            scroll, inner = _overflow(page)
            assert scroll <= inner, f"{name} at {width}px scrolls sideways ({scroll} > {inner})"
        if width < 640:
            page.goto(live_server + "/console/")
            nav = page.locator("header.top nav")
            toggle = page.locator("header.top button.menu-toggle")
            assert toggle.is_visible() and not nav.is_visible(), "the header did not collapse"
            assert toggle.get_attribute("aria-expanded") == "false"
            toggle.click()
            assert nav.is_visible() and toggle.get_attribute("aria-expanded") == "true"
            _shot(page, f"queue-menu-{width}")
            # A stacked row keeps its column labels.
            cell = page.locator("table.list tbody tr td[data-label]").first
            label = cell.get_attribute("data-label")
            before = cell.evaluate("td => getComputedStyle(td, '::before').content")
            assert label and label in before, (label, before)
        else:
            assert not page.locator("header.top button.menu-toggle").is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_portal_home_fits(live_server, browser, world, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB",
                                  timezone_id="Europe/Belgrade")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        _login(page, live_server, world["portal_user"].email)
        page.goto(f"{live_server}/portal/")
        _shot(page, f"portal-{width}")
        scroll, inner = _overflow(page)
        assert scroll <= inner, f"portal at {width}px scrolls sideways ({scroll} > {inner})"
    finally:
        context.close()
