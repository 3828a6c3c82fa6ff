"""SVG charts drawn in Python for the HTML report: a line chart and a horizontal bar chart.

Pure: values in, SVG text out (no JavaScript needed to see them). Every string is escaped; axes
carry tick labels and the caller's axis labels, which should name the unit.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_CHART_W, _CHART_H = 640, 260
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 60, 16, 30, 46


def _ticks(hi: float, count: int = 5) -> list[float]:
    """0 .. a round number >= hi, in round steps."""
    if hi <= 0 or not math.isfinite(hi):
        hi = 1.0
    raw = hi / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if hi / (m * magnitude) <= count)
    return [round(i * step, 10) for i in range(math.ceil(hi / step - 1e-9) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:g}"


def _svg_open(label: str, width: int, height: int) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]


def _no_data(parts: list[str], width: int, height: int) -> str:
    parts.append(
        f'<text class="nodata" x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>'
    )
    return "".join([*parts, "</svg>"])


_LEGEND_ROW_H = 16


def _legend_rows(series: Sequence[tuple[str, str]], left: float, right: float) -> int:
    """How many rows the legend needs between `left` and `right` (entries right-aligned)."""
    rows, x = 1, right
    for name, _ in reversed(series):
        width = 14 + 7 * len(name) + 14
        if x - width < left and x < right:
            rows, x = rows + 1, right
        x -= width
    return rows


def _legend(
    parts: list[str], series: Sequence[tuple[str, str]], right: float, left: float = 0.0
) -> None:
    """The series' keys, right-aligned at the top, wrapping onto more rows past `left`."""
    x, y = right, 8
    for name, colour in reversed(series):
        width = 14 + 7 * len(name) + 14
        if x - width < left and x < right:
            x, y = right, y + _LEGEND_ROW_H
        x -= width
        parts.append(
            f'<rect class="key" x="{x:.0f}" y="{y}" width="12" height="12" rx="2" '
            f'fill="{colour}"/><text class="legend" x="{x + 16:.0f}" y="{y + 10}">'
            f"{html.escape(name)}</text>"
        )


def line_chart(
    label: str,
    x_label: str,
    y_label: str,
    series: Sequence[tuple[str, str, Sequence[tuple[float, float | None]]]],
) -> str:
    """An SVG line chart; `series` is (name, colour, [(x, y or None for a gap)]). Y starts at 0.
    A legend too wide for one row wraps, and the chart grows by the extra rows."""
    w, h = _CHART_W, _CHART_H
    keys = [(name, colour) for name, colour, _ in series]
    extra = (_legend_rows(keys, _PAD_L, w - _PAD_R) - 1) * _LEGEND_ROW_H
    parts = _svg_open(label, w, h + extra)
    xs = [x for _, _, pts in series for x, y in pts if y is not None]
    ys = [y for _, _, pts in series for _, y in pts if y is not None]
    if not xs:
        return _no_data(parts, w, h)
    x_lo, x_hi = min(xs), max(xs)
    x_span = (x_hi - x_lo) or 1.0
    y_ticks = _ticks(max(ys) * 1.05)  # headroom: a flat line at the top stays visible
    y_top = y_ticks[-1]
    plot_w, plot_h = w - _PAD_L - _PAD_R, h - _PAD_T - _PAD_B

    def px(x: float) -> float:
        return _PAD_L + (x - x_lo) / x_span * plot_w

    def py(y: float) -> float:
        return _PAD_T + plot_h - y / y_top * plot_h

    _legend(parts, keys, w - _PAD_R, _PAD_L)
    parts.append(f'<g transform="translate(0 {extra})">' if extra else "<g>")
    _axes(parts, y_ticks, py, x_label, y_label)
    for tick in _ticks(x_span):
        if tick > x_span + 1e-9:
            break
        x = px(x_lo + tick)
        parts.append(
            f'<line class="tick" x1="{x:.1f}" y1="{_PAD_T + plot_h}" x2="{x:.1f}" '
            f'y2="{_PAD_T + plot_h + 4}"/><text class="tick-label" x="{x:.1f}" '
            f'y="{_PAD_T + plot_h + 16}" text-anchor="middle">{_tick_label(x_lo + tick)}</text>'
        )
    for name, colour, pts in series:
        d: list[str] = []
        pen_down = False
        for x, y in pts:
            if y is None:
                pen_down = False
                continue
            d.append(f"{'L' if pen_down else 'M'}{px(x):.1f},{py(y):.1f}")
            pen_down = True
        if d:
            parts.append(
                f'<path class="series" data-series="{html.escape(name)}" d="{"".join(d)}" '
                f'fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"/>'
            )
    return "".join([*parts, "</g></svg>"])


def _axes(
    parts: list[str], y_ticks: list[float], py: Callable[[float], float], x_label: str, y_label: str
) -> None:
    w, h = _CHART_W, _CHART_H
    bottom = h - _PAD_B
    for tick in y_ticks:
        y = py(tick)
        parts.append(
            f'<line class="grid" x1="{_PAD_L}" y1="{y:.1f}" x2="{w - _PAD_R}" y2="{y:.1f}"/>'
            f'<text class="tick-label" x="{_PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_tick_label(tick)}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{_PAD_L}" y1="{bottom}" x2="{w - _PAD_R}" y2="{bottom}"/>'
        f'<line class="axis" x1="{_PAD_L}" y1="{_PAD_T}" x2="{_PAD_L}" y2="{bottom}"/>'
        f'<text class="axis-label" x="{_PAD_L + (w - _PAD_L - _PAD_R) / 2}" y="{h - 8}" '
        f'text-anchor="middle">{html.escape(x_label)}</text>'
        f'<text class="axis-label" transform="translate(14 {_PAD_T + (bottom - _PAD_T) / 2}) '
        f'rotate(-90)" text-anchor="middle">{html.escape(y_label)}</text>'
    )


def bar_chart(
    label: str,
    value_label: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
) -> str:
    """A horizontal grouped bar chart: one group per category, one bar per series."""
    pad_l = 190
    row_h = 14 * len(series) + 12
    w, h = _CHART_W, _PAD_T + row_h * max(1, len(categories)) + _PAD_B
    parts = _svg_open(label, w, h)
    values = [v for _, _, vs in series for v in vs if v is not None]
    if not categories or not values:
        return _no_data(parts, w, h)
    ticks = _ticks(max(values))
    top = ticks[-1]
    plot_w = w - pad_l - _PAD_R
    bottom = h - _PAD_B
    for tick in ticks:
        x = pad_l + tick / top * plot_w
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{_PAD_T}" x2="{x:.1f}" y2="{bottom}"/>'
            f'<text class="tick-label" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{_tick_label(tick)}</text>"
        )
    for i, category in enumerate(categories):
        y0 = _PAD_T + i * row_h + 6
        parts.append(
            f'<text class="category" x="{pad_l - 8}" y="{y0 + row_h / 2:.1f}" text-anchor="end">'
            f"{html.escape(category)}</text>"
        )
        for j, (name, colour, vs) in enumerate(series):
            value = vs[i] if i < len(vs) else None
            if value is None:
                continue
            bar_w = max(1.0, value / top * plot_w)
            parts.append(
                f'<rect class="bar" data-series="{html.escape(name)}" x="{pad_l}" '
                f'y="{y0 + j * 14}" width="{bar_w:.1f}" height="12" rx="2" fill="{colour}">'
                f"<title>{html.escape(category)} {html.escape(name)}: {_value_label(value)}</title>"
                "</rect>"
            )
    parts.append(
        f'<line class="axis" x1="{pad_l}" y1="{_PAD_T}" x2="{pad_l}" y2="{bottom}"/>'
        f'<text class="axis-label" x="{pad_l + plot_w / 2}" y="{h - 8}" text-anchor="middle">'
        f"{html.escape(value_label)}</text>"
    )
    _legend(parts, [(name, colour) for name, colour, _ in series], w - _PAD_R)
    return "".join([*parts, "</svg>"])


def _value_label(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
