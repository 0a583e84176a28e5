"""The price list in a real browser on a 390-pixel phone: a package's own urgent SLA targets and
an add-on's fee from next month, with errors next to the field. Screenshots go to $LAYOUT_SHOTS."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import AddonPrice, Role, SlaTarget
from tests import test_browser_console as console
from tests.test_browser_layout import _login, _overflow, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
app_config = console.app_config
live_server = console.live_server


def _shot(page, name: str) -> None:
    folder = os.environ.get("LAYOUT_SHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_admin_sets_urgent_targets_and_a_dated_addon_fee_on_a_phone(live_server, browser,  # noqa: F811
                                                                    factory):
    admin = factory.user(Role.ADMIN, email="boss@vendor.example", name="Boss")
    db.session.commit()
    standard, backup = factory.package("standard"), factory.addon("cloud_backup")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    _login(page, live_server, admin.email)

    page.goto(f"{live_server}/admin/prices/packages/{standard.id}")
    scroll, inner = _overflow(page)
    assert scroll <= inner, "no sideways scrolling on a phone"
    form = page.locator("#sla-form")
    form.get_by_label("Priority").select_option("urgent")
    form.get_by_label("First response target (business minutes)").fill("90")
    form.get_by_label("Resolution target (business minutes)").fill("45")
    form.get_by_role("button", name="Set the targets").click()
    page.wait_for_load_state("networkidle")
    error = page.locator("#s-resolution_minutes-error")
    assert "cannot be shorter than the first response" in error.inner_text()
    _shot(page, "package-sla-error-390")
    assert db.session.scalar(select(SlaTarget.id)) is None

    form = page.locator("#sla-form")
    form.get_by_label("Resolution target (business minutes)").fill("360")
    form.get_by_label("Resolution target (business minutes)").press("Enter")
    page.wait_for_load_state("networkidle")
    row = page.locator("#sla-targets tbody tr").nth(3)
    assert "1:30" in row.inner_text() and "6:00" in row.inner_text()
    assert "own, since" in row.inner_text()
    _shot(page, "package-sla-390")

    page.goto(f"{live_server}/admin/prices/addons/{backup.id}")
    nxt = (datetime.now(ZoneInfo("Europe/Belgrade")).date().replace(day=28)
           + timedelta(days=4)).replace(day=1)
    assert page.get_by_label("In force from (first day of a month)").input_value() == \
        nxt.isoformat()
    page.locator("#x-monthly_fee").fill("-4")
    page.get_by_role("button", name="Change the prices").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#x-monthly_fee-error").inner_text() == "A price cannot be negative."
    page.locator("#x-monthly_fee").fill("23.40")
    page.get_by_role("button", name="Change the prices").click()
    page.wait_for_load_state("networkidle")
    assert "23.40" in page.locator("table.list").inner_text()
    scroll, inner = _overflow(page)
    assert scroll <= inner
    _shot(page, "addon-390")
    db.session.expire_all()
    assert db.session.scalar(select(AddonPrice.monthly_fee).where(
        AddonPrice.effective_from == nxt)) is not None
