"""Evaluation of the model a run ships: hindcasts, forward checks and rolling hindcasts.

A hindcast trains on data to
``T - 2d`` and scores the day before ``T``; a forward check predicts ``T + h`` and is scored
once the outcomes are realised. :func:`evidence_card` (Brier skill with a 95% block-bootstrap
interval, AUC, ECE) scores any out-of-sample forecasts the way the run record's ensemble
evidence does.
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
from quant_models.training._evidence import auc, block_bootstrap_bss, evidence_card

__all__ = [
    "DAY_NS",
    "ForwardCheck",
    "Hindcast",
    "auc",
    "block_bootstrap_bss",
    "evidence_card",
    "forward_check",
    "hindcast",
    "rolling_hindcast",
    "run_hindcast",
    "score_forward",
]
