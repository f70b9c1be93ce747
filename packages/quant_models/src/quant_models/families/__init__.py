"""Model families: deterministic binary classifiers, built from parameters and a seed.

``_trees`` holds the tree families (``lightgbm``, ``xgboost``, ``random_forest``) and the
registry that :func:`get_family` reads; sequence, regime and meta families join here later.
"""

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
    "ModelFamily",
    "RegimeFilter",
    "RegimeInputError",
    "RegimeModel",
    "RegimeScore",
    "count_transitions",
    "fit_regimes",
    "get_family",
    "regime_features",
    "regime_weights",
    "register_family",
    "score_regimes",
    "stable_skops_bytes",
]
