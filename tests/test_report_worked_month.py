"""A month with every billing rule, read back from the PDF and checked against the usage API.

The expected figures are worked out here from the published rules (15-minute steps, at least one
step per call or remote session, out-of-hours time x 1.5, the price list), not taken from the code:

Client A (Standard: 300 min, 120.00/month, 40.00/h overage, 1 visit a year; no on-call), March 2026:
  email 20 min                      -> 30   R (rounded)
  phone 7 min                       -> 15   M (minimum one step)
  remote Sat 10:00-10:40, 40 out    -> 40 x 1.5 = 60; in hours it would be 45: R, O (+15)
  visit 120 min, first of the year  -> 120  V (free)
  visit 100 min, the second         -> 105  R, P (paid: counts against the package)
  development 90 min                -> 90   D (apart, 60.00/h = 90.00)
  consulting 140 min                -> 150  R
  adjustment of February's email: 30 worked -> 55, billed 30 -> 60: +30 (reason given)
  adjustment of February's phone call: billed -15 (goodwill; a negative correction)
Client B (no contract, warranty until 15 March): two emails of 40 min on a warranty defect,
  the 9th (W, not charged) and the 16th (N, 45 min at 50.00/h = 37.50).
Client C (trial of Extended): one remote session of 52 min -> 60, T; nothing charged.
"""

from __future__ import annotations

import math
import re
import subprocess
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.accounting.breakdown import usage_detail
from helpdesk.accounting.closing import CloseBlocked, close_due_months, close_month
from helpdesk.accounting.ledger import add_adjustment, log_entry, review_entry
from helpdesk.accounting.usage import usage_for
from helpdesk.extensions import db, mail
from helpdesk.models import ApiToken, AuditLog, ClosedMonth, EntrySource, PortalRole, Role
from helpdesk.tickets.services import create_ticket
from reports import i18n
from reports.batch import scheduled_monthly
from reports.charts import channel_chart, daily_chart
from reports.data import report_input
from reports.pdf import render_report
from reports.pdf_sections import fixed_cells
from reports.service import report_pdf
from tests.test_reports_data import ensure_catalogs

BELGRADE = ZoneInfo("Europe/Belgrade")
PERIOD = "2026-03"
STEP = 15


@pytest.fixture(autouse=True)
def _catalogs() -> None:
    ensure_catalogs()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BELGRADE)


def billed(kind: str, minutes: int, outside: int = 0) -> int:
    """The rules by hand: out-of-hours minutes weigh 1.5, up to whole steps, sessions >= 1 step."""
    weighted = (minutes - outside) + Fraction(3, 2) * outside
    steps = math.ceil(weighted / STEP)
    if kind in ("phone", "remote"):
        steps = max(steps, 1)
    return steps * STEP


def money(minutes: int, rate: str) -> str:
    amount = Decimal(minutes) * Decimal(rate) / 60
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def pdf_lines(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "month.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
                          check=True, capture_output=True).stdout.decode()
    return [line.replace("\u00a0", " ") for line in text.splitlines()]


def line_starting(lines: list[str], label: str) -> str:
    for line in lines:
        if line.strip().startswith(label):
            return line
    raise AssertionError(f"{label!r} not printed")


def _api_usage(http, admin, client_id: int) -> dict:
    token, plain = ApiToken.issue(admin)
    db.session.add(token)
    db.session.commit()
    response = http.get(f"/api/v1/clients/{client_id}/usage?month={PERIOD}",
                        headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def month(app, factory):
    """The three clients of the module docstring, February closed, March open."""
    admin = factory.user(Role.ADMIN, name="Admin")
    manager = factory.user(Role.ACCOUNT_MANAGER, name="Jelena Manager", email="jelena@vendor.test")
    agent = factory.user(Role.AGENT, name="Marko Agent")
    a = factory.client("Svako Pravilo d.o.o.", language="en", manager=manager)
    factory.contract(a, "standard", start=date(2025, 6, 1))
    ticket = create_ticket(subject="Front desk printer", client_id=a.id,
                           created_at=local(2026, 2, 2, 9, 0), actor="test")

    def entry(client, kind, start, *, end=None, minutes=None, on=None):
        return log_entry(client=client, kind=kind, started_at=start, ended_at=end,
                         minutes=minutes, ticket=ticket if on is None else (on or None), agent=agent,
                         source=EntrySource.MANUAL, user=agent)

    feb_email = entry(a, "email", local(2026, 2, 10, 11, 0), minutes=30)
    feb_call = entry(a, "phone", local(2026, 2, 11, 10, 0), minutes=20)
    db.session.commit()
    close_month("2026-02", now=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    entry(a, "email", local(2026, 3, 5, 11, 0), minutes=20)
    entry(a, "phone", local(2026, 3, 4, 10, 0), minutes=7)
    entry(a, "remote", local(2026, 3, 7, 10, 0), end=local(2026, 3, 7, 10, 40))
    entry(a, "visit", local(2026, 3, 10, 9, 0), minutes=120)
    entry(a, "visit", local(2026, 3, 17, 9, 0), minutes=100)
    entry(a, "development", local(2026, 3, 11, 9, 0), minutes=90)
    entry(a, "consulting", local(2026, 3, 23, 13, 0), minutes=140)
    booked = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    add_adjustment(feb_email, reason="Follow-up notes were not logged", minutes_delta=25,
                   user=manager, now=booked)
    add_adjustment(feb_call, reason="Goodwill: duplicate call", billable_delta=-15,
                   user=manager, now=booked)

    b = factory.client("Garanti Yazılım", language="tr", warranty_until=date(2026, 3, 15))
    defect = create_ticket(subject="Defect in the invoice module", client_id=b.id,
                           created_at=local(2026, 3, 2, 9, 0), actor="test")
    defect.warranty_defect = True
    entry(b, "email", local(2026, 3, 9, 10, 0), minutes=40, on=defect)
    entry(b, "email", local(2026, 3, 16, 10, 0), minutes=40, on=defect)

    c = factory.client("Proba d.o.o.", language="sr_Latn")
    factory.contract(c, "extended", status="trial", start=date(2026, 3, 1))
    entry(c, "remote", local(2026, 3, 3, 9, 0), end=local(2026, 3, 3, 9, 52), on=False)
    db.session.commit()
    return {"a": a, "b": b, "c": c, "admin": admin, "manager": manager}


def test_each_entry_prints_its_rule_codes_and_the_summary_equals_the_api(
    app, client, month, tmp_path
):
    a = month["a"]
    api = _api_usage(client, month["admin"], a.id)
    # The rules by hand.
    entries = [("email", 20, 0), ("phone", 7, 0), ("remote", 40, 40), ("visit", 120, 0),
               ("visit", 100, 0), ("development", 90, 0), ("consulting", 140, 0)]
    email_fix = billed("email", 55) - billed("email", 30)
    counted = (billed("email", 20) + billed("phone", 7) + billed("remote", 40, 40)
               + billed("visit", 100) + billed("consulting", 140) + email_fix - 15)
    surcharge = billed("remote", 40, 40) - billed("remote", 40)
    overage = counted - 300
    assert api["billable_minutes"] == counted
    assert api["worked_minutes"] == sum(m for _, m, _ in entries) + 25
    assert api["out_of_hours_surcharge_minutes"] == surcharge
    assert api["adjustment_minutes"] == email_fix - 15
    assert api["free_visit_minutes"] == 120 and api["visits_used"] == 1
    assert api["development_minutes"] == 90
    assert api["development_amount"] == money(90, "60.00")
    assert api["overage_minutes"] == overage
    assert api["overage_amount"] == money(overage, "40.00")
    total = Decimal("120.00") + Decimal(money(overage, "40.00")) + Decimal(money(90, "60.00"))
    assert api["total"] == str(total)

    lines = pdf_lines(render_report(report_input(a, PERIOD)), tmp_path)
    fmt = i18n.formatter("en")
    # Each entry's row: local date, worked, billed and the codes of the rules applied.
    expected_rows = [
        (date(2026, 3, 5), 20, billed("email", 20), "R"),
        (date(2026, 3, 4), 7, billed("phone", 7), "M"),
        (date(2026, 3, 7), 40, billed("remote", 40, 40), "R, O"),
        (date(2026, 3, 10), 120, 120, "V"),
        (date(2026, 3, 17), 100, billed("visit", 100), "R, P"),
        (date(2026, 3, 11), 90, 90, "D"),
        (date(2026, 3, 23), 140, billed("consulting", 140), "R"),
    ]
    for day, worked, bill, codes in expected_rows:
        row = next(line for line in lines if line.strip().startswith(fmt.date(day)))
        assert re.search(rf"{fmt.minutes(worked)}\s+{fmt.minutes(bill)}\s+{re.escape(codes)}\s*$",
                         row), row
    text = "\n".join(lines)
    for code in ("R –", "M –", "O –", "V –", "P –", "D –"):
        assert code in text  # the legend explains every code used
    assert "out of hours, weighted ×1.5" in text
    # The summary, to the minute and the cent of the API.
    def euro(amount: str) -> str:
        return fmt.money(Decimal(amount), "EUR").replace("\u00a0", " ")

    summary = {
        "Hours included in the package": [fmt.minutes(api["included_minutes"])],
        "Time worked": [fmt.minutes(api["worked_minutes"])],
        "Hours used": [fmt.minutes(api["billable_minutes"])],
        "of which out-of-hours surcharge": [fmt.minutes(api["out_of_hours_surcharge_minutes"])],
        "of which adjustments": [fmt.minutes(api["adjustment_minutes"])],
        "Hours over the package": [fmt.minutes(api["billable_minutes"] - 300)],
        "Free on-site visits": [fmt.minutes(api["free_visit_minutes"]), "not charged"],
        "Package fee": [euro(api["fee"])],
        "Overage": [fmt.minutes(api["overage_minutes"]), euro(api["overage_amount"])],
        "Development (billed apart)": [fmt.minutes(90), euro(api["development_amount"])],
        "Total": [euro(api["total"])],
    }
    for label, values in summary.items():
        line = line_starting(lines, label)
        for value in values:
            assert value in line, (label, value, line)
    # Adjustments: the reason and the month each corrects, signed.
    (fix,) = [line for line in lines if "Follow-up notes" in line]
    assert fix.strip().startswith(fmt.date(date(2026, 3, 20)))
    assert "February 2026" in fix and fmt.minutes(email_fix) in fix
    credit = [line for line in lines if "Goodwill: duplicate call" in line]
    assert credit and "February 2026" in credit[0] and fmt.minutes(-15) in credit[0]


def test_warranty_no_contract_and_trial_say_why_nothing_or_the_rate_is_charged(
    app, client, month, tmp_path
):
    b, c = month["b"], month["c"]
    api_b = _api_usage(client, month["admin"], b.id)
    assert api_b["warranty_minutes"] == billed("email", 40)
    assert api_b["no_contract_amount"] == money(billed("email", 40), "50.00")
    lines_b = pdf_lines(render_report(report_input(b, PERIOD)), tmp_path)
    tr = i18n.formatter("tr")
    for day, codes in ((date(2026, 3, 9), "R, W"), (date(2026, 3, 16), "R, N")):
        row = next(line for line in lines_b if line.strip().startswith(tr.date(day)))
        assert row.rstrip().endswith(codes), row
    assert tr.money(Decimal(api_b["total"]), "EUR").replace("\u00a0", " ") in line_starting(
        lines_b, "Toplam")
    assert "ücretlendirilmez" in line_starting(lines_b, "Garanti kapsamında iş")

    api_c = _api_usage(client, month["admin"], c.id)
    assert api_c["status"] == "trial" and api_c["total"] == "0.00"
    lines_c = pdf_lines(render_report(report_input(c, PERIOD)), tmp_path)
    sr = i18n.formatter("sr")
    row = next(line for line in lines_c if line.strip().startswith(sr.date(date(2026, 3, 3))))
    assert row.rstrip().endswith("R, T"), row
    assert "ne naplaćuje se (proba)" in line_starting(lines_c, "Cena paketa")
    assert "ne naplaćuje se (proba)" in line_starting(lines_c, "Prekoračenje")
    assert sr.minutes(api_c["billable_minutes"]) in line_starting(lines_c, "Iskorišćeni sati")


def test_detail_usage_is_the_usage_of_the_api_entry_by_entry(app, month):
    for key in ("a", "b", "c"):
        detail = usage_detail(month[key], PERIOD).to_json()
        assert detail == usage_for(month[key], PERIOD).to_json()


@pytest.mark.parametrize("language", ["en", "sr_Latn", "tr"])
def test_no_string_of_the_report_overflows_its_cell(app, month, language):
    from tests.test_report_pdf import make_report

    report_language = {"sr_Latn": "sr"}.get(language, language)
    fmt = i18n.formatter(report_language)
    inputs = [make_report(report_language)]
    for key in ("a", "b", "c"):
        month[key].language = language
        inputs.append(report_input(month[key], PERIOD))
    overflowing = [
        (cell.where, cell.text, round(cell.width))
        for data in inputs for cell in fixed_cells(data, fmt) if not cell.fits
    ]
    assert overflowing == []


def test_charts_draw_a_negative_month_below_zero() -> None:
    from reportlab.graphics.shapes import Rect

    chart = channel_chart([("Email", 60), ("Remote", -90), ("Phone", 0)], str, str, 190, 140)
    bars = [shape for shape in chart.contents if isinstance(shape, Rect)]
    assert len(bars) == 2 and all(bar.width > 0 for bar in bars)
    email, remote = bars
    assert remote.x + remote.width == pytest.approx(email.x)  # both start at the zero line
    assert all(0 <= bar.x and bar.x + bar.width <= 190 for bar in bars)
    daily = daily_chart(date(2026, 3, 1), [30, -45] + [0] * 29, str, 300, 100)
    day_bars = [shape for shape in daily.contents if isinstance(shape, Rect)]
    up, down = day_bars
    assert up.height > 0 and down.height > 0 and down.y + down.height == pytest.approx(up.y)
    assert down.y >= 0


# -- the close waits for the review --------------------------------------------------------


def test_scheduled_close_skips_a_month_with_flagged_entries_and_tells_the_manager(app, month):
    on_the_first = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # 06:00 in Belgrade
    with mail.record_messages() as sent:
        result = close_due_months(PERIOD, now=on_the_first)
        db.session.commit()
    assert result.closed == [] and list(result.blocked) == [PERIOD]
    assert db.session.scalar(select(ClosedMonth).where(ClosedMonth.period == PERIOD)) is None
    (message,) = sent
    assert message.recipients == ["jelena@vendor.test"]
    assert "Svako Pravilo d.o.o." in message.body and "2026-03-07 10:00" in message.body
    assert "remote" in message.body
    # The reports job after it writes nothing for a month that is not closed.
    assert "not closed" in str(scheduled_monthly(PERIOD, email=True))
    with pytest.raises(CloseBlocked) as refused:
        close_month(PERIOD, now=on_the_first)
    assert "1 out-of-hours entries" in str(refused.value)

    # A second run does not mail the same manager again.
    with mail.record_messages() as again:
        close_due_months(PERIOD, now=on_the_first)
    assert again == []

    (flagged,) = result.blocked[PERIOD]
    review_entry(flagged, user=month["manager"], decision="approve")
    db.session.commit()
    result = close_due_months(PERIOD, now=datetime(2026, 4, 2, 4, 0, tzinfo=UTC))
    db.session.commit()
    assert result.closed == [PERIOD] and not result.blocked
    first = report_pdf(month["a"], PERIOD)
    db.session.commit()
    month["manager"].name = "Jelena Renamed"
    db.session.commit()
    assert report_pdf(month["a"], PERIOD) == first  # a closed month's PDF stays byte-identical
    assert b"PRELIMINARY" not in first


def test_close_command_refuses_with_the_list_and_force_is_audited(app, month):
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["billing", "close-month", PERIOD])
    # March 2026 is long over by the machine's clock; only the review holds it.
    assert refused.exit_code != 0
    assert "waiting for review" in refused.output and "Svako Pravilo d.o.o." in refused.output
    forced = runner.invoke(args=["billing", "close-month", PERIOD, "--force"])
    assert forced.exit_code == 0, forced.output
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "close_forced"))
    assert audit is not None and audit.actor == "cli"


def test_portal_and_pdf_agree_on_final_and_preliminary(app, client, auth, factory, month):
    a = month["a"]
    factory.user(Role.CLIENT, client=a, email="boss@pravilo.test", portal_role=PortalRole.ADMIN)
    db.session.commit()
    auth.login("boss@pravilo.test")
    html = client.get("/portal/reports").get_data(as_text=True)
    march = re.search(r"March 2026</a>\s*<span[^>]*>\(PDF, ([^)]*)\)", html)
    february = re.search(r"February 2026</a>\s*<span[^>]*>\(PDF, ([^)]*)\)", html)
    assert march and "preliminary" in march.group(1)
    assert february and february.group(1) == "final"
    pdf = client.get("/portal/reports/2026-03.pdf").get_data()
    assert b"PRELIMINARY" in pdf or "PRELIMINARY" in _text(pdf)
    assert "PRELIMINARY" not in _text(client.get("/portal/reports/2026-02.pdf").get_data())


def _text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, check=True,
                          capture_output=True).stdout.decode()


# -- sub-agents ---------------------------------------------------------------------------


def test_subagent_report_shows_the_hours_of_own_requests_and_no_money(
    app, client, auth, factory, month
):
    a = month["a"]
    sub = factory.user(Role.CLIENT, client=a, email="partner@pravilo.test",
                       portal_role=PortalRole.SUBAGENT, name="Partner Agency")
    own = create_ticket(subject="Partner's own request", client_id=a.id, opened_by=sub,
                        created_at=local(2026, 3, 3, 9, 0), actor="test")
    log_entry(client=a, kind="email", started_at=local(2026, 3, 3, 10, 0), minutes=35,
              ticket=own, source=EntrySource.MANUAL)
    db.session.commit()
    auth.login("partner@pravilo.test")
    listing = client.get("/portal/reports")
    assert listing.status_code == 200 and "March 2026" in listing.get_data(as_text=True)
    text = _text(client.get("/portal/reports/2026-03.pdf").get_data())
    assert "Partner's own request" in text
    assert "Front desk printer" not in text  # the company's other tickets stay hidden
    assert "Hours on the requests of Partner Agency" in text
    assert billed_text(35) in text
    for money_word in ("€", "Total", "Package fee", "Overage", "Follow-up notes"):
        assert money_word not in text, money_word
    # Company pages stay closed to a sub-agency.
    assert client.get("/portal/hours").status_code == 404


def billed_text(minutes: int) -> str:
    return i18n.formatter("en").minutes(billed("email", minutes))


def test_explanations_of_a_waived_call_and_an_adjustment() -> None:
    from helpdesk.accounting.explain import explain_entry
    from helpdesk.accounting.monthly import EntryRecord
    from helpdesk.accounting.tariff import BillingRules

    rules = BillingRules()
    start = datetime(2026, 3, 7, 22, 0, tzinfo=UTC)
    waived = EntryRecord(kind="phone", started_at=start, minutes=25, billable_minutes=0,
                         out_of_hours=True, plain_billable_minutes=billed("phone", 25))
    assert explain_entry(waived, "package", "active", rules).codes == ("X",)
    late_call = EntryRecord(kind="phone", started_at=start, minutes=25,
                            billable_minutes=billed("phone", 25, 25), out_of_hours=True,
                            plain_billable_minutes=billed("phone", 25))
    explained = explain_entry(late_call, "package", "active", rules)
    assert explained.codes == ("R", "O")
    assert explained.surcharge_minutes == billed("phone", 25, 25) - billed("phone", 25)
    credit = EntryRecord(kind="email", started_at=start, minutes=0, billable_minutes=-15,
                         is_adjustment=True)
    assert explain_entry(credit, "package", "active", rules).codes == ("A",)
