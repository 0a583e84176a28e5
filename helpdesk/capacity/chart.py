"""A server-rendered SVG bar chart (no script, no CDN): one row a label, two bars a row."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Bar:
    label: str
    #: The planned amount (reserved or booked), drawn as the background bar.
    planned: int
    #: The amount used, drawn inside it (red past the plan).
    actual: int
    #: Text at the end of the row, e.g. "3:00 / 4:20".
    caption: str


def bar_chart(bars: list[Bar], *, title: str, planned_name: str, actual_name: str,
              width: int = 640, row: int = 26, label_width: int = 180) -> Markup:
    """Horizontal bars, scaled to the largest value; readable by screen readers (title, desc
    and a text caption on every row)."""
    if not bars:
        return Markup("")
    top = max(max(b.planned, b.actual) for b in bars) or 1
    plot = width - label_width - 110
    height = row * len(bars) + 30
    parts = [
        (f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
         f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'),
        f"<title>{escape(title)}</title>",
    ]
    for i, b in enumerate(bars):
        y = 8 + i * row
        planned_w = round(plot * max(b.planned, 0) / top, 1)
        actual_w = round(plot * max(b.actual, 0) / top, 1)
        over = b.actual > b.planned
        label = escape(b.label if len(b.label) <= 28 else b.label[:27] + "…")
        parts.append(
            f'<g><text x="{label_width - 6}" y="{y + 13}" text-anchor="end" '
            f'class="chart-label">{label}</text>'
            f'<rect x="{label_width}" y="{y}" width="{planned_w}" height="18" class="chart-planned">'
            f"<title>{escape(planned_name)}: {escape(b.caption)}</title></rect>"
            f'<rect x="{label_width}" y="{y + 4}" width="{actual_w}" height="10" '
            f'class="chart-actual{" chart-over" if over else ""}">'
            f"<title>{escape(actual_name)}: {escape(b.caption)}</title></rect>"
            f'<text x="{label_width + plot + 8}" y="{y + 13}" class="chart-caption">'
            f"{escape(b.caption)}</text></g>"
        )
    legend_y = height - 8
    parts.append(
        f'<g class="chart-legend"><rect x="{label_width}" y="{legend_y - 10}" width="12" '
        f'height="10" class="chart-planned"/><text x="{label_width + 16}" y="{legend_y}">'
        f"{escape(planned_name)}</text>"
        f'<rect x="{label_width + 170}" y="{legend_y - 10}" width="12" height="10" '
        f'class="chart-actual"/><text x="{label_width + 186}" y="{legend_y}">'
        f"{escape(actual_name)}</text></g>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))
