"""The report's two charts as reportlab.graphics drawings: hours by channel and hours per day.

Drawn from plain shapes rather than the chart widgets: the widgets cost about a third of a small
report's rendering time, and these two charts need only bars, grid lines and labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from datetime import date, timedelta

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

FONT = "DejaVuSans"
BAR_COLOR = colors.HexColor("#2F6690")
WEEKEND_COLOR = colors.HexColor("#9DB4C8")
GRID_COLOR = colors.HexColor("#D9DEE3")
AXIS_COLOR = colors.HexColor("#999999")
TEXT_COLOR = colors.HexColor("#333333")
LABEL_SIZE = 7.5
TICK_SIZE = 7

#: Candidate axis steps in hours; the smallest giving at most five intervals is used.
_STEPS = (0.5, 1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)


def axis_scale(max_minutes: int) -> tuple[float, float]:
    """Top and step, in hours, of an axis from zero that holds `max_minutes`."""
    top = max(max_minutes, 1) / 60
    step = next((step for step in _STEPS if top / step <= 5), _STEPS[-1])
    intervals = max(1, -(-top // step))
    return step * intervals, step


def axis_range(low_minutes: int, high_minutes: int) -> tuple[float, float, float]:
    """Bottom, top and step, in hours, of an axis through zero that holds both values.

    A month with a negative adjustment has a negative bar: the axis then reaches below zero by
    whole steps, with the same step on both sides.
    """
    low = min(low_minutes, 0) / 60
    high = max(high_minutes, 0) / 60
    span = max(high - low, 1 / 60)
    step = next((step for step in _STEPS if span / step <= 5), _STEPS[-1])
    bottom = -step * math.ceil(-low / step) if low < 0 else 0.0
    top = step * max(1, math.ceil(high / step)) if high > 0 or low == 0 else 0.0
    return bottom, top, step


def _ticks(top: float, step: float, bottom: float = 0.0) -> list[float]:
    count = round((top - bottom) / step)
    return [bottom + step * index for index in range(count + 1)]


def channel_chart(
    items: Sequence[tuple[str, int]],
    format_minutes: Callable[[int], str],
    format_hours: Callable[[float], str],
    width: float,
    height: float,
) -> Drawing:
    """Horizontal bars of hours per channel, top-down in the given order.

    `items` are (translated label, minutes) pairs; each bar is labelled with its h:mm value.
    """
    drawing = Drawing(width, height)
    label_width = max(stringWidth(label, FONT, LABEL_SIZE) for label, _ in items) + 6
    value_room = 28
    left, bottom = label_width, 12
    values = [minutes for _, minutes in items]
    low, top, step = axis_range(min(values), max(values))
    negative_room = value_room if low < 0 else 0
    left += negative_room
    plot_width = width - left - value_room
    plot_height = height - bottom - 2
    scale = plot_width / (top - low)
    zero = left - low * scale
    for hours in _ticks(top, step, low):
        x = zero + hours * scale
        drawing.add(
            Line(x, bottom, x, bottom + plot_height, strokeColor=GRID_COLOR, strokeWidth=0.5)
        )
        drawing.add(
            String(
                x,
                2,
                format_hours(hours),
                fontName=FONT,
                fontSize=TICK_SIZE,
                fillColor=TEXT_COLOR,
                textAnchor="middle",
            )
        )
    slot = plot_height / len(items)
    bar_height = min(slot * 0.6, 9)
    for index, (label, minutes) in enumerate(items):
        middle = bottom + plot_height - slot * (index + 0.5)
        bar_length = minutes / 60 * scale
        if minutes:
            drawing.add(
                Rect(
                    min(zero, zero + bar_length),
                    middle - bar_height / 2,
                    abs(bar_length),
                    bar_height,
                    fillColor=BAR_COLOR,
                    strokeColor=None,
                )
            )
        drawing.add(
            String(
                left - negative_room - 4,
                middle - 2.6,
                label,
                fontName=FONT,
                fontSize=LABEL_SIZE,
                fillColor=TEXT_COLOR,
                textAnchor="end",
            )
        )
        drawing.add(
            String(
                zero + bar_length + (3 if minutes >= 0 else -3),
                middle - 2.4,
                format_minutes(minutes),
                fontName=FONT,
                fontSize=TICK_SIZE,
                fillColor=TEXT_COLOR,
                textAnchor="start" if minutes >= 0 else "end",
            )
        )
    drawing.add(
        Line(zero, bottom, zero, bottom + plot_height, strokeColor=AXIS_COLOR, strokeWidth=0.7)
    )
    return drawing


def daily_chart(
    first_day: date,
    daily_minutes: Sequence[int],
    format_hours: Callable[[float], str],
    width: float,
    height: float,
    holidays: Collection[date] = (),
) -> Drawing:
    """Vertical bars of hours for each day of the month; Saturdays, Sundays and holidays lighter.

    Every other day is numbered under the axis: 31 numbers side by side would run together.
    """
    drawing = Drawing(width, height)
    left, bottom = 22, 12
    plot_width = width - left - 2
    plot_height = height - bottom - 4
    low, top, step = axis_range(min(daily_minutes, default=0), max(daily_minutes, default=0))
    scale = plot_height / (top - low)
    zero = bottom - low * scale
    for hours in _ticks(top, step, low):
        y = zero + hours * scale
        drawing.add(Line(left, y, left + plot_width, y, strokeColor=GRID_COLOR, strokeWidth=0.5))
        drawing.add(
            String(
                left - 4,
                y - 2.4,
                format_hours(hours),
                fontName=FONT,
                fontSize=TICK_SIZE,
                fillColor=TEXT_COLOR,
                textAnchor="end",
            )
        )
    slot = plot_width / len(daily_minutes)
    bar_width = slot * 0.72
    first_weekday = first_day.weekday()
    for index, minutes in enumerate(daily_minutes):
        x = left + slot * index + (slot - bar_width) / 2
        day_off = (first_weekday + index) % 7 >= 5 or first_day + timedelta(index) in holidays
        if minutes:
            drawing.add(
                Rect(
                    x,
                    min(zero, zero + minutes / 60 * scale),
                    bar_width,
                    abs(minutes / 60 * scale),
                    fillColor=WEEKEND_COLOR if day_off else BAR_COLOR,
                    strokeColor=None,
                )
            )
        if index % 2 == 0:
            drawing.add(
                String(
                    x + bar_width / 2,
                    3,
                    str(index + 1),
                    fontName=FONT,
                    fontSize=6,
                    fillColor=TEXT_COLOR,
                    textAnchor="middle",
                )
            )
    drawing.add(
        Line(left, zero, left + plot_width, zero, strokeColor=AXIS_COLOR, strokeWidth=0.7)
    )
    return drawing
