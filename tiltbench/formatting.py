"""How reports and the CLI print numbers: values, estimates with their interval, p-values, table cells."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stats import Estimate


def fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt_est(e: Estimate) -> str:
    if not math.isfinite(e.mean):
        return "—"
    return f"{fmt(e.mean)} [{fmt(e.lo)}, {fmt(e.hi)}]" if e.has_ci else fmt(e.mean)


def fmt_p(p: float) -> str:
    return "—" if not math.isfinite(p) else (f"{p:.2g}" if p >= 1e-3 else "<0.001")
