"""Evaluation of the model a run ships: hindcasts, forward checks and rolling hindcasts.

A hindcast trains on data to
``T - 2d`` and scores the day before ``T``; a forward check predicts ``T + h`` and is scored
once the outcomes are realised.
"""

from quant_models.evaluation._hindcast import (
    DAY_NS,
    ForwardCheck,
    Hindcast,
    forward_check,
    hindcast,
    rolling_hindcast,
    run_hindcast,
    score_forward,
)

__all__ = [
    "DAY_NS",
    "ForwardCheck",
    "Hindcast",
    "forward_check",
    "hindcast",
    "rolling_hindcast",
    "run_hindcast",
    "score_forward",
]
