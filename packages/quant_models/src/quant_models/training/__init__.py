"""Training in stages: features → splits → fit → out-of-fold table → calibrate → gates.

Each stage is its own module: ``_data`` (features and targets, one fit), ``_stages`` (splits,
the out-of-fold fits with calibration inside each, the final fits), ``_oof`` (the
out-of-fold table and the metric package), and ``_pipeline``, which runs them in order and
decides the gates (``_gates``); ``_splits``, ``_search``, ``_baselines``, ``_targets`` and
``_lineage`` hold the walk-forward layout, the tuning, the baselines, the labels and the run
record. The fits are tasks run by a :class:`quant_core.TaskRunner`;
:class:`OofTable` is the public out-of-fold table a stacking meta-learner reads.
"""

from quant_models._calibration import Calibrator, choose_calibrator, fit_calibrator
from quant_models._metrics import ScoreCard, score, simulate_long_only
from quant_models.training._config import (
    SCOPES,
    EnsembleConfig,
    FoldConfig,
    FoldMode,
    Scope,
    TrainConfig,
    load_config,
)
from quant_models.training._gates import Evidence, GateConfig, GateDecision, HorizonEvidence, decide
from quant_models.training._lineage import RunRecord, library_versions
from quant_models.training._oof import OofBlock, OofTable
from quant_models.training._pipeline import TrainResult, fit_model_set, train, train_panel
from quant_models.training._splits import Fold, walk_forward
from quant_models.training._targets import HorizonSpec, make_targets

__all__ = [
    "SCOPES",
    "Calibrator",
    "EnsembleConfig",
    "Evidence",
    "Fold",
    "FoldConfig",
    "FoldMode",
    "GateConfig",
    "GateDecision",
    "HorizonEvidence",
    "HorizonSpec",
    "OofBlock",
    "OofTable",
    "RunRecord",
    "Scope",
    "ScoreCard",
    "TrainConfig",
    "TrainResult",
    "choose_calibrator",
    "decide",
    "fit_calibrator",
    "fit_model_set",
    "library_versions",
    "load_config",
    "make_targets",
    "score",
    "simulate_long_only",
    "train",
    "train_panel",
    "walk_forward",
]
