"""The checks a training run records: hindcast, forward and rolling (data spec §5.3, 0124).

With :attr:`TrainConfig.checks <quant_models.training.TrainConfig>` on, a run records
``metrics["checks"]`` in its run record (:func:`run_checks`), ``T`` being the close of the
panel's last bar:

* ``hindcast`` — :func:`~quant_models.evaluation.run_hindcast` at ``T``: the same config
  retrained on the data to ``T - 2d``, every bar close of ``(T - 2d, T - 1d]`` predicted
  through :class:`~quant_models.ModelSetPredictor` (the set as served) and scored; per horizon
  the card and which model or head served each coin. ``"unavailable"`` with the reason code
  when the data to ``T - 2d`` cannot hold the folds.
* ``forward`` — the forecasts the shipped set itself makes at ``T`` (it is the model trained
  to ``T``: no retrain), every one ``"pending"``, and what served each coin;
  :func:`score_checks` scores them later against newer data.
* ``rolling`` — per horizon and walk-forward fold, the out-of-sample score of what the run
  serves over that fold's test block: a best set's served candidate from the out-of-fold
  table (the per-fold cards of ``metrics["oos"]``, one row per fold); a stacked set's heads
  nested as in its evidence (fold ``k`` predicted by heads fit on the folds before it; the
  first fold has none, so it is not scored). No model is refit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from quant_core import TaskRunner
from quant_models._errors import DataError
from quant_models._metrics import score
from quant_models._panel import FloatArray, Panel
from quant_models._persistence import ModelSet
from quant_models._predictor import ModelSetPredictor
from quant_models.evaluation._hindcast import (
    DAY_NS,
    _history,
    _index_at,
    realise,
    run_hindcast,
    served_members,
)
from quant_models.training._config import TrainConfig
from quant_models.training._ensemble import nested_forecasts
from quant_models.training._oof import OofTable, score_blocks
from quant_models.training._splits import Fold

ROLLING = (
    "per walk-forward fold, the out-of-sample score of the served model over the fold's test "
    "block (a stacked set: its heads fit on the earlier folds only)"
)


def run_checks(
    panel: Panel,
    config: TrainConfig,
    model_set: ModelSet,
    oof: OofTable,
    folds: Sequence[Fold],
    served: Mapping[str, str],
    grid: FloatArray | None = None,
    runner: TaskRunner | None = None,
) -> dict[str, Any]:
    """The ``metrics["checks"]`` of a run trained on ``panel`` (see the module docstring).

    Args:
        panel: the run's bars; ``T`` is its last bar close.
        config: the run's configuration (the hindcast retrains with it, checks off).
        model_set: the set the run ships (it makes the forward forecasts).
        oof: the run's out-of-fold table.
        folds: the run's walk-forward folds.
        served: the run's ``metrics["served"]`` (per horizon label, what it serves).
        grid: a stacked run's regime posterior at every bar (``None`` for a best set).
        runner: runs the hindcast's fits (any runner gives the same bytes).
    """
    as_of = int(panel.close_times_ns[-1])
    return {
        "hindcast": _hindcast(panel, attrs.evolve(config, checks=False), as_of, runner),
        "forward": _forward(model_set, panel, as_of),
        "rolling": rolling_checks(oof, folds, config, served, panel.timeframe.ns, grid),
    }


def _hindcast(
    panel: Panel, config: TrainConfig, as_of: int, runner: TaskRunner | None
) -> dict[str, Any]:
    record: dict[str, Any] = {"as_of_ns": as_of, "cut_ns": as_of - 2 * DAY_NS}
    try:
        run = run_hindcast(panel, config, as_of, runner=runner)
    except DataError as exc:
        return {**record, "status": "unavailable", "reason_code": exc.reason_code}
    horizons = {
        label: {
            "model": run.served[label],
            "members": run.members[label],
            **card.as_dict(),
        }
        for label, card in run.cards.items()
    }
    model_id = run.training.model_set.model_id
    return {**record, "status": "scored", "model_id": model_id, "horizons": horizons}


def _forward(model_set: ModelSet, panel: Panel, as_of: int) -> dict[str, Any]:
    predictions = ModelSetPredictor(model_set).predict(as_of, _history(panel))
    step = panel.timeframe.ns
    forecasts = [
        {
            "symbol": pred.instrument.base,
            "horizon": f.label,
            "horizon_bars": f.horizon_ns // step,
            "p_up": f.p_up,
            "status": "pending",
        }
        for pred in predictions
        for f in pred.forecasts
    ]
    members = {
        f"h{table.bars}": {
            pred.instrument.base: served_members(model_set, table.bars, pred.instrument.base)
            for pred in predictions
        }
        for table in model_set.horizons
    }
    return {
        "as_of_ns": as_of,
        "model_id": model_set.model_id,
        "forecasts": forecasts,
        "members": members,
    }


def rolling_checks(
    oof: OofTable,
    folds: Sequence[Fold],
    config: TrainConfig,
    served: Mapping[str, str],
    step_ns: int,
    grid: FloatArray | None = None,
) -> dict[str, Any]:
    """Per horizon, the served model's out-of-sample card on each fold's test block.

    Args:
        oof: the run's out-of-fold table.
        folds: the run's walk-forward folds.
        config: the run's configuration.
        served: per horizon label, what the run serves (a best set's ``family/scope``).
        step_ns: the bar length.
        grid: a stacked run's regime posterior at every bar; ``None`` for a best set.
    """
    start = int(oof.open_times_ns[0])
    spans = {
        f.index: {
            "fold": f.index,
            "test_start_ns": start + f.test_start * step_ns,
            "test_end_ns": start + f.test_end * step_ns,
        }
        for f in folds
    }
    horizons: dict[str, Any] = {}
    for spec in config.horizons:
        h = spec.bars
        rows: list[dict[str, Any]] = []
        if grid is not None:
            nested = nested_forecasts(oof, folds, config, grid, h)
            rows_ = nested.rows
            fold, p, y = rows_.fold, nested.served, rows_.y
            fwd, clim = rows_.forward_return, rows_.climatology
            for k in sorted(set(fold.tolist()))[1:]:
                at = fold == k
                card = score(
                    p[at],
                    y[at],
                    fwd[at],
                    climatology=clim[at],
                    threshold=config.threshold,
                    fee=config.fee,
                )
                rows.append({**spans[k], **card.as_dict()})
        else:
            for block in oof.select(served[f"h{h}"], h):
                card = score_blocks([block], config)
                rows.append({**spans[block.fold], **card.as_dict()})
        horizons[f"h{h}"] = {"model": served[f"h{h}"], "folds": rows}
    return {"definition": ROLLING, "horizons": horizons}


def score_checks(checks: Mapping[str, Any], panel: Panel) -> dict[str, Any]:
    """Score a run's recorded forward forecasts against ``panel`` (newer data).

    Args:
        checks: the run record's ``metrics["checks"]``.
        panel: bars that hold ``T`` (and, for a realised forecast, ``T + h``).

    Returns:
        The forward record with each forecast ``"realised"`` (with ``up`` and
        ``squared_error``) or still ``"pending"``, and per horizon label a ``summary``: the
        counts and the Brier score of the realised forecasts (``None`` before any).

    Raises:
        DataError: ``T`` is not a bar close in ``panel``.
    """
    forward = checks["forward"]
    t = _index_at(panel, int(forward["as_of_ns"]))
    forecasts = [
        realise(panel, t, row["symbol"], int(row["horizon_bars"]), dict(row))
        for row in forward["forecasts"]
    ]
    summary: dict[str, Any] = {}
    for row in forecasts:
        entry = summary.setdefault(row["horizon"], {"realised": 0, "pending": 0, "sq": []})
        entry[row["status"]] += 1
        if row["status"] == "realised":
            entry["sq"].append(row["squared_error"])
    for entry in summary.values():
        sq = entry.pop("sq")
        entry["brier"] = float(np.mean(sq)) if sq else None
    return {**forward, "forecasts": forecasts, "summary": summary}
