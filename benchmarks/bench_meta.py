"""Per-bar latency of the stacking meta-learner: 30 coins x N base models, one call per bar.

Our path is ``MetaLearner.predict`` (input checks, the stacked logit, calibration after
stacking and the confidence output) on one bar's ``(30, N)`` base probabilities. The named
baseline is scikit-learn's ``LogisticRegression.predict_proba`` (the final estimator of
``sklearn.ensemble.StackingClassifier``) fitted on the same logits and called on the same
rows: stacking as a stock library does it, without calibration or confidence. Both run
every bar of a synthetic out-of-fold table; the ratio is baseline time / our time per bar
(above 1: ours is faster). A bare numpy ``sigmoid(logit(P) @ w + b)`` and the 4-regime
gated learner are timed beside them for reference.

Run: ``uv run python benchmarks/bench_meta.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from quant_models.families import MetaLearner, fit_meta
from quant_models.training import OofBlock, OofTable

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_pair, best_seconds, run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_pair, best_seconds, run_cli

COINS = 30
FOLD_BARS = 100


def table(models: int, folds: int = 3, seed: int = 11) -> OofTable:
    """A synthetic out-of-fold table: ``models`` base models of falling skill, 30 coins."""
    rng = np.random.default_rng(seed)
    blocks: list[OofBlock] = []
    for f in range(folds):
        t = np.repeat(np.arange(FOLD_BARS * f, FOLD_BARS * (f + 1)), COINS)
        s = np.tile(np.arange(COINS), FOLD_BARS)
        signal = rng.normal(0, 1, len(t))
        y = (rng.random(len(t)) < 1 / (1 + np.exp(-signal))).astype(np.float64)
        clim = np.full(len(t), 0.5)
        for m in range(models):
            z = signal / (m + 1) + rng.normal(0, 0.8, len(t))
            p = 1 / (1 + np.exp(-z))
            blocks.append(OofBlock(f"m{m}/global", 1, f, s, t, p, y, y - 0.5, clim))
    times = np.arange(FOLD_BARS * folds, dtype=np.int64)
    return OofTable(tuple(f"C{i}" for i in range(COINS)), times, tuple(blocks))


def run(models: int, bars: int, repeats: int) -> dict[str, Any]:
    oof = table(models)
    learner = fit_meta(oof, 1)
    grid = np.arange(len(oof.open_times_ns))
    regimes = np.eye(4)[grid % 4]
    gated: MetaLearner = fit_meta(oof, 1, context=regimes)
    rng = np.random.default_rng(5)
    frames = [rng.uniform(0.3, 0.7, (COINS, models)) for _ in range(bars)]
    gates = [np.tile(regimes[b % 4], (COINS, 1)) for b in range(bars)]
    logits = [np.log(f / (1 - f)) for f in frames]
    x = np.vstack(logits[: min(bars, 50)])
    sk = LogisticRegression().fit(x, (x.mean(axis=1) > 0).astype(int))
    w, b = np.asarray(learner.weights[0]), learner.intercepts[0]

    def ours() -> None:
        for f in frames:
            learner.predict(f)

    def baseline() -> None:
        for z in logits:
            sk.predict_proba(z)

    def bare() -> None:
        for f in frames:
            1 / (1 + np.exp(-(np.log(f / (1 - f)) @ w + b)))

    def ours_gated() -> None:
        for f, g in zip(frames, gates, strict=True):
            gated.predict(f, g)

    ours()  # warm up
    baseline()
    t_ours, t_base = best_pair(ours, baseline, repeats)
    t_bare, t_gated = best_seconds(bare, repeats), best_seconds(ours_gated, repeats)
    return {
        "coins": COINS,
        "models": models,
        "bars": bars,
        "quant_us_per_bar": 1e6 * t_ours / bars,
        "sklearn_us_per_bar": 1e6 * t_base / bars,
        "bare_numpy_us_per_bar": 1e6 * t_bare / bars,
        "quant_gated_us_per_bar": 1e6 * t_gated / bars,
        "ratio": t_base / t_ours,
    }


def lines(sizes: tuple[int, int, int], result: dict[str, Any]) -> list[str]:
    return [
        (
            f"stacked prediction per bar, {result['coins']} coins x {result['models']} base"
            f" models, {result['bars']} bars"
        ),
        f"  quant MetaLearner.predict        {result['quant_us_per_bar']:8.1f} us/bar",
        f"  sklearn predict_proba (baseline) {result['sklearn_us_per_bar']:8.1f} us/bar",
        f"  bare numpy sigmoid(X @ w + b)    {result['bare_numpy_us_per_bar']:8.1f} us/bar",
        f"  quant, 4-regime gated            {result['quant_gated_us_per_bar']:8.1f} us/bar",
        f"  ratio (sklearn time / quant time): {result['ratio']:.2f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(4, 50, 2),
        full=(8, 2_000, 5),
        run=lambda sizes: run(*sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
