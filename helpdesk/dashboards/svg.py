"""Server-rendered SVG bar charts for the dashboards: no script, no CDN, styled by CSS classes.

Each chart is an ``<svg role="img">`` with a ``<title>``, every bar a ``<rect>`` with its own
``<title>`` (the value on hover and for screen readers), colours from ``static/dashboards.css``
(``.series-0`` ...). Labels are escaped; numbers are formatted by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "bar_chart", "column_chart"]

_FONT = 12
_CHAR = 6.8  # average width of a character at 12 px, for laying out labels


@dataclass(frozen=True)
class Series:
    """One series of values (None: no value), drawn in colour ``index``."""

    name: str
    values: Sequence[float | None]
    index: int = 0


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that holds ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _open(title: str, width: int, height: float) -> str:
    return (f'<svg class="chart" role="img" viewBox="0 0 {width} {height:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>')


def _legend(series: Sequence[Series], y: float) -> list[str]:
    parts, x = [], 0.0
    for s in series:
        parts.append(f'<rect class="series-{s.index}" x="{x:.1f}" y="{y - 10:.1f}" width="10" '
                     f'height="10"/><text x="{x + 14:.1f}" y="{y:.1f}">{escape(s.name)}</text>')
        x += 24 + len(s.name) * _CHAR
    return parts


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    *,
    width: int = 640,
    top: float | None = None,
) -> Markup:
    """Horizontal bars: one row per label, one bar per series in it; negative values go left."""
    label_width = min(max((len(label) for label in labels), default=4) * _CHAR + 8, width * 0.35)
    value_room = 64
    bar = 12
    row = bar * len(series) + 10
    legend = 22 if len(series) > 1 else 0
    height = legend + row * max(len(labels), 1) + 22
    values = [v for s in series for v in s.values if v is not None]
    high = top if top is not None else _nice_top(max([*values, 0]))
    low = -_nice_top(-min([*values, 0])) if min([*values, 0]) < 0 else 0.0
    plot = width - label_width - value_room
    scale = plot / (high - low)
    zero = label_width + (-low) * scale
    out = [_open(title, width, height)]
    if legend:
        out += _legend(series, 14)
    for i, label in enumerate(labels):
        y0 = legend + i * row + 4
        out.append(f'<text class="label" x="{label_width - 6:.1f}" y="{y0 + row / 2:.1f}" '
                   f'text-anchor="end">{escape(label)}</text>')
        for j, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            length = value * scale
            x = zero + min(length, 0)
            y = y0 + j * bar
            text = fmt(value)
            out.append(f'<rect class="bar series-{s.index}" x="{x:.1f}" y="{y:.1f}" '
                       f'width="{abs(length):.1f}" height="{bar - 2}"><title>{escape(s.name)}: '
                       f'{escape(text)}</title></rect>')
            tx = zero + length + (4 if value >= 0 else -4)
            anchor = "start" if value >= 0 else "end"
            out.append(f'<text class="value" x="{tx:.1f}" y="{y + bar - 3:.1f}" '
                       f'text-anchor="{anchor}">{escape(text)}</text>')
    axis_y = legend + row * max(len(labels), 1) + 4
    out.append(f'<line class="axis" x1="{zero:.1f}" y1="{legend}" x2="{zero:.1f}" '
               f'y2="{axis_y:.1f}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def column_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    *,
    width: int = 640,
    height: int = 220,
    top: float | None = None,
) -> Markup:
    """Vertical bars: one group per label (months, age buckets), one column per series."""
    values = [v for s in series for v in s.values if v is not None]
    high = top if top is not None else _nice_top(max([*values, 0]))
    legend = 22 if len(series) > 1 else 0
    left, bottom = 44, 22
    plot_h = height - legend - bottom - 14
    plot_w = width - left - 4
    group = plot_w / max(len(labels), 1)
    column = min(28.0, group * 0.8 / max(len(series), 1))
    base = legend + 14 + plot_h
    out = [_open(title, width, height)]
    if legend:
        out += _legend(series, 14)
    for k in range(5):
        value = high * k / 4
        y = base - plot_h * k / 4
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{escape(fmt(value))}</text>')
    for i, label in enumerate(labels):
        gx = left + i * group + (group - column * len(series)) / 2
        for j, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            h = max(value, 0) / high * plot_h
            out.append(f'<rect class="bar series-{s.index}" x="{gx + j * column:.1f}" '
                       f'y="{base - h:.1f}" width="{column - 2:.1f}" height="{h:.1f}"><title>'
                       f'{escape(label)} · {escape(s.name)}: {escape(fmt(value))}</title></rect>')
        out.append(f'<text class="label" x="{left + (i + 0.5) * group:.1f}" y="{height - 6}" '
                   f'text-anchor="middle">{escape(label)}</text>')
    out.append(f'<line class="axis" x1="{left}" y1="{base:.1f}" x2="{width - 4}" '
               f'y2="{base:.1f}"/></svg>')
    return Markup("".join(out))
