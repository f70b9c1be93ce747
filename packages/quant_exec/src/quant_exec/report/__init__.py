"""The self-contained HTML report of a session."""

from quant_exec.report._render import (
    ReportData,
    buy_and_hold_return_pct,
    buy_and_hold_series,
    drawdown_series,
    render_report,
)

__all__ = [
    "ReportData",
    "buy_and_hold_return_pct",
    "buy_and_hold_series",
    "drawdown_series",
    "render_report",
]
