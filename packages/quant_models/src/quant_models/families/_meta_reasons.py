"""Reason codes of the stacking meta-learner's own checks (decision 0075's one way).

Examples:
    >>> from quant_core.reasons import REGISTRY
    >>> REGISTRY.describe(META_HORIZON_MISSING).startswith("The out-of-fold table")
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

META_INPUT_INVALID = (
    "The meta-learner was given something other than a well-formed out-of-fold table, "
    "base-model probabilities or context columns (wrong type, shape, NaN or out of range)."
)
META_HORIZON_MISSING = "The out-of-fold table holds no predictions at the requested horizon."
META_TOO_FEW_MODELS = "Stacking needs at least two base models with out-of-fold predictions."
META_TOO_FEW_ROWS = (
    "Too few out-of-fold rows or folds for the meta-learner (or its nested evaluation)."
)
META_IN_SAMPLE_ROWS = (
    "An out-of-fold block holds rows outside its fold's test span (in its fit span); "
    "the meta-learner fits on out-of-fold predictions only."
)
META_ARTIFACT_INVALID = "A saved meta-learner is malformed or of an unknown format version."

declare_codes(globals())
