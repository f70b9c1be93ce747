"""Regime features: causal, shared by batch and stream, typed refusals of bad closes."""

from __future__ import annotations

import numpy as np
import pytest

from quant_models.families import REGIME_FEATURE_NAMES, RegimeInputError, regime_features


def _walk(seed: int, n_coins: int = 4, n_bars: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_coins, n_bars)), axis=1))


def test_rows_are_causal_later_bars_never_change_earlier_rows() -> None:
    close = _walk(0)
    rows = regime_features(close, window=10)
    altered = close.copy()
    altered[:, 80:] *= np.random.default_rng(1).uniform(0.5, 2.0, altered[:, 80:].shape)
    appended = np.concatenate([close, _walk(2, n_bars=30)], axis=1)
    for other in (altered, appended):
        again = regime_features(other, window=10)
        assert again[:80].tobytes() == rows[:80].tobytes()


def test_shape_warm_up_and_columns() -> None:
    rows = regime_features(_walk(0), window=10)
    assert rows.shape == (120, len(REGIME_FEATURE_NAMES))
    assert np.isnan(rows[:10]).all()
    assert np.isfinite(rows[10:]).all()


def test_features_against_a_plain_recomputation() -> None:
    close = _walk(3, n_coins=3, n_bars=40)
    rows = regime_features(close, window=8)
    t = 25
    logs = np.log(close[:, t - 8 : t + 1])
    steps = np.diff(logs, axis=1)
    moves = logs[:, -1] - logs[:, 0]
    assert rows[t, 0] == pytest.approx(moves.mean())
    assert rows[t, 1] == pytest.approx(np.mean(np.abs(moves) / np.abs(steps).sum(axis=1)))
    assert rows[t, 2] == pytest.approx(np.log(steps.std(axis=1).mean()))
    assert rows[t, 3] == pytest.approx(steps.mean(axis=0).var() / steps.var(axis=1).mean())


def test_comovement_is_one_for_identical_coins_and_efficiency_one_for_a_line() -> None:
    line = np.exp(np.linspace(0, 1, 30))
    rows = regime_features(np.stack([line, line]), window=5)
    assert rows[10, 3] == pytest.approx(1.0)
    assert rows[10, 1] == pytest.approx(1.0)


def test_flat_prices_have_zero_efficiency_and_comovement_one() -> None:
    rows = regime_features(np.ones((2, 10)), window=3)
    assert rows[5, 1] == 0.0
    assert rows[5, 3] == 1.0


def test_a_gap_drops_only_that_coins_windows() -> None:
    close = _walk(4, n_coins=3, n_bars=60)
    gapped = close.copy()
    gapped[2, 30] = np.nan
    rows = regime_features(gapped, window=5)
    two = regime_features(close[:2], window=5)
    for t in range(30, 36):  # the windows that include the gap use the other two coins
        assert rows[t].tobytes() == two[t].tobytes()
    assert rows[36].tobytes() == regime_features(close, window=5)[36].tobytes()


def test_a_gap_in_every_coin_gives_a_missing_row() -> None:
    close = _walk(5, n_coins=2, n_bars=30)
    close[:, 20] = np.nan
    rows = regime_features(close, window=4)
    assert np.isnan(rows[20:25]).all()
    assert np.isfinite(rows[25]).all()


@pytest.mark.parametrize(
    "close",
    [
        np.ones(10),
        np.ones((0, 10)),
        np.ones((2, 3, 4)),
        np.array([[1.0, np.inf, 1.0]]),
        np.array([[1.0, 0.0, 1.0]]),
        np.array([[1.0, -2.0, 1.0]]),
    ],
)
def test_bad_closes_are_refused_with_a_reason(close: np.ndarray) -> None:
    with pytest.raises(RegimeInputError) as info:
        regime_features(close, window=2)
    assert info.value.reason_code == "FEATURE_INPUT_INVALID"


@pytest.mark.parametrize("window", [1, 0, True, 2.5])
def test_bad_windows_are_refused(window: object) -> None:
    with pytest.raises(RegimeInputError):
        regime_features(np.ones((1, 10)), window=window)  # type: ignore[arg-type]
