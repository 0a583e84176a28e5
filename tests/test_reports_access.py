"""Who may download a client's monthly report from the console, and what they get.

Admins any client's, account managers their own clients', nobody else (404, so ids are not
confirmed); a closed month's report is stored once and downloads byte for byte the same.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime

import pytest
from flask import render_template
from flask_login import login_user
from pypdf import PdfReader
from sqlalchemy import func, select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.periods import period_of
from helpdesk.extensions import db
from helpdesk.models import EntrySource, PortalRole, Role, StoredReport, User, utcnow
from reports.service import StoredReportCorrupt, report_pdf
from tests.test_reports_data import BELGRADE, ensure_catalogs, pdf_text

CLOSED = "2026-03"


@pytest.fixture(autouse=True)
def _catalogs() -> None:
    ensure_catalogs()


@pytest.fixture
def world(app, factory):
    """Two clients with their own account managers, an agent, an admin and portal users."""
    people = {
        "admin": factory.user(Role.ADMIN, email="admin@vendor.test"),
        "agent": factory.user(Role.AGENT, email="agent@vendor.test"),
        "manager_a": factory.user(Role.ACCOUNT_MANAGER, email="jelena@vendor.test",
                                  name="Jelena Đurić"),
        "manager_b": factory.user(Role.ACCOUNT_MANAGER, email="mehmet@vendor.test"),
    }  # fmt: skip
    a = factory.client("Alfa d.o.o.", language="en", manager=people["manager_a"])
    b = factory.client("Beta d.o.o.", language="en", manager=people["manager_b"])
    for client in (a, b):
        factory.contract(client, "standard", start=date(2025, 6, 1))
    people["portal_a"] = factory.user(Role.CLIENT, email="boss@alfa.test", client=a,
                                      portal_role=PortalRole.ADMIN)  # fmt: skip
    people["portal_b"] = factory.user(Role.CLIENT, email="boss@beta.test", client=b,
                                      portal_role=PortalRole.ADMIN)  # fmt: skip
    log_entry(client=a, kind="remote", started_at=datetime(2026, 3, 10, 9, 0, tzinfo=BELGRADE),
              minutes=50, agent=people["agent"], source=EntrySource.MANUAL)  # fmt: skip
    close_month(CLOSED)
    db.session.commit()
    return {"a": a, "b": b, **people}


def url(client_id: int, period: str) -> str:
    return f"/console/clients/{client_id}/reports/{period}.pdf"


def test_admin_downloads_any_clients_report(client, auth, world):
    auth.login("admin@vendor.test")
    for company in ("a", "b"):
        response = client.get(url(world[company].id, CLOSED))
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.data.startswith(b"%PDF-")
    world["b"].name = "Žito Šabac d.o.o."
    db.session.commit()
    disposition = client.get(url(world["b"].id, CLOSED)).headers["Content-Disposition"]
    assert "filename*=UTF-8''%C5%BDito%20%C5%A0abac%20d.o.o.%202026-03.pdf" in disposition


def test_account_manager_gets_own_clients_only(client, auth, world):
    auth.login("jelena@vendor.test")
    assert client.get(url(world["a"].id, CLOSED)).status_code == 200
    assert client.get(url(world["b"].id, CLOSED)).status_code == 404


@pytest.mark.parametrize("email", ["agent@vendor.test", "mehmet@vendor.test"])
def test_others_on_the_staff_get_404(client, auth, world, email):
    auth.login(email)
    assert client.get(url(world["a"].id, CLOSED)).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(StoredReport)) == 0


def test_client_users_cannot_use_the_console_url(client, auth, world):
    auth.login("boss@alfa.test")
    for company in ("a", "b"):
        assert client.get(url(world[company].id, CLOSED)).status_code in (403, 404)


def test_anonymous_visitor_is_sent_to_login(client, world):
    response = client.get(url(world["a"].id, CLOSED))
    assert response.status_code in (302, 401)
    assert b"%PDF" not in response.data


def test_unknown_client_and_months_without_a_report_are_404(client, auth, world):
    auth.login("admin@vendor.test")
    assert client.get(url(999_999, CLOSED)).status_code == 404
    for period in ("2024-01", "2026-13", "26-03", "2099-01"):
        assert client.get(url(world["a"].id, period)).status_code == 404, period


def test_closed_month_downloads_identical_bytes_stored_once(client, auth, world, tmp_path):
    auth.login("admin@vendor.test")
    first = client.get(url(world["a"].id, CLOSED)).data
    stored = db.session.scalar(select(StoredReport).where(StoredReport.client_id == world["a"].id))
    assert stored is not None and stored.period == CLOSED and stored.language == "en"
    assert stored.sha256 == hashlib.sha256(first).hexdigest() and stored.content == first
    # What the report printed may change later; the closed month's report does not.
    world["manager_a"].name = "Someone Else"
    db.session.commit()
    second = client.get(url(world["a"].id, CLOSED)).data
    assert second == first
    assert db.session.scalar(select(func.count()).select_from(StoredReport)) == 1
    text = "\n".join(pdf_text(first, tmp_path))
    assert "Jelena Đurić" in text and "PRELIMINARY" not in text
    assert report_pdf(world["a"], CLOSED) == first


def test_open_month_is_preliminary_on_every_page_and_fresh(client, auth, world, tmp_path):
    auth.login("jelena@vendor.test")
    period = period_of(utcnow(), "Europe/Belgrade")
    response = client.get(url(world["a"].id, period))
    assert response.status_code == 200
    pages = pdf_text(response.data, tmp_path)
    assert len(PdfReader(io.BytesIO(response.data)).pages) == len(pages)
    assert all("PRELIMINARY" in page for page in pages)
    assert db.session.scalar(select(func.count()).select_from(StoredReport)) == 0
    world["manager_a"].name = "Someone Else"
    db.session.commit()
    assert "Someone Else" in "\n".join(pdf_text(client.get(url(world["a"].id, period)).data,
                                               tmp_path))  # fmt: skip


def test_tampered_stored_report_is_refused(app, world):
    body = report_pdf(world["a"], CLOSED)
    stored = db.session.scalar(select(StoredReport))
    stored.content = body.replace(b"Alfa", b"Alfb")
    db.session.commit()
    with pytest.raises(StoredReportCorrupt):
        report_pdf(world["a"], CLOSED)


def test_portal_serves_the_same_frozen_report(client, auth, world):
    auth.login("admin@vendor.test")
    console = client.get(url(world["a"].id, CLOSED)).data
    auth.logout()
    auth.login("boss@alfa.test")
    portal = client.get(f"/portal/reports/{CLOSED}.pdf")
    assert portal.status_code == 200 and portal.data == console


def _panel(app, user: User, company) -> str:
    with app.test_request_context("/console/"):
        login_user(user)
        return render_template("agent/_client_reports.html", client=company)


def test_client_page_lists_reports_to_those_who_may_read_them(app, world):
    html = _panel(app, world["manager_a"], world["a"])
    assert f'href="/console/clients/{world["a"].id}/reports/{CLOSED}.pdf"' in html
    assert 'data-period="2025-06"' in html  # the contract's first month, in the older list
    assert html.index('data-period="2026-03"') < html.index('data-period="2026-02"')
    assert _panel(app, world["agent"], world["a"]).strip() == ""
    assert _panel(app, world["manager_b"], world["a"]).strip() == ""
