"""The bell's panel and the @mention autocomplete in headless Chromium on a 390-pixel phone, by
keyboard and by mouse, under the Content-Security-Policy with no console error."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import Article, Direction, Role
from helpdesk.notifications import events
from helpdesk.notifications.models import StaffNotification
from helpdesk.tickets.services import add_article, create_ticket
from tests.test_browser_console import app_config, browser_page, live_server  # noqa: F401
from tests.test_browser_csp import WATCH_CSP

pytestmark = pytest.mark.browser


@pytest.fixture
def world(factory):
    ana = factory.user(Role.AGENT, email="ana@vendor.example", name="Ana Agent", language="en")
    marko = factory.user(Role.AGENT, email="marko@vendor.example", name="Marko Petrović")
    factory.user(Role.AGENT, email="marija@vendor.example", name="Marija Gone", active=False)
    acme = factory.client("Acme d.o.o.", domain="acme.rs")
    printer = create_ticket(subject="Printer offline", client_id=acme.id, actor="test")
    vpn = create_ticket(subject="VPN down", client_id=acme.id, actor="test")
    add_article(printer, direction=Direction.IN, body_text="It stopped.", from_addr="ana@acme.rs")
    events.notify(ana, events.ASSIGNED, printer, event="p", params={"by": "Marko Petrović"})
    events.sla_event(vpn, ana, "v:first_response:breach", target="first_response",
                     event="breach")
    db.session.commit()
    return {"ana": ana, "marko": marko, "acme": acme, "printer": printer, "vpn": vpn}


def _watch(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.add_init_script(WATCH_CSP)
    return errors


def _login(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")


def _open_menu(page) -> None:
    """On the phone the header's navigation hides behind "Menu" (static/js/layout.js)."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()


def test_bell_panel_by_keyboard_and_mouse_on_a_phone(live_server, browser_page, world):  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    errors = _watch(page)
    page.clock.install()
    _login(page, live_server, world["ana"].email)
    _open_menu(page)
    bell = page.locator("#bell-button")
    assert bell.is_visible() and not page.locator("#bell").is_visible()
    assert bell.get_attribute("aria-expanded") == "false"
    assert bell.locator(".bell-count").inner_text() == "2"

    # Keyboard: Enter opens, focus goes into the panel, arrows move, Esc closes back to the bell.
    bell.focus()
    page.keyboard.press("Enter")
    panel = page.locator("#bell-panel")
    panel.wait_for(state="visible")
    assert bell.get_attribute("aria-expanded") == "true"
    items = page.locator("#bell-list li")
    items.nth(1).wait_for()
    assert items.count() == 2 and page.locator("#bell-list li.unread").count() == 2
    newest = items.nth(0).inner_text()
    assert "SLA breached" in newest and f"#{world['vpn'].number}" in newest and "ago" in newest
    assert "Marko Petrović assigned the ticket to you" in items.nth(1).inner_text()
    assert page.evaluate("document.activeElement.closest('#bell-list') !== null")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent").count("Printer offline") == 1
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert bell.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "bell-button"
    box = panel.bounding_box()
    assert box is None  # hidden panels take no room

    # A new event shows up without a reload: the feed is polled every 30 seconds.
    events.notify(world["ana"], events.MENTION, world["printer"], event="m",
                  params={"by": "Marko Petrović"})
    db.session.commit()
    page.clock.fast_forward(31_000)
    expect(page.locator("#bell-button .bell-count")).to_have_text("3")

    # Mouse: the panel fits the phone; an item opens its ticket and is then read.
    bell.click()
    panel.wait_for(state="visible")
    box = panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.locator("#bell-list li", has_text="VPN down").click()
    page.wait_for_url(f"{live_server}/console/tickets/{world['vpn'].number}*")
    item = db.session.scalar(select(StaffNotification).where(
        StaffNotification.ticket_id == world["vpn"].id))
    db.session.refresh(item)
    assert item.read_at is not None

    # Mark all as read from the panel.
    _open_menu(page)
    bell = page.locator("#bell-button")
    assert bell.locator(".bell-count").inner_text() == "2"
    bell.click()
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator("#bell-button .bell-count")).to_have_text("")
    assert page.locator("#bell-list li.unread").count() == 0
    assert events.unread_count(world["ana"]) == 0

    # The full page (no-JS, phones) lists them too.
    page.locator("#bell-panel").get_by_role("link", name="All notifications").click()
    page.wait_for_url(f"{live_server}/console/notifications")
    assert page.locator("ul.notifications li").count() == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    assert not errors, errors
    assert page.evaluate("window.__csp") == []


def test_mention_autocomplete_by_keyboard_and_mouse(live_server, browser_page, world):  # noqa: F811
    page = browser_page
    errors = _watch(page)
    _login(page, live_server, world["ana"].email)
    page.goto(f"{live_server}/console/tickets/{world['printer'].number}")
    note = page.get_by_role("textbox", name="Internal note")
    note.click()
    note.press_sequentially("Please check @mar")
    listbox = page.get_by_role("listbox")
    listbox.wait_for()
    options = listbox.get_by_role("option")
    assert options.count() == 1  # Marija is not active
    assert "Marko Petrović" in options.first.inner_text()
    assert "marko@vendor.example" in options.first.inner_text()
    assert note.get_attribute("aria-expanded") == "true"
    assert options.first.get_attribute("aria-selected") == "true"

    page.keyboard.press("Escape")  # closes the list, keeps the text
    listbox.wait_for(state="hidden")
    assert note.input_value() == "Please check @mar"
    note.press_sequentially("k")
    listbox.wait_for()
    page.keyboard.press("Enter")
    listbox.wait_for(state="hidden")
    assert note.input_value() == "Please check @marko "

    note.press_sequentially("and @an")  # the mouse this time
    listbox.get_by_role("option", name="Ana Agent").click()
    assert note.input_value() == "Please check @marko and @ana "
    page.get_by_role("button", name="Add note").click()
    page.wait_for_load_state()
    article = db.session.scalar(select(Article).where(Article.internal.is_(True)))
    assert article is not None and article.body_text.strip() == "Please check @marko and @ana"
    mentioned = db.session.scalars(select(StaffNotification.user_id).where(
        StaffNotification.kind == events.MENTION)).all()
    assert mentioned == [world["marko"].id]  # the author is not told about herself
    assert not errors, errors
    assert page.evaluate("window.__csp") == []
