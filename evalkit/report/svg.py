"""Inline SVG charts for report.html: grouped bars, a labelled scatter, heat-map cell colours.

Hand-written SVG keeps the report one self-contained file with no plotting dependency; every mark
carries a <title> so hovering shows the exact value.
"""

from __future__ import annotations

import math
from html import escape
from typing import Callable, Optional, Sequence

# Tableau 10: distinct on screen and in print; runs keep one colour across all charts.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]
LABEL_CHARS = 24  # longer category names are cut (the full name is in the bar's tooltip and the table)
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= m * step)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def bar_chart(categories: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]], y_max: float,
              fmt: Callable[[float], str], y_label: str = "", height: int = 220) -> str:
    """Grouped bars: one group per category, one bar per (label, colour, values) series."""
    n = max(len(series), 1)
    bar = max(4.0, min(18.0, 150.0 / n))
    group = n * bar + 14
    longest = max((len(_clip(str(c), LABEL_CHARS)) for c in categories), default=0)
    bottom = int(24 + 4.0 * longest)  # category names are drawn rotated by 35 degrees
    first = len(_clip(str(categories[0]), LABEL_CHARS)) if categories else 0
    left = int(max(48, 5.5 * first - group / 2 + 8))
    top = 12
    width = left + len(categories) * group + 12
    y = lambda v: top + height - height * max(0.0, min(v, y_max)) / y_max  # noqa: E731
    parts = [f'<svg width="{width:.0f}" height="{top + height + bottom}" {FONT} '
             f'role="img" aria-label="{escape(y_label)}">']
    for tick in nice_ticks(0, y_max):
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{left - 5}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#555">{fmt(tick)}</text>')
    for c, category in enumerate(categories):
        x0 = left + c * group + 7
        for s, (label, fill, values) in enumerate(series):
            value = values[c]
            if value is None or not math.isfinite(value):
                continue
            parts.append(f'<rect x="{x0 + s * bar:.1f}" y="{y(value):.1f}" width="{bar - 1:.1f}" '
                         f'height="{top + height - y(value):.1f}" fill="{fill}"><title>{escape(label)}\n'
                         f'{escape(str(category))}: {fmt(value)}</title></rect>')
        cx = x0 + n * bar / 2
        parts.append(f'<text transform="translate({cx:.1f},{top + height + 12}) rotate(-35)" text-anchor="end" '
                     f'fill="#333">{escape(_clip(str(category), LABEL_CHARS))}</text>')
    parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{top + height}" y2="{top + height}" stroke="#888"/>')
    parts.append(f'<text transform="translate({left - 37},{top + height / 2}) rotate(-90)" text-anchor="middle" '
                 f'fill="#333">{escape(y_label)}</text></svg>')
    return "".join(parts)


def scatter(points: Sequence[tuple[str, str, str, float, float]], x_label: str, y_label: str,
            fmt: Callable[[float], str], x_line: Optional[float] = None, size: int = 300) -> str:
    """Labelled points (label, short tag, colour, x, y) on axes zoomed to the data; `x_line` marks a
    reference x (a yes-ratio of 0.5 is a balanced benchmark's truth)."""
    pts = [p for p in points if all(v is not None and math.isfinite(v) for v in p[3:])]
    xs = [p[3] for p in pts] + ([x_line] if x_line is not None else [])
    ys = [p[4] for p in pts]
    x_lo, x_hi = _padded(xs)
    y_lo, y_hi = _padded(ys)
    left, top, bottom, right = 52, 12, 40, 16
    sx = lambda v: left + size * (v - x_lo) / (x_hi - x_lo)  # noqa: E731
    sy = lambda v: top + size * (1 - (v - y_lo) / (y_hi - y_lo))  # noqa: E731
    parts = [f'<svg width="{left + size + right}" height="{top + size + bottom}" '
             f'{FONT} role="img" aria-label="{escape(y_label)} against {escape(x_label)}">',
             f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#fafafa" stroke="#bbb"/>']
    for tick in nice_ticks(x_lo, x_hi, 4):
        parts.append(f'<line x1="{sx(tick):.1f}" x2="{sx(tick):.1f}" y1="{top}" y2="{top + size}" stroke="#e6e6e6"/>'
                     f'<text x="{sx(tick):.1f}" y="{top + size + 14}" text-anchor="middle" fill="#555">{fmt(tick)}</text>')
    for tick in nice_ticks(y_lo, y_hi, 4):
        parts.append(f'<line x1="{left}" x2="{left + size}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}" stroke="#e6e6e6"/>'
                     f'<text x="{left - 5}" y="{sy(tick) + 4:.1f}" text-anchor="end" fill="#555">{fmt(tick)}</text>')
    if x_line is not None:
        parts.append(f'<line x1="{sx(x_line):.1f}" x2="{sx(x_line):.1f}" y1="{top}" y2="{top + size}" '
                     f'stroke="#999" stroke-dasharray="4 3"/>')
    for label, tag, fill, x, y in pts:
        parts.append(f'<g><title>{escape(label)}\n{escape(x_label)}: {fmt(x)}, {escape(y_label)}: {fmt(y)}</title>'
                     f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="6" fill="{fill}" stroke="#fff"/>'
                     f'<text x="{sx(x) + 8:.1f}" y="{sy(y) + 4:.1f}" fill="#222">{escape(tag)}</text></g>')
    parts.append(f'<text x="{left + size / 2}" y="{top + size + 32}" text-anchor="middle" fill="#333">'
                 f'{escape(x_label)}</text>'
                 f'<text transform="translate(12,{top + size / 2}) rotate(-90)" text-anchor="middle" fill="#333">'
                 f'{escape(y_label)}</text></svg>')
    return "".join(parts)


def _padded(values: Sequence[float]) -> tuple[float, float]:
    """A [lo, hi] range around the values with some margin, inside [0, 1] for rates."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    margin = max(0.02, 0.15 * (hi - lo))
    return max(0.0, lo - margin), min(1.0, hi + margin) if hi <= 1 else hi + margin


def heat_colour(value: Optional[float], lo: float, hi: float) -> str:
    """White (lowest) to blue (highest); grey when missing."""
    if value is None or not math.isfinite(value):
        return "#f0f0f0"
    t = 0.5 if hi <= lo else (value - lo) / (hi - lo)
    r, g, b = (int(255 + t * (c - 255)) for c in (33, 102, 172))
    return f"rgb({r},{g},{b})"


def text_colour(value: Optional[float], lo: float, hi: float) -> str:
    t = 0.0 if value is None or not math.isfinite(value) or hi <= lo else (value - lo) / (hi - lo)
    return "#fff" if t > 0.6 else "#111"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
