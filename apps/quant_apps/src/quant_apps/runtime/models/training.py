"""A training run behind ``quant train``: train, gate against a champion, submit to a registry.

:func:`train_run` trains on a dataset with :func:`quant_models.train` (features, walk-forward
folds, calibration, run record, gates), compares against a champion's evidence (a previous
run directory, or a model registry's champion) and, with a registry, submits the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from quant_core import structure
from quant_data import Dataset

__all__ = ["TrainRun", "read_champion", "train_run"]


def read_champion(path: Path | None) -> Any:
    """The gate evidence of a previous run directory (``None`` for no path).

    Raises:
        ArtifactError: the directory has no readable ``evidence.json``.
    """
    from quant_models import ArtifactError, Evidence

    if path is None:
        return None
    try:
        return structure(json.loads((path / "evidence.json").read_bytes()), Evidence)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read champion evidence in {path}: {exc}") from exc


@attrs.frozen
class TrainRun:
    """What :func:`train_run` did.

    Attributes:
        document: the summary ``quant train --json`` prints.
        result: the :class:`quant_models.TrainResult`.
    """

    document: dict[str, Any]
    result: Any


def train_run(
    config: Any,
    data: Dataset,
    out: Path,
    *,
    champion: Path | None = None,
    registry: Path | None = None,
) -> TrainRun:
    """Train ``config`` on ``data`` into ``out``; gate it; submit it to ``registry`` if given.

    Args:
        config: a :class:`quant_models.TrainConfig`.
        data: the dataset.
        out: the output directory (must be new).
        champion: a previous run directory whose evidence is the yardstick.
        registry: a model registry directory: its champion is the yardstick unless
            ``champion`` is given, and the run is submitted to it.
    """
    from quant_models import ChampionRecord, train

    models = None if registry is None else ChampionRecord(registry)
    yardstick = read_champion(champion)
    if yardstick is None and models is not None:
        yardstick = models.champion_evidence()
    result = train(data, config, out=out, champion=yardstick)
    decision = result.decision
    if models is not None:
        models.submit(out.resolve(), result.model_set.model_id, decision)
    document = {
        "ok": decision.promote,
        "out": str(out),
        "model_id": result.model_set.model_id,
        "run_id": result.run_record.run_id,
        "dataset_hash": data.manifest.dataset_hash,
        "served": result.metrics["served"],
        "promote": decision.promote,
        "reasons": list(decision.reasons),
        "details": list(decision.details),
    }
    return TrainRun(document, result)
