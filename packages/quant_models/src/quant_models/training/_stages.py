"""Stages 2, 3 and 5: walk-forward splits, the out-of-fold fits (calibrated), the final fits.

Each fit is one task handed to a :class:`quant_core.TaskRunner`: one task per (fold, horizon)
for the out-of-fold fits and one per horizon for the final fits. A task is a pure function of
its input (its seeds derive from its own name), so a runner that runs them in another order,
or on other machines, gives byte-identical artifacts. Calibration happens inside each fit: the
newest part of the training range, after a purge gap, chooses and fits the calibrator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from quant_core import TaskRunner
from quant_models._persistence import ModelEntry
from quant_models.families._trees import get_family
from quant_models.training._baselines import (
    BASELINES,
    fit_climatology,
    fit_logistic,
    fit_persistence,
)
from quant_models.training._config import FoldMode, TrainConfig
from quant_models.training._data import Fitted, TrainingData, fit_one, unit_symbols
from quant_models.training._oof import OofBlock, OofTable
from quant_models.training._search import SearchResult, grid_free_search
from quant_models.training._splits import Fold, walk_forward
from quant_models.training._targets import HorizonSpec

__all__ = ["enough_history", "fit_final", "fit_folds", "make_folds", "tune"]


def enough_history(
    data: TrainingData, config: TrainConfig, h: int, scope: str, start: int, end: int
) -> list[int | None]:
    """The units of ``scope`` to fit on ``[start, end)`` (``None``: the global model).

    A coin gets a specialist only with ``config.min_specialist_bars`` labelled bars there.
    """
    units = unit_symbols(data, scope)
    if config.min_specialist_bars == 0:
        return units
    return [
        u
        for u in units
        if u is None or len(data.rows(h, start, end, u)[1]) >= config.min_specialist_bars
    ]


def make_folds(data: TrainingData, config: TrainConfig) -> tuple[Fold, ...]:
    """The walk-forward folds (stage 2), purged by the longest horizon."""
    fc = config.folds
    return walk_forward(
        data.panel.n_times,
        n_folds=fc.n_folds,
        test_size=fc.test_size,
        purge=max(h.bars for h in config.horizons),
        embargo=fc.embargo,
        min_train=fc.min_train,
        start=config.features.warmup,
        mode="sliding" if fc.mode is FoldMode.SLIDING else "expanding",
    )


def tune(
    data: TrainingData, config: TrainConfig, family: str, h: int, first: Fold, trials: list[Any]
) -> dict[str, Any]:
    """Tune ``family`` at horizon ``h`` on data before the first test block only.

    Returns the configured parameters when the search budget is 1; otherwise the best trial's,
    and the trials are appended to ``trials``.
    """
    base = dict(config.params.get(family, {}))
    if config.search_budget <= 1:
        return base
    gap = h + config.folds.embargo
    valid_start = first.train_end - config.folds.test_size
    valid = data.rows(h, valid_start, first.train_end)

    def objective(params: dict[str, Any]) -> float:
        fitted = fit_one(
            data,
            config,
            family,
            {**base, **params},
            h,
            first.train_start,
            valid_start - gap,
            None,
            (family, "search", f"h{h}"),
        )
        x, y, _ = data.xy(h, *valid)
        p = fitted.predict(x)
        return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))

    result: SearchResult = grid_free_search(
        get_family(family).space,
        objective,
        budget=config.search_budget,
        seed=config.seed,
        name=(family, f"h{h}"),
    )
    trials.extend(
        {"family": family, "horizon_bars": h, **attrs.asdict(trial)} for trial in result.trials
    )
    return {**base, **result.best.params}


def _fold_task(
    data: TrainingData,
    config: TrainConfig,
    tuned: Mapping[tuple[str, int], dict[str, Any]],
    fold: Fold,
    spec: HorizonSpec,
) -> list[OofBlock]:
    """The baselines' and every family and scope's predictions on one fold's test block."""
    h = spec.bars
    panel = data.panel
    n_sym = len(panel.symbols)
    tr_sym, tr_t = data.rows(h, fold.train_start, fold.train_end)
    te_sym, te_t = data.rows(h, fold.test_start, fold.test_end)
    x_tr, ytr, _ = data.xy(h, tr_sym, tr_t)
    x_te, yte, fte = data.xy(h, te_sym, te_t)
    clim = fit_climatology(ytr, tr_sym, n_symbols=n_sym)(x_te, te_sym, fte)
    baselines = {
        "climatology": fit_climatology(ytr, tr_sym, n_symbols=n_sym),
        "persistence": fit_persistence(
            ytr, tr_sym, data.last_return(h, tr_sym, tr_t), n_symbols=n_sym
        ),
        "logistic": fit_logistic(x_tr, ytr),
    }
    last_te = data.last_return(h, te_sym, te_t)
    out = []
    for name in BASELINES:
        p = baselines[name](x_te, te_sym, last_te)
        out.append(OofBlock(name, h, fold.index, te_sym, te_t, p, yte, fte, clim))
    for family in config.families:
        for scope in config.scopes:
            p = np.zeros(len(te_t))
            covered = np.ones(len(te_t), bool) if scope == "global" else np.zeros(len(te_t), bool)
            for unit in enough_history(data, config, h, scope, fold.train_start, fold.train_end):
                fitted = fit_one(
                    data,
                    config,
                    family,
                    tuned[(family, h)],
                    h,
                    fold.train_start,
                    fold.train_end,
                    unit,
                    (
                        family,
                        scope,
                        panel.symbols[unit] if unit is not None else "all",
                        f"h{h}",
                        f"fold{fold.index}",
                    ),
                )
                mask = np.ones(len(te_t), bool) if unit is None else te_sym == unit
                covered |= mask
                if mask.any():
                    p[mask] = fitted.predict(x_te[mask])
            block = OofBlock(f"{family}/{scope}", h, fold.index, te_sym, te_t, p, yte, fte, clim)
            out.append(block if covered.all() else block.where(covered))
    return out


@attrs.frozen
class _FoldTask:
    """One (fold, horizon) task: a picklable callable for any runner."""

    data: TrainingData
    config: TrainConfig
    tuned: Mapping[tuple[str, int], dict[str, Any]]

    def __call__(self, item: tuple[Fold, HorizonSpec]) -> list[OofBlock]:
        """The out-of-fold blocks of one fold and horizon."""
        return _fold_task(self.data, self.config, self.tuned, *item)


def fit_folds(
    data: TrainingData,
    config: TrainConfig,
    folds: tuple[Fold, ...],
    tuned: Mapping[tuple[str, int], dict[str, Any]],
    runner: TaskRunner,
) -> OofTable:
    """Fit and calibrate every candidate on every fold (stage 3): the out-of-fold table."""
    items = [(fold, spec) for fold in folds for spec in config.horizons]
    results = runner.map(_FoldTask(data, config, tuned), items)
    blocks = tuple(block for result in results for block in result)
    return OofTable(data.panel.symbols, data.panel.open_times_ns, blocks)


def fit_final(
    data: TrainingData,
    config: TrainConfig,
    h: int,
    family: str,
    scope: str,
    params: Mapping[str, Any],
) -> list[tuple[int | None, Fitted, ModelEntry]]:
    """Fit ``family``/``scope`` at horizon ``h`` on all labelled bars: the served models.

    Returns one (coin row or ``None`` for a global model, fit, entry) per model.
    """
    out = []
    for unit in enough_history(data, config, h, scope, config.features.warmup, data.panel.n_times):
        who = data.panel.symbols[unit] if unit is not None else None
        fitted = fit_one(
            data,
            config,
            family,
            params,
            h,
            config.features.warmup,
            data.panel.n_times,
            unit,
            (family, scope, who or "all", f"h{h}", "final"),
        )
        entry = ModelEntry(
            h, family, str(scope), who, dict(params), fitted.calibrator, fitted.model
        )
        out.append((unit, fitted, entry))
    return out
