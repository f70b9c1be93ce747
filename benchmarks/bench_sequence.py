"""Sequence models: one numpy step against the raw torch forward, and training overhead.

Serving: ``SequenceModel.predict`` (input checks, normalisation, the float64 numpy forward
pass, the output transforms) on one coin's window, and on 30 coins' windows at once, against
the named baseline, the raw torch module's forward call (``torch.no_grad``, float32, one
thread) on the same normalised windows. ``SequenceStream.update`` (one coin's new bar in:
the window built from the bar history, then the forecast) is timed beside them. The ratio
is torch time / our time for one coin's step (above 1: ours is faster).

Training: ``fit_sequence`` against a raw torch loop that prepares the same rows
(``training_data``) and runs the same network, optimiser, batch size, epochs and a validation
pass per epoch; the overhead (``wrapper / raw - 1``) is what the wrapper adds: seeding,
deterministic algorithms, restoring torch's global state, best-epoch bookkeeping.

Run: ``uv run --no-sync python benchmarks/bench_sequence.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from quant_core import Timeframe
from quant_models import Panel
from quant_models.sequence import (
    Resolution,
    SequenceConfig,
    SequenceModel,
    SequenceStream,
    build_windows,
    fit_sequence,
    network_from_weights,
    torch_network,
    training_data,
)

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_pair, best_seconds, run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_pair, best_seconds, run_cli

COINS = 30
QUICK = SequenceConfig(
    family="transformer",
    resolutions=(Resolution("short", 8, 1), Resolution("medium", 4, 6)),
    horizons=(1, 4),
    risk_bars=4,
    hidden=8,
    max_epochs=1,
)


def synthetic_panel(n_coins: int, n_bars: int, seed: int = 3) -> Panel:
    """Random-walk hourly bars with mild momentum."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.01, (n_coins, n_bars))
    shocks[:, 1:] += 0.1 * shocks[:, :-1]
    close = 100 * np.exp(np.cumsum(shocks, axis=1))
    spread = 1 + np.abs(rng.normal(0, 0.003, (n_coins, n_bars)))
    times = np.arange(n_bars, dtype=np.int64) * Timeframe.H1.ns
    volume = rng.lognormal(3, 0.5, (n_coins, n_bars))
    names = tuple(f"C{i:02d}" for i in range(n_coins))
    return Panel(
        names, "USD", Timeframe.H1, times, close, close * spread, close / spread, close, volume
    )


def _raw_loop(config: SequenceConfig, panel: Panel, end: int, epochs: int) -> None:
    """A plain torch loop over the same prepared rows: the training baseline.

    The same network, AdamW, batch size, epochs and losses, and one validation pass per epoch
    (early stopping's evidence), without the wrapper's seeding, determinism settings, global
    state restoring and best-epoch bookkeeping.
    """
    data = training_data(panel, config, train_start=0, train_end=end)
    net = torch_network(config)
    opt = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    x = tuple(torch.from_numpy(a) for a in data.inputs)
    y = tuple(torch.from_numpy(a) for a in (data.direction, data.move, data.risk))
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    huber = torch.nn.HuberLoss()

    def loss_of(rows: torch.Tensor) -> torch.Tensor:
        logit, move, risk = net(tuple(a[rows] for a in x))
        loss = bce(logit, y[0][rows]).sum(dim=1).mean()
        loss = loss + config.move_weight * huber(move, y[1][rows])
        total: torch.Tensor = loss + config.risk_weight * huber(risk, y[2][rows])
        return total

    val = torch.arange(data.n_fit, data.direction.shape[0])
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(data.n_fit)
        for i in range(0, data.n_fit, config.batch_size):
            opt.zero_grad()
            loss_of(perm[i : i + config.batch_size]).backward()  # type: ignore[no-untyped-call]
            opt.step()
        net.eval()
        with torch.no_grad():
            float(loss_of(val))


def _serving(model: SequenceModel, panel: Panel, steps: int, repeats: int) -> dict[str, float]:
    config = model.config
    t = panel.n_times - 1
    windows = build_windows(panel, config, np.array([t]))
    one = [x[:1] for x in windows.inputs]
    net = network_from_weights(config, model.weights)
    norm = [((x - model.norm_mean[i]) / model.norm_std[i]) for i, x in enumerate(windows.inputs)]
    t_one = tuple(torch.from_numpy(x[:1].astype(np.float32)) for x in norm)
    t_all = tuple(torch.from_numpy(x.astype(np.float32)) for x in norm)
    warm = range(panel.n_times - config.lookback - steps, panel.n_times - steps)
    streams = []
    for _ in range(repeats):
        stream = SequenceStream(model)
        for k in warm:
            stream.update("C00", int(panel.open_times_ns[k]), *_bar(panel, k))
        streams.append(stream)
    last = range(panel.n_times - steps, panel.n_times)
    bars = [(int(panel.open_times_ns[k]), *_bar(panel, k)) for k in last]

    def ours_one() -> None:
        for _ in range(steps):
            model.predict(one)

    def torch_one() -> None:
        with torch.no_grad():
            for _ in range(steps):
                net(t_one)

    def ours_all() -> None:
        for _ in range(steps):
            model.predict(windows.inputs)

    def torch_all() -> None:
        with torch.no_grad():
            for _ in range(steps):
                net(t_all)

    def ours_stream() -> None:
        stream = streams.pop()
        for bar in bars:
            stream.update("C00", *bar)

    ours_one()  # warm up
    torch_one()
    a, b = best_pair(ours_one, torch_one, repeats)
    c, d = best_pair(ours_all, torch_all, repeats)
    e = best_seconds(ours_stream, repeats)
    return {
        "quant_one_us": 1e6 * a / steps,
        "torch_one_us": 1e6 * b / steps,
        "quant_30_us": 1e6 * c / steps,
        "torch_30_us": 1e6 * d / steps,
        "quant_stream_us": 1e6 * e / steps,
    }


def _bar(panel: Panel, k: int) -> tuple[float, float, float, float]:
    return (
        float(panel.high[0, k]),
        float(panel.low[0, k]),
        float(panel.close[0, k]),
        float(panel.volume[0, k]),
    )


def _family(config: SequenceConfig, train_bars: int, steps: int, repeats: int) -> dict[str, Any]:
    train_panel = synthetic_panel(4, train_bars)
    fixed = SequenceConfig.from_dict(config.to_dict() | {"patience": config.max_epochs})

    def wrapper() -> None:
        fit_sequence(train_panel, fixed, train_start=0, train_end=train_bars, seed=1)

    def raw() -> None:
        _raw_loop(fixed, train_panel, train_bars, fixed.max_epochs)

    t_wrap, t_raw = best_pair(wrapper, raw, 3)
    model = fit_sequence(train_panel, fixed, train_start=0, train_end=train_bars, seed=1)
    serving = _serving(
        model, synthetic_panel(COINS, config.lookback + steps + 2, 4), steps, repeats
    )
    return {
        **serving,
        "train_wrapper_s": t_wrap,
        "train_raw_s": t_raw,
        "train_overhead_pct": 100 * (t_wrap / t_raw - 1),
        "ratio": serving["torch_one_us"] / serving["quant_one_us"],
    }


def run(config: SequenceConfig, train_bars: int, steps: int, repeats: int) -> dict[str, Any]:
    threads = torch.get_num_threads()
    out: dict[str, Any] = {"coins": COINS}
    try:
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]):
            for family in ("lstm", "transformer"):
                each = SequenceConfig.from_dict(config.to_dict() | {"family": family})
                out[family] = _family(each, train_bars, steps, repeats)
    finally:
        torch.set_num_threads(threads)
    out["ratio"] = min(out[f]["ratio"] for f in ("lstm", "transformer"))
    return out


def lines(sizes: tuple[SequenceConfig, int, int, int], result: dict[str, Any]) -> list[str]:
    out = []
    for family in ("lstm", "transformer"):
        r = result[family]
        out += [
            f"sequence model ({family}), one step and {result['coins']} coins batched",
            f"  quant predict, 1 coin             {r['quant_one_us']:9.1f} us/step",
            f"  torch forward, 1 coin (baseline)  {r['torch_one_us']:9.1f} us/step",
            f"  quant predict, 30 coins           {r['quant_30_us']:9.1f} us/step",
            f"  torch forward, 30 coins           {r['torch_30_us']:9.1f} us/step",
            f"  quant stream update (bar in)      {r['quant_stream_us']:9.1f} us/step",
            (
                f"  30 coins: torch / quant {r['torch_30_us'] / r['quant_30_us']:.2f};"
                f" 1 coin: torch / quant {r['ratio']:.2f}"
            ),
            (
                f"  training: wrapper {r['train_wrapper_s']:.2f} s, raw torch loop"
                f" {r['train_raw_s']:.2f} s, overhead {r['train_overhead_pct']:+.1f}%"
            ),
        ]
    return [*out, f"  ratio (torch time / quant time, 1 coin, worse family): {result['ratio']:.2f}"]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(QUICK, 300, 20, 2),
        full=(SequenceConfig(max_epochs=2), 3_000, 500, 5),
        run=lambda sizes: run(*sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
