"""Streaming features per new bar against recomputing the batch pass over a year of history.

Setting: 30 coins with a one-year (8,760 hourly bars) history. For each of the next ``new``
bars, the baseline recomputes :func:`quant_models.features.compute_features` over the whole
history up to that bar and keeps its last row (what a runtime without streaming state does);
quant advances a :class:`quant_models.features.StreamingFeatures` that has seen the history
by one bar. Before anything is timed, every new bar's rows are checked to be the same bytes
from both. The times are per new bar, best of ``repeats`` runs over the new bars (the stream
from a copy of its state each run); ``ratio`` is batch time / streaming time (goal: >= 50).

Run: ``uv run python benchmarks/bench_streaming_features.py [--quick] [--json]``
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from quant_core import Timeframe, generator
from quant_models import Panel
from quant_models.features import FeatureConfig, StreamingFeatures, compute_features

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli


def make_panel(n_coins: int, n_bars: int, seed: int = 11) -> Panel:
    rng = generator(seed, "benchmarks", "streaming-features")
    close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_coins, n_bars)), axis=1))
    close *= np.arange(1, n_coins + 1)[:, None]
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    spread = np.abs(rng.normal(0, 0.003, close.shape))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    volume = rng.lognormal(3, 0.5, close.shape)
    symbols = ("BTC", *(f"C{k:02d}" for k in range(1, n_coins)))
    grid = np.arange(n_bars, dtype=np.int64) * Timeframe.H1.ns
    return Panel(symbols, "USD", Timeframe.H1, grid, open_, high, low, close, volume)


def head(panel: Panel, n: int) -> Panel:
    arrays = (panel.open, panel.high, panel.low, panel.close, panel.volume)
    return Panel(
        panel.symbols,
        panel.quote,
        panel.timeframe,
        panel.open_times_ns[:n],
        *(a[:, :n] for a in arrays),
    )


def run(n_coins: int, history: int, new: int, repeats: int) -> dict[str, Any]:
    config = FeatureConfig()
    panel = make_panel(n_coins, history + new)
    bars = np.stack([panel.open, panel.high, panel.low, panel.close, panel.volume], axis=2)
    seeded, _ = StreamingFeatures.replay(head(panel, history), config)
    heads = [head(panel, t + 1) for t in range(history, history + new)]

    def batch() -> list[np.ndarray]:
        return [compute_features(h, config).values[:, -1] for h in heads]

    def stream(state: StreamingFeatures) -> list[np.ndarray]:
        return [state.update(bars[:, t]) for t in range(history, history + new)]

    for ours, theirs in zip(stream(copy.deepcopy(seeded)), batch(), strict=True):
        assert ours.tobytes() == theirs.tobytes(), "streaming rows differ from the batch"
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
        "features": len(config.names),
        "identical": True,
        "batch_seconds_per_bar": best_batch / new,
        "streaming_seconds_per_bar": best_stream / new,
        "ratio": best_batch / best_stream,
    }


def lines(sizes: tuple[int, int, int], result: dict[str, Any]) -> list[str]:
    return [
        f"features per new bar, 30 coins, {sizes[0]} bars of history, {sizes[1]} new bars",
        f"  batch recomputation   {result['batch_seconds_per_bar'] * 1e3:.3f} ms per bar",
        f"  streaming             {result['streaming_seconds_per_bar'] * 1e3:.3f} ms per bar",
        "  rows identical (bytes): yes",
        f"  ratio (batch time / streaming time): {result['ratio']:.1f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(400, 4, 1),
        full=(8_760, 24, 3),
        run=lambda sizes: run(30, *sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
