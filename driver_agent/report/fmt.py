"""Numbers for people in the summary table and report.html (pure)."""

from __future__ import annotations

import math


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A number for people: thousands separators, `-` for no data."""
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def fmt_actual(value: float) -> str:
    """A threshold's measured value, to four significant digits."""
    return f"{value:.4g}"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def fmt_bytes(n: int) -> str:
    """`1.2 MB`, `350 kB`, `12 bytes` (decimal units)."""
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= scale:
            return f"{fmt_num(n / scale)} {unit}"
    return f"{n:,} bytes"
