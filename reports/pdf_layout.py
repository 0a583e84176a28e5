"""The report's page furniture: fonts, styles, the canvas with "page n of N", and table helpers.

Shared by :mod:`reports.pdf` (the document) and :mod:`reports.pdf_sections` (its tables).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Paragraph,
    Table,
    TableStyle,
)

from reports.i18n import ReportFormatter
from reports.model import Channel, ReportInput, SlaOutcome

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

#: The price list's add-on names (helpdesk.pricelist.catalogue), printed in the client's language; an
#: add-on named otherwise prints as it is.
ADDON_NAMES = (_("Cloud backup"), _("On-call phone support out of hours"))

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

