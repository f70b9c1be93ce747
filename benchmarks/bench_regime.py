"""The regime posterior per new bar: streaming filter against recomputing the forward pass.

Setting: 30 coins with ``history`` hourly bars. A regime model (issue 18, decision 0110) is
fitted on that history. For each of the next ``new`` bars, the baseline recomputes the whole
causal forward filter (:meth:`quant_models.families.RegimeModel.posterior`) over the history
up to that bar and keeps its last row — a plain batch filter in numpy, what a runtime without
filter state does; quant advances a :class:`quant_models.families.RegimeFilter` that has seen
the history by one bar (the window's features, then one O(states²) step). Before anything is
timed, every new bar's posterior is checked to be the same bytes from both. Times are per new
bar, best of ``repeats`` runs; ``ratio`` is batch time / streaming time.

Run: ``uv run python benchmarks/bench_regime.py [--quick] [--json]``
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from quant_core import generator
from quant_models.families import RegimeFilter, fit_regimes

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli


def make_close(n_coins: int, n_bars: int, seed: int = 17) -> np.ndarray:
    """Closes with a volatility that switches every 100 bars, so there are regimes to find."""
    rng = generator(seed, "benchmarks", "regime")
    vol = np.repeat(rng.choice([0.004, 0.01, 0.03], size=n_bars // 100 + 1), 100)[:n_bars]
    common = rng.normal(0, 1, n_bars) * vol
    steps = common + rng.normal(0, 1, (n_coins, n_bars)) * vol
    close: np.ndarray = 10.0 * np.exp(np.cumsum(steps, axis=1))
    return close


def run(n_coins: int, history: int, new: int, repeats: int) -> dict[str, Any]:
    close = make_close(n_coins, history + new)
    model = fit_regimes(close[:, :history], seed=0, window=24, max_iter=20, restarts=1)
    seeded = model.filter()
    for t in range(history):
        seeded.update(close[:, t])

    def batch() -> list[np.ndarray]:
        return [model.posterior(close[:, : t + 1])[-1] for t in range(history, history + new)]

    def stream(state: RegimeFilter) -> list[np.ndarray]:
        return [state.update(close[:, t]) for t in range(history, history + new)]

    for ours, theirs in zip(stream(copy.deepcopy(seeded)), batch(), strict=True):
        assert ours.tobytes() == theirs.tobytes(), "streaming posterior differs from the batch"
    best_batch = best_stream = float("inf")
    for _ in range(repeats):  # in turns, so a change in the machine's load hits both
        start = time.perf_counter()
        batch()
        best_batch = min(best_batch, time.perf_counter() - start)
        state = copy.deepcopy(seeded)
        start = time.perf_counter()
        stream(state)
        best_stream = min(best_stream, time.perf_counter() - start)
    return {
        "coins": n_coins,
        "history_bars": history,
        "new_bars": new,
        "identical": True,
        "batch_seconds_per_bar": best_batch / new,
        "streaming_seconds_per_bar": best_stream / new,
        "ratio": best_batch / best_stream,
    }


def lines(sizes: tuple[int, int, int], result: dict[str, Any]) -> list[str]:
    return [
        f"regime posterior per new bar, 30 coins, {sizes[0]} bars of history, {sizes[1]} new",
        f"  batch forward recompute  {result['batch_seconds_per_bar'] * 1e3:.3f} ms per bar",
        f"  streaming filter         {result['streaming_seconds_per_bar'] * 1e3:.3f} ms per bar",
        "  posteriors identical (bytes): yes",
        f"  ratio (batch time / streaming time): {result['ratio']:.1f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(300, 3, 1),
        full=(2_160, 8, 3),
        run=lambda sizes: run(30, *sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
