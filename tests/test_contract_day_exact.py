"""Day-exact billing of a month a contract served only partly, with the scheduler's own daily job.

A contract that ends mid-month (not renewing, a trial without conversion) serves its days up to
and including its end date (the client's local date): that work counts against its package,
prorated by days; every billable minute after is at the no-contract rate, on its own line. The
same for the days before a contract starts. The expected figures are computed here from the
README's rules (proration ``value × days ÷ days in month``, half up; hourly charges to the cent,
half up), not read from the code.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from babel.numbers import format_currency
from sqlalchemy import select, text

from helpdesk.accounting.breakdown import usage_detail
from helpdesk.accounting.closing import close_month
from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.monthly import ContractState, EntryRecord, compute_usage
from helpdesk.accounting.proration import PackageSegment
from helpdesk.accounting.tariff import BillingRules
from helpdesk.accounting.usage import usage_for, usage_json
from helpdesk.contracts import active_contract
from helpdesk.extensions import db
from helpdesk.models import ApiToken, ClosedMonth, EntryKind, PortalRole, Role
from reports.service import report_pdf
from tests.conftest import need_server
from tests.servers import free_port, smtp_server  # noqa: F401 - fixture
from tests.test_contract_lifecycle import app_config, manager, run_again, run_scheduled  # noqa: F401
from tests.test_portal_figures import _shown

CENT = Decimal("0.01")
ZONES = ["Europe/Belgrade", "Europe/Istanbul"]


def prorated(value: Decimal | int, days: int, days_in_month: int, step: Decimal) -> Decimal:
    """README "Proration": value × days ÷ days in the month, half up (one segment)."""
    return (Decimal(value) * days / days_in_month).quantize(step, rounding=ROUND_HALF_UP)


def hourly(minutes: int, rate: Decimal) -> Decimal:
    return (Decimal(minutes) * rate / 60).quantize(CENT, rounding=ROUND_HALF_UP)


def at(zone: str, day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone)).astimezone(UTC)


def email(c, zone: str, day: date, hour: int, minute: int, minutes: int):
    """Email work: billed as the logged minutes rounded up to 15 (never weighted)."""
    return log_entry(client=c, kind=EntryKind.EMAIL, started_at=at(zone, day, hour, minute),
                     minutes=minutes)


def api_usage(http, factory, c, month: str) -> dict:
    token, plain = ApiToken.issue(factory.user(Role.ADMIN))
    db.session.add(token)
    db.session.commit()
    answer = http.get(f"/api/v1/clients/{c.id}/usage?month={month}",
                      headers={"Authorization": f"Bearer {plain}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def pdf_text(c, month: str, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        need_server("pdftotext (poppler-utils) is not installed")
    path = tmp_path / f"{c.id}-{month}.pdf"
    path.write_bytes(report_pdf(c, month))
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.parametrize("zone", ZONES)
def test_a_contract_ending_mid_december_bills_the_rest_at_the_no_contract_rate(
        app, client, auth, factory, manager, zone, tmp_path):  # noqa: F811
    c = factory.client(manager=manager, timezone=zone, language="en")
    contract = factory.contract(c, "standard", start=date(2025, 12, 16), end=date(2026, 12, 15))
    contract.auto_renew = False
    standard = contract.package
    db.session.commit()

    run_scheduled(date(2026, 12, 15))  # its last day: still served
    assert contract.status == "active"
    now = run_scheduled(date(2026, 12, 16))
    assert (contract.status, contract.ended_reason) == ("expired", "ended")
    assert active_contract(c.id, date(2026, 12, 16)) is None

    email(c, zone, date(2026, 12, 10), 10, 0, 60)
    last_evening = email(c, zone, date(2026, 12, 15), 23, 30, 30)  # the end date: the contract's
    after_midnight = email(c, zone, date(2026, 12, 16), 0, 10, 30)  # the next day: not
    # In both zones these two are the same UTC day: the client's local date decides.
    assert last_evening.started_at.date() == after_midnight.started_at.date()
    email(c, zone, date(2026, 12, 21), 9, 0, 80)  # 80 -> 90
    db.session.commit()

    rate = Decimal(app.config["NO_CONTRACT_RATE"])
    included = prorated(standard.included_minutes, 15, 31, Decimal(1))
    fee = prorated(standard.monthly_fee, 15, 31, CENT)
    package_minutes = 60 + 30
    outside = 30 + 90
    usage = usage_for(c, "2026-12")
    assert usage.status == "active"
    assert usage.included_minutes == int(included) == 145
    assert usage.fee == fee
    assert usage.billable_minutes == package_minutes
    assert usage.overage_minutes == 0 and usage.overage_amount == 0
    assert usage.outside_contract_minutes == outside
    assert usage.no_contract_amount == hourly(outside, rate)
    assert usage.total == fee + hourly(outside, rate)

    # Every entry explained: the ones after the end carry their own rule code.
    detail = usage_detail(c, "2026-12")
    assert detail.to_json() == usage.to_json()  # entry by entry = summed by the database
    assert "E" not in detail.explanations[last_evening.id].codes
    assert detail.explanations[after_midnight.id].codes == ("E",)
    assert detail.explanations[after_midnight.id].bucket == "no_contract"

    # The usage API, the portal hours page (its month is pinned), the console and the PDF agree.
    expected = usage_json(c, "2026-12")
    data = api_usage(client, factory, c, "2026-12")
    assert data == expected
    assert data["outside_contract_minutes"] == outside
    assert data["no_contract_amount"] == str(hourly(outside, rate))
    assert data["total"] == str(fee + hourly(outside, rate))
    staff = factory.user(Role.ADMIN)
    db.session.commit()
    auth.login(staff.email)
    console = client.get(f"/console/clients/{c.id}/time?month=2026-12").get_data(as_text=True)
    assert f'class="outside-contract-minutes">{outside // 60}:{outside % 60:02d}<' in console
    assert str(hourly(outside, rate)) in console
    text_pdf = pdf_text(c, "2026-12", tmp_path)
    line = next(x for x in text_pdf.splitlines() if "Work on days without a contract" in x)
    assert f"{outside // 60}:{outside % 60:02d}" in line and str(hourly(outside, rate)) in line
    assert "E – a day without a contract" in text_pdf

    # The job run again changes nothing, and neither do the figures.
    assert run_again(now).changed == 0
    assert usage_json(c, "2026-12") == expected

    # Across the year: January is all no-contract work.
    now = run_scheduled(date(2027, 1, 1))
    assert run_again(now).changed == 0
    email(c, zone, date(2027, 1, 4), 9, 0, 60)
    db.session.commit()
    january = usage_for(c, "2027-01")
    assert january.status == "expired" and january.fee == 0
    assert january.no_contract_amount == hourly(60, rate)


@pytest.mark.parametrize("zone", ZONES)
def test_a_contract_ending_on_31_january_leaves_february_at_the_no_contract_rate(
        app, client, auth, factory, manager, zone, monkeypatch):  # noqa: F811
    c = factory.client(manager=manager, timezone=zone, language="en")
    user = factory.user(Role.CLIENT, client=c, portal_role=PortalRole.ADMIN)
    contract = factory.contract(c, "basic", start=date(2026, 2, 1), end=date(2027, 1, 31))
    contract.auto_renew = False
    basic = contract.package
    db.session.commit()

    for day in (date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 31)):
        run_scheduled(day)
    assert contract.status == "active"
    now = run_scheduled(date(2027, 2, 1))
    assert contract.ended_reason == "ended" and run_again(now).changed == 0

    last_evening = email(c, zone, date(2027, 1, 31), 23, 30, 30)
    after_midnight = email(c, zone, date(2027, 2, 1), 0, 10, 30)
    email(c, zone, date(2027, 2, 3), 10, 0, 45)
    db.session.commit()
    assert (last_evening.period, after_midnight.period) == ("2027-01", "2027-02")

    rate = Decimal(app.config["NO_CONTRACT_RATE"])
    january = usage_for(c, "2027-01")  # served every day: the whole package and fee
    assert january.included_minutes == basic.included_minutes
    assert january.fee == basic.monthly_fee and january.billable_minutes == 30
    assert january.outside_contract_minutes == 0 and january.no_contract_amount == 0
    assert "outside_contract_minutes" not in usage_json(c, "2027-01")
    february = usage_for(c, "2027-02")
    assert february.status == "expired" and february.fee == 0 and february.included_minutes == 0
    assert february.no_contract_amount == hourly(30 + 45, rate)
    assert february.total == hourly(30 + 45, rate)
    assert api_usage(client, factory, c, "2027-02")["total"] == str(hourly(75, rate))

    # The portal's hours page of February shows the same.
    monkeypatch.setattr("helpdesk.web.portal.routes.utcnow",
                        lambda: at(zone, date(2027, 2, 10), 12, 0))
    auth.login(user.email)
    shown = _shown(client.get("/portal/hours").get_data(as_text=True))
    assert shown["total"] == format_currency(hourly(75, rate), "EUR", locale="en")
    assert shown["no_contract_amount"] == shown["total"] and shown["fee"] == format_currency(
        0, "EUR", locale="en")


@pytest.mark.parametrize("zone", ZONES)
def test_a_trial_ending_without_conversion_bills_the_days_after_it(
        app, client, auth, factory, manager, zone, monkeypatch):  # noqa: F811
    c = factory.client(manager=manager, timezone=zone, language="en")
    trial = factory.contract(c, "standard", status="trial", start=date(2026, 12, 10),
                             end=date(2027, 1, 8))
    db.session.commit()
    run_scheduled(date(2027, 1, 8))
    now = run_scheduled(date(2027, 1, 9))
    assert trial.ended_reason == "trial_ended" and run_again(now).changed == 0

    email(c, zone, date(2027, 1, 5), 10, 0, 60)
    email(c, zone, date(2027, 1, 8), 23, 30, 30)  # the trial's last day: free
    email(c, zone, date(2027, 1, 9), 0, 10, 30)
    email(c, zone, date(2027, 1, 20), 10, 0, 45)
    db.session.commit()

    rate = Decimal(app.config["NO_CONTRACT_RATE"])
    usage = usage_for(c, "2027-01")
    assert usage.status == "trial" and usage.fee == 0 and usage.overage_amount == 0
    assert usage.included_minutes == prorated(trial.package.included_minutes, 8, 31, Decimal(1))
    assert usage.billable_minutes == 90
    assert usage.outside_contract_minutes == 75
    assert usage.total == usage.no_contract_amount == hourly(75, rate)
    # Portal hours page in the last days of January: the no-contract line with its hours.
    portal_user = factory.user(Role.CLIENT, client=c, portal_role=PortalRole.ADMIN)
    db.session.commit()
    monkeypatch.setattr("helpdesk.web.portal.routes.utcnow",
                        lambda: at(zone, date(2027, 1, 28), 12, 0))
    auth.login(portal_user.email)
    html = client.get("/portal/hours").get_data(as_text=True)
    assert 'data-field="outside_contract_minutes">1:15<' in html
    assert "Days without a contract (1:15 at the hourly rate)" in html


@pytest.mark.parametrize("zone", ZONES)
def test_a_contract_starting_mid_month_bills_the_days_before_it(app, factory, zone):
    c = factory.client(timezone=zone)
    contract = factory.contract(c, "standard", start=date(2027, 3, 10))
    email(c, zone, date(2027, 3, 9), 23, 30, 30)
    email(c, zone, date(2027, 3, 10), 0, 10, 30)
    db.session.commit()
    rate = Decimal(app.config["NO_CONTRACT_RATE"])
    usage = usage_for(c, "2027-03")
    assert usage.included_minutes == prorated(contract.package.included_minutes, 22, 31,
                                              Decimal(1))
    assert usage.fee == prorated(contract.package.monthly_fee, 22, 31, CENT)
    assert usage.billable_minutes == 30 and usage.outside_contract_minutes == 30
    assert usage.no_contract_amount == hourly(30, rate)
    assert usage.total == usage.fee + hourly(30, rate)


def test_a_closed_month_keeps_its_figures_and_one_closed_before_day_exact_its_old_ones(
        app, factory, manager, tmp_path):  # noqa: F811
    zone = "Europe/Belgrade"
    rate = Decimal(app.config["NO_CONTRACT_RATE"])
    c = factory.client(manager=manager, timezone=zone, language="en")
    contract = factory.contract(c, "standard", start=date(2025, 11, 16), end=date(2026, 11, 15))
    contract.auto_renew = False
    email(c, zone, date(2026, 11, 10), 10, 0, 150)
    email(c, zone, date(2026, 11, 20), 10, 0, 90)
    db.session.commit()
    run_scheduled(date(2026, 11, 16))
    before = usage_json(c, "2026-11")
    assert before["outside_contract_minutes"] == 90
    close_month("2026-11", now=datetime(2026, 12, 2, tzinfo=UTC))
    db.session.commit()
    stored = report_pdf(c, "2026-11")
    db.session.commit()
    after = usage_json(c, "2026-11")
    assert {**after, "closed": False} == {**before, "closed": False}
    assert report_pdf(c, "2026-11") == stored
    assert db.session.scalar(select(ClosedMonth.rules_version)) == 2

    # A month closed before day-exact billing (the migration leaves those rows at version 1)
    # keeps the month-level rule: every minute at the contract's terms.
    contract_oct = factory.client(manager=manager, timezone=zone)
    old = factory.contract(contract_oct, "standard", start=date(2025, 10, 16),
                           end=date(2026, 10, 15))
    email(contract_oct, zone, date(2026, 10, 10), 10, 0, 150)
    email(contract_oct, zone, date(2026, 10, 20), 10, 0, 90)
    db.session.execute(text("INSERT INTO closed_months (period, closed_at) "
                            "VALUES ('2026-10', '2026-11-02 00:00:00')"))
    db.session.commit()
    assert db.session.scalar(
        select(ClosedMonth.rules_version).where(ClosedMonth.period == "2026-10")) == 1
    october = usage_for(contract_oct, "2026-10")
    included = prorated(old.package.included_minutes, 15, 31, Decimal(1))
    assert october.outside_contract_minutes == 0 and october.no_contract_amount == 0
    assert october.billable_minutes == 240
    assert october.overage_minutes == 240 - int(included)
    assert october.overage_amount == hourly(240 - int(included), old.package.overage_rate)
    # The same month still open is day-exact: 90 minutes at the no-contract rate.
    db.session.execute(text("DELETE FROM closed_months WHERE period = '2026-10'"))
    assert usage_for(contract_oct, "2026-10").no_contract_amount == hourly(90, rate)


def test_work_on_a_day_without_a_contract_keeps_the_warranty_and_pays_for_visits():
    """Pure rules: after the end, a warranty-defect entry within the warranty is free and a
    visit is no free visit of the allowance but paid at the no-contract rate."""
    rules = BillingRules()
    state = ContractState(
        status="active",
        segments=[PackageSegment(date(2026, 12, 1), date(2026, 12, 16), 300, Decimal("120.00"))],
        visits_remaining=1,
        warranty_until=date(2027, 6, 30),
        tz="Europe/Belgrade",
        served_days=((date(2026, 12, 1), date(2026, 12, 16)),),
    )
    day = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    entries = [
        EntryRecord(id=1, kind="email", started_at=day, billable_minutes=60, minutes=60,
                    ticket_warranty_defect=True),
        EntryRecord(id=2, kind="visit", started_at=day, billable_minutes=120, minutes=120),
        EntryRecord(id=3, kind="visit", started_at=datetime(2026, 12, 3, 9, tzinfo=UTC),
                    billable_minutes=60, minutes=60),
    ]
    usage = compute_usage("2026-12", state, entries, rules)
    assert usage.warranty_minutes == 60 and usage.explanations[1].codes == ("W",)
    assert usage.explanations[2].codes == ("P", "E")
    assert usage.explanations[3].bucket == "free_visit" and usage.visits_used == 1
    assert usage.outside_contract_minutes == 120
    assert usage.no_contract_amount == hourly(120, rules.no_contract_rate)
    assert usage.billable_minutes == 0
