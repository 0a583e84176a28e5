"""A real browser through the console: log in, queue, ticket, reply, log a call, client's hours.

Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, against the app served
by werkzeug in a thread on a free port and a file SQLite database (the test database).
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from werkzeug.serving import make_server

from helpdesk.calendar.business import get_calendar
from helpdesk.extensions import db
from helpdesk.models import Role, TimeEntry
from helpdesk.tickets.services import add_article, create_ticket
from tests.conftest import need_server
from tests.servers import free_port

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
BELGRADE = ZoneInfo("Europe/Belgrade")


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    need_server("Chromium is not installed (apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest.fixture
def app_config():
    # The browser talks to 127.0.0.1:<port>; a fixed SERVER_NAME would make every URL a 404.
    return {"SERVER_NAME": None}


@pytest.fixture
def live_server(app):
    if app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://":
        need_server("the browser test needs a file database shared with the server thread")
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def browser_page():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        need_server(f"playwright is not installed: {exc}")
    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                    headless=True)
        context = browser.new_context(viewport={"width": 390, "height": 844},
                                      locale="en-GB", timezone_id="Europe/Belgrade")
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def call_start(now: datetime) -> datetime:
    """A business-hours moment this month before ``now`` (a call that needs no review)."""
    cal = get_calendar("Europe/Belgrade", "RS")
    local_now = now.astimezone(BELGRADE)
    day = local_now.date()
    while day.month == local_now.month:
        start = datetime.combine(day, datetime.min.time().replace(hour=10), BELGRADE)
        if cal.is_working_day(day) and start + timedelta(minutes=25) <= local_now:
            return start
        day -= timedelta(days=1)
    return local_now - timedelta(minutes=25)


def test_agent_replies_logs_a_call_and_sees_the_hours(live_server, browser_page, factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, name="Mila Manager")
    agent = factory.user(Role.AGENT, email="ana@vendor.example", name="Ana Agent")
    client = factory.client("Browser Co", manager=manager)
    factory.contract(client, "standard", start=date(2025, 1, 1), addons=("oncall",))
    contact = factory.contact(client, email="boss@browser.example", name="Bora Boss")
    ticket = create_ticket(subject="Printer prints blank pages", client_id=client.id,
                           contact_id=contact.id, requester_email="boss@browser.example",
                           actor="test")
    add_article(ticket, direction="in", body_text="Every page comes out blank.",
                from_addr="boss@browser.example")
    db.session.commit()
    page = browser_page

    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()

    # The queue, on a phone-sized screen.
    page.wait_for_url(f"{live_server}/console/")
    row = page.locator(f'tr[data-number="{ticket.number}"]')
    assert "Contract: Standard" in row.inner_text()
    row.get_by_role("link", name="Printer prints blank pages").click()
    page.wait_for_url(f"**/console/tickets/{ticket.number}")
    assert "Every page comes out blank." in page.locator("article.msg").first.inner_text()
    assert page.locator("#sla-first_response .due").get_attribute("datetime")

    # The client's hours before any work.
    page.get_by_role("link", name="Browser Co").first.click()
    usage = page.locator("#usage")
    before = int(usage.get_attribute("data-billable"))
    used_before = usage.locator(".used").inner_text()
    page.go_back()

    # Reply by email.
    page.get_by_label("Reply", exact=True).fill("Please check the toner cartridge.")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_url(f"**/console/tickets/{ticket.number}*")
    assert page.locator("article.msg.out", has_text="Please check the toner cartridge.").count()

    # Log 20 minutes of phone time with the accounting form.
    call = page.locator("details", has_text="Log phone call")
    call.locator("summary").click()
    started = call_start(datetime.now(UTC))
    call.get_by_label("Call started").fill(started.strftime("%Y-%m-%dT%H:%M"))
    call.get_by_label("Minutes").fill("20")
    call.get_by_role("button", name="Record call").click()
    page.wait_for_url(f"**/console/tickets/{ticket.number}*")
    assert page.locator("#time").get_by_text("Call recorded").count() or page.get_by_text(
        "Call recorded").count()

    entry = db.session.query(TimeEntry).filter_by(ticket_id=ticket.id).one()
    assert (entry.kind, entry.minutes) == ("phone", 20)

    # The client page shows the hours changed by what the call bills.
    page.get_by_role("link", name="Browser Co").first.click()
    usage = page.locator("#usage")
    after = int(usage.get_attribute("data-billable"))
    assert after == before + entry.billable_minutes and entry.billable_minutes >= 20
    assert usage.locator(".used").inner_text() != used_before
