"""An inline SVG bar chart of credits, estimated against charged, one pair of bars per group.

Drawn as plain SVG text so the HTML report needs no script library and no network; every label
is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from worker.reports.cells import credits_text

WIDTH = 640
LABEL_W = 150
VALUE_W = 110
BAR_H = 12
GROUP_H = 2 * BAR_H + 14
TOP = 28
LEGEND_H = 24


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    estimated: Decimal
    charged: Decimal


def _rect(x: float, y: float, w: float, css: str, title: str) -> str:
    return (
        f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{BAR_H}">'
        f"<title>{escape(title)}</title></rect>"
    )


def _text(x: float, y: float, text: str, css: str, anchor: str = "start") -> str:
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def credits_chart(title: str, bars: Sequence[Bar]) -> str:
    """An `<svg>` element: for each bar, the estimate (light) above the charge (dark)."""
    span = WIDTH - LABEL_W - VALUE_W
    top = max((max(b.estimated, b.charged) for b in bars), default=Decimal(0))
    scale = float(span) / float(top) if top > 0 else 0.0
    height = TOP + len(bars) * GROUP_H + LEGEND_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">',
        f"<title>{escape(title)}</title>",
        _text(0, 16, title, "chart-title"),
    ]
    for i, bar in enumerate(bars):
        y = TOP + i * GROUP_H
        label = bar.label if len(bar.label) <= 22 else bar.label[:21] + "…"
        parts.append(_text(LABEL_W - 8, y + BAR_H + 4, label, "chart-label", "end"))
        for j, (css, name, value) in enumerate(
            (("estimated", "estimated", bar.estimated), ("charged", "charged", bar.charged))
        ):
            yy = y + j * (BAR_H + 2)
            w = max(float(value) * scale, 1.0 if value > 0 else 0.0)
            tip = f"{bar.label}: {credits_text(value)} credits {name}"
            parts.append(_rect(LABEL_W, yy, w, css, tip))
            parts.append(_text(LABEL_W + w + 6, yy + BAR_H - 2, credits_text(value), "chart-value"))
    legend_y = TOP + len(bars) * GROUP_H + 6
    parts.append(_rect(LABEL_W, legend_y, BAR_H, "estimated", "estimated credits"))
    parts.append(_text(LABEL_W + BAR_H + 6, legend_y + BAR_H - 2, "estimated", "chart-value"))
    parts.append(_rect(LABEL_W + 100, legend_y, BAR_H, "charged", "charged credits"))
    parts.append(_text(LABEL_W + 100 + BAR_H + 6, legend_y + BAR_H - 2, "charged", "chart-value"))
    parts.append("</svg>")
    return "\n".join(parts)
