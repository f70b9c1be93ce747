"""Per-bar decision latency of the stacked ensemble, and its training overhead (issue 18).

Latency: a ``combine = "stack"`` model set (LightGBM global + a LightGBM specialist per
coin, 1h/4h/24h, regime-gated meta-learners) serves 30 coins of a synthetic market;
``ModelSetPredictor.predict`` is timed on consecutive new bars (p50 and p99 per bar). The
named baseline is the raw ``lightgbm.Booster.predict`` calls the ensemble contains on the
same feature rows: per horizon one batch for the global model and one row per specialist.
The ratio is baseline time / ensemble time per bar (below 1: the ensemble costs more; what
is left is features, the regime filter, the heads and the Prediction objects). Goal: p99
at most 5 ms per bar.

Training: ``train_panel`` with ``combine = "stack"`` against the same run with ``"best"``
(same folds, families and scopes): the ensemble stage's cost (regime fit, heads, nested
evidence with its bootstrap, and refitting every member instead of one) as a ratio.

Run: ``uv run python benchmarks/bench_ensemble.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from quant_core import Timeframe, iso_to_ns
from quant_data import SyntheticMarket
from quant_models import HorizonSpec, ModelSetPredictor, Panel
from quant_models.features import FeatureConfig, compute_features
from quant_models.training import EnsembleConfig, FoldConfig, TrainConfig, train_panel

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_seconds, run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_seconds, run_cli

SYMBOLS = (
    "BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LINK", "LTC", "BCH",
    "AVAX", "ATOM", "UNI", "XLM", "ETC", "FIL", "AAVE", "ALGO", "NEAR", "APT",
    "ARB", "OP", "SUI", "SEI", "INJ", "TIA", "RNDR", "GRT", "MKR", "SNX",
)  # fmt: skip
H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")


def config(combine: str, train_bars: int) -> TrainConfig:
    """LightGBM global + specialists at 1h/4h/24h, default features; stacked or best."""
    return TrainConfig(
        horizons=(HorizonSpec(1, (0.0,)), HorizonSpec(4, (0.0,)), HorizonSpec(24, (0.0,))),
        features=FeatureConfig(
            return_windows=(1, 4, 24),
            vol_windows=(24,),
            range_windows=(24,),
            volume_windows=(24,),
            trend_windows=(24,),
            cross_windows=(1, 24),
        ),
        families=("lightgbm",),
        scopes=("global", "specialist"),
        params={"lightgbm": {"n_estimators": 20, "min_data_in_leaf": 20}},
        folds=FoldConfig(
            n_folds=2, test_size=train_bars // 6, embargo=4, min_train=train_bars // 3
        ),
        combine=combine,
        ensemble=EnsembleConfig(bootstrap_draws=200),
    )


def run(coins: int, train_bars: int, bars: int, repeats: int) -> dict[str, Any]:
    symbols = SYMBOLS[:coins]
    end = START + (train_bars + bars) * H
    market = SyntheticMarket(seed=3, symbols=symbols, start_ns=START, end_ns=end)
    history = {market.bars(s)[0].instrument: list(market.bars(s)) for s in symbols}
    panel = Panel.from_history(history)
    train_panel_ = panel.upto(train_bars - 1)
    t0 = time.perf_counter()
    stacked = train_panel(train_panel_, config("stack", train_bars), dataset_hash="sha256:b")
    t_stack = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_panel(train_panel_, config("best", train_bars), dataset_hash="sha256:b")
    t_best = time.perf_counter() - t0
    ms = stacked.model_set
    predictor = ModelSetPredictor(ms)
    closes = [START + (train_bars + k + 1) * H for k in range(bars)]
    full = compute_features(panel, ms.feature_config).values
    boosters: dict[tuple[int, str | None], Any] = {
        (e.horizon_bars, e.symbol): e.model.booster  # type: ignore[attr-defined]
        for e in ms.entries
    }
    rows = {c: full[:, (c - START) // H - 1, :] for c in closes}
    index = {s: i for i, s in enumerate(panel.symbols)}

    def raw(close: int) -> None:
        x = rows[close]
        for (_, symbol), booster in boosters.items():
            booster.predict(x if symbol is None else x[index[symbol]][None, :], num_threads=1)

    per_bar: list[float] = []
    raw_bar: list[float] = []
    for _ in range(repeats):
        for c in closes:
            per_bar.append(best_seconds(partial(predictor.predict, c, history), 1))
            raw_bar.append(best_seconds(partial(raw, c), 1))
    ours, base = np.array(per_bar) * 1e3, np.array(raw_bar) * 1e3
    count = len(predictor.predict(closes[-1], history))
    return {
        "coins": coins,
        "bars": bars,
        "predicted_coins": count,
        "members_per_bar": len(boosters),
        "ensemble_p50_ms": float(np.percentile(ours, 50)),
        "ensemble_p99_ms": float(np.percentile(ours, 99)),
        "raw_lightgbm_p50_ms": float(np.percentile(base, 50)),
        "raw_lightgbm_p99_ms": float(np.percentile(base, 99)),
        "ratio": float(np.percentile(base, 50) / np.percentile(ours, 50)),
        "train_stack_s": t_stack,
        "train_best_s": t_best,
        "train_ratio": t_best / t_stack,
    }


def lines(sizes: tuple[int, int, int, int], result: dict[str, Any]) -> list[str]:
    return [
        (
            f"stacked ensemble decision per new bar, {result['coins']} coins,"
            f" {result['members_per_bar']} LightGBM members, {result['bars']} bars"
        ),
        (
            f"  quant ModelSetPredictor.predict  p50 {result['ensemble_p50_ms']:7.2f} ms"
            f"  p99 {result['ensemble_p99_ms']:7.2f} ms  (goal p99 <= 5 ms)"
        ),
        (
            f"  raw Booster.predict (baseline)   p50 {result['raw_lightgbm_p50_ms']:7.2f} ms"
            f"  p99 {result['raw_lightgbm_p99_ms']:7.2f} ms"
        ),
        f"  ratio (raw LightGBM time / ensemble time, p50): {result['ratio']:.3f}",
        f"training: stack {result['train_stack_s']:.2f} s, best {result['train_best_s']:.2f} s",
        f"  ratio (best time / stack time): {result['train_ratio']:.3f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(4, 480, 5, 1),
        full=(30, 1500, 100, 3),
        run=lambda sizes: run(*sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
