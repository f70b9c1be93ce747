"""Out-of-sample Brier skill of the sequence models on real hourly coins (decision 0114).

Six Binance hourly coins from the shared data train (``COINS``); six others never trained on
(``HOLDOUT``) are scored separately on the same test months. Walk-forward folds: train on the
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
from quant_models.sequence import (
    SequenceConfig,
    SequenceModel,
    build_windows,
    fit_sequence,
    labels,
)
from quant_models.training import Fold, OofBlock, walk_forward

SOURCE = "binance_spot_freqtrade__mounik-sample-scalping"
COINS = ("BTC", "ETH", "SOL", "XRP", "ADA", "LINK")
HOLDOUT = ("ALGO", "BCH", "BNB", "ETC", "LTC", "TRX")
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


def rows(panel: Panel, names: tuple[str, ...]) -> Panel:
    """The sub-panel of the coins ``names`` (same grid)."""
    keep = [panel.symbols.index(n) for n in names]
    return Panel(
        tuple(names),
        panel.quote,
        panel.timeframe,
        panel.open_times_ns,
        *(panel.field(f)[keep] for f in ("open", "high", "low", "close", "volume")),
    )


def forecast(model: SequenceModel, panel: Panel, fold: Fold, name: str) -> list[OofBlock]:
    """``model``'s test-span blocks on ``panel``'s coins, one per horizon."""
    config = model.config
    windows = build_windows(panel, config, np.arange(fold.test_start, fold.test_end))
    windows = windows.take(windows.valid)
    forward = labels(panel, config, windows, panel.n_times - 1).forward
    p_up = model.predict(windows.inputs).p_up
    out = []
    for k, h in enumerate(config.horizons):
        known = np.isfinite(forward[:, k])
        y = (forward[known, k] > 0).astype(np.float64)
        out.append(
            OofBlock(
                name,
                h,
                fold.index,
                windows.symbol_rows[known],
                windows.time_rows[known],
                p_up[known, k],
                y,
                forward[known, k],
                np.full(y.shape[0], model.up_rate[k]),
            )
        )
    return out


def main(argv: list[str]) -> None:
    """Fit, forecast and score each family on the training coins and the held-out coins."""
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
    panel = load_panel(args.shared, COINS + HOLDOUT)
    train_panel, hold_panel = rows(panel, COINS), rows(panel, HOLDOUT)
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
        groups: dict[str, list[OofBlock]] = {"train_coins": [], "holdout_coins": []}
        for fold in layout:
            model = fit_sequence(
                train_panel,
                config,
                train_start=fold.train_start,
                train_end=fold.train_end,
                seed=args.seed,
                threads=args.threads,
            )
            groups["train_coins"] += forecast(model, train_panel, fold, family)
            groups["holdout_coins"] += forecast(model, hold_panel, fold, family)
        for group, blocks in groups.items():
            for h in config.horizons:
                mine = [b for b in blocks if b.horizon_bars == h]
                weeks = np.concatenate([(b.time_rows - layout[0].test_start) // 168 for b in mine])
                results[f"{family}/{group}"] = results.get(f"{family}/{group}", {})
                results[f"{family}/{group}"][f"h{h}"] = skill(mine, weeks, args.seed)
            print(family, group, json.dumps(results[f"{family}/{group}"]), file=sys.stderr)
    print(json.dumps(results, sort_keys=True, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
