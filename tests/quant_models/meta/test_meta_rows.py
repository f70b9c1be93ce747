"""The meta-learner's only door: out-of-fold rows of one horizon, joined, or a typed refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest
from tests.quant_models.helpers import tiny_config
from tests.quant_models.meta._tables import FOLD_BARS, folds, make_table

from quant_data import Dataset
from quant_models.families import MetaInputError, fit_meta
from quant_models.families._meta_rows import context_rows, stack_rows
from quant_models.training import OofBlock, OofTable, train, walk_forward


def expect(code: str, fn: Callable[..., object], *args: Any, **kwargs: Any) -> MetaInputError:
    with pytest.raises(MetaInputError) as info:
        fn(*args, **kwargs)
    assert info.value.reason_code == code
    return info.value


def replace_block(table: OofTable, index: int, block: OofBlock) -> OofTable:
    blocks = list(table.blocks)
    blocks[index] = block
    return attrs.evolve(table, blocks=tuple(blocks))


def first_block(table: OofTable, model: str) -> int:
    return next(i for i, b in enumerate(table.blocks) if b.model == model)


def test_rows_are_the_joined_out_of_fold_predictions_in_time_order() -> None:
    table = make_table(n_folds=3)
    rows = stack_rows(table, 1)
    assert rows.models == ("m0/global", "m1/global", "m2/global")  # the baseline is no base
    lookup = {
        (b.model, int(s), int(t)): (float(p), float(y), float(c))
        for b in table.blocks
        for s, t, p, y, c in zip(b.symbol_rows, b.time_rows, b.p, b.y, b.climatology, strict=True)
    }
    assert len(rows.y) == sum(len(b.p) for b in table.select("m0/global", 1))
    for i in range(len(rows.y)):
        s, t = int(rows.symbol_rows[i]), int(rows.time_rows[i])
        for j, m in enumerate(rows.models):
            assert lookup[(m, s, t)] == (rows.p[i, j], rows.y[i], rows.climatology[i])
    order = np.lexsort((rows.symbol_rows, rows.time_rows, rows.fold))
    assert (order == np.arange(len(order))).all()
    assert (np.diff(rows.fold) >= 0).all()
    kept = rows.where(rows.fold == 1)
    assert set(kept.fold.tolist()) == {1}
    assert len(kept.p) == len(kept.forward_return) == len(kept.time_rows)


def test_only_rows_every_model_predicted_enter() -> None:
    table = make_table(n_folds=3)
    i = first_block(table, "m1/global")
    b = table.blocks[i]
    table = replace_block(table, i, b.where(np.arange(len(b.p)) % 2 == 0))
    # m2 lacks fold 2 altogether: that fold is left out
    table = attrs.evolve(
        table, blocks=tuple(x for x in table.blocks if not (x.model == "m2/global" and x.fold == 2))
    )
    rows = stack_rows(table, 1)
    assert set(rows.fold.tolist()) == {0, 1}
    assert (rows.fold == 0).sum() == len(b.p) // 2


def test_fit_span_rows_are_refused_when_folds_are_given() -> None:
    table = make_table(n_folds=3)
    stack_rows(table, 1, folds=folds(3))  # every block inside its test span: accepted
    i = first_block(table, "m0/global")
    b = table.blocks[i]
    leaked = attrs.evolve(b, time_rows=np.where(np.arange(len(b.p)) == 0, 5, b.time_rows))
    bad = replace_block(table, i, leaked)
    error = expect("META_IN_SAMPLE_ROWS", fit_meta, bad, 1, folds=folds(3))
    assert "1 rows" in str(error)
    expect("META_INPUT_INVALID", stack_rows, table, 1, folds=folds(2))  # fold 2 unknown


def test_a_real_training_run_gives_rows_inside_the_test_spans_only(
    small_dataset: Dataset,
) -> None:
    config = tiny_config(families=("lightgbm", "random_forest"))
    result = train(small_dataset, config)
    fc = config.folds
    spans = walk_forward(
        len(result.oof.open_times_ns),
        n_folds=fc.n_folds,
        test_size=fc.test_size,
        purge=max(h.bars for h in config.horizons),
        embargo=fc.embargo,
        min_train=fc.min_train,
        start=config.features.warmup,
    )
    for h in (1, 4):
        rows = stack_rows(result.oof, h, folds=spans)
        assert rows.models == ("lightgbm/global", "random_forest/global")
        for fold in spans:
            t = rows.time_rows[rows.fold == fold.index]
            assert len(t) > 0
            assert t.min() >= fold.test_start
            assert t.max() < fold.test_end
        learner = fit_meta(result.oof, h, folds=spans)
        assert learner.n_rows == len(rows.y)


def test_anything_but_an_oof_table_at_a_known_horizon_is_refused() -> None:
    table = make_table(n_folds=2)
    expect("META_INPUT_INVALID", stack_rows, {"blocks": ()}, 1)
    expect("META_HORIZON_MISSING", stack_rows, table, 4)
    expect("META_INPUT_INVALID", stack_rows, table, 1, models=("m0/global", "x/global"))
    expect("META_TOO_FEW_MODELS", stack_rows, table, 1, models=("m0/global",))
    expect("META_TOO_FEW_MODELS", stack_rows, table, 1, models=("m0/global", "m0/global"))
    one = make_table(n_folds=2, strengths=(1.0,))
    expect("META_TOO_FEW_MODELS", fit_meta, one, 1)


def test_malformed_blocks_are_refused() -> None:
    table = make_table(n_folds=2)
    i = first_block(table, "m0/global")
    b = table.blocks[i]
    nan = attrs.evolve(b, p=np.where(np.arange(len(b.p)) == 3, np.nan, b.p))
    expect("META_INPUT_INVALID", stack_rows, replace_block(table, i, nan), 1)
    above = attrs.evolve(b, p=b.p + 1.0)
    expect("META_INPUT_INVALID", stack_rows, replace_block(table, i, above), 1)
    twice = attrs.evolve(b, time_rows=np.full(len(b.p), b.time_rows[0]))
    expect("META_INPUT_INVALID", stack_rows, replace_block(table, i, twice), 1)
    flipped = attrs.evolve(b, y=1.0 - b.y)
    expect("META_INPUT_INVALID", stack_rows, replace_block(table, i, flipped), 1)
    moved = attrs.evolve(b, time_rows=b.time_rows + 10 * FOLD_BARS)  # no shared row at all
    only = attrs.evolve(table, blocks=(moved, *[x for x in table.blocks if x.fold == b.fold][2:]))
    expect("META_TOO_FEW_ROWS", stack_rows, only, 1)


def test_context_rows_check_shape_and_range() -> None:
    assert context_rows(None, 3).shape == (3, 1)
    ok = np.array([[0.2, 0.8], [1.0, 0.0]])
    assert (context_rows(ok, 2, columns=2) == ok).all()
    expect("META_INPUT_INVALID", context_rows, np.ones(2), 2)
    expect("META_INPUT_INVALID", context_rows, np.ones((3, 2)), 2)
    expect("META_INPUT_INVALID", context_rows, np.ones((2, 0)), 2)
    expect("META_INPUT_INVALID", context_rows, ok * 2, 2)
    expect("META_INPUT_INVALID", context_rows, ok * np.nan, 2)
    expect("META_INPUT_INVALID", context_rows, ok, 2, columns=3)
