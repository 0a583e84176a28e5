"""In a real browser (headless Chromium): a client user signs in, opens a ticket with an attachment,
an agent sees it in the queue, and the client downloads last month's report. The client company
writes Serbian, so its user does all of it in Serbian (the issue's acceptance); the agent, English.

The app is served by werkzeug in a thread against its own SQLite file, as in production."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from werkzeug.serving import make_server

from helpdesk import create_app
from helpdesk.extensions import babel, db
from helpdesk.i18n import compile_catalogs
from tests.conftest import base_config, need_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PASSWORD = "browser-pass-2026"


def _last_month(today: date) -> str:
    first = today.replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


@pytest.fixture
def live_app(tmp_path):
    """The app on a free port, with a client company, its user, an agent and last month's work."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        need_server(f"headless Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:  # pragma: no cover - a test dependency
        need_server("the playwright package is not installed")
    app = create_app(base_config(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'browser.db'}",
        ATTACHMENT_DIR=str(tmp_path / "attachments"),
        REPORT_DIR=str(tmp_path / "reports"),
        SERVER_NAME=None,
        TESTING=False,
    ))
    with app.app_context():
        db.create_all()
        _seed(app)
        db.session.remove()
        compile_catalogs()  # as `make install` does: the client reads the portal in Serbian
        babel.domain_instance.cache.clear()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def _seed(app) -> None:
    from helpdesk.accounting.ledger import log_entry
    from tests.factories import Factory

    f = Factory()
    client = f.client("Jugodrvo d.o.o.", language="sr_Latn", timezone="Europe/Belgrade")
    f.contract(client, "standard", start=date(2024, 1, 1))
    f.user("client", client=client, portal_role="admin", email="dragan@jugodrvo.test",
           password=PASSWORD, name="Dragan")
    agent = f.user("agent", email="marko@vendor.test", password=PASSWORD, name="Marko")
    # Some work last month, so its report has something to say.
    zone = ZoneInfo(client.timezone)
    today = datetime.now(zone).date()
    year, month = map(int, _last_month(today).split("-"))
    start = datetime(year, month, 10, 10, 0, tzinfo=zone).astimezone(UTC)
    log_entry(client=client, kind="remote", started_at=start,
              ended_at=start + timedelta(minutes=50), agent=agent, actor="test")
    db.session.commit()


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]


def test_client_opens_ticket_agent_sees_it_client_downloads_report(live_app):
    from playwright.sync_api import sync_playwright

    _app, base = live_app
    subject = "Fakture se ne štampaju posle ažuriranja"
    attachment = b"%PDF-1.4\n% a scanned invoice\n"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            client_ctx = browser.new_context(accept_downloads=True, locale="en-GB")
            page = client_ctx.new_page()
            _sign_in(page, base, "dragan@jugodrvo.test")

            assert page.locator("html").get_attribute("lang") == "sr-Latn"
            assert "Naši tiketi" in page.inner_text("header")

            # Open a ticket with an attachment.
            page.click("header a[href$='/portal/tickets/new']")
            assert "Novi tiket" in page.inner_text("h1")
            page.fill("#subject", subject)
            page.fill("#body", "Od jutros nijedna faktura ne izlazi na štampač.")
            page.set_input_files("#attachments", files=[{
                "name": "faktura-0042.pdf", "mimeType": "application/pdf",
                "buffer": attachment}])
            page.click("button[type=submit].primary")
            page.wait_for_load_state()
            assert "/portal/tickets/" in page.url
            assert subject in page.inner_text("h1")
            assert "je otvoren" in page.inner_text("main")  # "Tiket #N je otvoren..."
            link = page.locator("a", has_text="faktura-0042.pdf")
            with page.expect_download() as download_info:
                link.click()
            assert Path(download_info.value.path()).read_bytes() == attachment

            # The agent, in another browser context, sees it in the queue.
            agent_ctx = browser.new_context(locale="en-GB")
            agent_page = agent_ctx.new_page()
            _sign_in(agent_page, base, "marko@vendor.test")
            agent_page.goto(f"{base}/console/")
            assert subject in agent_page.inner_text("main")
            agent_ctx.close()

            # Last month's report, from the reports page.
            period = _last_month(datetime.now(ZoneInfo("Europe/Belgrade")).date())
            page.goto(f"{base}/portal/reports")
            assert "Mesečni izveštaji" in page.inner_text("h1")
            report_link = page.locator(f"a[href$='/portal/reports/{period}.pdf']")
            assert report_link.count() == 1, page.inner_text("main")
            with page.expect_download() as download_info:
                report_link.click()
            pdf = Path(download_info.value.path()).read_bytes()
            assert pdf.startswith(b"%PDF")
            assert download_info.value.suggested_filename.endswith(f"{period}.pdf")
            client_ctx.close()
        finally:
            browser.close()
