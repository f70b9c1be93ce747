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


class OrderError(RejectedError):
    """An order or an order event was refused; the order state is unchanged."""

    default_reason = reasons.ORDER_INVALID


class InvalidTransitionError(OrderError):
    """An order event is not allowed in the order's current state."""

    default_reason = reasons.ORDER_INVALID_TRANSITION


class UnknownOrderError(QuantUsageError):
    """A client order id the broker has never seen."""

    default_reason = reasons.ORDER_UNKNOWN


class LedgerError(RejectedError):
    """A ledger entry was refused; the ledger is unchanged."""

    default_reason = reasons.LEDGER_SHORT_POSITION


class InsufficientCashError(LedgerError):
    """A fill or withdrawal would make cash negative; the ledger is unchanged."""

    default_reason = reasons.LEDGER_INSUFFICIENT_CASH


class ExecConfigError(ValidationError):
    """Fee schedule, slippage model, venue rules or cluster data are malformed."""

    default_reason = reasons.VENUE_RULES_INVALID


# --- strategy, backtest, decision log ----------------------------------------------------
# (owned by the strategy helper)


class PredictionsFileError(ValidationError):
    """A recorded predictions file is malformed or out of time order."""

    default_reason = reasons.PREDICTIONS_INVALID


class EngineInputError(ValidationError):
    """The inputs of a backtest contradict each other (no bars, unknown instrument, ...)."""

    default_reason = reasons.ENGINE_INPUT_INVALID
