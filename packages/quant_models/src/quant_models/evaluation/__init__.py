"""Evaluation of the model a run ships: hindcasts, forward checks, rolling hindcasts, the card.

A hindcast trains on data to
``T - 2d`` and scores the day before ``T`` through :class:`quant_models.ModelSetPredictor`
(the set as served); a forward check predicts ``T + h`` and is scored once the outcomes are
realised. A run with ``TrainConfig.checks`` records all three in its run record
(``metrics["checks"]``, decision 0124); :func:`score_checks` scores its forward forecasts
against newer data. :func:`evidence_card` (Brier skill with a 95% block-bootstrap
interval, AUC, ECE) scores any out-of-sample forecasts the way the run record's ensemble
evidence does; :func:`model_card` scores every model of a run's out-of-fold table that way
per horizon, with the long-only simulation after fees (:func:`read_oof` reads a run's
``oof.csv`` back).
"""

from quant_models.evaluation._card import CardRow, ModelCard, model_card, read_oof
from quant_models.evaluation._checks import score_checks
from quant_models.evaluation._hindcast import (
    DAY_NS,
    ForwardCheck,
    Hindcast,
    HindcastRows,
    forward_check,
    hindcast,
    rolling_hindcast,
    run_hindcast,
    score_forward,
    served_members,
)
from quant_models.training._evidence import auc, block_bootstrap_bss, evidence_card

__all__ = [
    "DAY_NS",
    "CardRow",
    "ForwardCheck",
    "Hindcast",
    "HindcastRows",
    "ModelCard",
    "auc",
    "block_bootstrap_bss",
    "evidence_card",
    "forward_check",
    "hindcast",
    "model_card",
    "read_oof",
    "rolling_hindcast",
    "run_hindcast",
    "score_checks",
    "score_forward",
    "served_members",
]
