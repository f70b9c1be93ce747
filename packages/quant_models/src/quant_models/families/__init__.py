"""Model families: deterministic binary classifiers, built from parameters and a seed.

``_trees`` holds the tree families (``lightgbm``, ``xgboost``, ``random_forest``) and the
registry that :func:`get_family` reads; sequence, regime and meta families join here later.
"""

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
    "ModelFamily",
    "get_family",
    "register_family",
    "stable_skops_bytes",
]
