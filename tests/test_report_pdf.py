"""The monthly usage report PDF: figures, languages, fonts, pages, marks and byte-for-byte output.

The PDFs are read back with pypdf and poppler's pdftotext/pdftoppm, as a person's viewer would.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from PIL import Image as PILImage
from pypdf import PdfReader
from reportlab.graphics.shapes import Rect

from reports import i18n
from reports.model import (
    AccountManager,
    Addon,
    Channel,
    ChannelMinutes,
    Client,
    ReportInput,
    SlaCompliance,
    Summary,
    TicketLine,
    TimeEntryLine,
    Vendor,
    Visits,
)
from reports.pdf import render_many, render_report, report_filename

REPORTS_DIR = Path(i18n.__file__).parent
CATALOGS = {"sr": "sr_Latn", "tr": "tr"}
BELGRADE = ZoneInfo("Europe/Belgrade")

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) is not installed",
)


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """Compile the .po files the way the build does, when a .mo is missing or older."""
    stale = False
    for catalog in CATALOGS.values():
        po = REPORTS_DIR / "translations" / catalog / "LC_MESSAGES" / "reports.po"
        mo = po.with_suffix(".mo")
        stale = stale or not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime
    if stale:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "babel.messages.frontend",
                "compile",
                "-d",
                str(REPORTS_DIR / "translations"),
                "-D",
                "reports",
            ],
            check=True,
            capture_output=True,
        )
        i18n.load_translations.cache_clear()
        i18n.formatter.cache_clear()


def _entry(start: datetime, minutes: int = 30, **fields: object) -> TimeEntryLine:
    values: dict[str, object] = {
        "agent": "Đorđe Petrović",
        "kind": Channel.REMOTE,
        "duration_minutes": minutes,
        "billable_minutes": minutes,
        "out_of_hours": False,
        "ticket_number": "HD-1001",
    }
    values.update(fields)
    return TimeEntryLine(start=start, **values)  # type: ignore[arg-type]


def make_report(
    language: str = "en", entries: int = 6, preliminary: bool = False, **overrides: object
) -> ReportInput:
    """October 2026 in Belgrade (31 days, DST ends on the 25th) with figures set by hand."""
    first = datetime(2026, 10, 1, 8, 0, tzinfo=BELGRADE)
    time_entries = tuple(
        _entry(
            (first + timedelta(days=index % 31, minutes=index % 50)).astimezone(UTC),
            minutes=15 + index % 4 * 15,
            agent=("Đorđe Petrović", "Ayşe Yılmaz")[index % 2],
            kind=list(Channel)[index % 6],
            out_of_hours=index % 5 == 0,
            ticket_number=f"HD-{1001 + index % 3}",
        )
        for index in range(entries)
    )
    data = ReportInput(
        vendor=Vendor("Softverska kuća Čačak d.o.o."),
        client=Client("Žitoprodukt a.d. Šabac", language, "Europe/Belgrade"),
        period="2026-10",
        account_manager=AccountManager("Jelena Đurić", "jelena.djuric@example.com"),
        package_name="Gold 20",
        preliminary=preliminary,
        issued_at=datetime(2026, 10, 31, 23, 0, tzinfo=UTC),
        summary=Summary(
            included_minutes=1200,
            used_minutes=1534,
            billable_minutes=1500,
            balance_minutes=-300,
            overage_minutes=300,
            overage_amount=Decimal("225.00"),
            fee=Decimal("1234.50"),
            development_amount=Decimal("480.00"),
            no_contract_amount=Decimal("95.25"),
            total=Decimal("2114.75"),
            currency="EUR",
            addons=(Addon("Weekend standby", Decimal("80.00")),),
        ),
        channel_minutes=ChannelMinutes(
            email=320, remote=610, phone=95, visit=240, consulting=120, development=149
        ),
        daily_minutes=tuple((day * 37) % 300 for day in range(31)),
        tickets=(
            TicketLine("HD-1001", "Printer stops after update", "open", 95, "met", "none"),
            TicketLine("HD-1002", "Invoice <b>bold</b> & VAT", "closed", 120, "breached", "met"),
            TicketLine("HD-1003", "Slow stock report", "pending", 35, "none", "breached"),
        ),
        time_entries=time_entries,
        sla=SlaCompliance(Decimal("91.67"), Decimal(100)),
        visits=Visits(used=3, left=9),
    )
    return dataclasses.replace(data, **overrides)  # type: ignore[arg-type]


def pages_text(pdf: bytes, tmp_path: Path) -> list[str]:
    """Text of each page as pdftotext lays it out, with no-break spaces made plain."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8")
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    return [page.replace("\u00a0", " ") for page in pages]


def line_with(text: str, label: str) -> str:
    """The one layout line that holds a label."""
    lines = [line for line in text.splitlines() if label in line]
    assert lines, f"{label!r} not found"
    return lines[0]


SUMMARY_EXPECTED = {
    "en": {
        "Hours included in the package": "20:00",
        "Hours used": "25:34",
        "Hours over the package": "5:00",
        "Package fee": "€1,234.50",
        "Overage": "€225.00",
        "Add-on: Weekend standby": "€80.00",
        "Development": "€480.00",
        "Work outside the contract": "€95.25",
        "Total": "€2,114.75",
        "First response on time": "91.7%",
        "Resolution on time": "100%",
    },
    "sr": {
        "Sati uključeni u paket": "20:00",
        "Iskorišćeni sati": "25:34",
        "Sati preko paketa": "5:00",
        "Cena paketa": "1.234,50 €",
        "Prekoračenje": "225,00 €",
        "Dodatna usluga: Weekend standby": "80,00 €",
        "Razvoj": "480,00 €",
        "Rad van ugovora": "95,25 €",
        "Ukupno": "2.114,75 €",
        "Prvi odgovor u roku": "91,7%",
        "Rešeno u roku": "100%",
    },
    "tr": {
        "Pakete dahil saatler": "20:00",
        "Kullanılan saatler": "25:34",
        "Paketi aşan saatler": "5:00",
        "Paket ücreti": "€1.234,50",
        "Aşım": "€225,00",
        "Ek hizmet: Weekend standby": "€80,00",
        "Geliştirme": "€480,00",
        "Sözleşme dışı çalışma": "€95,25",
        "Toplam": "€2.114,75",
        "Zamanında ilk yanıt": "%91,7",
        "Zamanında çözüm": "%100",
    },
}


@needs_poppler
@pytest.mark.parametrize("language", ["en", "sr", "tr"])
def test_summary_prints_input_figures_formatted_for_the_language(
    language: str, tmp_path: Path
) -> None:
    first_page = pages_text(render_report(make_report(language)), tmp_path)[0]
    for label, value in SUMMARY_EXPECTED[language].items():
        assert value in line_with(first_page, label), (label, value)
    overage_line = line_with(first_page, list(SUMMARY_EXPECTED[language])[4])
    assert "5:00" in overage_line  # overage minutes stand beside the overage amount


@needs_poppler
@pytest.mark.parametrize(
    ("language", "month", "letters"),
    [
        ("en", "October 2026", "Žitoprodukt a.d. Šabac"),
        ("sr", "oktobar 2026", "Mesečni izveštaj o korišćenju"),
        ("tr", "Ekim 2026", "Aylık kullanım raporu"),
    ],
)
def test_header_names_month_client_and_manager_in_the_language(
    language: str, month: str, letters: str, tmp_path: Path
) -> None:
    first_page = pages_text(render_report(make_report(language)), tmp_path)[0]
    assert month in first_page
    assert letters in first_page
    for text in ("Softverska kuća Čačak d.o.o.", "Jelena Đurić", "jelena.djuric@example.com"):
        assert text in first_page
    assert "Gold 20" in first_page and "Weekend standby" in first_page


@needs_poppler
def test_serbian_and_turkish_letters_extract_as_themselves(tmp_path: Path) -> None:
    name = "Đurđevak Ćićević Džonić Šuša Žarko — Işıklı İnşaat Ağaç Şube Çöğüş"
    for language in ("sr", "tr"):
        data = make_report(language, client=Client(name, language, "Europe/Istanbul"))
        words = set("".join(pages_text(render_report(data), tmp_path)).split())
        assert set(name.split()) <= words


@needs_poppler
@pytest.mark.parametrize("language", ["sr", "tr"])
def test_translated_report_prints_no_english_message(language: str, tmp_path: Path) -> None:
    data = make_report(language, preliminary=True, visits=Visits(1, 2))
    text = "\n".join(pages_text(render_report(data), tmp_path))
    translations = i18n.load_translations(language)
    po = _read_catalog(CATALOGS[language])
    for message in po:
        if not message.id:
            continue
        english = message.id.split("%(")[0].strip()
        translated = translations.gettext(message.id)
        if len(english) < 6 or english in translated:
            continue
        assert english not in text, english


def _read_catalog(catalog: str) -> list:
    path = REPORTS_DIR / "translations" / catalog / "LC_MESSAGES" / "reports.po"
    with path.open("rb") as fp:
        return list(read_po(fp))


def _code_messages() -> set[str]:
    found: set[str] = set()
    for path in sorted(REPORTS_DIR.glob("*.py")):
        for _lineno, message, _comments, _context in extract_from_file("python", str(path)):
            found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("catalog", sorted(CATALOGS.values()))
def test_every_message_of_the_code_has_a_translation(catalog: str) -> None:
    messages = [m for m in _read_catalog(catalog) if m.id]
    assert {m.id for m in messages} == _code_messages()
    for message in messages:
        assert message.string.strip(), f"{catalog}: {message.id!r} is untranslated"
        assert not message.fuzzy, f"{catalog}: {message.id!r} is fuzzy"
        placeholders = re.findall(r"%\(\w+\)[sd]", message.id)
        assert sorted(placeholders) == sorted(re.findall(r"%\(\w+\)[sd]", message.string))


@needs_poppler
def test_every_page_renders_to_an_image(tmp_path: Path) -> None:
    pdf = render_report(make_report("tr", entries=150, preliminary=True))
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    page_count = len(PdfReader(io.BytesIO(pdf)).pages)
    assert page_count >= 3
    subprocess.run(
        ["pdftoppm", "-png", "-r", "30", str(path), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == page_count
    for image_path in images:
        with PILImage.open(image_path) as image:
            darkest = min(image.convert("L").getextrema())
        assert darkest < 128, f"{image_path.name} has no dark ink: a blank page"


def test_dejavu_is_embedded_on_every_page() -> None:
    reader = PdfReader(io.BytesIO(render_report(make_report("sr", entries=120))))
    for page in reader.pages:
        fonts = page["/Resources"]["/Font"]
        embedded = {
            str(font["/BaseFont"]).split("+")[-1]
            for font in (fonts[name].get_object() for name in fonts)
            if "/FontFile2" in font.get("/FontDescriptor", {})
        }
        assert {"DejaVuSans", "DejaVuSans-Bold"} <= embedded


_EN_ROW = re.compile(r"^\s*(\d{2}/\d{2}/\d{4})\s+(\d{2}:\d{2})\s")


@needs_poppler
def test_long_month_spans_pages_with_the_header_repeated(tmp_path: Path) -> None:
    data = make_report("en", entries=500)
    pages = pages_text(render_report(data), tmp_path)
    row_pages = [page for page in pages if any(_EN_ROW.match(x) for x in page.splitlines())]
    assert len(row_pages) >= 5
    rows = 0
    for page in row_pages:
        lines = page.splitlines()
        first_row = next(i for i, line in enumerate(lines) if _EN_ROW.match(line))
        header = [i for i, line in enumerate(lines) if re.search(r"Date\s+Start\s+Agent", line)]
        assert header and header[0] < first_row, "entries without the table header above them"
        rows += sum(1 for line in lines if _EN_ROW.match(line))
    assert rows == 500


@needs_poppler
def test_entries_print_in_client_zone_across_dst_end_and_month_start(tmp_path: Path) -> None:
    entries = (
        _entry(datetime(2026, 9, 30, 22, 30, tzinfo=UTC)),  # 1 Oct 00:30 in Belgrade
        _entry(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # 02:30 CEST, before the change
        _entry(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),  # 02:30 CET, after it
        _entry(datetime(2026, 10, 31, 22, 59, tzinfo=UTC)),  # 31 Oct 23:59 CET
    )
    text = "\n".join(pages_text(render_report(make_report("en", time_entries=entries)), tmp_path))
    starts = [m.groups() for m in map(_EN_ROW.match, text.splitlines()) if m]
    assert starts == [
        ("01/10/2026", "00:30"),
        ("25/10/2026", "02:30"),
        ("25/10/2026", "02:30"),
        ("31/10/2026", "23:59"),
    ]
    assert "Europe/Belgrade" in text


@needs_poppler
def test_entries_follow_the_clients_own_time_zone(tmp_path: Path) -> None:
    data = make_report(
        "tr",
        client=Client("Işık A.Ş.", "tr", "Europe/Istanbul"),
        time_entries=(_entry(datetime(2026, 10, 31, 21, 30, tzinfo=UTC)),),
    )
    text = "\n".join(pages_text(render_report(data), tmp_path))
    assert re.search(r"1\.11\.2026\s+00:30", text)
    assert "Europe/Istanbul" in text


@needs_poppler
def test_time_entry_columns_show_kind_worked_billed_and_rule_codes(tmp_path: Path) -> None:
    entry = _entry(
        datetime(2026, 10, 3, 18, 5, tzinfo=UTC),
        minutes=95,
        billable_minutes=60,
        kind=Channel.VISIT,
        out_of_hours=True,
        agent="Ayşe Yılmaz",
        ticket_number="HD-7",
        codes=("R", "V"),
    )
    text = "\n".join(pages_text(render_report(make_report("sr", time_entries=(entry,))), tmp_path))
    row = line_with(text, "Ayşe Yılmaz")
    assert re.search(
        r"3\. 10\. 2026\.\s+20:05\s+Ayşe Yılmaz\s+Terenska poseta\s+HD-7\s+1:35\s+1:00\s+R, V", row
    ), row
    assert "V – besplatna poseta na licu mesta" in text  # the legend names the codes used


@needs_poppler
def test_tickets_table_shows_status_time_and_sla_outcomes(tmp_path: Path) -> None:
    first_page = pages_text(render_report(make_report("en")), tmp_path)[0]
    assert re.search(r"HD-1001\s+Printer stops after update\s+Open\s+1:35\s+Met\s+–", first_page)
    assert re.search(
        r"HD-1002\s+Invoice <b>bold</b> & VAT\s+Closed\s+2:00\s+Breached\s+Met", first_page
    )
    assert re.search(r"HD-1003\s+Slow stock report\s+Pending\s+0:35\s+–\s+Breached", first_page)


@needs_poppler
def test_package_not_used_up_shows_hours_left(tmp_path: Path) -> None:
    summary = dataclasses.replace(
        make_report().summary, billable_minutes=1050, balance_minutes=150, overage_minutes=0
    )
    first_page = pages_text(render_report(make_report("en", summary=summary)), tmp_path)[0]
    assert "2:30" in line_with(first_page, "Hours left")
    assert "Hours over the package" not in first_page


@needs_poppler
@pytest.mark.parametrize(
    ("language", "mark"), [("en", "PRELIMINARY"), ("sr", "PRELIMINARNO"), ("tr", "GEÇİCİ")]
)
def test_open_month_is_marked_preliminary_on_every_page(
    language: str, mark: str, tmp_path: Path
) -> None:
    open_pages = pages_text(render_report(make_report(language, 200, preliminary=True)), tmp_path)
    assert len(open_pages) >= 3
    assert all(mark in page for page in open_pages)
    closed_pages = pages_text(render_report(make_report(language, 200)), tmp_path)
    assert not any(mark in page for page in closed_pages)


@needs_poppler
def test_every_page_has_its_number_of_the_total(tmp_path: Path) -> None:
    pages = pages_text(render_report(make_report("sr", entries=200)), tmp_path)
    for number, page in enumerate(pages, start=1):
        assert f"Strana {number} od {len(pages)}" in page


@needs_poppler
def test_empty_month_renders_with_explanations(tmp_path: Path) -> None:
    data = make_report(
        "en",
        tickets=(),
        time_entries=(),
        daily_minutes=(0,) * 31,
        channel_minutes=ChannelMinutes(),
        sla=SlaCompliance(),
        visits=None,
    )
    text = "\n".join(pages_text(render_report(data), tmp_path))
    assert "No tickets this month." in text
    assert "No time recorded this month." in text
    assert "No tickets with an SLA this month." in text


def test_same_input_gives_the_same_bytes_in_any_process(tmp_path: Path) -> None:
    data = make_report("tr", entries=80, preliminary=True)
    first = render_report(data)
    assert render_report(data) == first
    pickled = tmp_path / "input.pickle"
    pickled.write_bytes(pickle.dumps(data))
    script = (
        "import pickle, sys; from reports.pdf import render_report; "
        f"sys.stdout.buffer.write(render_report(pickle.loads(open({str(pickled)!r}, 'rb').read())))"
    )
    for epoch in ("", "1234567890"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            check=True,
            capture_output=True,
            env={"SOURCE_DATE_EPOCH": epoch, "PATH": "/usr/bin:/bin"},
            cwd=REPORTS_DIR.parent,
        )
        assert result.stdout == first
    other = render_report(dataclasses.replace(data, package_name="Gold 40"))
    assert other != first


def test_pdf_metadata_names_report_vendor_period_and_issue_date() -> None:
    reader = PdfReader(io.BytesIO(render_report(make_report("sr"))))
    meta = reader.metadata
    assert meta is not None
    assert meta.title == "Mesečni izveštaj o korišćenju – Žitoprodukt a.d. Šabac – oktobar 2026"
    assert meta.author == "Softverska kuća Čačak d.o.o."
    assert meta.subject == "2026-10"
    assert meta.creation_date == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


def test_vendor_logo_is_drawn_in_the_header(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    PILImage.new("RGB", (300, 100), (47, 102, 144)).save(logo)
    data = make_report(vendor=Vendor("Softverska kuća Čačak d.o.o.", logo))
    reader = PdfReader(io.BytesIO(render_report(data)))
    assert len(reader.pages[0].images) == 1
    assert not reader.pages[1].images if len(reader.pages) > 1 else True


def test_render_many_uses_worker_processes_and_reports_progress(tmp_path: Path) -> None:
    inputs = [
        make_report(language, entries=40, client=Client(f"Klijent {n} Šid", language))
        for n, language in enumerate(["en", "sr", "tr", "sr"])
    ]
    calls: list[tuple[int, int]] = []
    paths = render_many(inputs, tmp_path / "out", processes=2, progress=lambda *a: calls.append(a))
    assert [path.name for path in paths] == [
        "2026-10_klijent-0-sid.pdf",
        "2026-10_klijent-1-sid.pdf",
        "2026-10_klijent-2-sid.pdf",
        "2026-10_klijent-3-sid.pdf",
    ]
    assert sorted(calls) == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for data, path in zip(inputs, paths, strict=True):
        assert path.read_bytes() == render_report(data)


def test_render_many_refuses_two_reports_for_one_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same file name"):
        render_many([make_report(), make_report()], tmp_path, processes=1)


def test_report_filename_is_ascii_and_keeps_names_apart() -> None:
    names = {
        report_filename(make_report(client=Client(name, "tr")))
        for name in ("Işık Đuro", "Isik Djuro d.o.o.", "İnci")
    }
    assert names == {"2026-10_isik-djuro.pdf", "2026-10_isik-djuro-d-o-o.pdf", "2026-10_inci.pdf"}


@pytest.mark.parametrize(
    ("language", "amount", "currency", "expected"),
    [
        ("en", Decimal("1234.5"), "RSD", "RSD 1,234.50"),
        ("sr", Decimal("1234.5"), "RSD", "1.234,50 RSD"),
        ("tr", Decimal("1234.5"), "TRY", "₺1.234,50"),
        ("en", Decimal(-12), "EUR", "-€12.00"),
        ("sr", Decimal("0.005"), "EUR", "0,00 €"),
    ],
)
def test_money_in_each_language(
    language: str, amount: Decimal, currency: str, expected: str
) -> None:
    printed = i18n.formatter(language).money(amount, currency).replace("\u00a0", " ")
    assert printed == expected


@pytest.mark.parametrize(
    ("minutes", "expected"), [(0, "0:00"), (59, "0:59"), (754, "12:34"), (-90, "-1:30")]
)
def test_minutes_print_as_hours_and_minutes(minutes: int, expected: str) -> None:
    assert i18n.formatter("sr").minutes(minutes) == expected


@pytest.mark.parametrize(
    ("language", "pct", "expected"),
    [
        ("en", Decimal("91.65"), "91.7%"),
        ("tr", Decimal("91.64"), "%91,6"),
        ("sr", Decimal("100.0"), "100%"),
        ("tr", Decimal(0), "%0"),
    ],
)
def test_percent_rounds_to_one_decimal(language: str, pct: Decimal, expected: str) -> None:
    assert i18n.formatter(language).percent(pct) == expected


def test_missing_catalog_is_an_error_not_silent_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", tmp_path)
    i18n.load_translations.cache_clear()
    try:
        with pytest.raises(i18n.CatalogMissingError, match="pybabel compile"):
            i18n.load_translations("tr")
    finally:
        i18n.load_translations.cache_clear()


def test_helpdesk_language_code_sr_latn_means_serbian() -> None:
    assert Client("Šid", "sr_Latn").language == "sr"


def test_model_rejects_inputs_that_would_print_wrong() -> None:
    with pytest.raises(ValueError, match="29"):
        make_report(period="2028-02")  # 31 daily figures for a 29-day February
    leap = make_report(period="2028-02", daily_minutes=(0,) * 29)
    assert leap.days_in_month == 29
    with pytest.raises(TypeError, match="Decimal"):
        dataclasses.replace(make_report().summary, total=2114.75)
    with pytest.raises(ValueError, match="timezone-aware"):
        _entry(datetime(2026, 10, 3, 8, 0))
    with pytest.raises(ValueError, match="language"):
        Client("Acme", "de")
    with pytest.raises(ValueError, match="time zone"):
        Client("Acme", "en", "Europe/Atlantis")
    with pytest.raises(ValueError, match="YYYY-MM"):
        make_report(period="2026-13")
    with pytest.raises(ValueError, match="between 0 and 100"):
        SlaCompliance(Decimal(101), None)


def test_daily_chart_shades_weekends_and_serbian_holidays() -> None:
    from reports.charts import WEEKEND_COLOR, daily_chart

    statehood = [d for d in holidays.Serbia(years=2026) if d.month == 2]  # 15-16 Feb, 17 observed
    drawing = daily_chart(date(2026, 2, 1), [60] * 28, str, 300, 100, holidays=statehood)
    bars = [shape for shape in drawing.contents if isinstance(shape, Rect)]
    assert len(bars) == 28
    shaded = [day for day, bar in enumerate(bars, start=1) if bar.fillColor == WEEKEND_COLOR]
    assert shaded == [1, 7, 8, 14, 15, 16, 17, 21, 22, 28]  # 1 Feb 2026 is a Sunday


def test_holiday_outside_the_period_is_refused() -> None:
    with pytest.raises(ValueError, match="outside 2026-10"):
        make_report(holidays=(date(2026, 11, 11),))


@needs_poppler
def test_long_ticket_subject_wraps_to_three_lines_at_most(tmp_path: Path) -> None:
    subject = " ".join(f"word{n}" for n in range(80))
    ticket = TicketLine("HD-9", subject, "new", 10)
    first_page = pages_text(render_report(make_report(tickets=(ticket,))), tmp_path)[0]
    lines = [line for line in first_page.splitlines() if "word" in line]
    assert len(lines) == 3
    assert "word0 " in lines[0] and lines[-1].split("…")[0].strip()
    assert "…" in lines[-1] and "word79" not in first_page
    assert re.search(r"HD-9\s+word6 .*\s+New\s+0:10", lines[1])  # other cells centred
