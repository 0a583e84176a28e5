"""The report's tables: summary, SLA and visits, tickets, time entries with their rule codes,
adjustments, and the legend of the codes.

Every translated string placed in a cell of fixed width is listed by :func:`fixed_cells` with the
room it has, so a test can measure each one in every language (nothing here cuts a label short).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from reports.i18n import ReportFormatter
from reports.model import AdjustmentLine, ContractEvent, ReportInput, SlaOutcome, TicketLine
from reports.pdf_layout import (
    ACCENT,
    CELL_PADDING,
    CELL_SIZE,
    CHANNEL_LABELS,
    CONTENT_WIDTH,
    FONT,
    FONT_BOLD,
    HEAD_SIZE,
    INK,
    RULE,
    SECTION_START,
    SLA_LABELS,
    STATUS_LABELS,
    STRIPE,
    WARNING,
    _,
    _column_widths,
    _fit,
    _head,
    _p,
    _styles,
    _table_style,
    _wrap,
    setup_reportlab,
)

#: The legend of the accounting's rule codes (helpdesk.accounting.explain.RULE_CODES), in order.
RULE_LEGEND = (
    ("R", _("rounded up to whole %(increment)d-minute steps")),
    ("M", _("minimum: a call or remote session costs at least %(increment)d minutes")),
    ("O", _("out of hours, weighted ×%(multiplier)s")),
    ("V", _("free on-site visit (the contract year's allowance)")),
    ("P", _("paid on-site visit (beyond the allowance)")),
    ("D", _("development, billed apart at its own rate")),
    ("W", _("warranty work, not charged")),
    ("T", _("trial month, not charged")),
    ("N", _("no contract: charged at the hourly rate")),
    ("E", _("a day without a contract (after its end, before its start): charged at the "
            "hourly rate")),
    ("X", _("waived by the account manager")),
    ("A", _("adjustment of an earlier month")),
)

SUMMARY_WIDTHS = (96 * mm, 28 * mm, 50 * mm)
SUMMARY_SIZE = 8.5
SUMMARY_PADDING = 12
SMALL_VALUE_WIDTH = 24 * mm
HALF_WIDTH = (CONTENT_WIDTH - 8 * mm) / 2
ENTRY_LABELS = (_("Date"), _("Start"), _("Agent"), _("Kind"), _("Ticket"), _("Worked"),
                _("Billed"), _("Rules"))
ENTRY_WIDTHS = (20 * mm, 12 * mm, 36 * mm, 26 * mm, 17 * mm, 16 * mm, 16 * mm, 31 * mm)
ADJUSTMENT_LABELS = (_("Booked"), _("Corrects"), _("Ticket"), _("Kind"), _("Reason"),
                     _("Worked"), _("Billed"))
ADJUSTMENT_WIDTHS = (20 * mm, 30 * mm, 17 * mm, 26 * mm, 49 * mm, 16 * mm, 16 * mm)


@dataclass(frozen=True)
class Cell:
    """A string printed in a cell of fixed width: what a width test measures."""

    text: str
    font: str
    size: float
    width: float
    where: str

    @property
    def fits(self) -> bool:
        return stringWidth(self.text, self.font, self.size) <= self.width


# -- summary ----------------------------------------------------------------------------------


def summary_rows(data: ReportInput, fmt: ReportFormatter) -> list[tuple[str, str, str]]:
    """(label, hours, amount) of each summary line; "Hours used" are the package hours."""
    gettext = fmt.gettext
    s = data.summary
    if data.requester is not None:
        return [
            (gettext("Time worked"), fmt.minutes(s.worked_minutes), ""),
            (gettext("Hours used"), fmt.minutes(s.used_minutes), ""),
            (gettext("of which out-of-hours surcharge (×%(multiplier)s)")
             % {"multiplier": _multiplier(data, fmt)}, fmt.minutes(s.surcharge_minutes), ""),
            (gettext("Development (billed apart)"), fmt.minutes(s.development_minutes), ""),
        ]

    not_charged = gettext("not charged")

    def money(amount: Decimal) -> str:
        return gettext("not charged (trial)") if s.trial else fmt.money(amount, s.currency)

    rows = [(gettext("Hours included in the package"), fmt.minutes(s.included_minutes), ""),
            (gettext("Time worked"), fmt.minutes(s.worked_minutes), ""),
            (gettext("Hours used"), fmt.minutes(s.used_minutes), ""),
            ("   " + gettext("of which out-of-hours surcharge (×%(multiplier)s)")
             % {"multiplier": _multiplier(data, fmt)}, fmt.minutes(s.surcharge_minutes), "")]
    if s.adjustment_minutes:
        rows.append(("   " + gettext("of which adjustments of earlier months"),
                     fmt.minutes(s.adjustment_minutes), ""))
    if not s.no_contract:
        if s.balance_minutes >= 0:
            rows.append((gettext("Hours left"), fmt.minutes(s.balance_minutes), ""))
        else:
            rows.append((gettext("Hours over the package"), fmt.minutes(-s.balance_minutes), ""))
    if s.free_visit_minutes:
        rows.append((gettext("Free on-site visits"), fmt.minutes(s.free_visit_minutes),
                     not_charged))
    if s.warranty_minutes:
        rows.append((gettext("Warranty work"), fmt.minutes(s.warranty_minutes), not_charged))
    rows.append((gettext("Package fee"), "", money(s.fee)))
    rows.append((gettext("Overage"), fmt.minutes(s.overage_minutes), money(s.overage_amount)))
    for addon in s.addons:
        rows.append((gettext("Add-on: %(name)s") % {"name": gettext(addon.name)}, "",
                     money(addon.amount)))
    rows.append((gettext("Development (billed apart)"), fmt.minutes(s.development_minutes),
                 fmt.money(s.development_amount, s.currency)))
    if s.outside_contract_minutes:
        rows.append((gettext("Work on days without a contract (hourly rate)"),
                     fmt.minutes(s.outside_contract_minutes),
                     fmt.money(s.no_contract_amount, s.currency)))
    else:
        rows.append((gettext("Work outside the contract"), "",
                     fmt.money(s.no_contract_amount, s.currency)))
    rows.append((gettext("Total"), "", fmt.money(s.total, s.currency)))
    return rows


def _multiplier(data: ReportInput, fmt: ReportFormatter) -> str:
    return format_decimal(data.out_of_hours_multiplier, locale=fmt.locale)


def _summary(data: ReportInput, fmt: ReportFormatter) -> list[Flowable]:
    gettext = fmt.gettext
    styles = _styles()
    body = summary_rows(data, fmt)
    rows: list[list[Any]] = [
        [
            "",
            Paragraph(escape(gettext("Hours (h:mm)")), styles["head_cell_right"]),
            Paragraph(escape(gettext("Amount")) if data.requester is None else "",
                      styles["head_cell_right"]),
        ],
        *[list(row) for row in body],
    ]
    table = Table(rows, colWidths=list(SUMMARY_WIDTHS), repeatRows=1)
    last = len(rows) - 1
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), FONT, SUMMARY_SIZE),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if data.requester is None:
        commands += [
            ("ROWBACKGROUNDS", (0, 1), (-1, last - 1), [colors.white, STRIPE]),
            ("LINEABOVE", (0, last), (-1, last), 0.8, INK),
            ("FONT", (0, last), (-1, last), FONT_BOLD, 9.5),
        ]
    table.setStyle(TableStyle(commands))
    title = gettext("Summary") if data.requester is None else (
        gettext("Hours on the requests of %(name)s") % {"name": data.requester})
    return [_p(title, "h2"), table]


# -- SLA and visits ---------------------------------------------------------------------------


def _sla_rows(data: ReportInput, fmt: ReportFormatter) -> list[list[Any]]:
    gettext = fmt.gettext
    sla = data.sla
    if sla.first_response_pct is None and sla.resolution_pct is None:
        return [[gettext("No tickets with an SLA this month."), ""]]
    return [
        [gettext("First response on time"), _pct_or_dash(fmt, sla.first_response_pct)],
        [gettext("Resolution on time"), _pct_or_dash(fmt, sla.resolution_pct)],
    ]


def _visit_rows(data: ReportInput, fmt: ReportFormatter) -> list[list[Any]]:
    if data.visits is None:
        return []
    return [
        [fmt.gettext("Used"), format_decimal(data.visits.used, locale=fmt.locale)],
        [fmt.gettext("Left"), format_decimal(data.visits.left, locale=fmt.locale)],
    ]


def _sla_and_visits(data: ReportInput, fmt: ReportFormatter) -> list[Flowable]:
    gettext = fmt.gettext
    cells: list[list[Flowable]] = [
        [_p(gettext("SLA compliance"), "h3"), _small_table(_sla_rows(data, fmt), HALF_WIDTH)]
    ]
    visit_rows = _visit_rows(data, fmt)
    if visit_rows and data.requester is None:
        cells.append([_p(gettext("On-site visits this contract year"), "h3"),
                      _small_table(visit_rows, HALF_WIDTH)])
    else:
        cells.append([])
    table = Table([cells], colWidths=[HALF_WIDTH + 8 * mm, HALF_WIDTH])
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


def _small_table(rows: list[list[Any]], width: float) -> Table:
    """Label and value; a label wraps (never cut off) when a language needs the room."""
    style = _styles()["base"]
    body = [[Paragraph(escape(label), style), value] for label, value in rows]
    table = Table(body, colWidths=[width - SMALL_VALUE_WIDTH, SMALL_VALUE_WIDTH])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 8.5),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return table


def _pct_or_dash(fmt: ReportFormatter, pct: Decimal | None) -> str:
    return "–" if pct is None else fmt.percent(pct)


# -- tickets ----------------------------------------------------------------------------------


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


def _sla_label(outcome: SlaOutcome, fmt: ReportFormatter) -> str:
    label = SLA_LABELS[outcome]
    return fmt.gettext(label) if outcome is not SlaOutcome.NONE else label


def _longest(texts: Sequence[str], font: str = FONT, size: float = CELL_SIZE) -> str:
    return max(texts, key=lambda text: stringWidth(text, font, size))


def _kind_names(fmt: ReportFormatter) -> list[str]:
    return [fmt.gettext(label) for label in CHANNEL_LABELS.values()]


def _entry_widths(fmt: ReportFormatter) -> list[float]:
    """The time-entry columns, widened where the language's kinds or dates need it."""
    labels = [fmt.gettext(label) for label in ENTRY_LABELS]
    return _column_widths(labels, list(ENTRY_WIDTHS), flex=2,
                          samples={0: fmt.date(date(2000, 12, 28)), 1: "00:00",
                                   3: _longest(_kind_names(fmt)), 7: "R, O, W, X"})


def _adjustment_widths(fmt: ReportFormatter) -> list[float]:
    labels = [fmt.gettext(label) for label in ADJUSTMENT_LABELS]
    return _column_widths(labels, list(ADJUSTMENT_WIDTHS), flex=4,
                          samples={0: fmt.date(date(2000, 12, 28)),
                                   1: _longest(_month_names(fmt)),
                                   3: _longest(_kind_names(fmt))})


def _time_entries(data: ReportInput, zone: ZoneInfo, fmt: ReportFormatter) -> list[Flowable]:
    entries = data.time_entries
    gettext = fmt.gettext
    heading = _p(gettext("Time entries"), "h2")
    note = _p(gettext("Times are shown in the %(zone)s time zone.") % {"zone": zone.key}, "small")
    if not entries:
        return [
            CondPageBreak(SECTION_START),
            heading,
            _p(gettext("No time recorded this month."), "base"),
        ]
    labels = [gettext(label) for label in ENTRY_LABELS]
    widths = _entry_widths(fmt)
    head = _head(labels, right_from=5, centred=7)
    kinds = {channel: gettext(label) for channel, label in CHANNEL_LABELS.items()}
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
                ", ".join(entry.codes),
            ]
        )
    table = Table(
        rows,
        colWidths=widths,
        rowHeights=[None] + [13] * len(entries),
        repeatRows=1,
    )
    table.setStyle(_table_style(right_from=5, extra=[("ALIGN", (7, 1), (7, -1), "CENTER")]))
    codes = {code for entry in entries for code in entry.codes}
    codes.update(code for adjustment in data.adjustments for code in ("A",))
    return [CondPageBreak(SECTION_START), heading, note, Spacer(1, 2 * mm), table,
            *_legend(data, fmt, codes)]


def legend_lines(data: ReportInput, fmt: ReportFormatter, codes: set[str]) -> list[str]:
    """"R – rounded up ..." for each code used this month, in the legend's order."""
    values = {"increment": data.increment_minutes, "multiplier": _multiplier(data, fmt)}
    return [f"{code} – {fmt.gettext(text) % values}" for code, text in RULE_LEGEND
            if code in codes]


def _legend(data: ReportInput, fmt: ReportFormatter, codes: set[str]) -> list[Flowable]:
    lines = legend_lines(data, fmt, codes)
    if not lines:
        return []
    title = fmt.gettext("Rules (why billed differs from worked)")
    text = "<br/>".join(escape(line) for line in lines)
    return [Spacer(1, 2 * mm), KeepTogether([_p(title, "h3"),
                                             Paragraph(text, _styles()["small"])])]


# -- adjustments ------------------------------------------------------------------------------


def _adjustments(data: ReportInput, zone: ZoneInfo, fmt: ReportFormatter) -> list[Flowable]:
    items: Sequence[AdjustmentLine] = data.adjustments
    if not items:
        return []
    gettext = fmt.gettext
    labels = [gettext(label) for label in ADJUSTMENT_LABELS]
    widths = _adjustment_widths(fmt)
    rows: list[list[Any]] = [_head(labels, right_from=5)]
    for item in items:
        corrects = "–"
        if item.corrects_period:
            corrects = fmt.month(int(item.corrects_period[:4]), int(item.corrects_period[5:]))
        rows.append([
            fmt.date(item.booked_at.astimezone(zone).date()),
            corrects,
            _fit(item.ticket_number or "–", FONT, CELL_SIZE, widths[2] - CELL_PADDING),
            gettext(CHANNEL_LABELS[item.kind]),
            _wrap(item.reason, widths[4] - CELL_PADDING, max_lines=4),
            fmt.minutes(item.minutes),
            fmt.minutes(item.billable_minutes),
        ])
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(_table_style(right_from=5, extra=[("VALIGN", (0, 1), (-1, -1), "TOP")]))
    return [CondPageBreak(SECTION_START), _p(gettext("Adjustments"), "h2"),
            _p(gettext("Corrections of earlier months, booked in this one."), "small"),
            Spacer(1, 2 * mm), table]


# -- what a width test measures ---------------------------------------------------------------


def _month_names(fmt: ReportFormatter) -> list[str]:
    return [fmt.month(2000, month) for month in range(1, 13)]


def fixed_cells(data: ReportInput, fmt: ReportFormatter) -> list[Cell]:
    """Every string of ``data``'s report that sits in a cell of fixed width, with its room."""
    setup_reportlab()
    cells: list[Cell] = []
    pad = SUMMARY_PADDING
    for label, hours, amount in summary_rows(data, fmt):
        cells.append(Cell(label, FONT_BOLD, 9.5, SUMMARY_WIDTHS[0] - pad, "summary label"))
        cells.append(Cell(hours, FONT_BOLD, 9.5, SUMMARY_WIDTHS[1] - pad, "summary hours"))
        cells.append(Cell(amount, FONT_BOLD, 9.5, SUMMARY_WIDTHS[2] - pad, "summary amount"))
    for text in (fmt.gettext("not charged (trial)"), fmt.gettext("not charged")):
        cells.append(Cell(text, FONT, SUMMARY_SIZE, SUMMARY_WIDTHS[2] - pad, "summary amount"))
    for _label, value in _sla_rows(data, fmt) + _visit_rows(data, fmt):
        cells.append(Cell(value, FONT, 8.5, SMALL_VALUE_WIDTH - 6, "SLA/visit value"))
    widths = _entry_widths(fmt)
    for index, label in enumerate(ENTRY_LABELS):
        for word in fmt.gettext(label).split():
            cells.append(Cell(word, FONT_BOLD, HEAD_SIZE, widths[index] - CELL_PADDING,
                              "entry header"))
    for label in CHANNEL_LABELS.values():
        cells.append(Cell(fmt.gettext(label), FONT, CELL_SIZE, widths[3] - CELL_PADDING,
                          "entry kind"))
    for entry in data.time_entries:
        cells.append(Cell(", ".join(entry.codes), FONT, CELL_SIZE, widths[7] - CELL_PADDING,
                          "entry rules"))
        cells.append(Cell(fmt.minutes(entry.billable_minutes), FONT, CELL_SIZE,
                          widths[6] - CELL_PADDING, "entry billed"))
    adjustment_widths = _adjustment_widths(fmt)
    for name in _month_names(fmt):
        cells.append(Cell(name, FONT, CELL_SIZE, adjustment_widths[1] - CELL_PADDING,
                          "adjustment month"))
    for label in CHANNEL_LABELS.values():
        cells.append(Cell(fmt.gettext(label), FONT, CELL_SIZE,
                          adjustment_widths[3] - CELL_PADDING, "adjustment kind"))
    for status in STATUS_LABELS.values():
        cells.append(Cell(fmt.gettext(status), FONT, CELL_SIZE, 24 * mm - CELL_PADDING,
                          "ticket status"))
    for outcome in (SlaOutcome.MET, SlaOutcome.BREACHED):
        cells.append(Cell(fmt.gettext(SLA_LABELS[outcome]), FONT, CELL_SIZE,
                          26 * mm - CELL_PADDING, "ticket SLA"))
    return cells


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
