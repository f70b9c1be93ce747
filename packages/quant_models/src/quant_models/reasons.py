"""Reason codes of quant_models: feature, training, artifact and promotion-gate outcomes.

Every code is registered once in :data:`quant_core.reasons.REGISTRY` when this module is
imported.

Examples:
    >>> from quant_models import reasons
    >>> reasons.GATE_IN_SAMPLE_EVIDENCE
    'GATE_IN_SAMPLE_EVIDENCE'
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

CONFIG_INVALID = "A training configuration is malformed or asks for something impossible."
FEATURE_INPUT_INVALID = (
    "Bars given to the feature pipeline mix timeframes or quotes, or are off the time grid."
)
INSUFFICIENT_DATA = (
    "Too few labelled bars for the requested walk-forward folds, horizons and windows."
)
MODEL_FAMILY_UNKNOWN = "A model family name is not in the model-family registry."
ARTIFACT_MISSING = "A model artifact directory lacks a file its metadata lists."
ARTIFACT_INVALID = (
    "A model artifact does not match the hash in its metadata, or its metadata is malformed."
)
SCHEMA_MISMATCH = (
    "A saved model was trained on a feature schema other than the one computing its inputs."
)
MODEL_SHAPE_MISMATCH = (
    "A saved model's inputs or outputs do not match the shapes its model set declares "
    "(feature count, a meta-learner's members or context columns)."
)
ENSEMBLE_MEMBER_MISSING = (
    "A stacked model set's meta-learner expects a member model the set does not hold."
)
GATE_PASSED = "Every promotion gate passed; the candidate is promoted."
GATE_IN_SAMPLE_EVIDENCE = (
    "Promotion evidence was not out-of-sample; in-sample metrics never justify a promotion."
)
GATE_TOO_FEW_SAMPLES = "The out-of-sample evidence has fewer scored predictions than required."
GATE_BSS_BELOW_MIN = "Out-of-sample Brier skill vs climatology is below the gate threshold."
GATE_ECE_ABOVE_MAX = "Out-of-sample expected calibration error is above the gate threshold."
GATE_UTILITY_BELOW_MIN = (
    "The fee-aware utility of the deterministic simulation is below the gate threshold."
)
GATE_RISK_VIOLATION = "Simulated actions broke a risk rule (shorting, or exposure over limit)."
GATE_ARTIFACTS_INCOMPLETE = (
    "The candidate's artifact set or run record is incomplete, so it cannot be replayed."
)
GATE_NOT_BETTER_THAN_CHAMPION = (
    "The candidate does not beat the active champion's out-of-sample evidence by the margin."
)
CONTEXT_MISSING = (
    "A run lacks the market context its model set was trained with (the reference coin, or "
    "too few market-panel coins); it is refused instead of predicting without it."
)

SEQUENCE_FAMILY_UNKNOWN = "A sequence model names a family other than lstm or transformer."
SEQUENCE_SHAPE_MISMATCH = (
    "A sequence model's weight tensors do not have the shapes its declared config implies."
)
SEQUENCE_ARTIFACT_INVALID = (
    "A sequence model's weights do not match the hash in sequence.json, are not a readable"
    " safetensors file, or sequence.json is malformed."
)
SEQUENCE_INPUT_INVALID = (
    "A window given to a sequence model holds NaN or has the wrong shape or number of features."
)

declare_codes(globals())
