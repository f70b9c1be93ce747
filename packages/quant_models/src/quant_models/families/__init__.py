"""Model families: deterministic binary classifiers, built from parameters and a seed.

``_trees`` holds the tree families (``lightgbm``, ``xgboost``, ``random_forest``) and the
registry that :func:`get_family` reads; sequence, regime and meta families join here later.
``_meta`` holds the stacking meta-learner (:func:`fit_meta`, :func:`evaluate_meta`).
"""

from quant_models.families._meta import MetaConfig, MetaLearner, MetaPrediction, fit_meta
from quant_models.families._meta_eval import MetaEvaluation, evaluate_meta
from quant_models.families._meta_rows import MetaArtifactError, MetaInputError
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
    "SKOPS_TRUSTED_TYPES",
    "Classifier",
    "MetaArtifactError",
    "MetaConfig",
    "MetaEvaluation",
    "MetaInputError",
    "MetaLearner",
    "MetaPrediction",
    "ModelFamily",
    "evaluate_meta",
    "fit_meta",
    "get_family",
    "register_family",
    "stable_skops_bytes",
]
