"""A vendor sets up its helpdesk in a real browser from an EMPTY database (no demo data): the first
run, then onboarding a client company, then real mail through Dovecot becoming that client's
ticket, an agent logging time on it, and the client page showing it against the package."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Client, Package, Ticket, TimeEntry, User
from helpdesk.sla.clock import SlaTargets, targets_for
from mail_ingest.ingest import ingest_all
from tests.test_browser_console import BELGRADE, call_start
from tests.test_ingest import mail

if TYPE_CHECKING:
    from tests.servers import ImapAccount, SmtpSink

pytestmark = [pytest.mark.browser, pytest.mark.imap]

ADMIN_PASSWORD = "first-admin-pass-1"
AGENT_PASSWORD = "agent-pass-2026x"
LINK = re.compile(r"https?://\S+/reset/\S+")


@pytest.fixture
def app_config(imap_account: ImapAccount, smtp_server: SmtpSink) -> dict[str, Any]:
    return {
        "SERVER_NAME": None,  # the browser talks to 127.0.0.1:<port>
        "SETUP_REDIRECT": True,  # the first run, as in production
        "IMAP_HOST": imap_account.host, "IMAP_PORT": imap_account.port,
        "IMAP_USER": imap_account.user, "IMAP_PASSWORD": imap_account.password,
        "IMAP_SECURITY": "plain", "INGEST_PARSE_WORKERS": 0,
        "MAIL_SERVER": smtp_server.host, "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user, "MAIL_PASSWORD": smtp_server.password,
        "MAIL_SUPPRESS_SEND": False,
    }


from tests.test_browser_console import browser_page, live_server  # noqa: F401


def _reset_link(smtp_server: SmtpSink, count: int, recipient: str) -> str:
    for received in smtp_server.wait_for(count, timeout=10):
        if recipient in received.rcpt_tos:
            body = received.message().get_body(preferencelist=("plain",)).get_content()
            return LINK.search(body).group(0)
    raise AssertionError(f"no mail to {recipient}")


def test_empty_database_to_first_client_ticket_and_hours(
    app, live_server, browser_page, imap_account, smtp_server  # noqa: F811
):
    assert db.session.scalar(select(func.count(User.id))) == 0  # nothing, not even a demo
    page = browser_page

    # 1. Any page leads to the first-run setup.
    page.goto(f"{live_server}/console/")
    page.wait_for_url(f"{live_server}/setup")
    page.get_by_label("Vendor name").fill("Podrška Plus d.o.o.")
    page.get_by_label("Support address").fill("podrska@podrskaplus.example")
    page.get_by_label("Time zone").fill("Europe/Belgrade")
    page.get_by_label("Your name").fill("Vesna Vlasnik")
    page.get_by_label("Your email (you sign in with it)").fill("vesna@podrskaplus.example")
    page.get_by_label("Password (at least 10 characters)").fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Set up the helpdesk").click()
    page.wait_for_url(f"{live_server}/admin/")
    assert "Podrška Plus d.o.o." in page.locator("header .brand").inner_text()
    # The seed price list is there as data.
    standard = db.session.scalar(select(Package).where(Package.code == "standard"))
    assert (standard.included_minutes, str(standard.monthly_fee)) == (300, "120.00")

    # 2. The team: an account manager and an agent.
    for email, name, role in (("milan@podrskaplus.example", "Milan Menadžer", "Account manager"),
                              ("ana@podrskaplus.example", "Ana Agent", "Agent")):
        page.goto(f"{live_server}/admin/staff/new")
        page.locator("main").get_by_label("Email", exact=True).fill(email)
        page.locator("main").get_by_label("Name", exact=True).fill(name)
        page.locator("main").get_by_label("Role", exact=True).select_option(label=role)
        page.get_by_label("PBX extension").fill("201" if role == "Agent" else "")
        page.get_by_role("button", name="Create").click()
        page.wait_for_url(f"{live_server}/admin/staff")
        assert page.get_by_role("link", name=name).count() == 1

    # 3. The client, with its domain and account manager.
    page.goto(f"{live_server}/admin/clients/")
    page.get_by_role("link", name="New client").click()
    page.locator("main").get_by_label("Name", exact=True).fill("Acme d.o.o.")
    page.get_by_label("Email domains (one a line)").fill("acme.example")
    page.locator("main").get_by_label("Language", exact=True).select_option("en")
    page.get_by_label("Account manager").select_option(label="Milan Menadžer <milan@podrskaplus.example>")
    page.get_by_role("button", name="Create the client").click()
    page.wait_for_url(re.compile(r".*/admin/clients/\d+$"))
    acme = db.session.scalar(select(Client).where(Client.name == "Acme d.o.o."))
    assert acme.account_manager.email == "milan@podrskaplus.example"

    # A contact...
    page.get_by_role("link", name="Add a contact").click()
    page.locator("main").get_by_label("Name", exact=True).fill("Jana Novak")
    page.get_by_label("Email addresses (one a line)").fill("jana@acme.example")
    page.get_by_label("Phone numbers (one a line)").fill("+381 11 222 3344")
    page.get_by_role("button", name="Add the contact").click()
    page.wait_for_url(f"**/admin/clients/{acme.id}")
    assert page.get_by_role("link", name="Jana Novak").count() == 1

    # ... and a Standard contract from the first of this month, 12 months.
    first = datetime.now(BELGRADE).date().replace(day=1)
    page.locator("main").get_by_label("Package", exact=True).select_option(label="Standard")
    page.locator("main").get_by_label("Start date").fill(first.isoformat())
    page.get_by_role("button", name="Create the contract").click()
    page.wait_for_url(f"**/admin/clients/{acme.id}")
    history = page.locator("#contracts table")
    assert "Standard" in history.inner_text() and "Active" in history.inner_text()
    contract = acme.contracts[0]
    assert (contract.start_date, contract.auto_renew) == (first, True)
    assert contract.end_date == first.replace(year=first.year + 1) - timedelta(days=1)

    menu = page.get_by_role("button", name="Menu")  # phone-sized header
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()
    page.get_by_role("button", name="Sign out", exact=True).click()

    # 4. The agent chooses a password from the mailed link and signs in.
    link = _reset_link(smtp_server, 2, "ana@podrskaplus.example")
    page.goto(link.replace(link.split("/reset/")[0], live_server))
    page.get_by_label("New password", exact=True).fill(AGENT_PASSWORD)
    page.get_by_label("Repeat the new password").fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Save the password").click()
    page.wait_for_url(f"{live_server}/console/")  # signed in by the link
    assert page.locator("header .who").inner_text() == "Ana Agent"
    # An agent reads clients but has no admin pages.
    assert page.goto(f"{live_server}/admin/staff").status == 403

    # 5. Mail from an unknown person at acme.example becomes Acme's ticket.
    imap_account.append(mail("someone@acme.example", "Printer offline", "<p1@acme.example>",
                             body="Our printer is offline since this morning."))
    assert ingest_all(app).new_tickets == 1
    db.session.expire_all()
    ticket = db.session.scalar(select(Ticket).where(Ticket.subject == "Printer offline"))
    assert ticket.client_id == acme.id and ticket.reserved is True
    policy = standard.sla_policy  # the Standard package's targets, as seeded and editable
    expected = targets_for(SlaTargets(policy.first_response_minutes, policy.resolution_minutes),
                           ticket.priority)
    assert (ticket.sla_first_response_minutes, ticket.sla_resolution_minutes) == (
        expected.first_response_minutes, expected.resolution_minutes)

    # 6. The agent logs 25 minutes on it with the console form.
    page.goto(f"{live_server}/console/")
    page.get_by_role("link", name="Printer offline").click()
    page.wait_for_url(f"**/console/tickets/{ticket.number}")
    call = page.locator("details", has_text="Log phone call")
    call.locator("summary").click()
    call.get_by_label("Call started").fill(call_start(datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M"))
    call.get_by_label("Minutes").fill("25")
    call.get_by_role("button", name="Record call").click()
    page.wait_for_url(f"**/console/tickets/{ticket.number}*")
    db.session.expire_all()
    entry = db.session.scalars(select(TimeEntry).where(TimeEntry.ticket_id == ticket.id)).one()
    assert entry.minutes == 25 and entry.billable_minutes >= 25

    # 7. The client page shows the time against the 5 h package.
    page.get_by_role("link", name="Acme d.o.o.").first.click()
    usage = page.locator("#usage")
    assert int(usage.get_attribute("data-included")) == 300
    assert int(usage.get_attribute("data-billable")) == entry.billable_minutes
    billable = entry.billable_minutes
    assert usage.locator(".used").inner_text() == f"{billable // 60}:{billable % 60:02d}"
    assert usage.locator(".included").inner_text() == "5:00"
