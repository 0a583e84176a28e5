"""In a real browser: the client's portal administrator upgrades the package. The prorated fee on
the confirmation page is the one the usage API returns afterwards and the month's PDF prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from werkzeug.serving import make_server

from helpdesk import create_app
from helpdesk.extensions import babel, db
from helpdesk.i18n import compile_catalogs
from helpdesk.models import ApiToken, utcnow
from tests.conftest import base_config, need_server
from tests.test_browser_portal import CHROMIUM, CHROMIUM_ARGS, PASSWORD, _sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(tmp_path):
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        need_server(f"headless Chromium not found at {CHROMIUM}")
    if shutil.which("pdftotext") is None:
        need_server("pdftotext (poppler-utils) is not installed")
    from tests.factories import Factory

    app = create_app(base_config(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'browser.db'}",
        ATTACHMENT_DIR=str(tmp_path / "attachments"),
        REPORT_DIR=str(tmp_path / "reports"),
        SERVER_NAME=None,
        TESTING=False,
    ))
    with app.app_context():
        db.create_all()
        f = Factory()
        manager = f.user("account_manager", email="ana@vendor.test", password=PASSWORD)
        client = f.client("Jugodrvo d.o.o.", language="sr_Latn", timezone="Europe/Belgrade",
                          manager=manager)
        f.contract(client, "standard", start=date(2024, 1, 1))
        f.user("client", client=client, portal_role="admin", email="dragan@jugodrvo.test",
               password=PASSWORD, name="Dragan")
        api_token, token = ApiToken.issue(manager, "browser test")
        db.session.add(api_token)
        db.session.commit()
        client_id = client.id
        db.session.remove()
        compile_catalogs()
        babel.domain_instance.cache.clear()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", client_id, token
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def _amount(text: str) -> Decimal:
    """A Serbian money figure ("1.234,56 €") as a Decimal."""
    digits = "".join(ch for ch in text if ch.isdigit() or ch in ",.")
    return Decimal(digits.replace(".", "").replace(",", "."))


def test_portal_upgrade_shows_the_fee_the_api_and_the_pdf_show(live_app, tmp_path):
    from playwright.sync_api import sync_playwright

    base, client_id, token = live_app
    period = utcnow().astimezone(ZoneInfo("Europe/Belgrade")).strftime("%Y-%m")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(accept_downloads=True, locale="en-GB")
            page = context.new_page()
            _sign_in(page, base, "dragan@jugodrvo.test")
            page.goto(f"{base}/portal/contract")
            page.click("a[href$='/portal/contract/change']")
            assert "Extended" in page.inner_text("main")
            page.click("button[data-upgrade='extended']")
            page.wait_for_load_state()
            assert "Potvrdi" in page.inner_text("main")
            shown = _amount(page.inner_text("[data-figure='fee-after']"))
            page.click("button[type=submit]:has-text('Potvrdi')")
            page.wait_for_load_state()
            assert page.url.endswith("/portal/contract")
            assert "Extended" in page.inner_text("main")

            request = urllib.request.Request(
                f"{base}/api/v1/clients/{client_id}/usage?month={period}",
                headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                usage = json.load(response)
            assert Decimal(usage["fee"]) == shown
            # A mid-month upgrade costs more than the old package, less than the new one.
            assert Decimal("120.00") <= shown <= Decimal("200.00")

            page.goto(f"{base}/portal/reports")
            with page.expect_download() as download_info:
                page.locator(f"a[href$='/portal/reports/{period}.pdf']").first.click()
            pdf_path = tmp_path / "report.pdf"
            pdf_path.write_bytes(Path(download_info.value.path()).read_bytes())
            context.close()
        finally:
            browser.close()
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], check=True,
                          capture_output=True, text=True).stdout
    fee_line = next(line for line in text.splitlines() if "Cena paketa" in line)
    assert _amount(fee_line.split()[-2] + fee_line.split()[-1]) == shown, fee_line
    assert "Promene ugovora ovog meseca" in text
    assert "Prelazak sa paketa Standard na veći paket Extended" in text
