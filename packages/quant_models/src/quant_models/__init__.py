"""quant_models: causal features, walk-forward tree models, calibration, lineage and gates.

The pipeline in one call: :func:`train` takes a ``quant_data.Dataset`` and a
:class:`TrainConfig` and returns (and optionally writes) the served model set, the run record,
the out-of-sample evidence and the promotion-gate decision. :class:`ModelSetPredictor` serves
a saved set through the core :class:`quant_core.Predictor` protocol; :func:`context_need`
says which market context (reference coin, market panel) a set needs at run time.

The names below are the stable surface; import them from ``quant_models`` directly. The
public sub-packages carry the rest, each with its own ``__all__``: ``quant_models.features``
(batch and streaming features), ``quant_models.training`` (the stages, the out-of-fold table,
metrics, calibration, gates), ``quant_models.families`` (model families),
``quant_models.sequence`` (LSTM and Transformer: trained in torch, served on numpy) and
``quant_models.evaluation`` (hindcasts, forward checks, the model card);
``quant_models.reasons`` holds the reason codes. Every other module is private.
"""

from quant_models._champion import ChampionRecord
from quant_models._context import ContextNeed, context_need
from quant_models._errors import ArtifactError, ConfigError, DataError, ModelFamilyError
from quant_models._panel import Panel
from quant_models._persistence import ModelSet, load_model_set
from quant_models._predictor import ModelSetPredictor, feature_lookback
from quant_models.features import FeatureConfig, FeatureSet, StreamingFeatures, compute_features
from quant_models.training import (
    Evidence,
    FoldConfig,
    GateConfig,
    GateDecision,
    HorizonEvidence,
    HorizonSpec,
    TrainConfig,
    TrainResult,
    decide,
    load_config,
    train,
)

__version__ = "0.1.0"
__all__ = [
    "ArtifactError",
    "ChampionRecord",
    "ConfigError",
    "ContextNeed",
    "DataError",
    "Evidence",
    "FeatureConfig",
    "FeatureSet",
    "FoldConfig",
    "GateConfig",
    "GateDecision",
    "HorizonEvidence",
    "HorizonSpec",
    "ModelFamilyError",
    "ModelSet",
    "ModelSetPredictor",
    "Panel",
    "StreamingFeatures",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "compute_features",
    "context_need",
    "decide",
    "feature_lookback",
    "load_config",
    "load_model_set",
    "train",
]
