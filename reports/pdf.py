"""Monthly usage report as PDF: a `ReportInput` in, the same bytes out for the same input.

No queries here: every figure arrives computed in the input model; this module only translates,
formats and lays it out with ReportLab platypus.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, date
from decimal import Decimal
from functools import cache, partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
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
from reports.model import (
    Channel,
    ContractEvent,
    ReportInput,
    SlaOutcome,
    TicketLine,
    TimeEntryLine,
)

FONT_DIR = Path(__file__).parent / "fonts"
FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 18 * mm
MARGIN_TOP = 20 * mm
MARGIN_BOTTOM = 20 * mm
FRAME_PADDING = 6
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X

INK = colors.HexColor("#222222")
MUTED = colors.HexColor("#666666")
ACCENT = colors.HexColor("#2F6690")
HEADER_FILL = colors.HexColor("#E4ECF3")
STRIPE = colors.HexColor("#F5F7F9")
RULE = colors.HexColor("#B8C4CE")
WARNING = colors.HexColor("#B42318")

HEAD_SIZE = 7.5
CELL_SIZE = 8
CELL_PADDING = 8
#: A section starts on a new page when less than this is left: no heading alone at a page foot.
SECTION_START = 40 * mm


def _(message: str) -> str:
    """Mark a message for extraction; it is translated where it is printed."""
    return message


CHANNEL_LABELS = {
    Channel.EMAIL: _("Email"),
    Channel.REMOTE: _("Remote"),
    Channel.PHONE: _("Phone"),
    Channel.VISIT: _("On-site visit"),
    Channel.CONSULTING: _("Consulting"),
    Channel.DEVELOPMENT: _("Development"),
}

#: Ticket status keys of the helpdesk and their printed names; other keys print as they are.
STATUS_LABELS = {
    "new": _("New"),
    "open": _("Open"),
    "pending": _("Pending"),
    "resolved": _("Resolved"),
    "closed": _("Closed"),
}

SLA_LABELS = {SlaOutcome.MET: _("Met"), SlaOutcome.BREACHED: _("Breached"), SlaOutcome.NONE: "–"}


@cache
def setup_reportlab() -> None:
    """Register the bundled DejaVu Sans once per process, so Serbian and Turkish letters print.

    Also drops two costs that buy nothing here: ASCII85 armour on the already compressed streams
    (binary streams are smaller and valid PDF) and attribute checking of chart shapes.
    """
    rl_config.useA85 = 0
    rl_config.shapeChecking = 0
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD
    )


@cache
def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=11, textColor=INK)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "head_cell": ParagraphStyle(
            "head_cell", parent=base, fontName=FONT_BOLD, fontSize=HEAD_SIZE, leading=9
        ),
        "head_cell_right": ParagraphStyle(
            "head_cell_right",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=HEAD_SIZE,
            leading=9,
            alignment=TA_RIGHT,
        ),
        "head_cell_centre": ParagraphStyle(
            "head_cell_centre",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=HEAD_SIZE,
            leading=9,
            alignment=TA_CENTER,
        ),
        "vendor": ParagraphStyle(
            "vendor", parent=base, fontName=FONT_BOLD, fontSize=12, leading=15
        ),
        "title": ParagraphStyle(
            "title",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=16,
            leading=20,
            textColor=ACCENT,
            alignment=TA_RIGHT,
        ),
        "month": ParagraphStyle("month", parent=base, fontSize=12, leading=15, alignment=TA_RIGHT),
        "label": ParagraphStyle("label", parent=base, fontSize=7, leading=9, textColor=MUTED),
        "value": ParagraphStyle("value", parent=base, fontSize=9, leading=11.5),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=11,
            leading=14,
            textColor=ACCENT,
            spaceBefore=10,
            spaceAfter=5,
        ),
        "h3": ParagraphStyle(
            "h3", parent=base, fontName=FONT_BOLD, fontSize=9, leading=12, spaceAfter=2
        ),
        "notice": ParagraphStyle(
            "notice",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=9,
            leading=12,
            textColor=WARNING,
            borderColor=WARNING,
            borderWidth=0.8,
            borderPadding=(4, 6, 4, 6),
            backColor=colors.HexColor("#FDF0EF"),
            spaceBefore=6,
            spaceAfter=6,
        ),
    }


def _p(text: str, style: str) -> Paragraph:
    return Paragraph(escape(text), _styles()[style])


class _ReportCanvas(Canvas):
    """Canvas that holds pages back until the end, to print "page n of N" and the page marks."""

    def __init__(
        self,
        *args: Any,
        decorate: Callable[[Canvas, int, int], None],
        pdf_date: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._decorate = decorate
        self._held_pages: list[dict[str, Any]] = []
        self.setDateFormatter(lambda *_parts: pdf_date)
        # The document ID hashes a timestamp that SOURCE_DATE_EPOCH can change; seed it from the
        # report's own date instead (title, author, subject and keywords are added on save).
        self._doc.signature = hashlib.md5(
            b"helpdesk monthly usage report " + pdf_date.encode("ascii"), usedforsecurity=False
        )

    def showPage(self) -> None:
        """Keep the finished page's state; it is written out in save()."""
        self._held_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        """Decorate every held page now that the page count is known, then write the file."""
        total = len(self._held_pages)
        for number, state in enumerate(self._held_pages, start=1):
            self.__dict__.update(state)
            self._decorate(self, number, total)
            super().showPage()
        super().save()


def _page_decorator(data: ReportInput, fmt: ReportFormatter) -> Callable[[Canvas, int, int], None]:
    """Running header, footer with the page number, and the PRELIMINARY mark on every page."""
    gettext = fmt.gettext
    month = fmt.month(data.year, data.month)
    title = gettext("Monthly usage report")
    running = f"{data.vendor.name} · {title} · {data.client.name} · {month}"
    preliminary = gettext("PRELIMINARY")

    def decorate(canvas: Canvas, number: int, total: int) -> None:
        canvas.saveState()
        footer_y = 11 * mm
        header_y = PAGE_HEIGHT - 12 * mm
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, footer_y + 9, PAGE_WIDTH - MARGIN_X, footer_y + 9)
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(MUTED)
        page_text = gettext("Page %(page)d of %(pages)d") % {"page": number, "pages": total}
        canvas.drawRightString(PAGE_WIDTH - MARGIN_X, footer_y, page_text)
        room = CONTENT_WIDTH - stringWidth(page_text, FONT, 7.5) - 10 * mm
        canvas.drawString(MARGIN_X, footer_y, _fit(running, FONT, 7.5, room))
        mark_width = stringWidth(preliminary, FONT_BOLD, 9) + 10 * mm if data.preliminary else 0
        if number > 1:
            canvas.drawString(
                MARGIN_X, header_y, _fit(running, FONT, 7.5, CONTENT_WIDTH - mark_width)
            )
        if data.preliminary:
            canvas.setFillColor(WARNING)
            canvas.setFont(FONT_BOLD, 9)
            canvas.drawRightString(PAGE_WIDTH - MARGIN_X, header_y, preliminary)
        canvas.restoreState()

    return decorate


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Shorten text with an ellipsis so it fits a width (table cells do not wrap plain strings)."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(text: str, width: float, max_lines: int) -> str:
    """Break text into lines for a plain table cell (much cheaper than a Paragraph)."""
    lines = simpleSplit(text, FONT, CELL_SIZE, width) or [""]
    if len(lines) > max_lines:
        lines = [
            *lines[: max_lines - 1],
            _fit(" ".join(lines[max_lines - 1 :]) + "…", FONT, CELL_SIZE, width),
        ]
    return "\n".join(lines)


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
    addons = ", ".join(addon.name for addon in data.summary.addons) or "–"

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


def _summary(data: ReportInput, fmt: ReportFormatter) -> list[Flowable]:
    gettext = fmt.gettext
    summary = data.summary

    def money(amount: Decimal) -> str:
        return fmt.money(amount, summary.currency)

    if summary.balance_minutes >= 0:
        balance_label, balance = gettext("Hours left"), summary.balance_minutes
    else:
        balance_label, balance = gettext("Hours over the package"), -summary.balance_minutes
    rows: list[list[Any]] = [
        [
            "",
            Paragraph(escape(gettext("Hours (h:mm)")), _styles()["head_cell_right"]),
            Paragraph(escape(gettext("Amount")), _styles()["head_cell_right"]),
        ],
        [gettext("Hours included in the package"), fmt.minutes(summary.included_minutes), ""],
        [gettext("Hours used"), fmt.minutes(summary.used_minutes), ""],
        [gettext("Billable hours"), fmt.minutes(summary.billable_minutes), ""],
        [balance_label, fmt.minutes(balance), ""],
        [gettext("Package fee"), "", money(summary.fee)],
        [gettext("Overage"), fmt.minutes(summary.overage_minutes), money(summary.overage_amount)],
    ]
    for addon in summary.addons:
        rows.append([gettext("Add-on: %(name)s") % {"name": addon.name}, "", money(addon.amount)])
    rows.append([gettext("Development"), "", money(summary.development_amount)])
    rows.append([gettext("Work outside the contract"), "", money(summary.no_contract_amount)])
    rows.append([gettext("Total"), "", money(summary.total)])
    for row in rows[1:]:
        row[0] = _fit(row[0], FONT, 8.5, 100 * mm)
    table = Table(rows, colWidths=[104 * mm, 30 * mm, 40 * mm], repeatRows=1)
    last = len(rows) - 1
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 8.5),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
                ("ROWBACKGROUNDS", (0, 1), (-1, last - 1), [colors.white, STRIPE]),
                ("LINEABOVE", (0, last), (-1, last), 0.8, INK),
                ("FONT", (0, last), (-1, last), FONT_BOLD, 9.5),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return [_p(gettext("Summary"), "h2"), table]


def _event_text(event: ContractEvent, fmt: ReportFormatter) -> str:
    gettext = fmt.gettext
    values = {"package": event.name, "before": event.before or "–", "addon": event.name}
    texts = {
        "start": gettext("Contract started on %(package)s"),
        "trial_start": gettext("Trial of %(package)s started"),
        "trial_conversion": gettext("Trial converted to %(package)s"),
        "renewal": gettext("Renewed for a new term on %(package)s"),
        "upgrade": gettext("Upgraded from %(before)s to %(package)s"),
        "downgrade": gettext("Downgraded from %(before)s to %(package)s"),
        "addon_added": gettext("Add-on %(addon)s added"),
        "addon_removed": gettext("Add-on %(addon)s removed (last day)"),
        "renewal_cancelled": gettext("Renewal cancelled"),
        "trial_end": gettext("Trial ended without a contract"),
        "end": gettext("Contract ended (last day)"),
    }
    return texts.get(event.kind, event.kind) % values


def _contract_events(data: ReportInput, fmt: ReportFormatter) -> list[Flowable]:
    """The month's contract changes; nothing when the contract did not change."""
    if not data.contract_events:
        return []
    rows = [[fmt.date(e.day), _fit(_event_text(e, fmt), FONT, 8.5, 140 * mm)]
            for e in data.contract_events]
    return [Spacer(1, 3 * mm), _p(fmt.gettext("Contract changes this month"), "h2"),
            _small_table(rows, CONTENT_WIDTH)]


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


def _sla_and_visits(data: ReportInput, fmt: ReportFormatter) -> list[Flowable]:
    gettext = fmt.gettext
    sla = data.sla
    if sla.first_response_pct is None and sla.resolution_pct is None:
        sla_rows: list[list[Any]] = [[gettext("No tickets with an SLA this month."), ""]]
    else:
        sla_rows = [
            [gettext("First response on time"), _pct_or_dash(fmt, sla.first_response_pct)],
            [gettext("Resolution on time"), _pct_or_dash(fmt, sla.resolution_pct)],
        ]
    half = (CONTENT_WIDTH - 8 * mm) / 2
    cells: list[list[Flowable]] = [
        [_p(gettext("SLA compliance"), "h3"), _small_table(sla_rows, half)]
    ]
    if data.visits is not None:
        visit_rows = [
            [gettext("Used"), format_decimal(data.visits.used, locale=fmt.locale)],
            [gettext("Left"), format_decimal(data.visits.left, locale=fmt.locale)],
        ]
        cells.append(
            [_p(gettext("On-site visits this contract year"), "h3"), _small_table(visit_rows, half)]
        )
    else:
        cells.append([])
    table = Table([cells], colWidths=[half + 8 * mm, half])
    table.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return [Spacer(1, 3 * mm), KeepTogether([table])]


def _pct_or_dash(fmt: ReportFormatter, pct: Decimal | None) -> str:
    return "–" if pct is None else fmt.percent(pct)


def _small_table(rows: list[list[Any]], width: float) -> Table:
    rows = [[_fit(label, FONT, 8.5, width - 28 * mm), value] for label, value in rows]
    table = Table(rows, colWidths=[width - 24 * mm, 24 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 8.5),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return table


def _head(labels: Sequence[str], right_from: int, centred: int | None = None) -> list[Paragraph]:
    styles = _styles()
    return [
        Paragraph(
            escape(label),
            styles[
                "head_cell_centre"
                if i == centred
                else "head_cell_right"
                if i >= right_from
                else "head_cell"
            ],
        )
        for i, label in enumerate(labels)
    ]


def _column_widths(
    labels: Sequence[str], desired: Sequence[float], flex: int, samples: dict[int, str]
) -> list[float]:
    """Widen columns whose longest header word or sample value would not fit; the flex column pays.

    Header paragraphs break long words mid-word, which reads badly in Turkish and Serbian.
    """
    widths = list(desired)
    for index, label in enumerate(labels):
        needed = max(stringWidth(word, FONT_BOLD, HEAD_SIZE) for word in label.split())
        if index in samples:
            needed = max(needed, stringWidth(samples[index], FONT, CELL_SIZE))
        needed += CELL_PADDING + 1
        if index != flex and widths[index] < needed:
            widths[flex] -= needed - widths[index]
            widths[index] = needed
    return widths


def _table_style(right_from: int, extra: Iterable[tuple[Any, ...]] = ()) -> TableStyle:
    """One shared style for the long tables: striped rows, no per-cell commands."""
    return TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), FONT, 8),
            ("TEXTCOLOR", (0, 0), (-1, -1), INK),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
            ("ALIGN", (right_from, 1), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            *extra,
        ]
    )


def _tickets(tickets: Sequence[TicketLine], fmt: ReportFormatter) -> list[Flowable]:
    gettext = fmt.gettext
    heading = _p(gettext("Tickets this month"), "h2")
    if not tickets:
        return [
            CondPageBreak(SECTION_START),
            heading,
            _p(gettext("No tickets this month."), "base"),
        ]
    labels = [
        gettext("Ticket"),
        gettext("Subject"),
        gettext("Status"),
        gettext("Time"),
        gettext("First response"),
        gettext("Resolution"),
    ]
    widths = _column_widths(
        labels,
        [20 * mm, 62 * mm, 24 * mm, 16 * mm, 26 * mm, 26 * mm],
        flex=1,
        samples={4: gettext("Breached"), 5: gettext("Breached")},
    )
    head = _head(labels, right_from=3)
    rows: list[list[Any]] = [head]
    breaches: list[tuple[Any, ...]] = []
    for index, ticket in enumerate(tickets, start=1):
        status = STATUS_LABELS.get(ticket.status)
        rows.append(
            [
                _fit(ticket.number, FONT, CELL_SIZE, widths[0] - CELL_PADDING),
                _wrap(ticket.subject, widths[1] - CELL_PADDING, max_lines=3),
                _fit(
                    gettext(status) if status else ticket.status,
                    FONT,
                    CELL_SIZE,
                    widths[2] - CELL_PADDING,
                ),
                fmt.minutes(ticket.minutes_spent),
                _fit(
                    _sla_label(ticket.first_response, fmt),
                    FONT,
                    CELL_SIZE,
                    widths[4] - CELL_PADDING,
                ),
                _fit(_sla_label(ticket.resolution, fmt), FONT, CELL_SIZE, widths[5] - CELL_PADDING),
            ]
        )
        for column, outcome in ((4, ticket.first_response), (5, ticket.resolution)):
            if outcome is SlaOutcome.BREACHED:
                breaches.append(("TEXTCOLOR", (column, index), (column, index), WARNING))
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(_table_style(right_from=3, extra=breaches))
    return [CondPageBreak(SECTION_START), heading, table]


def _sla_label(outcome: SlaOutcome, fmt: ReportFormatter) -> str:
    label = SLA_LABELS[outcome]
    return fmt.gettext(label) if outcome is not SlaOutcome.NONE else label


def _time_entries(
    entries: Sequence[TimeEntryLine], zone: ZoneInfo, fmt: ReportFormatter
) -> list[Flowable]:
    gettext = fmt.gettext
    heading = _p(gettext("Time entries"), "h2")
    note = _p(gettext("Times are shown in the %(zone)s time zone.") % {"zone": zone.key}, "small")
    if not entries:
        return [
            CondPageBreak(SECTION_START),
            heading,
            _p(gettext("No time recorded this month."), "base"),
        ]
    labels = [
        gettext("Date"),
        gettext("Start"),
        gettext("Agent"),
        gettext("Kind"),
        gettext("Ticket"),
        gettext("Duration"),
        gettext("Billable"),
        gettext("Out of hours"),
    ]
    widths = _column_widths(
        labels,
        [22 * mm, 15 * mm, 38 * mm, 28 * mm, 19 * mm, 16 * mm, 17 * mm, 19 * mm],
        flex=2,
        samples={0: fmt.date(date(2000, 12, 28)), 1: "00:00"},
    )
    head = _head(labels, right_from=5, centred=7)
    kinds = {
        channel: _fit(gettext(label), FONT, CELL_SIZE, widths[3] - CELL_PADDING)
        for channel, label in CHANNEL_LABELS.items()
    }
    yes = gettext("Yes")
    # Babel formatting and width measuring cost more than the rest of a row: do each value once.
    agents: dict[str, str] = {}
    tickets: dict[str | None, str] = {}
    days: dict[date, str] = {}
    times: dict[tuple[int, int], str] = {}
    rows: list[list[Any]] = [head]
    for entry in entries:
        start = entry.start.astimezone(zone)
        agent = agents.get(entry.agent)
        if agent is None:
            agent = agents[entry.agent] = _fit(
                entry.agent, FONT, CELL_SIZE, widths[2] - CELL_PADDING
            )
        day = days.get(start.date())
        if day is None:
            day = days[start.date()] = fmt.date(start.date())
        ticket = tickets.get(entry.ticket_number)
        if ticket is None:
            ticket = tickets[entry.ticket_number] = _fit(
                entry.ticket_number or "–", FONT, CELL_SIZE, widths[4] - CELL_PADDING
            )
        clock = times.get((start.hour, start.minute))
        if clock is None:
            clock = times[start.hour, start.minute] = fmt.time(start)
        rows.append(
            [
                day,
                clock,
                agent,
                kinds[entry.kind],
                ticket,
                fmt.minutes(entry.duration_minutes),
                fmt.minutes(entry.billable_minutes),
                yes if entry.out_of_hours else "",
            ]
        )
    table = Table(
        rows,
        colWidths=widths,
        rowHeights=[None] + [13] * len(entries),
        repeatRows=1,
    )
    table.setStyle(_table_style(right_from=5, extra=[("ALIGN", (7, 1), (7, -1), "CENTER")]))
    return [CondPageBreak(SECTION_START), heading, note, Spacer(1, 2 * mm), table]


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
        *_time_entries(data.time_entries, zone, fmt),
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
