"""Out-of-sample evidence with uncertainty: AUC, and Brier skill with a block-bootstrap CI.

:func:`block_bootstrap_bss` resamples whole blocks of consecutive bars (every coin's rows of
a block together, so serial and cross-coin dependence stay inside a block) with a seeded
generator, and reports the pooled Brier skill with its 2.5% and 97.5% quantiles; given a
second forecast it also bounds the *difference* of the two skills on the same draws.
:func:`evidence_card` is the row the run record keeps per horizon and forecast.

Examples:
    >>> import numpy as np
    >>> auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.0, 0.0, 1.0, 1.0]))
    0.75
    >>> y = np.array([1.0, 0.0] * 50); p = np.where(y > 0, 0.6, 0.4)
    >>> out = block_bootstrap_bss(p, y, np.full(100, 0.5), np.arange(100), block=10,
    ...                           draws=50, seed=1)
    >>> round(out["bss"], 2), out["low"] <= out["bss"] <= out["high"]
    (0.36, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quant_core import generator
from quant_models._metrics import brier_skill, expected_calibration_error, log_loss
from quant_models._panel import FloatArray

__all__ = ["auc", "block_bootstrap_bss", "evidence_card"]


def auc(p: FloatArray, y: FloatArray) -> float:
    """Area under the ROC curve (ties count half); 0.5 when one class is absent."""
    positives = y > 0.5
    n1 = int(positives.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return 0.5
    # imported here: importing scipy.stats probes torch, and serving must load without it
    from scipy.stats import rankdata

    ranks = rankdata(p)
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def block_bootstrap_bss(
    p: FloatArray,
    y: FloatArray,
    climatology: FloatArray,
    time_rows: Any,
    *,
    block: int,
    draws: int,
    seed: int,
    other: FloatArray | None = None,
) -> dict[str, float]:
    """Pooled Brier skill of ``p`` vs ``climatology`` with a 95% block-bootstrap interval.

    Args:
        p: forecasts.
        y: realised directions.
        climatology: the reference forecast per row.
        time_rows: each row's bar (rows of one block of ``block`` bars resample together).
        block: bars per block.
        draws: resamples.
        seed: the generator's seed (with a fixed name, so equal inputs give equal bytes).
        other: a second forecast on the same rows: adds ``diff``, ``diff_low`` and
            ``diff_high`` (the skill of ``p`` minus that of ``other``).
    """
    blocks = np.unique(np.asarray(time_rows) // block, return_inverse=True)[1]
    nb = int(blocks.max()) + 1
    ref = np.bincount(blocks, weights=(climatology - y) ** 2, minlength=nb)
    own = np.bincount(blocks, weights=(p - y) ** 2, minlength=nb)
    pick = generator(seed, "quant_models", "evidence", "block-bootstrap").integers(
        0, nb, size=(draws, nb)
    )
    ref_sum = ref[pick].sum(axis=1)
    skill = 1.0 - own[pick].sum(axis=1) / ref_sum
    out = {
        "bss": 1.0 - float(own.sum()) / float(ref.sum()),
        "low": float(np.quantile(skill, 0.025)),
        "high": float(np.quantile(skill, 0.975)),
    }
    if other is not None:
        theirs = np.bincount(blocks, weights=(other - y) ** 2, minlength=nb)
        diff = (theirs[pick].sum(axis=1) - own[pick].sum(axis=1)) / ref_sum
        out["diff"] = float(theirs.sum() - own.sum()) / float(ref.sum())
        out["diff_low"] = float(np.quantile(diff, 0.025))
        out["diff_high"] = float(np.quantile(diff, 0.975))
    return out


def evidence_card(
    p: FloatArray,
    y: FloatArray,
    climatology: FloatArray,
    time_rows: Any,
    *,
    block: int,
    draws: int,
    seed: int,
    other: FloatArray | None = None,
) -> dict[str, Any]:
    """Brier skill (with its CI and, given ``other``, the CI of the difference), AUC, ECE.

    Args:
        p: forecasts.
        y: realised directions.
        climatology: the reference forecast per row.
        time_rows: each row's bar.
        block: bars per bootstrap block.
        draws: bootstrap resamples.
        seed: the bootstrap's seed.
        other: the forecast to difference against (see :func:`block_bootstrap_bss`).
    """
    boot = block_bootstrap_bss(
        p, y, climatology, time_rows, block=block, draws=draws, seed=seed, other=other
    )
    card: dict[str, Any] = {
        "n": len(y),
        "bss": _round(brier_skill(p, y, climatology)),
        "bss_ci95": [_round(boot["low"]), _round(boot["high"])],
        "auc": _round(auc(p, y)),
        "ece": _round(expected_calibration_error(p, y)),
        "log_loss": _round(log_loss(p, y)),
    }
    if other is not None:
        card["bss_gain"] = _round(boot["diff"])
        card["bss_gain_ci95"] = [_round(boot["diff_low"]), _round(boot["diff_high"])]
    return card


def _round(value: float) -> float:
    """12 significant digits: stable text in the run record."""
    return float(f"{value:.12g}")
