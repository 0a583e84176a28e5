"""A real browser through a LogMeIn import: a report with renamed columns, a saved mapping, the
preview with one row fixed by hand, the import with its progress bar, entries on the right
tickets, usage up by the expected minutes, and the same file again adding nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from helpdesk.accounting.ledger import entry_billing
from helpdesk.accounting.periods import period_of
from helpdesk.accounting.usage import usage_json
from helpdesk.extensions import db
from helpdesk.models import Role, TimeEntry
from helpdesk.tickets.services import create_ticket
from tests.test_browser_console import (  # noqa: F401  (fixtures)
    BELGRADE,
    browser_page,
    live_server,
)
from tests.test_integrations_imports import logmein_csv, work_day

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # Previews and imports run in the web process's thread pool, as in production.
    return {"SERVER_NAME": None, "IMPORT_BACKGROUND": True}


def test_upload_map_fix_import_and_reupload(live_server, browser_page, factory, tmp_path):  # noqa: F811
    manager = factory.user(Role.ACCOUNT_MANAGER, email="mila@vendor.example", name="Mila")
    factory.user(Role.AGENT, email="ana@vendor.example", logmein_email="ana@rescue.example")
    jugo = factory.client("Jugodrvo", domain="jugodrvo.rs", manager=manager)
    factory.contract(jugo, "standard")
    mlin = factory.client("Mlin Doo", manager=manager)
    factory.contract(mlin, "standard")
    day = work_day()
    opened = datetime.combine(day, datetime.min.time().replace(hour=8), BELGRADE).astimezone(UTC)
    printer = create_ticket(subject="Printer", client_id=jugo.id, created_at=opened, actor="t")
    flour = create_ticket(subject="Flour scale", client_id=mlin.id, created_at=opened, actor="t")
    db.session.commit()
    rows = [
        ("7001", "dragan@jugodrvo.rs", "ana@rescue.example", "10:00", "10:40",
         f"Driver [#{printer.number}]"),
        ("7002", "Unknown Shop", "ana@rescue.example", "11:00", "11:25", "scale calibration"),
        ("7003", "Jugodrvo", "ana@rescue.example", "13:00", "13:10", f"follow-up #{printer.number}"),
    ]
    path = tmp_path / "rescue-report.csv"
    path.write_bytes(logmein_csv(day, rows))
    period = period_of(opened, "Europe/Belgrade")
    before = {c.id: usage_json(c, period)["billable_minutes"] for c in (jugo, mlin)}

    def expected(client, start, end):
        s = datetime.combine(day, datetime.strptime(start, "%H:%M").time(), BELGRADE)
        e = datetime.combine(day, datetime.strptime(end, "%H:%M").time(), BELGRADE)
        return entry_billing(client, "remote", s.astimezone(UTC), e.astimezone(UTC)
                             ).billable_minutes
    want_jugo = expected(jugo, "10:00", "10:40") + expected(jugo, "13:00", "13:10")
    want_mlin = expected(mlin, "11:00", "11:25")
    db.session.commit()

    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(manager.email)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/console/")
    _open_menu(page)
    page.get_by_role("link", name="Imports").click()

    # Map the renamed columns once.
    page.get_by_role("link", name="New mapping").click()
    page.get_by_label("Name", exact=True).fill("Rescue (German)")
    for label, header in [("Customer column(s)", "Kunde"), ("Technician email column", "Techniker"),
                          ("Technician name column", "Tech"), ("Start time column", "Beginn"),
                          ("End time column", "Ende"), ("Work time column", "Arbeitszeit"),
                          ("Session ID column", "Sitzung"), ("Notes column(s)", "Notiz"),
                          ("Time zone of the file", "Europe/Belgrade")]:
        page.get_by_label(label, exact=True).fill(header)
    page.get_by_role("button", name="Save").click()
    assert "Mapping Rescue (German) saved." in page.locator(".flash").inner_text()

    def upload():
        page.get_by_label("Source").select_option("logmein")
        page.get_by_label("Column mapping").select_option(label="Rescue (German) (logmein)")
        page.get_by_label("File").set_input_files(str(path))
        page.get_by_role("button", name="Preview").click()
        page.wait_for_url("**/integrations/imports/*")

    upload()
    assert page.locator('strong[data-state="unmatched"]').inner_text() == "1"
    assert page.locator('strong[data-state="imported"]').inner_text() == "2"
    line = page.locator("tr#line-3")
    assert "no client for 'Unknown Shop'" in line.inner_text()
    line.get_by_label("or a ticket number").fill(str(flour.number))
    line.get_by_role("button", name="Save match").click()
    assert "Line 3: match saved." in page.locator(".flash").inner_text()
    assert page.locator('strong[data-state="unmatched"]').inner_text() == "0"
    assert "Mlin Doo" in page.locator("tr#line-3").inner_text()

    page.get_by_role("button", name="Import").click()
    page.locator(".flash.success", has_text="Imported: 3 entries").wait_for()

    db.session.expire_all()
    entries = {e.external_ref: e for e in db.session.scalars(select(TimeEntry))}
    assert {ref: e.ticket_id for ref, e in entries.items()} == {
        "7001": printer.id, "7002": flour.id, "7003": printer.id}
    assert entries["7002"].client_id == mlin.id
    after = {c.id: usage_json(c, period)["billable_minutes"] for c in (jugo, mlin)}
    assert after[jugo.id] - before[jugo.id] == want_jugo
    assert after[mlin.id] - before[mlin.id] == want_mlin
    db.session.commit()

    # The same file again: all three are known, importing adds nothing.
    _open_menu(page)
    page.get_by_role("link", name="Imports").click()
    upload()
    assert page.locator('strong[data-state="duplicate"]').inner_text() == "3"
    page.get_by_role("button", name="Import").click()
    page.locator(".flash.success", has_text="Imported: 0 entries").wait_for()
    db.session.expire_all()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 3
    _open_menu(page)
    page.get_by_role("link", name="Imports").click()
    history = page.locator("table.import-history").inner_text()
    assert history.count("rescue-report.csv") == 2 and "Mila" in history


def _open_menu(page) -> None:
    """On a phone-sized page the header's links sit behind the Menu button."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()


def test_a_large_file_shows_its_progress_and_completes(live_server, browser_page, factory,  # noqa: F811
                                                       tmp_path):
    from helpdesk.integrations import imports as service
    from tests.test_imports_background import big_csv
    from tests.test_integrations_imports import RENAMED

    manager = factory.user(Role.ACCOUNT_MANAGER, email="mila@vendor.example", name="Mila")
    factory.user(Role.AGENT, email="ana@vendor.example", logmein_email="ana.rescue@vendor.test")
    jugo = factory.client("Jugodrvo", domain="jugodrvo.rs", manager=manager)
    factory.contract(jugo, "standard")
    service.save_mapping(None, source="logmein", name="Renamed", columns=dict(RENAMED),
                         is_default=True, user=manager)
    db.session.commit()
    rows = 3000
    path = tmp_path / "big-report.csv"
    path.write_bytes(big_csv(work_day(), rows))

    page = browser_page
    statuses = []

    def on_response(response):
        if response.url.endswith("/status") and response.ok:
            statuses.append(response.json())

    page.on("response", on_response)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(manager.email)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/console/")
    page.goto(f"{live_server}/integrations/imports")
    page.get_by_label("Source").select_option("logmein")
    page.get_by_label("Column mapping").select_option(label="Renamed (logmein)")
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url("**/integrations/imports/*")
    # The preview is ready when the counts show (the page reloads itself when it is done).
    page.locator('strong[data-state="imported"]', has_text=str(rows)).wait_for(timeout=60_000)

    page.get_by_role("button", name="Import").click()
    bar = page.locator("progress#import-progress")
    bar.wait_for()  # the upload returned at once: the import runs while the page polls
    assert "Importing" in page.locator(".import-progress").inner_text()
    page.locator(".flash.success", has_text=f"Imported: {rows} entries").wait_for(timeout=120_000)

    running = [s for s in statuses if s["working"] and s["phase"] == "import"]
    assert running, "the page never polled a running import"
    percents = [s["percent"] for s in running]
    assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents)
    assert any(0 < p < 100 for p in percents), percents
    assert {s["total"] for s in statuses} == {rows + 1}
    db.session.expire_all()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == rows
