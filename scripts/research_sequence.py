"""Out-of-sample Brier skill of the sequence models on real hourly coins (decision 0114).

Six Binance hourly coins from the shared data; one walk-forward fold: train on the
``--train-months`` before a cut, test on the ``--test-months`` after it, with a gap of the
longest label span between them. Each family (LSTM, Transformer) trains with the default
``SequenceConfig`` (24 hourly, 14 daily and 8 weekly steps; horizons 1, 4, 24), early-stopped
on the newest 20% of the training range, and is scored on the test months only: Brier skill
against the training up-rate (climatology), pooled over coins, with a 95% interval from a
bootstrap over whole test weeks. Not run by the tests (minutes of CPU).

Run: ``uv run --no-sync python scripts/research_sequence.py --shared ../shared/data
[--folds 4] [--families lstm transformer]``. With several folds, the test blocks are
consecutive ``--test-months`` blocks ending at the data's end, each trained on the
``--train-months`` before it (sliding), and the skill is pooled over them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from quant_core import generator
from quant_models import Panel
from quant_models.sequence import SequenceConfig, evaluate_sequence
from quant_models.training import Fold, OofBlock, walk_forward

SOURCE = "binance_spot_freqtrade__mounik-sample-scalping"
COINS = ("BTC", "ETH", "SOL", "XRP", "ADA", "LINK")
MONTH = 730  # hourly bars
_COLUMNS = ("symbol_rows", "time_rows", "p", "y", "forward_return", "climatology")


def load_panel(shared: Path, coins: tuple[str, ...]) -> Panel:
    """The coins' hourly bars on one grid (USDT labelled USD, research only)."""
    frames = []
    for coin in coins:
        raw = pd.read_feather(shared / "real" / SOURCE / f"{coin}_USDT-1h.feather")
        raw = raw.drop_duplicates("date").sort_values("date")
        frames.append(
            pd.DataFrame(
                {
                    "symbol": coin,
                    "quote": "USD",
                    "timeframe": "1h",
                    "open_time_ns": raw["date"].astype("datetime64[ns, UTC]").astype("int64"),
                    **{k: raw[k].to_numpy(float) for k in ("open", "high", "low", "close")},
                    "volume": raw["volume"].to_numpy(float),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    end = frame.groupby("symbol")["open_time_ns"].max().min()
    start = frame.groupby("symbol")["open_time_ns"].min().max()
    frame = frame[(frame["open_time_ns"] >= start) & (frame["open_time_ns"] <= end)]
    return Panel.from_frame(frame)


def skill(blocks: list[OofBlock], weeks: np.ndarray, seed: int) -> dict[str, float]:
    """Pooled Brier skill vs climatology, a week-block bootstrap 95% interval, log loss."""
    rng = generator(seed, "bootstrap")
    block = OofBlock(
        blocks[0].model,
        blocks[0].horizon_bars,
        0,
        *(np.concatenate([getattr(b, k) for b in blocks]) for k in _COLUMNS),
    )
    err = (block.p - block.y) ** 2
    ref = (block.climatology - block.y) ** 2
    labels = np.unique(weeks)
    by_week = [np.flatnonzero(weeks == w) for w in labels]
    draws = []
    for _ in range(1000):
        rows = np.concatenate([by_week[i] for i in rng.integers(0, len(labels), len(labels))])
        draws.append(1 - err[rows].sum() / ref[rows].sum())
    p = np.clip(block.p, 1e-12, 1 - 1e-12)
    return {
        "n": float(block.p.shape[0]),
        "bss": float(1 - err.sum() / ref.sum()),
        "bss_lo": float(np.quantile(draws, 0.025)),
        "bss_hi": float(np.quantile(draws, 0.975)),
        "log_loss": float(-np.mean(block.y * np.log(p) + (1 - block.y) * np.log(1 - p))),
        "up_rate_test": float(block.y.mean()),
        "climatology": float(block.climatology[0]),
    }


def folds(n_times: int, args: argparse.Namespace, label_bars: int) -> tuple[Fold, ...]:
    """``args.folds`` consecutive test blocks at the end, sliding training ranges before each."""
    return walk_forward(
        n_times,
        n_folds=args.folds,
        test_size=args.test_months * MONTH,
        purge=label_bars,
        min_train=args.train_months * MONTH,
        mode="sliding",
    )


def main(argv: list[str]) -> None:
    """Fit, forecast and score each family; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--families", nargs="+", default=["lstm", "transformer"])
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--train-months", type=int, default=18)
    parser.add_argument("--test-months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=12)
    args = parser.parse_args(argv)
    panel = load_panel(args.shared, COINS)
    base = SequenceConfig(max_epochs=args.max_epochs)
    layout = folds(panel.n_times, args, base.label_bars)
    for f in layout:
        iso = pd.to_datetime(
            panel.open_times_ns[[f.train_start, f.test_start, f.test_end - 1]], utc=True
        )
        print(f"fold {f.index}: train {iso[0]} .. test {iso[1]} .. {iso[2]}", file=sys.stderr)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for family in args.families:
        config = SequenceConfig(family=family, max_epochs=args.max_epochs)
        blocks = evaluate_sequence(panel, config, layout, seed=args.seed, threads=args.threads)
        results[family] = {}
        for h in config.horizons:
            mine = [b for b in blocks if b.horizon_bars == h]
            weeks = np.concatenate([(b.time_rows - layout[0].test_start) // 168 for b in mine])
            results[family][f"h{h}"] = skill(mine, weeks, args.seed)
        print(family, json.dumps(results[family], sort_keys=True), file=sys.stderr)
    print(json.dumps(results, sort_keys=True, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
