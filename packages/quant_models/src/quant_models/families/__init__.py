"""Model families: deterministic binary classifiers, built from parameters and a seed.

``_trees`` holds the tree families (``lightgbm``, ``xgboost``, ``random_forest``) and the
registry that :func:`get_family` reads; ``_regime`` the regime classifier (a seeded 4-state
Gaussian HMM, filtered only: :func:`fit_regimes`, :class:`RegimeModel`, :class:`RegimeFilter`,
:func:`regime_weights`); ``_meta`` the stacking meta-learner (:func:`fit_meta`,
:func:`evaluate_meta`). Sequence models join here later; none of these is wired into training,
the bundle or the runtime yet.
"""

from quant_models.families._meta import MetaConfig, MetaLearner, MetaPrediction, fit_meta
from quant_models.families._meta_eval import MetaEvaluation, evaluate_meta
from quant_models.families._meta_rows import MetaArtifactError, MetaInputError
from quant_models.families._regime import (
    REGIME_LABELS,
    RegimeFilter,
    RegimeModel,
    fit_regimes,
)
from quant_models.families._regime_features import (
    FEATURE_NAMES as REGIME_FEATURE_NAMES,
)
from quant_models.families._regime_features import (
    RegimeInputError,
    regime_features,
)
from quant_models.families._regime_use import (
    RegimeScore,
    count_transitions,
    regime_weights,
    score_regimes,
)
from quant_models.families._trees import (
    FAMILIES,
    SKOPS_TRUSTED_TYPES,
    Classifier,
    ModelFamily,
    get_family,
    register_family,
    stable_skops_bytes,
)

__all__ = [
    "FAMILIES",
    "REGIME_FEATURE_NAMES",
    "REGIME_LABELS",
    "SKOPS_TRUSTED_TYPES",
    "Classifier",
    "MetaArtifactError",
    "MetaConfig",
    "MetaEvaluation",
    "MetaInputError",
    "MetaLearner",
    "MetaPrediction",
    "ModelFamily",
    "RegimeFilter",
    "RegimeInputError",
    "RegimeModel",
    "RegimeScore",
    "count_transitions",
    "evaluate_meta",
    "fit_meta",
    "fit_regimes",
    "get_family",
    "regime_features",
    "regime_weights",
    "register_family",
    "score_regimes",
    "stable_skops_bytes",
]
