#!/usr/bin/env python3
"""Choose the severe-loss bound's default by walk-forward on training coins only (0117).

Usage::

    uv run --no-sync python scripts/choose_defaults.py --shared ../shared/data --out runs/defaults

What it does, with no step looking at a held-out coin:

1. reads the real hourly Binance USDT bars of the shipped bundle's training coins that this
   source holds (20 of its 22: not TAO, ZEC) over a window (default: the twelve months
   before the source's last full day), leaving out the held-out coins (default: every
   fourth coin of the sorted panel from the third on, never the reference coin BTC);
2. trains a model set with ``quant_models.train`` on those coins (walk-forward folds, the
   shipped bundle's LightGBM settings, 1h horizon) and takes the served model's out-of-fold
   predictions: every prediction in a fold's test block comes from a model fitted before it;
3. for each fold and each candidate pair of ``severe_loss_min_rebound_probability`` (0.5,
   0.55, 0.6: a hold in deep loss needs a forecast that favours a rebound, so nothing under
   even odds is tried) and ``severe_loss_max_weak_predictions``, backtests the fold's test
   block (training coins, governed default profile otherwise) on those
   predictions, and records return, max drawdown and the severe-loss decisions;
4. picks the pair with the best median return over the folds (ties: the better median
   drawdown, the smaller bound, the higher threshold) and writes ``choice.json`` with the
   whole table.

It is not run by the tests (training on a year of hourly bars of many coins takes minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "real/binance_spot_freqtrade__mounik-sample-scalping"
QUOTE = "USDT"
H = 3_600 * 10**9
END_NS = 1_715_126_400 * 10**9  # 2024-05-08T00:00Z: this source's last full day
PANEL = (
    "AAVE", "ADA", "ALGO", "APT", "AVAX", "BCH", "BNB", "BTC", "ETC", "ETH", "LINK", "LTC",
    "NEAR", "POL", "SHIB", "SOL", "SUI", "TON", "TRX", "XRP",
)  # fmt: skip
HELD_OUT = tuple(s for s in PANEL[2::4] if s != "BTC")
CANDIDATES = (12, 24, 48, 72, 168, 336, 720, 8760)
REBOUNDS = ("0.5", "0.55", "0.6")  # a hold in deep loss needs a forecast that favours a rebound
CONFIG: dict[str, Any] = {
    "horizons": [{"bars": 1, "bucket_edges": [-0.005, 0.0, 0.005]}],
    "families": ["lightgbm"],
    "scopes": ["global"],
    "params": {
        "lightgbm": {
            "feature_fraction": 0.8,
            "learning_rate": 0.03,
            "min_data_in_leaf": 2000,
            "n_estimators": 100,
            "num_leaves": 7,
        }
    },
    "folds": {"n_folds": 4, "test_size": 1500, "embargo": 24, "min_train": 2500},
    "gates": {"min_samples": 10, "min_bss": -1.0, "max_ece": 1.0},
    "seed": 7,
}


def _bars(shared: Path, coins: tuple[str, ...], start_ns: int, end_ns: int) -> list[Any]:
    import pandas as pd

    from quant_core import Bar, Instrument

    out = []
    for symbol in coins:
        raw = pd.read_feather(shared / SOURCE / f"{symbol}_{QUOTE}-1h.feather")
        raw = raw.drop_duplicates("date").sort_values("date")
        ns = raw["date"].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
        keep = (ns >= start_ns) & (ns < end_ns)
        columns = [
            raw[c].to_numpy()[keep].tolist() for c in ("open", "high", "low", "close", "volume")
        ]
        instrument = Instrument(symbol, QUOTE)
        for t, o, h, lo, c, v in zip(ns[keep].tolist(), *columns, strict=True):
            out.append(Bar(instrument, "1h", int(t), repr(o), repr(h), repr(lo), repr(c), repr(v)))
    return out


def _predictions(result: Any) -> dict[int, list[Any]]:
    """The served model's out-of-fold predictions, by fold, as core predictions."""
    from quant_core import Instrument
    from quant_core.events import HorizonForecast, Prediction

    table = result.model_set.horizons[0]
    (entry,) = result.model_set.entries
    model = f"{entry.family}/{entry.scope}"
    oof = result.oof
    by_fold: dict[int, list[Any]] = {}
    for block in oof.select(model, table.bars):
        for s, t, p in zip(block.symbol_rows, block.time_rows, block.p, strict=True):
            probs = [
                p * u + (1 - p) * d for u, d in zip(table.up_table, table.down_table, strict=True)
            ]
            total = sum(probs)
            ts = int(oof.open_times_ns[t]) + H  # the bar closes: its features are known
            forecast = HorizonForecast(
                table.bars * H, float(p), table.bucket_edges, tuple(q / total for q in probs)
            )
            instrument = Instrument(oof.symbols[s], QUOTE)
            by_fold.setdefault(block.fold, []).append(
                Prediction(instrument, ts, ts, (forecast,), "oof")
            )
    return {k: sorted(v, key=lambda x: (x.ts_event, x.instrument.base)) for k, v in by_fold.items()}


def _backtest(bars: list[Any], predictions: list[Any], rebound: str, bound: int) -> dict[str, Any]:
    from decimal import Decimal

    from quant_core.events import InMemoryFeed
    from quant_core.profiles import RiskProfile, StrategyProfile
    from quant_exec import BacktestConfig, RecordedPredictor, run_backtest, summary

    profile = StrategyProfile(
        severe_loss_min_rebound_probability=Decimal(rebound),
        severe_loss_max_weak_predictions=bound,
    )
    config = BacktestConfig.from_profiles(profile, RiskProfile())
    result = run_backtest(InMemoryFeed(bars), RecordedPredictor(predictions), config)
    doc = summary(result)
    severe = {k: v for k, v in doc["reason_counts"].items() if k.startswith("SEVERE_LOSS")}
    metrics = doc["metrics"]
    return {
        "return_pct": float(metrics["return_pct"]),
        "max_drawdown_pct": float(metrics["max_drawdown_pct"]),
        "fills": metrics["fills"],
        "severe_loss": severe,
    }


def main() -> None:
    """Run the walk-forward and write ``choice.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "choose-defaults")
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()

    from quant_data import Dataset
    from quant_models import load_config, train

    train_coins = tuple(s for s in PANEL if s not in HELD_OUT)
    start_ns = END_NS - args.months * 730 * H
    bars = _bars(args.shared, train_coins, start_ns, END_NS)
    dataset = Dataset.from_bars(bars)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "train.json"
        path.write_text(json.dumps(CONFIG), encoding="utf-8")
        result = train(dataset, load_config(path))
    folds = {f["index"]: f for f in result.run_record.folds}
    by_fold = _predictions(result)
    grid = [(r, b) for r in REBOUNDS for b in CANDIDATES]
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in grid}
    for index, predictions in sorted(by_fold.items()):
        fold = folds[index]
        span = [b for b in bars if fold["test_start_ns"] <= b.open_time_ns < fold["test_end_ns"]]
        for rebound, bound in grid:
            run = _backtest(span, predictions, rebound, bound)
            rows[rebound, bound].append({"fold": index, **run})
            print(rebound, bound, run, flush=True)

    def key(cell: tuple[str, int]) -> tuple[float, float, int, float]:
        runs = rows[cell]
        median_return = statistics.median(r["return_pct"] for r in runs)
        median_dd = statistics.median(r["max_drawdown_pct"] for r in runs)
        return (-median_return, median_dd, cell[1], -float(cell[0]))

    chosen = min(grid, key=key)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": "quant.choose-defaults/1",
        "parameters": [
            "severe_loss_min_rebound_probability",
            "severe_loss_max_weak_predictions",
        ],
        "chosen": {"rebound": chosen[0], "bound": chosen[1]},
        "criterion": "best median return_pct over folds; ties: median max_drawdown_pct, "
        "then the smaller bound, then the higher hold threshold",
        "training_coins": list(train_coins),
        "held_out_coins_never_read": list(HELD_OUT),
        "window": {"start_ns": start_ns, "end_ns": END_NS},
        "dataset_hash": dataset.manifest.dataset_hash,
        "model_id": result.model_set.model_id,
        "config": CONFIG,
        "folds": list(folds.values()),
        "results": {f"{r}/{b}": rows[r, b] for r, b in grid},
        "summary": {
            f"{r}/{b}": {
                "median_return_pct": statistics.median(x["return_pct"] for x in rows[r, b]),
                "median_max_drawdown_pct": statistics.median(
                    x["max_drawdown_pct"] for x in rows[r, b]
                ),
            }
            for r, b in grid
        },
    }
    (args.out / "choice.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    print(json.dumps({"chosen": chosen, "summary": doc["summary"]}, indent=1))


if __name__ == "__main__":
    main()
