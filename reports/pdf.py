"""Monthly usage report as PDF: a `ReportInput` in, the same bytes out for the same input.

No queries here: every figure arrives computed in the input model; this module only translates,
formats and lays it out with ReportLab platypus.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, date
from functools import partial
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from reports.charts import channel_chart, daily_chart
from reports.i18n import LOCALES, ReportFormatter, formatter
from reports.model import ReportInput
from reports.pdf_layout import (
    ACCENT,
    CHANNEL_LABELS,
    CONTENT_WIDTH,
    FONT,
    FRAME_PADDING,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    _p,
    _page_decorator,
    _ReportCanvas,
    _styles,
    setup_reportlab,
)
from reports.pdf_sections import (
    _adjustments,
    _contract_events,
    _sla_and_visits,
    _summary,
    _tickets,
    _time_entries,
)

__all__ = ["render_many", "render_report", "report_filename", "setup_reportlab"]


def _logo(path: Path, max_width: float, max_height: float) -> Image:
    width, height = ImageReader(str(path)).getSize()
    scale = min(max_width / width, max_height / height)
    logo = Image(str(path), width=width * scale, height=height * scale)
    logo.hAlign = "LEFT"
    return logo


def _header(data: ReportInput, fmt: ReportFormatter) -> list[Flowable]:
    gettext = fmt.gettext
    left: list[Flowable] = []
    if data.vendor.logo_path is not None:
        left.append(_logo(data.vendor.logo_path, 45 * mm, 16 * mm))
        left.append(Spacer(1, 2 * mm))
    left.append(_p(data.vendor.name, "vendor"))
    right = [
        _p(gettext("Monthly usage report"), "title"),
        _p(fmt.month(data.year, data.month), "month"),
    ]
    top = Table([[left, right]], colWidths=[CONTENT_WIDTH * 0.45, CONTENT_WIDTH * 0.55])
    top.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 1.2, ACCENT),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    issued = data.issued_at.astimezone(ZoneInfo(data.client.time_zone))
    manager = f"{data.account_manager.name}\n{data.account_manager.email}"
    addons = ", ".join(gettext(addon.name) for addon in data.summary.addons) or "–"

    def field(label: str, value: str) -> list[Flowable]:
        lines = [escape(line) for line in value.split("\n")]
        return [_p(label, "label"), Paragraph("<br/>".join(lines), _styles()["value"])]

    info = Table(
        [
            [
                field(gettext("Client"), data.client.name),
                field(gettext("Package"), data.package_name),
                field(gettext("Account manager"), manager),
            ],
            [
                field(gettext("Period"), fmt.month(data.year, data.month)),
                field(gettext("Add-ons"), addons),
                field(
                    gettext("Issued"),
                    f"{fmt.long_date(issued.date())} {fmt.time(issued)}",
                ),
            ],
        ],
        colWidths=[CONTENT_WIDTH * 0.34, CONTENT_WIDTH * 0.33, CONTENT_WIDTH * 0.33],
    )
    info.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    flowables: list[Flowable] = [top, info]
    if data.preliminary:
        mark = gettext("PRELIMINARY")
        explanation = gettext("The month is not closed yet; figures may still change.")
        notice = f"{mark}: {explanation}"
        flowables.append(_p(notice, "notice"))
    return flowables



def _number_formatter(fmt: ReportFormatter) -> Callable[[float], str]:
    return lambda value: format_decimal(value, locale=fmt.locale)


def _charts(data: ReportInput, fmt: ReportFormatter) -> list[Flowable]:
    gettext = fmt.gettext
    left_width, gap = 68 * mm, 6 * mm
    right_width = CONTENT_WIDTH - left_width - gap
    height = 52 * mm
    channels = [
        (gettext(CHANNEL_LABELS[channel]), minutes)
        for channel, minutes in data.channel_minutes.items()
    ]
    by_channel = channel_chart(channels, fmt.minutes, _number_formatter(fmt), left_width, height)
    per_day = daily_chart(
        date(data.year, data.month, 1),
        data.daily_minutes,
        _number_formatter(fmt),
        right_width,
        height,
        holidays=data.holidays,
    )
    table = Table(
        [
            [_p(gettext("Hours by channel"), "h3"), "", _p(gettext("Hours per day"), "h3")],
            [by_channel, "", per_day],
            ["", "", _p(gettext("Lighter bars: weekends and public holidays"), "small")],
        ],
        colWidths=[left_width, gap, right_width],
    )
    table.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return [Spacer(1, 4 * mm), KeepTogether([table])]



def _pdf_date(data: ReportInput) -> str:
    issued = data.issued_at.astimezone(UTC)
    return issued.strftime("D:%Y%m%d%H%M%S+00'00'")


def render_report(data: ReportInput) -> bytes:
    """The client's monthly usage report as PDF bytes; the same input gives the same bytes."""
    setup_reportlab()
    fmt = formatter(data.client.language)
    gettext = fmt.gettext
    zone = ZoneInfo(data.client.time_zone)
    month = fmt.month(data.year, data.month)
    title = gettext("Monthly usage report")
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        # SimpleDocTemplate's frame pads its content by 6 pt on each side.
        leftMargin=MARGIN_X - FRAME_PADDING,
        rightMargin=MARGIN_X - FRAME_PADDING,
        topMargin=MARGIN_TOP - FRAME_PADDING,
        bottomMargin=MARGIN_BOTTOM - FRAME_PADDING,
        title=f"{title} – {data.client.name} – {month}",
        author=data.vendor.name,
        subject=data.period,
        creator="Helpdesk monthly usage report",
        initialFontName=FONT,
        initialFontSize=8.5,
        keywords=[data.client.name, data.period],
        lang=LOCALES[fmt.language].replace("_", "-"),
        invariant=1,
        pageCompression=1,
    )
    story: list[Flowable] = [
        *_header(data, fmt),
        *_summary(data, fmt),
        *_contract_events(data, fmt),
        *_charts(data, fmt),
        *_sla_and_visits(data, fmt),
        *_tickets(data.tickets, fmt),
        *_time_entries(data, zone, fmt),
        *_adjustments(data, zone, fmt),
    ]
    canvasmaker = partial(
        _ReportCanvas, decorate=_page_decorator(data, fmt), pdf_date=_pdf_date(data)
    )
    document.build(story, canvasmaker=canvasmaker)
    return buffer.getvalue()


def report_filename(data: ReportInput) -> str:
    """A file name for a client's report, e.g. "2026-11_acme-d-o-o.pdf"."""
    ascii_name = (
        unicodedata.normalize("NFKD", data.client.name.lower().replace("ı", "i").replace("đ", "dj"))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-") or "client"
    return f"{data.period}_{slug}.pdf"


def _render_to_file(data: ReportInput, path: Path) -> Path:
    """Write one report; through a temporary name, so a crash leaves no half-written PDF."""
    partial_path = path.with_name(path.name + ".part")
    partial_path.write_bytes(render_report(data))
    partial_path.replace(path)
    return path


def render_many(
    inputs: Iterable[ReportInput],
    out_dir: Path,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Render many clients' reports into out_dir in parallel; paths come back in input order.

    `processes` defaults to the number of CPUs; `progress(done, total)` is called after each report.
    Workers are started with "spawn" (no fork of a threaded web process), so a script that calls
    this must keep its top level behind `if __name__ == "__main__":`.
    """
    reports = list(inputs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / report_filename(data) for data in reports]
    if len(set(paths)) != len(paths):
        raise ValueError("two reports would be written to the same file name")
    total = len(reports)
    workers = min(processes or os.cpu_count() or 1, max(total, 1))
    if workers <= 1:
        for done, (data, path) in enumerate(zip(reports, paths, strict=True), start=1):
            _render_to_file(data, path)
            if progress is not None:
                progress(done, total)
        return paths
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(_render_to_file, data, path)
            for data, path in zip(reports, paths, strict=True)
        ]
        for done, future in enumerate(as_completed(futures), start=1):
            future.result()
            if progress is not None:
                progress(done, total)
    return paths
