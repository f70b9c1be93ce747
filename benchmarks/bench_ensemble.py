"""Per-bar decision latency of the stacked ensemble, and its training overhead (issue 18).

Latency: a ``combine = "stack"`` model set (LightGBM global + a LightGBM specialist per
coin, 1h/4h/24h, regime-gated meta-learners) serves 30 coins of a synthetic market;
``ModelSetPredictor.predict`` is timed on consecutive new bars (p50 and p99 per bar). The
named baseline is the raw ``lightgbm.Booster.predict`` calls the ensemble contains on the
same feature rows: per horizon one batch for the global model and one row per specialist.
The ratio is baseline time / ensemble time per bar. Since decision 0123 the predictor does
not make those calls: every LightGBM member is compiled to arrays once and a bar's members
(all coins, horizons and heads) are evaluated in one numpy pass, with the library's bytes;
so the ratio is above 1 when the whole decision (features, regime filter, members, heads,
Prediction objects) costs less than the raw member calls alone. Goal: p99 at most 5 ms per
bar.

With a sequence member (decision 0115): the same set plus an LSTM global member (hours and
days windows), timed the same way; its baseline adds the raw ``SequenceModel.predict`` call
on the 30 coins' prebuilt windows (what the member itself costs, windows built outside the
clock). The sequence step alone (one numpy forward pass for all coins) is printed per bar
beside the issue's goal of at most 1 ms per step.

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
from quant_models.sequence import Resolution, SequenceConfig, build_windows
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


def lstm(train_bars: int) -> SequenceConfig:
    """A small LSTM on 24 hourly steps and up to 7 daily blocks (fewer on a short panel).

    Early stopping validates on windows inside the newest 40% of a fold's training range, so
    the longest span fits there (7 days on the full run's first fold of 500 bars).
    """
    days = max(1, min(7, (int(0.4 * (train_bars // 3)) - 30) // 24))
    return SequenceConfig(
        horizons=(1, 4, 24),
        max_epochs=2,
        validation_fraction=0.4,
        resolutions=(Resolution("hours", 24, 1), Resolution("days", days, 24)),
    )


def config(combine: str, train_bars: int, sequence: bool = False) -> TrainConfig:
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
        sequence=(lstm(train_bars),) if sequence else (),
    )


def run(coins: int, train_bars: int, bars: int, repeats: int) -> dict[str, Any]:
    symbols = SYMBOLS[:coins]
    end = START + (train_bars + bars) * H
    # no missing or no-trade bars: a gap in a window leaves a coin out of a sequence member
    market = SyntheticMarket(
        seed=3, symbols=symbols, start_ns=START, end_ns=end, missing_rate=0.0, no_trade_rate=0.0
    )
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
    seq = _with_sequence(panel, history, train_bars, closes, raw, repeats)
    return {
        **seq,
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


def _with_sequence(
    panel: Panel,
    history: dict[Any, Any],
    train_bars: int,
    closes: list[int],
    trees: Any,
    repeats: int,
) -> dict[str, Any]:
    """Per-bar latency of the same set with an LSTM member, against the raw calls it holds."""
    cfg = config("stack", train_bars, sequence=True)
    t0 = time.perf_counter()
    ms = train_panel(panel.upto(train_bars - 1), cfg, dataset_hash="sha256:b").model_set
    t_train = time.perf_counter() - t0
    predictor = ModelSetPredictor(ms)
    member = next(e.model for e in ms.entries if e.kind == "sequence")
    model = member.model  # type: ignore[attr-defined]
    windows = {}
    for c in closes:  # the coins with a full window (a gap leaves a coin out, as it does live)
        built = build_windows(panel, cfg.sequence[0], np.array([(c - START) // H - 1]))
        windows[c] = built.take(built.valid)

    def raw(close: int) -> None:
        trees(close)
        model.predict(windows[close].inputs)

    per_bar: list[float] = []
    raw_bar: list[float] = []
    step: list[float] = []
    for _ in range(repeats):
        for c in closes:
            per_bar.append(best_seconds(partial(predictor.predict, c, history), 1))
            raw_bar.append(best_seconds(partial(raw, c), 1))
            step.append(best_seconds(partial(model.predict, windows[c].inputs), 1))
    ours, base = np.array(per_bar) * 1e3, np.array(raw_bar) * 1e3
    return {
        "seq_lookback_bars": predictor.lookback_bars,
        "seq_predicted_coins": len(predictor.predict(closes[-1], history)),
        "seq_ensemble_p50_ms": float(np.percentile(ours, 50)),
        "seq_ensemble_p99_ms": float(np.percentile(ours, 99)),
        "seq_raw_p50_ms": float(np.percentile(base, 50)),
        "seq_raw_p99_ms": float(np.percentile(base, 99)),
        "seq_ratio": float(np.percentile(base, 50) / np.percentile(ours, 50)),
        "seq_step_p50_ms": float(np.percentile(np.array(step) * 1e3, 50)),
        "seq_step_p99_ms": float(np.percentile(np.array(step) * 1e3, 99)),
        "train_stack_lstm_s": t_train,
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
        (
            f"with an LSTM member (lookback {result['seq_lookback_bars']} bars,"
            f" {result['seq_predicted_coins']} coins predicted)"
        ),
        (
            f"  quant ModelSetPredictor.predict  p50 {result['seq_ensemble_p50_ms']:7.2f} ms"
            f"  p99 {result['seq_ensemble_p99_ms']:7.2f} ms  (goal p99 <= 5 ms)"
        ),
        (
            f"  raw Booster + SequenceModel calls p50 {result['seq_raw_p50_ms']:6.2f} ms"
            f"  p99 {result['seq_raw_p99_ms']:7.2f} ms"
        ),
        f"  ratio (raw calls time / ensemble time, p50): {result['seq_ratio']:.3f}",
        (
            f"  one LSTM step, all coins (numpy) p50 {result['seq_step_p50_ms']:6.3f} ms"
            f"  p99 {result['seq_step_p99_ms']:7.3f} ms  (goal <= 1 ms)"
        ),
        f"  training with the LSTM member: {result['train_stack_lstm_s']:.2f} s",
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
