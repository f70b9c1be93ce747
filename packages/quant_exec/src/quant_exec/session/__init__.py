"""The trading session: one deterministic, event-driven loop for backtest, paper and live.

One loop drives backtests and paper sessions alike: bars from a
:class:`~quant_core.MarketDataFeed` arrive in event order on a :class:`~quant_core.SimClock`;
at each event time the engine

1. lets the execution venue (:class:`~quant_exec.venues.ExecutionVenue`) report what
   happened to working orders on the new bars (fills are booked in the
   :class:`~quant_exec.ledger.Ledger`, fills deduplicated by trade id, every order event
   folded through the order state table),
2. marks the portfolio to the new closes and asks the :class:`~quant_core.Predictor` for
   predictions (the latest prediction per instrument stays in force until replaced),
3. evaluates the strategy (:func:`quant_exec.strategy.decide`) for every instrument whose
   bar closed; an instrument that just had a fill is evaluated with trigger ``"fill"``,
4. turns each intent into an :class:`~quant_exec.orders.Order` and submits it **only** if the
   risk gates (:func:`quant_exec.risk.check_order`) approve it,
5. appends one :class:`~quant_exec.decisions.DecisionRecord` per evaluation — "no action" and
   risk rejections included — to the decision log.

No venue event stops a session (decision 0097): a fill it cannot match is flagged
``EXTERNAL_FILL``, a fill beyond an order's quantity ``OVERFILL``; either halts new orders on
the instrument (:attr:`SessionGuard.halted`, on ``TradingSession.guard``), is logged as a
``risk`` line and is booked when the ledger can fold it (else kept in
:attr:`SessionGuard.unreconciled`). Legal reorderings are absorbed by the order table
(decision 0098) and duplicate fills by trade id change nothing.

When market events stop for longer than ``heartbeat_ns``, liveness heartbeats re-evaluate the
open positions on their latest prediction (there is no fixed global decision interval).

The venue is the :class:`~quant_exec.venues.PaperBroker` on the engine's clock (market orders
fill on the next bar's open with fees, slippage, partial fills and latency); a paper session
is the same engine with the broker on a live-ish clock, and a live adapter plugs into the
same :class:`~quant_exec.venues.ExecutionVenue` seam, so the strategy, risk and accounting
path is one piece of code.

A restart opens the session with the journal's state (:func:`carry_from_log`, a
:class:`CarryOver`) and :meth:`TradingSession.reconcile` squares it with the venue on start:
journaled intents the venue has are adopted, never sent twice (decision 0101).

Examples:
    >>> from quant_exec.session import example_inputs
    >>> feed, predictor = example_inputs(n_bars=72)
    >>> result = run_backtest(feed, predictor, BacktestConfig.defaults())
    >>> result.metrics["bars"], result.metrics["decisions"] > 0
    (144, True)
    >>> result.log_hash == run_backtest(*example_inputs(n_bars=72),
    ...                                 BacktestConfig.defaults()).log_hash
    True
"""

from quant_exec.session._config import BacktestConfig
from quant_exec.session._example import example_bars, example_inputs, example_predictions
from quant_exec.session._loop import ENGINE_VERSION, TradingSession
from quant_exec.session._predictions import RecordedPredictor, read_predictions, write_predictions
from quant_exec.session._restart import (
    CarryOver,
    ReconcilePolicy,
    Reconciliation,
    carry_from_log,
)
from quant_exec.session._result import BacktestResult, FillRecord, summary
from quant_exec.session._run import run_backtest
from quant_exec.session._safety import SessionGuard

__all__ = [
    "ENGINE_VERSION",
    "BacktestConfig",
    "BacktestResult",
    "CarryOver",
    "FillRecord",
    "ReconcilePolicy",
    "Reconciliation",
    "RecordedPredictor",
    "SessionGuard",
    "TradingSession",
    "carry_from_log",
    "example_bars",
    "example_inputs",
    "example_predictions",
    "read_predictions",
    "run_backtest",
    "summary",
    "write_predictions",
]
