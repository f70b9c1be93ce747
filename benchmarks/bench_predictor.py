"""Per-call latency of ``ModelSetPredictor.predict``: the feature window against full history.

A backtest (and ``quant demo``) calls the predictor once per bar with the history so far. Our
path computes features on the last ``lookback`` bars only (found by binary search); the
baseline is the same predictor told to use all the history (``lookback`` = every bar), which
recomputes features over the whole series each call — the O(n) cost per bar, O(n^2) per
backtest, that the window removes. Both predict the same bars of a synthetic market with
gaps (18 coins), on the same trained model set, and give the same predictions; the ratio is
baseline time / windowed time per call, measured at the end of the history (where the
baseline is slowest), alternating the two and keeping the best of each.

Run: ``uv run python benchmarks/bench_predictor.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from quant_core import Bar, Instrument, Timeframe, iso_to_ns
from quant_core.events import Prediction
from quant_data import SyntheticMarket
from quant_models import HorizonSpec, ModelSetPredictor, Panel
from quant_models.features import FeatureConfig
from quant_models.training import FoldConfig, TrainConfig, fit_model_set

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_pair, run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_pair, run_cli

SYMBOLS = (
    "BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LINK", "LTC",
    "BCH", "AVAX", "ATOM", "UNI", "XLM", "ETC", "FIL", "AAVE", "ALGO",
)  # fmt: skip
H = Timeframe.H1.ns


def setup(bars: int) -> tuple[Any, dict[Instrument, list[Bar]], list[int]]:
    """A model set trained on the first 250 bars, the full history and the timed bar closes."""
    start = iso_to_ns("2024-01-01T00:00:00Z")
    market = SyntheticMarket(seed=5, symbols=SYMBOLS, start_ns=start, end_ns=start + bars * H)
    history = {market.bars(s)[0].instrument: list(market.bars(s)) for s in SYMBOLS}
    config = TrainConfig(
        horizons=(HorizonSpec(1, (0.0,)), HorizonSpec(4, (0.0,)), HorizonSpec(24, (0.0,))),
        features=FeatureConfig(),
        families=("lightgbm",),
        scopes=("global",),
        params={"lightgbm": {"n_estimators": 10, "min_data_in_leaf": 20}},
        folds=FoldConfig(n_folds=1, test_size=48, embargo=4, min_train=100),
    )
    panel = Panel.from_history(history)
    model_set = fit_model_set(panel.upto(249), config, dataset_hash="sha256:bench")
    closes = [start + (bars - k) * H for k in range(8, 0, -1)]
    return model_set, history, closes


def run(bars: int, repeats: int) -> dict[str, Any]:
    model_set, history, closes = setup(bars)
    windowed = ModelSetPredictor(model_set)
    full = ModelSetPredictor(model_set, lookback=bars)

    def ours() -> list[tuple[Prediction, ...]]:
        return [windowed.predict(t, history) for t in closes]

    def baseline() -> list[tuple[Prediction, ...]]:
        return [full.predict(t, history) for t in closes]

    a, b = ours(), baseline()  # warm both up; the answers agree (to float rounding)
    assert [[p.instrument for p in x] for x in a] == [[p.instrument for p in x] for x in b]
    t_ours, t_base = best_pair(ours, baseline, repeats)
    calls = len(closes)
    return {
        "bars": bars,
        "symbols": len(SYMBOLS),
        "lookback_bars": windowed.lookback_bars,
        "windowed_ms_per_call": 1e3 * t_ours / calls,
        "full_history_ms_per_call": 1e3 * t_base / calls,
        "ratio": t_base / t_ours,
    }


def lines(sizes: tuple[int, int], result: dict[str, Any]) -> list[str]:
    bars, _ = sizes
    return [
        (
            f"predictor per-call latency, {result['symbols']} coins x {bars} hourly bars of"
            f" history, feature lookback {result['lookback_bars']} bars"
        ),
        f"  windowed      {result['windowed_ms_per_call']:.2f} ms/call",
        f"  full history  {result['full_history_ms_per_call']:.2f} ms/call",
        f"  ratio (full-history time / windowed time): {result['ratio']:.2f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(300, 2),
        full=(2_000, 5),
        run=lambda sizes: run(*sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
