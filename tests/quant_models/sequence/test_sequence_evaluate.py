"""Walk-forward evaluation gives out-of-fold blocks the stacking meta-learner reads."""

from __future__ import annotations

import numpy as np
import pytest
from tests.quant_models.sequence._data import tiny_config

from quant_models import ConfigError, DataError, Panel, reasons
from quant_models.training import Fold, OofTable, walk_forward


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


def test_a_fold_too_short_for_the_windows_is_sat_out(panel: Panel) -> None:
    from quant_models.sequence import evaluate_sequence

    config = tiny_config(max_epochs=1)  # the longest resolution reads 73 bars
    short, long = Fold(0, 0, 70, 74, 150), Fold(1, 0, 400, 404, 500)
    blocks = evaluate_sequence(panel, config, (short, long), seed=1)
    assert {b.fold for b in blocks} == {1}
    with pytest.raises(DataError, match="no fold is long enough") as err:
        evaluate_sequence(panel, config, (short,), seed=1)
    assert err.value.reason_code == reasons.INSUFFICIENT_DATA
    assert "fold 0" in str(err.value)


def test_other_errors_of_a_fold_are_raised(panel: Panel, monkeypatch: pytest.MonkeyPatch) -> None:
    from quant_models.sequence import _evaluate, evaluate_sequence

    def refuse(*args: object, **kwargs: object) -> None:
        raise DataError("the device is gone", reason_code=reasons.SEQUENCE_INPUT_INVALID)

    monkeypatch.setattr(_evaluate, "fit_sequence", refuse)
    with pytest.raises(DataError, match="the device is gone"):
        evaluate_sequence(panel, tiny_config(), (Fold(0, 0, 400, 404, 500),), seed=1)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="bad training range"):
        evaluate_sequence(panel, tiny_config(), (Fold(0, 0, 5000, 5004, 5100),), seed=1)
