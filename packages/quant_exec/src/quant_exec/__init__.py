"""quant_exec: the trading session, its venues, risk gates, ledger and decision log.

The root holds what an application needs to run and read a session; each concern has its
own public sub-package with the rest: :mod:`quant_exec.session`, :mod:`quant_exec.venues`,
:mod:`quant_exec.orders`, :mod:`quant_exec.risk`, :mod:`quant_exec.ledger`,
:mod:`quant_exec.strategy`, :mod:`quant_exec.decisions` and :mod:`quant_exec.report`
(errors in :mod:`quant_exec.errors`, reason codes in :mod:`quant_exec.reasons`).
"""

from quant_exec.decisions import DecisionLog, LogRun, read_decision_log, read_log
from quant_exec.ledger import Ledger
from quant_exec.orders import Order, OrderEvent, OrderState, Side
from quant_exec.report import ReportData, render_report
from quant_exec.risk import KillSwitch, check_order
from quant_exec.session import (
    BacktestConfig,
    BacktestResult,
    RecordedPredictor,
    TradingSession,
    example_inputs,
    read_predictions,
    run_backtest,
    summary,
    write_predictions,
)
from quant_exec.strategy import decide
from quant_exec.venues import ExecutionVenue, PaperBroker, RateLimit, Throttle

__version__ = "0.1.0"
__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "DecisionLog",
    "ExecutionVenue",
    "KillSwitch",
    "Ledger",
    "LogRun",
    "Order",
    "OrderEvent",
    "OrderState",
    "PaperBroker",
    "RateLimit",
    "RecordedPredictor",
    "ReportData",
    "Side",
    "Throttle",
    "TradingSession",
    "__version__",
    "check_order",
    "decide",
    "example_inputs",
    "read_decision_log",
    "read_log",
    "read_predictions",
    "render_report",
    "run_backtest",
    "summary",
    "write_predictions",
]
