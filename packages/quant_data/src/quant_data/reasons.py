"""Reason codes of quant_data: rejections and findings of providers, store and datasets.

Examples:
    >>> from quant_data.reasons import DATASET_HASH_MISMATCH
    >>> from quant_core.reasons import REGISTRY
    >>> REGISTRY.describe(DATASET_HASH_MISMATCH).startswith("A dataset")
    True
"""

from __future__ import annotations

from quant_core.reasons import register

__all__ = [
    "DATASET_HASH_MISMATCH",
    "DATASET_INVALID",
]

DATASET_INVALID = register(
    "DATASET_INVALID",
    "A dataset directory or its bars are malformed: missing file, bad manifest, mixed quote or "
    "timeframe, duplicated (symbol, open time), or bars outside the window.",
)
DATASET_HASH_MISMATCH = register(
    "DATASET_HASH_MISMATCH", "A dataset's bars do not hash to the hash its manifest pins."
)
