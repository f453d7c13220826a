"""Small inline SVG bar charts (no JavaScript, no network): one chart per variable and a coverage chart."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

COLOURS = {"input": "#4c78a8", "sample": "#9d9d9d", "scrambled": "#f58518"}
MAX_BARS = 40
ROW = 14
LABEL_W = 190
BAR_W = 360


@dataclass(frozen=True)
class Bar:
    """One category: per series a share in [0, 1], or None for "not drawn" (e.g. a suppressed small cell)."""

    label: str
    values: dict[str, float | None]
    note: str = ""


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-family="sans-serif">{escape(text)}</text>')


def bar_chart(title: str, bars: list[Bar], series: list[str], unit: str = "%", compact: bool = False) -> str:
    """Grouped horizontal bars, one group per category, one bar per series; at most MAX_BARS groups.
    ``compact``: thin bars and short labels, values only on hover - small multiples for the report's story."""
    row, label_w, bar_w, chars = (6, 130, 200, 20) if compact else (ROW, LABEL_W, BAR_W, 32)
    shown = bars[:MAX_BARS]
    group = max(row * len(series) + 4, 12) if compact else row * len(series) + 6  # room for the label
    height = 34 + group * len(shown) + (14 if len(bars) > MAX_BARS else 0) + 16
    width = label_w + bar_w + (50 if compact else 80)
    parts = [f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', _text(0, 14, title, size=12)]
    x = 8
    for name in series:
        parts.append(f'<rect x="{x}" y="20" width="10" height="10" fill="{COLOURS.get(name, "#555")}"/>')
        parts.append(_text(x + 14, 29, name, size=10))
        x += 20 + 7 * len(name)
    top = max((v for b in shown for v in b.values.values() if v is not None), default=0.0) or 1.0
    y = 38
    for bar in shown:
        parts.append("<g>" + _text(label_w - 6, y + group / 2 + 3, bar.label[:chars], anchor="end",
                                   size=9 if compact else 11))
        for i, name in enumerate(series):
            value = bar.values.get(name)
            yy = y + i * row
            if value is None:
                parts.append(_text(label_w + 4, yy + row - (0 if compact else 4), bar.note or "not shown",
                                   size=8 if compact else 10))
                continue
            if compact and value == 0:  # in small multiples a missing category must still show
                parts.append(f'<text x="{label_w + 3}" y="{yy + row:.1f}" font-size="7" fill="#c82333" '
                             f'font-family="sans-serif">none in {escape(name)}</text>')
                continue
            w = bar_w * value / top
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{max(w, 0.5):.1f}" height="{row - (1 if compact else 3)}" '
                         f'fill="{COLOURS.get(name, "#555")}"><title>{escape(name)}: '
                         f'{value * 100:.1f}{unit}</title></rect>')
            if not compact:
                parts.append(_text(label_w + w + 4, yy + row - 4, f"{value * 100:.1f}{unit}", size=10))
        parts.append("</g>")
        y += group
    if len(bars) > MAX_BARS:
        parts.append(_text(0, y + 10, f"+{len(bars) - MAX_BARS} more categories in the table", size=10))
    parts.append("</svg>")
    return "".join(parts)
