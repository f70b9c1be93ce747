"""quant_models: causal features, walk-forward tree models, calibration, lineage and gates.

The pipeline in one call: :func:`train` takes a ``quant_data.Dataset`` and a
:class:`TrainConfig` and returns (and optionally writes) the served model set, the run record,
the out-of-sample evidence and the promotion-gate decision. :class:`ModelSetPredictor` serves
a saved set through the core :class:`quant_core.Predictor` protocol.

The names below are the stable surface; import them from ``quant_models`` directly.
"""

from quant_models.calibration import Calibrator, choose_calibrator, fit_calibrator
from quant_models.errors import ArtifactError, ConfigError, DataError, ModelFamilyError
from quant_models.evaluation import (
    ForwardCheck,
    Hindcast,
    forward_check,
    hindcast,
    run_hindcast,
    score_forward,
)
from quant_models.features import FeatureConfig, FeatureSchema, FeatureSet, compute_features
from quant_models.gates import Evidence, GateConfig, GateDecision, HorizonEvidence, decide
from quant_models.lineage import RunRecord, library_versions
from quant_models.metrics import ScoreCard, score, simulate_long_only
from quant_models.models import FAMILIES, ModelFamily, get_family, register_family
from quant_models.panel import Panel
from quant_models.persistence import ModelSet, load_model_set
from quant_models.predictor import ModelSetPredictor, feature_lookback
from quant_models.registry import ModelRegistry
from quant_models.splits import Fold, walk_forward
from quant_models.targets import HorizonSpec, make_targets
from quant_models.training import FoldConfig, TrainConfig, TrainResult, load_config, train

__version__ = "0.1.0"
__all__ = [
    "FAMILIES",
    "ArtifactError",
    "Calibrator",
    "ConfigError",
    "DataError",
    "Evidence",
    "FeatureConfig",
    "FeatureSchema",
    "FeatureSet",
    "Fold",
    "FoldConfig",
    "ForwardCheck",
    "GateConfig",
    "GateDecision",
    "Hindcast",
    "HorizonEvidence",
    "HorizonSpec",
    "ModelFamily",
    "ModelFamilyError",
    "ModelRegistry",
    "ModelSet",
    "ModelSetPredictor",
    "Panel",
    "RunRecord",
    "ScoreCard",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "choose_calibrator",
    "compute_features",
    "decide",
    "feature_lookback",
    "fit_calibrator",
    "forward_check",
    "get_family",
    "hindcast",
    "library_versions",
    "load_config",
    "load_model_set",
    "make_targets",
    "register_family",
    "run_hindcast",
    "score",
    "score_forward",
    "simulate_long_only",
    "train",
    "walk_forward",
]
