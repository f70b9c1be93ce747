"""Fixtures of the regime tests: a synthetic panel whose true regime is known."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from quant_models.families import REGIME_LABELS, RegimeModel, fit_regimes

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def regime_panel(
    seed: int, *, n_coins: int = 6, blocks: int = 16, block_bars: int = 120
) -> tuple[FloatArray, IntArray]:
    """Closes ``(n_coins, blocks * block_bars)`` and the true regime index of every bar.

    Regimes cycle through a seeded order; per bar, a coin's log return is
    ``drift + common shock + own shock`` with, per regime: trend (up drift, low noise),
    range (mean reversion, low noise), high_vol (large own shocks), stress (falling, large
    common shocks).
    """
    rng = np.random.default_rng(seed)
    n_bars = blocks * block_bars
    truth = np.repeat(rng.permutation(np.resize(np.arange(len(REGIME_LABELS)), blocks)), block_bars)
    logs = np.zeros((n_coins, n_bars))
    level = np.zeros(n_coins)
    anchor = np.zeros(n_coins)
    for t in range(n_bars):
        regime = REGIME_LABELS[truth[t]]
        common, own = rng.normal(), rng.normal(size=n_coins)
        if regime == "trend":
            step = 0.004 + 0.001 * common + 0.002 * own
        elif regime == "range":
            step = -0.3 * (level - anchor) + 0.001 * common + 0.002 * own
        elif regime == "high_vol":
            step = 0.002 * common + 0.02 * own
        else:
            step = -0.004 + 0.02 * common + 0.003 * own
        if t and truth[t] != truth[t - 1]:
            anchor = level.copy()
        level = level + step
        logs[:, t] = level
    return 100.0 * np.exp(logs), truth.astype(np.int64)


@pytest.fixture
def make_panel() -> Callable[..., tuple[FloatArray, IntArray]]:
    """The :func:`regime_panel` builder."""
    return regime_panel


@pytest.fixture(scope="module")
def fitted() -> tuple[RegimeModel, FloatArray, IntArray]:
    """A model fitted on the first 1,440 bars of a 1,920-bar synthetic panel, and the panel."""
    close, truth = regime_panel(1)
    return fit_regimes(close[:, :1440], seed=3, window=12), close, truth
