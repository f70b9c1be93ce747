"""Evaluation of the model a run ships: hindcasts, forward checks, rolling hindcasts, the card.

A hindcast trains on data to
``T - 2d`` and scores the day before ``T``; a forward check predicts ``T + h`` and is scored
once the outcomes are realised. :func:`model_card` scores every model of a run's out-of-fold
table per horizon: Brier skill with a block-bootstrap interval, AUC, ECE and the long-only
simulation after fees (:func:`read_oof` reads a run's ``oof.csv`` back).
"""

from quant_models.evaluation._card import CardRow, ModelCard, model_card, read_oof
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
    "CardRow",
    "ForwardCheck",
    "Hindcast",
    "ModelCard",
    "forward_check",
    "hindcast",
    "model_card",
    "read_oof",
    "rolling_hindcast",
    "run_hindcast",
    "score_forward",
]
