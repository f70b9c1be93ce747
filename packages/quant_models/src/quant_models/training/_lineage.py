"""Run records: everything needed to reproduce and audit a training run.

A :class:`RunRecord` names the dataset hash, feature-schema hash, config hash, seed, data
window, walk-forward folds, library versions, the metric package, every hyperparameter trial
and the hash of every artifact. It is written as canonical JSON; its ``run_id`` is the content
hash of everything else in it.

Examples:
    >>> rec = RunRecord.build(dataset_hash="sha256:d", feature_schema_hash="sha256:f",
    ...                       config_hash="sha256:c", seed=1, window={}, folds=[],
    ...                       library_versions={}, metrics={}, search={}, artifacts={},
    ...                       model_id="sha256:m")
    >>> rec.run_id == RunRecord.build(**{k: v for k, v in rec.body().items()}).run_id
    True
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any

import attrs

from quant_core import content_hash, unstructure

__all__ = ["LINEAGE_FORMAT", "RunRecord", "library_versions"]

LINEAGE_FORMAT = "quant.run/1"

_LIBRARIES = ("numpy", "pandas", "scikit-learn", "xgboost", "lightgbm", "skops", "quant-models")


def library_versions() -> dict[str, str]:
    """Versions of Python and every library that shapes a trained artifact."""
    versions = {"python": ".".join(str(v) for v in sys.version_info[:3])}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


@attrs.frozen
class RunRecord:
    """The lineage of one training run (see the module docstring)."""

    format: str
    run_id: str
    dataset_hash: str
    feature_schema_hash: str
    config_hash: str
    seed: int
    window: dict[str, Any]
    folds: list[dict[str, Any]]
    library_versions: dict[str, str]
    metrics: dict[str, Any]
    search: dict[str, Any]
    artifacts: dict[str, str]
    model_id: str

    def body(self) -> dict[str, Any]:
        """The fields hashed into ``run_id``."""
        data: dict[str, Any] = unstructure(self)
        del data["format"], data["run_id"]
        return data

    @classmethod
    def build(cls, **fields: Any) -> RunRecord:
        """Create a record, computing ``run_id`` from the other fields."""
        run_id = content_hash({"format": LINEAGE_FORMAT, **fields})
        return cls(format=LINEAGE_FORMAT, run_id=run_id, **fields)
