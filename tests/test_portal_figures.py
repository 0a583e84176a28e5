"""The portal's company pages: this month's hours (the usage API's figures), the contract with its
renewal date, planned visits, and the monthly reports."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from babel.numbers import format_currency

from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.usage import usage_json
from helpdesk.extensions import db
from helpdesk.models import ApiToken, PortalRole, Role, Visit

FIELD_RE = re.compile(r'data-field="([a-z_]+)">([^<]*)<')


def _hm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _shown(html: str) -> dict[str, str]:
    return {name: value.strip() for name, value in FIELD_RE.findall(html)}


@pytest.fixture
def pinned_now(monkeypatch):
    """Pin the portal's clock: ``pinned_now(instant)``."""

    def pin(instant: datetime) -> None:
        monkeypatch.setattr("helpdesk.web.portal.routes.utcnow", lambda: instant)

    return pin


@pytest.fixture
def belgrade(factory):
    client = factory.client("Jugo d.o.o.", language="en", timezone="Europe/Belgrade")
    factory.contract(client, "standard", start=date(2025, 1, 1), end=date(2026, 12, 31))
    user = factory.user(Role.CLIENT, client=client, portal_role=PortalRole.ADMIN,
                        email="boss@jugo.test")
    agent = factory.user(Role.AGENT, email="agent@vendor.test")
    db.session.commit()
    return client, user, agent


def test_hours_page_shows_the_usage_api_figures(client, auth, factory, belgrade, pinned_now):
    c, user, agent = belgrade
    # April 2026 in Belgrade (CEST, UTC+2): 00:30 on the 1st is 22:30 UTC on 31 March.
    starts = [
        datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # 1 April, out of hours
        datetime(2026, 4, 2, 7, 0, tzinfo=UTC),
        datetime(2026, 4, 3, 8, 0, tzinfo=UTC),
        datetime(2026, 4, 7, 9, 0, tzinfo=UTC),
    ]
    for i, start in enumerate(starts):
        log_entry(client=c, kind="remote", started_at=start,
                  ended_at=start + timedelta(minutes=95 + 10 * i), agent=agent, actor="test")
    # 23:30 on 31 March in Belgrade: March's, not April's.
    log_entry(client=c, kind="phone", started_at=datetime(2026, 3, 31, 21, 30, tzinfo=UTC),
              ended_at=datetime(2026, 3, 31, 21, 50, tzinfo=UTC), agent=agent, actor="test")
    db.session.commit()
    expected = usage_json(c, "2026-04")
    assert expected["overage_minutes"] > 0  # the page must show a real overage
    # The usage API (asked by a staff admin) answers the same.
    token, plain = ApiToken.issue(factory.user(Role.ADMIN, email="root@vendor.test"))
    db.session.add(token)
    db.session.commit()
    api = client.get(f"/api/v1/clients/{c.id}/usage?month=2026-04",
                     headers={"Authorization": f"Bearer {plain}"})
    assert api.status_code == 200
    assert {k: v for k, v in api.get_json().items() if k != "closed"} == {
        k: v for k, v in expected.items() if k != "closed"}

    pinned_now(datetime(2026, 4, 15, 10, 0, tzinfo=UTC))
    auth.login(user.email)
    html = client.get("/portal/hours").get_data(as_text=True)
    assert "April 2026" in html
    shown = _shown(html)
    for name in ("included_minutes", "billable_minutes", "remaining_minutes",
                 "overage_minutes", "out_of_hours_minutes"):
        assert shown[name] == _hm(expected[name]), name
    for name in ("fee", "overage_amount", "total"):
        assert shown[name] == format_currency(expected[name], expected["currency"],
                                              locale="en"), name


@pytest.mark.parametrize("zone, month", [("Europe/Belgrade", "April 2026"),
                                         ("Europe/London", "March 2026")])
def test_this_month_is_the_clients_local_month(client, auth, factory, pinned_now, zone, month):
    c = factory.client("Zone Test", language="en", timezone=zone)
    factory.contract(c, "basic", start=date(2025, 1, 1))
    user = factory.user(Role.CLIENT, client=c, portal_role=PortalRole.MEMBER)
    db.session.commit()
    # 22:30 UTC on 31 March 2026: already April in Belgrade (UTC+2), still March in London (+1).
    pinned_now(datetime(2026, 3, 31, 22, 30, tzinfo=UTC))
    auth.login(user.email)
    html = client.get("/portal/hours").get_data(as_text=True)
    assert f"Hours used in {month}" in html


def test_hours_without_a_contract_say_so(client, auth, factory):
    c = factory.client("No Contract", language="en")
    user = factory.user(Role.CLIENT, client=c, portal_role=PortalRole.ADMIN)
    db.session.commit()
    auth.login(user.email)
    r = client.get("/portal/hours")
    assert r.status_code == 200
    assert "no support contract" in r.get_data(as_text=True)


def test_contract_page_shows_package_renewal_addons_and_planned_visits(client, auth, factory,
                                                                      pinned_now):
    c = factory.client("Visit Co", language="en", timezone="Europe/Belgrade")
    other = factory.client("Other Co", language="en")
    contract = factory.contract(c, "extended", start=date(2025, 6, 1), end=date(2026, 5, 31),
                                addons=("oncall",))
    contract.renewal_date = date(2026, 6, 1)
    contract.auto_renew = True
    today = date(2026, 4, 15)
    for sequence, (planned, status, owner) in enumerate([
        (today + timedelta(days=10), "confirmed", c),
        (today + timedelta(days=20), "cancelled", c),
        (today - timedelta(days=40), "done", c),
        (today + timedelta(days=5), "proposed", other),
    ], start=1):
        db.session.add(Visit(client_id=owner.id, contract_year_start=date(2025, 6, 1),
                             sequence=sequence, planned_date=planned, status=status,
                             contract_id=contract.id if owner is c else None))
    user = factory.user(Role.CLIENT, client=c, portal_role=PortalRole.MEMBER)
    db.session.commit()
    pinned_now(datetime(2026, 4, 15, 9, 0, tzinfo=UTC))
    auth.login(user.email)
    html = client.get("/portal/contract").get_data(as_text=True)
    assert "Extended" in html and "Active" in html
    assert "Jun 1, 2026" in html and "renews automatically" in html  # renewal date, en format
    assert "On-call phone support out of hours" in html
    assert "Apr 25, 2026" in html  # the confirmed visit ahead
    assert "May 5, 2026" not in html  # cancelled
    assert "Apr 20, 2026" not in html  # another company's
    assert "Mar 6, 2026" in html  # done in the last year


def test_contract_page_after_the_contract_ended(client, auth, factory):
    c = factory.client("Ended Co", language="en")
    factory.contract(c, "basic", status="expired", start=date(2024, 1, 1),
                     end=date(2024, 12, 31))
    user = factory.user(Role.CLIENT, client=c, portal_role=PortalRole.MEMBER)
    db.session.commit()
    auth.login(user.email)
    html = client.get("/portal/contract").get_data(as_text=True)
    assert "Expired" in html and "Dec 31, 2024" in html


# -- monthly reports ------------------------------------------------------------------------------


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def two_companies(factory):
    """Alfa (contract since March 2026) and Beta (contract since January 2026), one user each."""
    alfa = factory.client("Alfa Reports d.o.o.", language="en")
    beta = factory.client("Beta Reports d.o.o.", language="en")
    factory.contract(alfa, "standard", start=date(2026, 3, 1))
    factory.contract(beta, "basic", start=date(2026, 1, 1))
    agent = factory.user(Role.AGENT, email="agent@vendor.test")
    for c in (alfa, beta):
        start = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
        log_entry(client=c, kind="phone", started_at=start, ended_at=start + timedelta(minutes=20),
                  agent=agent, actor="test")
    alfa_user = factory.user(Role.CLIENT, client=alfa, portal_role=PortalRole.MEMBER,
                             email="member@alfa-reports.test")
    db.session.commit()
    return alfa, beta, alfa_user


def test_reports_are_listed_and_downloaded(client, auth, two_companies):
    from reports.service import available_periods, current_period

    alfa, _beta, user = two_companies
    auth.login(user.email)
    page = client.get("/portal/reports").get_data(as_text=True)
    periods = available_periods(alfa)
    assert "2026-03" in periods and "2026-02" not in periods
    for period in periods:
        assert f"/portal/reports/{period}.pdf" in page
    assert "preliminary" in page and current_period(alfa) in periods
    r = client.get("/portal/reports/2026-03.pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == (
        'attachment; filename="Alfa-Reports-d-o-o-2026-03.pdf"')
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Alfa Reports" in _pdf_text(r.data)


def test_reports_of_other_months_and_companies_are_404(client, auth, two_companies):
    _alfa, beta, user = two_companies
    auth.login(user.email)
    # Beta has a report for February; Alfa (the user's company) does not.
    assert client.get("/portal/reports/2026-02.pdf").status_code == 404
    for bad in ("2026-13", "2026-3", "26-03", "latest"):
        assert client.get(f"/portal/reports/{bad}.pdf").status_code == 404, bad
    # March exists for both: the user gets its own company's, never Beta's.
    text = _pdf_text(client.get("/portal/reports/2026-03.pdf").data)
    assert beta.name not in text
