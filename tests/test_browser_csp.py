"""The pages work under the Content-Security-Policy: the console, a ticket page with a running
timer and a mail in HTML, a client page, and the portal, in headless Chromium, with no console
error and no CSP violation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from helpdesk.accounting.timers import start_timer
from helpdesk.extensions import db
from helpdesk.models import PortalRole, Role
from helpdesk.tickets.services import add_article, create_ticket
from tests.test_browser_console import app_config, browser_page, live_server  # noqa: F401

pytestmark = pytest.mark.browser

WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


def _login(page, base, email):
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_console_ticket_and_portal_work_with_the_csp(live_server, browser_page, factory):  # noqa: F811
    agent = factory.user(Role.AGENT, email="csp@vendor.example")
    customer = factory.client("CSP d.o.o.", language="en")
    factory.contract(customer, "standard", start=date(2025, 1, 1))
    member = factory.user(Role.CLIENT, client=customer, portal_role=PortalRole.ADMIN,
                          email="csp@client.example", language="en")
    ticket = create_ticket(subject="Blank pages", client_id=customer.id, actor="test")
    add_article(ticket, direction="in", body_text="Pages are blank.",
                body_html="<p>Pages are <b>blank</b>.</p><img src='data:image/gif;base64,"
                          "R0lGODlhAQABAAAAACw='>")
    timer = start_timer(agent, ticket)
    timer.started_at -= timedelta(minutes=5)
    db.session.commit()

    page = browser_page
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.add_init_script(WATCH_CSP)

    def visit(path: str) -> None:
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        violations = page.evaluate("window.__csp")
        assert violations == [], (path, violations)

    _login(page, live_server, agent.email)
    visit("/console/")
    visit(f"/console/tickets/{ticket.number}")
    elapsed = page.locator("#timer .elapsed")
    first = elapsed.inner_text()
    page.wait_for_timeout(1200)
    assert elapsed.inner_text() != first  # the timer script (static/js/timer.js) runs
    visit(f"/console/clients/{customer.id}")
    menu = page.get_by_role("button", name="Menu")  # phone-sized header
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_load_state()

    _login(page, live_server, member.email)
    for path in ("/portal/", f"/portal/tickets/{ticket.number}", "/portal/hours",
                 "/portal/users"):
        visit(path)
    assert errors == []
