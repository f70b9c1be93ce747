"""quant_exec's branch of the quant exception tree.

Business outcomes of a risk check are *values* (:class:`quant_exec.risk.Rejected`), not
exceptions. The classes below are for calls that cannot be honoured::

    QuantUsageError
    └── UnknownOrderError            an order id the broker has never seen      ORDER_UNKNOWN
    RejectedError
    ├── OrderError                   an order or order event was refused
    │   └── InvalidTransitionError   (state, event) is not in the transition table
    ├── LedgerError                  a ledger entry was refused; nothing changed
    │   └── InsufficientCashError    cash would go negative
    ├── ExecConfigError (ValidationError) fee, slippage, venue or cluster data malformed
    ├── PredictionsFileError (ValidationError) recorded predictions malformed  PREDICTIONS_INVALID
    └── EngineInputError (ValidationError) backtest inputs inconsistent     ENGINE_INPUT_INVALID
"""

from __future__ import annotations

from quant_core.errors import QuantUsageError, RejectedError, ValidationError
from quant_exec import reasons

__all__ = [
    "EngineInputError",
    "ExecConfigError",
    "InsufficientCashError",
    "InvalidTransitionError",
    "LedgerError",
    "OrderError",
    "PredictionsFileError",
    "UnknownOrderError",
]

# --- orders, risk, ledger ----------------------------------------------------------------


class OrderError(RejectedError, reason=reasons.ORDER_INVALID):
    """An order or an order event was refused; the order state is unchanged."""


class InvalidTransitionError(OrderError, reason=reasons.ORDER_INVALID_TRANSITION):
    """An order event is not allowed in the order's current state."""


class UnknownOrderError(QuantUsageError, reason=reasons.ORDER_UNKNOWN):
    """A client order id the broker has never seen."""


class LedgerError(RejectedError, reason=reasons.LEDGER_SHORT_POSITION):
    """A ledger entry was refused; the ledger is unchanged."""


class InsufficientCashError(LedgerError, reason=reasons.LEDGER_INSUFFICIENT_CASH):
    """A fill or withdrawal would make cash negative; the ledger is unchanged."""


class ExecConfigError(ValidationError, reason=reasons.VENUE_RULES_INVALID):
    """Fee schedule, slippage model, venue rules or cluster data are malformed."""


# --- strategy, backtest, decision log ----------------------------------------------------
# (owned by the strategy helper)


class PredictionsFileError(ValidationError, reason=reasons.PREDICTIONS_INVALID):
    """A recorded predictions file is malformed or out of time order."""


class EngineInputError(ValidationError, reason=reasons.ENGINE_INPUT_INVALID):
    """The inputs of a backtest contradict each other (no bars, unknown instrument, ...)."""
