"""Synthetic out-of-fold tables for the meta-learner tests."""

from __future__ import annotations

import numpy as np

from quant_models.training import Fold, OofBlock, OofTable

SYMBOLS = ("BTC", "ETH", "SOL")
FOLD_BARS = 120


def folds(n_folds: int) -> list[Fold]:
    """Walk-forward folds: fold k trains on [0, 120 (k + 1)) and tests the next 120 bars."""
    return [
        Fold(k, 0, FOLD_BARS * (k + 1), FOLD_BARS * (k + 1), FOLD_BARS * (k + 2))
        for k in range(n_folds)
    ]


def make_table(
    seed: int = 7,
    *,
    n_folds: int = 4,
    strengths: tuple[float, ...] = (1.0, 0.5, 0.0),
    noise: float = 0.7,
    horizon: int = 1,
    regime_flip: bool = False,
) -> OofTable:
    """Base models ``m0/global``… see a latent signal with ``strengths``; a baseline too.

    With ``regime_flip``, model 0 is informative on even bars only and model 1 on odd bars.
    """
    rng = np.random.default_rng(seed)
    n_times = FOLD_BARS * (n_folds + 1)
    blocks: list[OofBlock] = []
    for fold in folds(n_folds):
        t = np.repeat(np.arange(fold.test_start, fold.test_end), len(SYMBOLS))
        s = np.tile(np.arange(len(SYMBOLS)), fold.test_end - fold.test_start)
        signal = rng.normal(0, 1.0, len(t))
        y = (rng.random(len(t)) < 1 / (1 + np.exp(-signal))).astype(np.float64)
        ret = np.where(y > 0, 0.01, -0.01)
        clim = np.full(len(t), 0.5)
        blocks.append(OofBlock("climatology", horizon, fold.index, s, t, clim, y, ret, clim))
        for j, strength in enumerate(strengths):
            gain = np.full(len(t), strength)
            if regime_flip and j < 2:
                gain = np.where(t % 2 == j, 1.2, 0.0)
            z = gain * signal + rng.normal(0, noise, len(t))
            p = 1 / (1 + np.exp(-z))
            order = rng.permutation(len(t))  # blocks need not be sorted
            blocks.append(
                OofBlock(
                    f"m{j}/global", horizon, fold.index, s[order], t[order], p[order],
                    y[order], ret[order], clim[order],
                )
            )  # fmt: skip
    return OofTable(SYMBOLS, np.arange(n_times, dtype=np.int64) * 3_600_000_000_000, tuple(blocks))
