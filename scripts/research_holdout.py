"""Out-of-sample quality on coins AND months the models never saw (issue 18's quality goals).

Reads the shared real hourly Binance files (as ``scripts/quality_report.py`` does), holds some
whole coins out of training, and walks forward in ``--refits`` windows over the newest
``--test-days`` days: for each window it trains on the other coins' bars up to the window's
start (minus an embargo of the longest horizon), then predicts every coin — trained and held
out — hour by hour through the window with the served model set, exactly as the runtime does
(:class:`quant_models.ModelSetPredictor` over the bars seen so far, the market context built
from all coins present). Each coin's climatology is its own up-rate before the window. The
predictions become an out-of-fold table and :func:`quant_models.evaluation.model_card` scores
them twice: on the training coins and on the held-out coins, separately.

With ``--strategy`` the same served predictions also trade: each coin alone, through the
engine (``run_backtest`` with the default strategy and risk profiles and Kraken fees) over the
test span, judged by :func:`quant_exec.report.strategy_checks` (Sortino and drawdown against
buy-and-hold, exposure, the random-entry test, without the best 5 weeks, both halves); the
table shows every coin and the goals' tallies per group (issue 18's strategy goals).

Nothing here is a test expectation; rerun it to regenerate the numbers. Slow (minutes).

Run: ``uv run python scripts/research_holdout.py [--shared ../shared/data] [--out FILE]
[--strategy]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from quant_core import Bar, Instrument
from quant_core.events import InMemoryFeed, Prediction
from quant_exec import BacktestConfig, RecordedPredictor, run_backtest
from quant_exec.report import strategy_checks
from quant_models import (
    FeatureConfig,
    FoldConfig,
    GateConfig,
    HorizonSpec,
    ModelSetPredictor,
    Panel,
    TrainConfig,
)
from quant_models.evaluation import model_card
from quant_models.training import OofBlock, OofTable, train_panel

HOUR_NS = 3_600 * 10**9
HELD_OUT = ("ADA", "AVAX", "LINK", "LTC")
"""Whole coins never trained on: fixed before any result was seen (alphabetical picks)."""


def _load_frame(shared: Path, bars: int) -> pd.DataFrame:
    spec = importlib.util.spec_from_file_location(
        "quality_report", Path(__file__).with_name("quality_report.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded: tuple[pd.DataFrame, str] = module.load(shared, bars)
    return loaded[0]


def _config(args: argparse.Namespace) -> TrainConfig:
    families = tuple(args.families.split(","))
    extra: dict[str, Any] = {}
    if args.combine != "best":
        extra["combine"] = args.combine
    return TrainConfig(
        horizons=(
            HorizonSpec(1, (-0.005, 0.0, 0.005)),
            HorizonSpec(4, (-0.01, 0.0, 0.01)),
            HorizonSpec(24, (-0.03, 0.0, 0.03)),
        ),
        features=FeatureConfig(),
        families=families,
        scopes=tuple(args.scopes.split(",")),
        params={f: {"n_estimators": args.trees} for f in families},
        folds=FoldConfig(n_folds=args.folds, test_size=720, embargo=24, min_train=2000),
        seed=20261207,
        gates=GateConfig(),
        **extra,
    )


def _history(frame: pd.DataFrame) -> dict[Instrument, list[Bar]]:
    history: dict[Instrument, list[Bar]] = {}
    for symbol, g in frame.sort_values("open_time_ns").groupby("symbol", sort=True):
        inst = Instrument(str(symbol), "USD")
        history[inst] = [
            Bar(inst, "1h", int(t), repr(o), repr(h), repr(lo), repr(c), repr(v))
            for t, o, h, lo, c, v in zip(
                g["open_time_ns"], g["open"], g["high"], g["low"], g["close"], g["volume"],
                strict=True,
            )
        ]  # fmt: skip
    return history


def _window_blocks(
    k: int,
    frame: pd.DataFrame,
    predictor: ModelSetPredictor,
    history: dict[Instrument, list[Bar]],
    start_ns: int,
    end_ns: int,
    grid: np.ndarray,
    symbols: tuple[str, ...],
    served: list[Prediction],
) -> list[OofBlock]:
    close = frame.pivot(index="open_time_ns", columns="symbol", values="close").reindex(grid)
    horizons = [h.bars for h in predictor.model_set.horizons]
    rows: dict[int, list[tuple[int, int, float, float, float, float]]] = {h: [] for h in horizons}
    log_close = np.log(close.to_numpy())
    col = {s: list(close.columns).index(s) for s in symbols}
    t_index = {int(t): i for i, t in enumerate(grid)}
    first = int(np.searchsorted(grid, start_ns))
    clim_of: dict[tuple[int, int], float] = {}
    for h in horizons:
        for s in symbols:
            past = log_close[: first - h, col[s]]
            moves = past[h:] - past[:-h]
            moves = moves[np.isfinite(moves)]
            clim_of[(h, col[s])] = float((moves > 0).mean()) if len(moves) else 0.5
    for t_open in range(start_ns, end_ns, HOUR_NS):
        i = t_index.get(t_open)
        if i is None:
            continue
        for prediction in predictor.predict(t_open + HOUR_NS, history):
            served.append(prediction)
            s = prediction.instrument.base
            j = col[s]
            for h, forecast in zip(horizons, prediction.forecasts, strict=True):
                if i + h >= len(grid):
                    continue
                fwd = log_close[i + h, j] - log_close[i, j]
                if not np.isfinite(fwd):
                    continue
                base = clim_of[(h, j)]
                rows[h].append((symbols.index(s), i, forecast.p_up, float(fwd > 0), fwd, base))
    blocks = []
    for h, got in rows.items():
        a: np.ndarray[Any, np.dtype[np.float64]] = np.array(got, dtype=float).reshape(-1, 6)
        sym, ti = a[:, 0].astype(np.int64), a[:, 1].astype(np.int64)
        y, fwd, clim = a[:, 3], a[:, 4], a[:, 5]
        blocks.append(OofBlock("climatology", h, k, sym, ti, clim, y, fwd, clim))
        blocks.append(OofBlock("served", h, k, sym, ti, a[:, 2], y, fwd, clim))
    return blocks


def _signed(x: float | None) -> str:
    """A table cell: ``-`` for no value, else signed to 4 places."""
    return "-" if x is None else f"{x:+.4f}"


def _strategy(
    history: dict[Instrument, list[Bar]],
    served: list[Prediction],
    start_ns: int,
    groups: tuple[tuple[str, tuple[str, ...]], ...],
    draws: int,
) -> str:
    """Each coin traded alone on its served predictions; a markdown table with the checks."""
    one = [attrs.evolve(p, model_id="research:holdout") for p in served]
    lines = [
        (
            "| group | coin | log return | Sortino | B&H Sortino | max DD | B&H max DD "
            "| exposure | trips | random-entry p | w/o best 5 weeks | 1st half | 2nd half |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    tallies = []
    for title, coins in groups:
        met: dict[str, int] = {}
        sortinos: list[tuple[float, float]] = []
        for coin in coins:
            inst = Instrument(coin, "USD")
            bars = [b for b in history[inst] if b.open_time_ns >= start_ns]
            preds = [p for p in one if p.instrument == inst]
            if not preds:
                continue
            result = run_backtest(
                InMemoryFeed(bars), RecordedPredictor(preds), BacktestConfig.defaults()
            )
            c = strategy_checks(result.equity, result.closes, result.fills, draws=draws, seed=7)
            for goal, ok in c.goals().items():
                met[goal] = met.get(goal, 0) + int(ok)
            sortinos.append((c.sortino or 0.0, c.buy_and_hold_sortino or 0.0))

            lines.append(
                f"| {title} | {coin} | {_signed(c.log_return)} | {_signed(c.sortino)} "
                f"| {_signed(c.buy_and_hold_sortino)} | {c.max_drawdown:.3f} "
                f"| {c.buy_and_hold_max_drawdown:.3f} | {c.exposure:.3f} | {c.round_trips} "
                f"| {_signed(c.random_entry_p)} | {_signed(c.without_best_weeks)} "
                f"| {_signed(c.first_half)} | {_signed(c.second_half)} |"
            )
        if sortinos:
            median = np.median(np.array(sortinos), axis=0)
            tallies.append(
                f"- {title}: median Sortino {median[0]:+.3f} vs buy-and-hold {median[1]:+.3f}; "
                + ", ".join(f"{k} {v}/{len(sortinos)}" for k, v in sorted(met.items()))
            )
    return "\n".join(["## Strategy after Kraken fees (each coin alone)", "", *lines, "", *tallies])


def main(argv: list[str] | None = None) -> int:
    """Run the study; print (and optionally write) the two model cards."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(os.environ.get("QUANT_SHARED_DATA", "../shared/data")),  # noqa: TID251
    )
    parser.add_argument("--bars", type=int, default=14000, help="newest hourly bars kept")
    parser.add_argument("--test-days", type=int, default=120)
    parser.add_argument("--refits", type=int, default=2)
    parser.add_argument("--families", default="lightgbm")
    parser.add_argument("--scopes", default="global")
    parser.add_argument("--combine", default="best")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--holdout", default=",".join(HELD_OUT))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--strategy", action="store_true", help="also trade the predictions")
    parser.add_argument("--draws", type=int, default=1000, help="random-entry draws")
    args = parser.parse_args(argv)
    began = time.perf_counter()  # noqa: TID251 - a script times itself
    held = tuple(args.holdout.split(","))
    frame = _load_frame(args.shared, args.bars)
    grid = np.sort(frame["open_time_ns"].unique())
    symbols = tuple(sorted(frame["symbol"].unique()))
    trained = tuple(s for s in symbols if s not in held)
    history = _history(frame)
    cfg = _config(args)
    test_start = int(grid[-1]) + HOUR_NS - args.test_days * 24 * HOUR_NS
    edges = np.linspace(test_start, int(grid[-1]) + HOUR_NS, args.refits + 1).astype(np.int64)
    edges = (edges // HOUR_NS) * HOUR_NS
    blocks: list[OofBlock] = []
    predictions: list[Prediction] = []
    for k in range(args.refits):
        cut = int(edges[k]) - max(h.bars for h in cfg.horizons) * HOUR_NS
        part = frame[frame["symbol"].isin(trained) & (frame["open_time_ns"] < cut)]
        result = train_panel(Panel.from_frame(part), cfg, dataset_hash=f"sha256:window{k}")
        served = result.metrics.get("served")
        took = time.perf_counter() - began  # noqa: TID251
        when = pd.Timestamp(cut, unit="ns", tz="UTC")
        print(f"window {k}: to {when}, served {served} ({took:.0f} s)", file=sys.stderr)
        predictor = ModelSetPredictor(result.model_set)
        blocks += _window_blocks(
            k,
            frame,
            predictor,
            history,
            int(edges[k]),
            int(edges[k + 1]),
            grid,
            symbols,
            predictions,
        )
    table = OofTable(symbols, grid, tuple(blocks))
    pages = []
    for title, coins in (("coins trained on", trained), ("coins held out", held)):
        card = model_card(table, coins=list(coins), block_ns=7 * 24 * HOUR_NS)
        pages.append(card.to_markdown(f"{args.combine} ({args.families}/{args.scopes}): {title}"))
    if args.strategy:
        groups = (("trained", trained), ("held out", held))
        pages.append(_strategy(history, predictions, test_start, groups, args.draws))
    seconds = time.perf_counter() - began  # noqa: TID251
    text = "\n".join(pages) + f"\n{seconds:.0f} s\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
