"""Walk-forward evaluation gives out-of-fold blocks the stacking meta-learner reads."""

from __future__ import annotations

import numpy as np
from tests.quant_models.sequence._data import tiny_config

from quant_models import Panel
from quant_models.training import OofTable, walk_forward


def test_blocks_cover_each_test_span_with_the_fold_climatology(panel: Panel) -> None:
    from quant_models.sequence import evaluate_sequence

    config = tiny_config(family="transformer", max_epochs=2)
    folds = walk_forward(panel.n_times, n_folds=2, test_size=150, purge=4, embargo=2, min_train=600)
    blocks = evaluate_sequence(panel, config, folds, seed=1)
    assert [(b.fold, b.horizon_bars) for b in blocks] == [(0, 1), (0, 4), (1, 1), (1, 4)]
    close = np.log(panel.close)
    for b in blocks:
        fold = folds[b.fold]
        assert b.model == "transformer/global"
        assert ((b.time_rows >= fold.test_start) & (b.time_rows < fold.test_end)).all()
        assert b.time_rows.max() + b.horizon_bars < panel.n_times
        assert ((b.p > 0) & (b.p < 1)).all()
        assert np.unique(b.climatology).shape == (1,)
        fwd = close[b.symbol_rows, b.time_rows + b.horizon_bars] - close[b.symbol_rows, b.time_rows]
        assert np.allclose(b.forward_return, fwd)
        assert np.array_equal(b.y, (fwd > 0).astype(float))
    # the last fold's 4-bar block stops where the labels stop
    assert blocks[-1].p.shape[0] == 3 * (150 - 4)
    table = OofTable(panel.symbols, panel.open_times_ns, blocks)
    assert table.models(1) == ["transformer/global"]
