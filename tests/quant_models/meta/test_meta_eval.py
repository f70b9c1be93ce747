"""Nested evaluation: weights fit on earlier folds, scored on later ones, beside two baselines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from tests.quant_models.helpers import dataset_from_frame, real_frame, tiny_config
from tests.quant_models.meta._tables import make_table

from quant_models._metrics import brier, log_loss
from quant_models.families import MetaConfig, MetaInputError, evaluate_meta, fit_meta
from quant_models.families._meta_rows import stack_rows
from quant_models.training import FoldConfig, OofTable, train


def before(table: OofTable, fold: int) -> OofTable:
    kept = tuple(b for b in table.blocks if b.fold < fold)
    return OofTable(table.symbols, table.open_times_ns, kept)


def test_scores_are_those_of_learners_fit_on_earlier_folds_only() -> None:
    table = make_table(n_folds=4)
    result = evaluate_meta(table, 1)
    assert result.scored_folds == (1, 2, 3)
    rows = stack_rows(table, 1)
    stacked, ys, single = [], [], []
    for k in result.scored_folds:
        learner = fit_meta(before(table, k), 1)
        now, past = rows.where(rows.fold == k), rows.where(rows.fold < k)
        stacked.append(learner.predict(now.p).p)
        ys.append(now.y)
        best = min(range(3), key=lambda j: log_loss(past.p[:, j], past.y))
        single.append(now.p[:, best])
        assert result.chosen_single[k - 1] == rows.models[best]
    y = np.concatenate(ys)
    assert result.n_rows == len(y)
    assert result.scores["stack"]["brier"] == brier(np.concatenate(stacked), y)
    assert result.scores["best_single"]["brier"] == brier(np.concatenate(single), y)
    held = rows.where(rows.fold >= 1)
    assert result.scores["average"]["brier"] == brier(held.p.mean(axis=1), y)
    for j, m in enumerate(rows.models):
        assert result.scores[m]["log_loss"] == log_loss(held.p[:, j], y)


def test_a_later_fold_never_changes_an_earlier_score() -> None:
    table = make_table(n_folds=4)
    base = evaluate_meta(before(table, 3), 1)
    altered = tuple(
        b if b.fold < 3 else type(b)(b.model, b.horizon_bars, b.fold, b.symbol_rows,
                                     b.time_rows, 1 - b.p, b.y, b.forward_return, b.climatology)
        for b in table.blocks
    )  # fmt: skip
    full = evaluate_meta(OofTable(table.symbols, table.open_times_ns, altered), 1)
    assert full.chosen_single[:2] == base.chosen_single


def test_the_stack_beats_the_best_single_model_and_the_average_when_models_differ() -> None:
    result = evaluate_meta(make_table(n_folds=5, strengths=(1.0, 0.8, 0.0)), 1)
    stack = result.scores["stack"]
    for rival in ("best_single", "average"):
        assert stack["log_loss"] < result.scores[rival]["log_loss"]
        assert stack["brier_skill"] > result.scores[rival]["brier_skill"]
    high, low = result.confident_brier
    assert math.isfinite(high)
    assert math.isfinite(low)


def test_context_flows_into_the_nested_fits() -> None:
    table = make_table(n_folds=4, regime_flip=True, strengths=(0.0, 0.0, 0.0))
    t = np.arange(len(table.open_times_ns))
    context = np.stack([t % 2 == 0, t % 2 == 1], axis=1).astype(np.float64)
    gated = evaluate_meta(table, 1, context=context)
    plain = evaluate_meta(table, 1)
    assert gated.scores["stack"]["log_loss"] < plain.scores["stack"]["log_loss"]


def test_identical_base_models_leave_no_low_confidence_rows() -> None:
    table = make_table(n_folds=3, strengths=(1.0,))
    twin = tuple(
        type(b)("twin/global", b.horizon_bars, b.fold, b.symbol_rows, b.time_rows, b.p, b.y,
                b.forward_return, b.climatology)
        for b in table.blocks if b.model == "m0/global"
    )  # fmt: skip
    table = OofTable(table.symbols, table.open_times_ns, table.blocks + twin)
    result = evaluate_meta(table, 1, config=MetaConfig(min_calibration_rows=10**9))
    assert math.isnan(result.confident_brier[1])
    assert result.scores["stack"]["brier"] == pytest.approx(result.confident_brier[0])


def test_one_fold_is_not_enough_to_evaluate() -> None:
    with pytest.raises(MetaInputError) as info:
        evaluate_meta(make_table(n_folds=1), 1)
    assert info.value.reason_code == "META_TOO_FEW_ROWS"


def test_on_real_hourly_data_the_stack_is_scored_on_every_later_fold(shared_data: Path) -> None:
    ds = dataset_from_frame(real_frame(shared_data, ("BTC", "ETH", "SOL"), last=480))
    config = tiny_config(
        families=("lightgbm", "xgboost"),
        folds=FoldConfig(n_folds=3, test_size=60, embargo=4, min_train=150),
    )
    result = train(ds, config)
    for h in (1, 4):
        evaluation = evaluate_meta(result.oof, h)
        assert evaluation.scored_folds == (1, 2)
        later = result.oof.select("lightgbm/global", h)[1:]
        assert evaluation.n_rows == sum(len(b.p) for b in later)
        for card in evaluation.scores.values():
            assert all(math.isfinite(v) for v in card.values())
