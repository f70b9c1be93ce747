"""The self-contained HTML report of a session, and the strategy checks of its result."""

from quant_exec.report._render import (
    ReportData,
    buy_and_hold_return_pct,
    buy_and_hold_series,
    drawdown_series,
    render_report,
)
from quant_exec.report._robustness import BEST_WEEKS, FillLike, StrategyChecks, strategy_checks

__all__ = [
    "BEST_WEEKS",
    "FillLike",
    "ReportData",
    "StrategyChecks",
    "buy_and_hold_return_pct",
    "buy_and_hold_series",
    "drawdown_series",
    "render_report",
    "strategy_checks",
]
