"""Console dashboards: figures worked out by hand, account managers' scope, filters, SVG charts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.usage import usage_for
from helpdesk.dashboards import queries
from helpdesk.extensions import db
from helpdesk.models import EntrySource, Role, Ticket
from helpdesk.tickets.services import create_ticket
from tests.test_browser_console import browser_page, live_server  # noqa: F401 (fixtures)

BELGRADE = ZoneInfo("Europe/Belgrade")
MONTH = "2026-03"
#: 12 March 2026, 10:00 in Belgrade: every ticket below is opened then.
OPENED = datetime(2026, 3, 12, 10, 0, tzinfo=BELGRADE)


def _ticket(client, *, first: int | None, due: int | None = 60, resolved: int | None = None,
            resolution_due: int | None = None, assignee=None, at: datetime = OPENED,
            status: str = "open") -> Ticket:
    ticket = create_ticket(subject=f"Ticket of {client.name}", client_id=client.id,
                           created_at=at, actor="test")
    ticket.first_response_due = at + timedelta(minutes=due) if due is not None else None
    ticket.first_response_at = at + timedelta(minutes=first) if first is not None else None
    if resolution_due is not None:
        ticket.resolution_due = at + timedelta(minutes=resolution_due)
    if resolved is not None:
        ticket.resolved_at = at + timedelta(minutes=resolved)
        status = "resolved"
    ticket.status = status
    ticket.assignee_id = assignee.id if assignee else None
    return ticket


@pytest.fixture
def helpdesk(app, factory):
    """Two managers' clients; ten tickets of the first with first responses at 10..100 min."""
    mila = factory.user(Role.ACCOUNT_MANAGER, name="Mila Manager", email="mila@vendor.test")
    goran = factory.user(Role.ACCOUNT_MANAGER, name="Goran Manager", email="goran@vendor.test")
    ana = factory.user(Role.AGENT, name="Ana Agent", email="ana@vendor.test")
    own = factory.client("Milin Klijent d.o.o.", manager=mila)
    factory.contract(own, "standard", start=date(2025, 1, 1))
    other = factory.client("Goranov Klijent d.o.o.", manager=goran)
    factory.contract(other, "basic", start=date(2025, 1, 1))
    for minutes in range(10, 101, 10):  # due after 60: 6 met, 4 late
        _ticket(own, first=minutes, resolved=minutes * 3, resolution_due=240, assignee=ana)
    for _ in range(3):  # three unanswered, past their due time
        _ticket(other, first=None, due=30)
    _ticket(other, first=5, status="open", at=datetime(2026, 2, 10, 9, 0, tzinfo=BELGRADE))
    for day, kind, minutes in ((3, "remote", 50), (4, "email", 20), (5, "phone", 10)):
        log_entry(client=own, kind=kind, agent=ana, minutes=minutes,
                  started_at=datetime(2026, 3, day, 10, 0, tzinfo=BELGRADE),
                  source=EntrySource.MANUAL)
    log_entry(client=other, kind="consulting", agent=ana, minutes=200,
              started_at=datetime(2026, 3, 9, 10, 0, tzinfo=BELGRADE), source=EntrySource.MANUAL)
    admin = factory.user(Role.ADMIN, email="boss@vendor.test")
    db.session.commit()
    return {"mila": mila, "goran": goran, "ana": ana, "own": own, "other": other,
            "admin": admin}


def test_sla_compliance_response_times_and_hours_are_worked_out_by_hand(app, helpdesk):
    admin = helpdesk["admin"]
    filters = queries.Filters(MONTH)
    march = queries.sla_by_month(admin, filters)[-1]
    # 13 tickets opened in March: 6 of 10 answered within 60 min, 3 unanswered and late.
    assert (march.first_decided, march.first_met) == (13, 6)
    # Resolution due after 240 min: resolved at 30, 60, ..., 300 -> 8 in time, 2 late; the three
    # unanswered tickets are past their (Basic: 24 business hours) resolution target too.
    assert (march.resolution_decided, march.resolution_met) == (13, 8)
    by_package = {row.key: row for row in queries.sla_by_package(admin, filters)}
    assert by_package["standard"].first_met == 6 and by_package["basic"].first_decided == 3
    # First responses 10, 20, ..., 100: the median is the 5th (50), the 90th percentile the 9th.
    times = queries.response_times(admin, filters)
    assert times["first_response"].count == 10
    assert times["first_response"].median == pytest.approx(50, abs=0.01)
    assert times["first_response"].p90 == pytest.approx(90, abs=0.01)
    assert times["resolution"].median == pytest.approx(150, abs=0.01)
    # Logged time per agent and kind; hours per client equal the usage API's billable minutes.
    logged = {(kind, worked) for _a, _n, kind, worked, _b in queries.logged_time(admin, filters)}
    assert logged == {("remote", 50), ("email", 20), ("phone", 10), ("consulting", 200)}
    hours = {row.client_id: row for row in queries.client_hours(
        admin, filters, now=datetime(2026, 4, 5, tzinfo=UTC))}
    own = helpdesk["own"]
    assert hours[own.id].used == usage_for(own, MONTH).billable_minutes == 60 + 30 + 15
    assert hours[own.id].included == 300 and hours[own.id].forecast == hours[own.id].used
    # Half-way through the month the forecast doubles what is used.
    mid = datetime(2026, 3, 16, 23, 0, tzinfo=UTC)  # 17 March 00:00 in Belgrade: 16 of 31 days
    forecast = queries.client_hours(admin, filters, now=mid)
    assert {r.client_id: r.forecast for r in forecast}[own.id] == round(105 * 31 / 16)


def test_backlog_ages_open_tickets(app, helpdesk):
    now = datetime(2026, 3, 20, 10, 0, tzinfo=BELGRADE)
    ageing = dict(queries.backlog_ageing(helpdesk["admin"], queries.Filters(MONTH), now=now))
    # Three open tickets of 12 March (8 days), one of 10 February (38 days).
    assert ageing == {"<1": 0, "1-3": 0, "3-7": 0, "7-30": 3, ">30": 1}
    flow = queries.backlog_by_month(helpdesk["admin"], queries.Filters(MONTH))
    assert flow[-1] == (MONTH, 13, 10) and flow[-2] == ("2026-02", 1, 0)


def test_account_manager_sees_own_clients_only(app, client, auth, helpdesk):
    auth.login("mila@vendor.test")
    for page in ("sla", "backlog", "times", "hours"):
        response = client.get(f"/console/dashboards/{page}?month={MONTH}")
        html = response.get_data(as_text=True)
        assert response.status_code == 200, page
        assert "Goranov Klijent" not in html, page
        # Charts are server-drawn SVG: no inline script (only src= files) and no inline style.
        assert "<svg" in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert "style=" not in html
    assert "Milin Klijent" in client.get(f"/console/dashboards/hours?month={MONTH}").text
    times = client.get(f"/console/dashboards/times?month={MONTH}").text
    assert "Consulting" not in times  # the other manager's client's hours
    # Another manager's client id in the filter is not confirmed.
    other = helpdesk["other"].id
    assert client.get(f"/console/dashboards/sla?month={MONTH}&client={other}").status_code == 404
    mine = queries.sla_by_month(helpdesk["mila"], queries.Filters(MONTH))[-1]
    assert mine.first_decided == 10


def test_filters_by_client_and_agent_and_a_bad_month(app, client, auth, helpdesk):
    auth.login("boss@vendor.test")
    ana, own = helpdesk["ana"], helpdesk["own"]
    html = client.get(f"/console/dashboards/sla?month={MONTH}&agent={ana.id}").text
    # Only Ana's tickets (the first client's): 6 of 10 answered in time.
    assert re.search(r"60 %\s*<span class=\"muted\">\(6/10\)", html)
    html = client.get(f"/console/dashboards/hours?month={MONTH}&client={own.id}").text
    figures = html.split('class="filters"', 1)[1].split("</form>", 1)[1]  # after the filters
    assert "Milin Klijent" in figures and "Goranov Klijent" not in figures
    bad = client.get("/console/dashboards/sla?month=March")
    assert bad.status_code == 400 and "Give the month as YYYY-MM." in bad.text
    assert client.get("/console/dashboards/nothing").status_code == 404
    assert client.get("/console/dashboards").status_code == 302


@pytest.mark.browser
def test_dashboard_draws_its_charts_in_a_browser(live_server, browser_page, helpdesk):  # noqa: F811
    page = browser_page
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("boss@vendor.test")
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/console/")
    menu = page.get_by_role("button", name="Menu")  # the phone-sized header is collapsed
    if menu.is_visible():
        menu.click()
    page.get_by_role("link", name="Dashboards").click()
    page.wait_for_url("**/console/dashboards/sla*")
    page.get_by_label("Month").fill(MONTH)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**month={MONTH}*")
    chart = page.locator("svg.chart").first
    box = chart.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100
    bars = page.locator("svg.chart rect.bar")
    assert bars.count() >= 2
    first_bar = bars.first.bounding_box()
    assert first_bar and first_bar["height"] > 1 and first_bar["width"] > 1
    # Bars are coloured by the stylesheet (no inline style, no script).
    fill = bars.first.evaluate("el => getComputedStyle(el).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")
    page.get_by_role("link", name="Hours per client").click()
    page.wait_for_url("**/console/dashboards/hours*")
    assert page.locator("svg.chart rect.bar").count() >= 3
