"""The report's input from the database: its figures are the usage JSON's, printed per language.

The PDFs are read back with poppler's pdftotext, as the client's viewer would show them.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest

from helpdesk.accounting.closing import CloseBlocked, close_month
from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.usage import usage_for, usage_json
from helpdesk.extensions import db
from helpdesk.models import EntrySource, Role
from helpdesk.tickets.services import add_article, create_ticket, set_status
from reports import i18n
from reports.data import report_input
from reports.model import SlaOutcome
from reports.pdf import render_report
from reports.service import available_periods, report_clients
from tests.worked_example import approve_flagged, build_worked_example

BELGRADE = ZoneInfo("Europe/Belgrade")
REPORTS_DIR = Path(i18n.__file__).parent

#: The summary's labels per report language, in the order of the summary table.
LABELS = {
    "en": ("Hours included in the package", "Time worked", "Hours used",
           "Hours over the package", "Hours left", "Package fee", "Overage", "Add-on: ",
           "Development (billed apart)", "Work outside the contract", "Total",
           "of which out-of-hours surcharge", "Free on-site visits"),
    "sr": ("Sati uključeni u paket", "Odrađeno vreme", "Iskorišćeni sati", "Sati preko paketa",
           "Preostali sati", "Cena paketa", "Prekoračenje", "Dodatna usluga: ",
           "Razvoj (naplaćuje se posebno)", "Rad van ugovora", "Ukupno",
           "od toga doplata van radnog vremena", "Besplatne posete na licu mesta"),
    "tr": ("Pakete dahil saatler", "Çalışılan süre", "Kullanılan saatler",
           "Paketi aşan saatler", "Kalan saatler", "Paket ücreti", "Aşım", "Ek hizmet: ",
           "Geliştirme (ayrı faturalanır)", "Sözleşme dışı çalışma", "Toplam",
           "bunun mesai dışı ek ücreti", "Ücretsiz yerinde ziyaretler"),
}  # fmt: skip

#: The price list's add-on names as each report language prints them.
ADDON_NAMES = {
    "en": {"cloud_backup": "Cloud backup"},
    "sr": {"cloud_backup": "Rezervna kopija u oblaku"},
    "tr": {"cloud_backup": "Bulut yedekleme"},
}


def ensure_catalogs() -> None:
    """Compile the report catalogs when a .mo is missing or older than its .po (as the build does)."""
    translations = REPORTS_DIR / "translations"
    stale = any(
        not po.with_suffix(".mo").exists()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
        for po in translations.glob("*/LC_MESSAGES/reports.po")
    )
    if stale:
        subprocess.run(
            [sys.executable, "-m", "babel.messages.frontend", "compile", "-f",
             "-d", str(translations), "-D", "reports"],
            check=True, capture_output=True,
        )  # fmt: skip
        i18n.load_translations.cache_clear()
        i18n.formatter.cache_clear()


@pytest.fixture(autouse=True)
def _catalogs() -> None:
    ensure_catalogs()


def pdf_text(pdf: bytes, tmp_path: Path) -> list[str]:
    """Each page's text as pdftotext lays it out, no-break spaces made plain."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    pages = [page.replace("\u00a0", " ") for page in out.split("\f")]
    return [page for page in pages if page.strip()]


def line_with(text: str, label: str) -> str:
    """The first layout line holding a label (the summary lists each label once)."""
    for line in text.splitlines():
        if line.strip().startswith(label):
            return line
    raise AssertionError(f"{label!r} not in the page")


def expected_summary(usage: dict[str, Any], language: str, addon_names: dict[str, str]) -> dict:
    """What the summary must print for a usage JSON, formatted as the language writes it."""
    fmt = i18n.formatter(language)
    labels = LABELS[language]
    currency = usage["currency"]

    def money(amount: str) -> str:
        return fmt.money(Decimal(amount), currency).replace("\u00a0", " ")

    balance = usage["included_minutes"] - usage["billable_minutes"]
    lines = {
        labels[0]: [fmt.minutes(usage["included_minutes"])],
        labels[1]: [fmt.minutes(usage["worked_minutes"])],
        labels[2]: [fmt.minutes(usage["billable_minutes"])],
        labels[11]: [fmt.minutes(usage["out_of_hours_surcharge_minutes"])],
        (labels[3] if balance < 0 else labels[4]): [fmt.minutes(abs(balance))],
        labels[5]: [money(usage["fee"])],
        labels[6]: [fmt.minutes(usage["overage_minutes"]), money(usage["overage_amount"])],
        labels[8]: [fmt.minutes(usage["development_minutes"]),
                    money(usage["development_amount"])],
        labels[9]: [money(usage["no_contract_amount"])],
        labels[10]: [money(usage["total"])],
    }
    if usage["free_visit_minutes"]:
        lines[labels[12]] = [fmt.minutes(usage["free_visit_minutes"])]
    for addon in usage["addons"]:
        lines[labels[7] + addon_names[addon["name"]]] = [money(addon["amount"])]
    return lines


def assert_summary(first_page: str, expected: dict[str, list[str]]) -> None:
    for label, values in expected.items():
        cells = line_with(first_page, label).strip()[len(label):].split()
        printed = " ".join(cells)
        for value in values:
            assert value in printed, (label, value, printed)


# -- acceptance: the hand-worked month ---------------------------------------------------------


@pytest.mark.parametrize("language", ["sr_Latn", "en", "tr"])
def test_hand_worked_month_prints_the_hand_worked_totals(app, factory, tmp_path, language):
    client, period, expected = build_worked_example(factory)
    assert usage_json(client, period) == expected  # the figures the report must print
    client.language = language
    db.session.flush()
    page = pdf_text(render_report(report_input(client, period)), tmp_path)[0]
    report_language = {"sr_Latn": "sr"}.get(language, language)
    assert_summary(page, expected_summary(expected, report_language, ADDON_NAMES[report_language]))
    # Written out by hand too, so a formatter bug cannot hide behind the same formatter.
    if language == "sr_Latn":
        for label, text in [("Sati uključeni u paket", "6:46"), ("Odrađeno vreme", "10:44"),
                            ("Iskorišćeni sati", "8:45"), ("Sati preko paketa", "1:59"),
                            ("od toga doplata van radnog vremena (×1,5)", "0:30"),
                            ("Besplatne posete na licu mesta", "2:00"),
                            ("Cena paketa", "148,39 €"), ("Prekoračenje", "69,42 €"),
                            ("Dodatna usluga: Rezervna kopija u oblaku", "20,00 €"),
                            ("Razvoj (naplaćuje se posebno)", "90,00 €"),
                            ("Ukupno", "327,81 €")]:  # fmt: skip
            assert text in line_with(page, label)
    if language == "en":
        assert "€327.81" in line_with(page, "Total")
    assert "Standard → Extended" in page  # upgraded on 21 March


def test_hand_worked_month_lists_every_entry_and_the_ticket(app, factory):
    client, period, expected = build_worked_example(factory)
    data = report_input(client, period)
    assert len(data.time_entries) == 11
    assert sum(e.billable_minutes for e in data.time_entries) == sum(
        expected["used_minutes_by_kind"].values()
    )
    assert [e.out_of_hours for e in data.time_entries].count(True) == 3
    # The channel chart is the usage by kind; the daily chart adds up to the same minutes.
    assert data.channel_minutes.remote == 345 and data.channel_minutes.visit == 120
    assert sum(data.daily_minutes) == 735
    assert data.daily_minutes[2] == 60 and data.daily_minutes[30] == 45  # 3 and 31 March
    (ticket,) = data.tickets
    assert ticket.subject == "Printer at the front desk" and ticket.minutes_spent == 735
    assert data.visits is not None and (data.visits.used, data.visits.left) == (1, 1)
    assert data.account_manager.name == "Jelena Manager"


# -- any month: the PDF equals the usage JSON --------------------------------------------------


def _belgrade_month(factory):
    """October 2026 (DST ends on the 25th) for a Basic client, with entries at the edges."""
    agent = factory.user(Role.AGENT, name="Đorđe Agent")
    client = factory.client("Žitoprodukt a.d.", language="en")
    factory.contract(client, "basic", start=date(2026, 1, 1), addons=("cloud_backup",))

    def entry(kind: str, start: datetime, minutes: int) -> None:
        log_entry(client=client, kind=kind, started_at=start, minutes=minutes, agent=agent,
                  source=EntrySource.MANUAL, user=agent)  # fmt: skip

    entry("email", datetime(2026, 9, 30, 23, 50, tzinfo=BELGRADE), 30)  # September
    entry("email", datetime(2026, 10, 1, 0, 15, tzinfo=BELGRADE), 20)  # 30 Sep 22:15 UTC
    entry("remote", datetime(2026, 10, 25, 2, 30, tzinfo=BELGRADE), 45)  # DST night
    entry("consulting", datetime(2026, 10, 26, 10, 0, tzinfo=BELGRADE), 100)
    entry("remote", datetime(2026, 10, 31, 23, 30, tzinfo=BELGRADE), 40)  # Halloween night
    entry("phone", datetime(2026, 11, 1, 0, 10, tzinfo=BELGRADE), 10)  # November
    db.session.commit()
    return client, "2026-10"


@pytest.mark.parametrize("language", ["en", "sr_Latn", "tr"])
def test_summary_equals_usage_json_in_each_language(app, factory, tmp_path, language):
    client, period = _belgrade_month(factory)
    client.language = language
    db.session.flush()
    usage = usage_for(client, period).to_json()
    assert usage["overage_minutes"] > 0  # the package is exceeded: the "over" line prints
    page = pdf_text(render_report(report_input(client, period)), tmp_path)[0]
    report_language = {"sr_Latn": "sr"}.get(language, language)
    assert_summary(page, expected_summary(usage, report_language, ADDON_NAMES[report_language]))


def test_month_is_the_clients_local_month_across_dst(app, factory):
    client, period = _belgrade_month(factory)
    data = report_input(client, period)
    starts = [e.start.astimezone(BELGRADE) for e in data.time_entries]
    assert [s.day for s in starts] == [1, 25, 26, 31]
    assert data.daily_minutes[0] == 30  # 20 min of email rounded up to 30, on 1 October
    assert data.daily_minutes[24] > 0 and data.daily_minutes[30] > 0
    assert sum(data.daily_minutes) == sum(usage_for(client, period).used_minutes_by_kind.values())
    assert len(data.daily_minutes) == 31


def test_holidays_come_from_the_clients_country(app, factory):
    serbian = factory.client("Srpska firma", country="RS")
    turkish = factory.client("Türk Şirketi", country="TR", timezone="Europe/Istanbul",
                             language="tr")  # fmt: skip
    for client in (serbian, turkish):
        factory.contract(client, "standard", start=date(2026, 1, 1))
    for client, country in ((serbian, "RS"), (turkish, "TR")):
        data = report_input(client, "2026-04")
        official = {d for d in holidays.country_holidays(country, years=2026) if d.month == 4}
        assert set(data.holidays) <= official
        assert {d for d in official if d.weekday() < 5} <= set(data.holidays)
    assert date(2026, 4, 10) in report_input(serbian, "2026-04").holidays  # Orthodox Good Friday
    assert date(2026, 4, 23) in report_input(turkish, "2026-04").holidays  # Sovereignty Day
    assert date(2026, 4, 23) not in report_input(serbian, "2026-04").holidays


def test_sla_outcomes_and_compliance_follow_the_clocks(app, factory):
    client = factory.client("SLA d.o.o.", language="en")
    factory.contract(client, "standard", start=date(2025, 1, 1))  # 4 h / 16 business hours
    opened = datetime(2026, 3, 3, 9, 0, tzinfo=BELGRADE)  # a Tuesday
    quick = create_ticket(subject="Answered at once", client_id=client.id, created_at=opened)
    add_article(quick, direction="out", body_text="On it", created_at=opened + timedelta(hours=1))
    set_status(quick, "resolved", at=opened + timedelta(hours=3))
    slow = create_ticket(subject="Answered late", client_id=client.id, created_at=opened)
    add_article(slow, direction="out", body_text="Sorry", created_at=opened + timedelta(days=2))
    create_ticket(subject="Still open", client_id=client.id,
                  created_at=datetime(2026, 3, 31, 15, 30, tzinfo=BELGRADE))
    earlier = create_ticket(subject="From February", client_id=client.id,
                            created_at=datetime(2026, 2, 20, 9, 0, tzinfo=BELGRADE))
    create_ticket(subject="Not touched in March", client_id=client.id,
                  created_at=datetime(2026, 2, 21, 9, 0, tzinfo=BELGRADE))  # fmt: skip
    log_entry(client=client, kind="email", started_at=opened, minutes=15, ticket=earlier,
              source=EntrySource.MANUAL)  # fmt: skip
    db.session.commit()

    # Issued at 1 April 08:00: the March 31 ticket's 4 business hours are not yet used up.
    data = report_input(client, "2026-03", now=datetime(2026, 4, 1, 6, 0, tzinfo=UTC))
    lines = {t.subject: t for t in data.tickets}
    assert set(lines) == {"Answered at once", "Answered late", "Still open", "From February"}
    assert [t.number for t in data.tickets] == sorted(
        (t.number for t in data.tickets), key=lambda n: int(n[1:])
    )
    assert (lines["Answered at once"].first_response, lines["Answered at once"].resolution) == (
        SlaOutcome.MET, SlaOutcome.MET)
    assert lines["Answered late"].first_response is SlaOutcome.BREACHED
    assert lines["Answered late"].resolution is SlaOutcome.BREACHED  # 16 h passed, unresolved
    assert lines["Still open"].first_response is SlaOutcome.NONE  # not decided yet
    assert lines["Still open"].resolution is SlaOutcome.NONE
    assert lines["From February"].minutes_spent == 15
    assert lines["From February"].first_response is SlaOutcome.BREACHED
    # First response: met 1 of 3 decided; resolution: met 1 of 3 decided.
    assert data.sla.first_response_pct == Decimal(100) / 3
    assert data.sla.resolution_pct == Decimal(100) / 3
    assert data.preliminary


def test_closed_month_is_issued_at_its_closing_time(app, factory):
    client, period, _ = build_worked_example(factory)
    draft = report_input(client, period, now=datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    assert draft.preliminary and draft.issued_at == datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
    with pytest.raises(CloseBlocked):  # three out-of-hours entries wait for the review
        close_month(period, now=datetime(2026, 4, 1, 4, 0, tzinfo=UTC))
    approve_flagged(period, factory.user(Role.ADMIN))
    closed = close_month(period, now=datetime(2026, 4, 1, 4, 0, tzinfo=UTC))
    db.session.commit()
    final = report_input(client, period, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert not final.preliminary
    assert final.issued_at == closed.closed_at == datetime(2026, 4, 1, 4, 0, tzinfo=UTC)
    assert render_report(final) == render_report(report_input(client, period))


def test_package_names_and_account_manager_fallback(app, factory):
    nobody = factory.client("Bez ugovora d.o.o.", language="sr_Latn")
    log_entry(client=nobody, kind="email", started_at=datetime(2026, 3, 5, 10, tzinfo=BELGRADE),
              minutes=30, source=EntrySource.MANUAL)  # fmt: skip
    trial = factory.client("Deneme A.Ş.", language="tr")
    factory.contract(trial, "extended", status="trial", start=date(2026, 3, 10))
    db.session.commit()
    data = report_input(nobody, "2026-03")
    assert data.package_name == "Bez ugovora"
    assert data.account_manager.email == app.config["VENDOR_EMAIL"]
    assert data.summary.no_contract_amount == usage_for(nobody, "2026-03").no_contract_amount
    assert report_input(trial, "2026-03").package_name == "Extended (deneme)"


def test_available_periods_run_from_contract_or_entries_to_the_current_month(app, factory):
    client = factory.client("Periodi d.o.o.", timezone="Europe/Belgrade")
    factory.contract(client, "standard", start=date(2026, 1, 20), end=date(2026, 3, 5),
                     status="expired")  # fmt: skip
    log_entry(client=client, kind="email", started_at=datetime(2025, 11, 3, 10, tzinfo=BELGRADE),
              minutes=10, source=EntrySource.MANUAL)  # fmt: skip
    never = factory.client("Nikad d.o.o.")
    db.session.commit()
    # 31 May 23:30 UTC is already June in Belgrade: June is the preliminary month.
    now = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    assert available_periods(client, now) == ["2026-03", "2026-02", "2026-01", "2025-11"]
    factory.contract(client, "basic", start=date(2026, 5, 1))
    db.session.commit()
    assert available_periods(client, now)[:3] == ["2026-06", "2026-05", "2026-03"]
    assert available_periods(client, datetime(2026, 5, 31, 21, 30, tzinfo=UTC))[0] == "2026-05"
    assert available_periods(never, now) == []
    for period in ("2025-11", "2025-12", "2026-06", "2026-07"):
        listed = [c.id for c in report_clients(period, now=now)]
        assert (client.id in listed) == (period in available_periods(client, now)), period
