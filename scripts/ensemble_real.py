"""Stacked ensemble vs the single best model on real hourly data, scored after a cut (issue 18).

Trains one ``combine = "stack"`` run on the months before ``--cut`` for a handful of coins
(Binance hourly candles in ``$QUANT_SHARED_DATA/real``), then predicts every hour after the
cut through ``ModelSetPredictor`` (the serving path: one call per bar, causal) and scores it
against the realised directions. The ``"best"`` model is the run's single best candidate by
walk-forward log loss: a ``combine = "best"`` run chooses it from the same out-of-fold table
and fits it with the same seed path, so its served model is this run's member of that name
(the script serves it alone, as a version 1 set). A global logistic regression on the same
features, fit before the cut, is the baseline. Every score is out of sample: nothing after
the cut is used to fit or choose anything. Slow (minutes); not run by the tests.

``--lstm`` adds an LSTM global member (decision 0115: hourly and daily windows, early stopping
on each fold's newest training bars) to the same run, so the two runs compare the stack with
and without it.

Run: ``QUANT_SHARED_DATA=../shared/data uv run python scripts/ensemble_real.py [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from quant_core import Bar, Instrument, Timeframe
from quant_models import HorizonSpec, ModelSetPredictor, Panel
from quant_models.evaluation import evidence_card
from quant_models.features import compute_features
from quant_models.sequence import Resolution, SequenceConfig
from quant_models.training import EnsembleConfig, FoldConfig, TrainConfig, make_targets, train_panel

SOURCE = "binance_spot_freqtrade__mounik-sample-scalping"
COINS = ("ADA", "AVAX", "BTC", "ETH", "LINK", "LTC", "SOL", "XRP")
H = Timeframe.H1.ns


def load(shared: Path, coins: tuple[str, ...], start: str, end: str) -> pd.DataFrame:
    """Hourly bars of ``coins`` in ``[start, end)`` as a long frame (USDT read as USD)."""
    frames = []
    for coin in coins:
        raw = pd.read_feather(shared / "real" / SOURCE / f"{coin}_USDT-1h.feather")
        raw = raw.drop_duplicates("date").sort_values("date")
        raw = raw[
            (raw["date"] >= pd.Timestamp(start, tz="UTC"))
            & (raw["date"] < pd.Timestamp(end, tz="UTC"))
        ]
        frames.append(
            pd.DataFrame(
                {
                    "symbol": coin,
                    "quote": "USD",
                    "timeframe": "1h",
                    "open_time_ns": raw["date"]
                    .astype("datetime64[ns, UTC]")
                    .astype("int64")
                    .to_numpy(),
                    **{
                        k: raw[k].to_numpy(float)
                        for k in ("open", "high", "low", "close", "volume")
                    },
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


LSTM = SequenceConfig(
    horizons=(1, 4),
    risk_bars=24,
    hidden=16,
    max_epochs=3,
    batch_size=512,
    resolutions=(Resolution("hours", 24, 1), Resolution("days", 14, 24)),
)


def config(meta_l2: float, lstm: bool = False) -> TrainConfig:
    """LightGBM + XGBoost, global and per-coin, 1h and 4h, the shipped bundle's tree sizes."""
    return TrainConfig(
        horizons=(HorizonSpec(1, (-0.005, 0.0, 0.005)), HorizonSpec(4, (-0.01, 0.0, 0.01))),
        families=("lightgbm", "xgboost"),
        scopes=("global", "specialist"),
        params={
            "lightgbm": {
                "n_estimators": 100,
                "num_leaves": 7,
                "learning_rate": 0.03,
                "min_data_in_leaf": 1000,
                "feature_fraction": 0.8,
            },
            "xgboost": {
                "n_estimators": 100,
                "max_depth": 3,
                "learning_rate": 0.03,
                "min_child_weight": 200.0,
            },
        },
        calibration_methods=("platt",),
        calibration_fraction=0.2,
        folds=FoldConfig(n_folds=3, test_size=1460, embargo=24, min_train=4000),
        threads=2,
        seed=20261207,
        combine="stack",
        min_specialist_bars=3000,
        ensemble=EnsembleConfig(meta_l2=meta_l2),
        sequence=(LSTM,) if lstm else (),
    )


def history_of(frame: pd.DataFrame) -> dict[Instrument, list[Bar]]:
    """Each coin's bars, oldest first (what the predictor is handed)."""
    out: dict[Instrument, list[Bar]] = {}
    for r in frame.itertuples():
        instrument = Instrument(r.symbol, "USD")
        out.setdefault(instrument, []).append(
            Bar(
                instrument,
                Timeframe.H1,
                int(r.open_time_ns),
                f"{r.open:.8f}",
                f"{max(r.high, r.open, r.close):.8f}",
                f"{min(r.low, r.open, r.close):.8f}",
                f"{r.close:.8f}",
                f"{r.volume:.8f}",
            )
        )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train before the cut, predict after it, print the scores."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2022-05-01")
    parser.add_argument("--cut", default="2023-11-01")
    parser.add_argument("--end", default="2024-05-01")
    parser.add_argument("--meta-l2", type=float, default=EnsembleConfig().meta_l2)
    parser.add_argument("--lstm", action="store_true", help="add an LSTM member (0115)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    shared = Path(os.environ.get("QUANT_SHARED_DATA", "../shared/data"))  # noqa: TID251 - a script reads its env
    frame = load(shared, COINS, args.start, args.end)
    cut_ns = int(pd.Timestamp(args.cut, tz="UTC").value)
    panel = Panel.from_frame(frame)
    n_train = int(np.searchsorted(panel.open_times_ns, cut_ns))
    cfg = config(args.meta_l2, args.lstm)
    result = train_panel(panel.upto(n_train - 1), cfg, dataset_hash="sha256:real")
    stacked = result.model_set
    served: dict[str, Any] = {"cut": args.cut, "coins": list(COINS), "lstm": args.lstm}
    history = history_of(frame)
    features = compute_features(panel, cfg.features).values
    out: dict[str, Any] = {"run": served, "horizons": {}}
    for spec in cfg.horizons:
        h = spec.bars
        oos = result.metrics["oos"][f"h{h}"]
        best = min((k for k in oos if "/" in k), key=lambda k: (oos[k]["pooled"]["log_loss"], k))
        _family, _scope = best.split("/")
        single = attrs.evolve(
            stacked,
            horizons=tuple(t for t in stacked.horizons if t.bars == h),
            entries=tuple(e for e in stacked.entries if e.horizon_bars == h and e.name == best),
            heads=(),
            regime=None,
        )
        targets = make_targets(panel.close, spec)
        labelled = ~np.isnan(targets.direction)
        train_rows = labelled[:, cfg.features.warmup : n_train - h]
        up = np.nansum(
            np.where(train_rows, targets.direction[:, cfg.features.warmup : n_train - h], 0), axis=1
        )
        clim_coin = up / train_rows.sum(axis=1)
        xs, ys = [], []
        for s in range(len(panel.symbols)):
            keep = labelled[s, cfg.features.warmup : n_train - h]
            xs.append(features[s, cfg.features.warmup : n_train - h][keep])
            ys.append(targets.direction[s, cfg.features.warmup : n_train - h][keep])
        x_tr, y_tr = np.vstack(xs).astype(np.float64), np.concatenate(ys)
        mean, sd = np.nanmean(x_tr, axis=0), np.nanstd(x_tr, axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        logistic = LogisticRegression(C=1.0, max_iter=300).fit(
            np.nan_to_num((x_tr - mean) / sd), y_tr.astype(int)
        )
        rows: dict[str, list[float]] = {
            k: [] for k in ("stack", "best", "logistic", "y", "clim", "t")
        }
        stack_pred, best_pred = ModelSetPredictor(stacked), ModelSetPredictor(single)
        for t in range(n_train, panel.n_times - h):
            as_of = int(panel.open_times_ns[t]) + H
            a = {p.instrument.base: p for p in stack_pred.predict(as_of, history)}
            b = {p.instrument.base: p for p in best_pred.predict(as_of, history)}
            k = [f.horizon_ns for f in next(iter(a.values())).forecasts].index(h * H) if a else 0
            for s, coin in enumerate(panel.symbols):
                if coin in a and coin in b and labelled[s, t]:
                    rows["stack"].append(a[coin].forecasts[k].p_up)
                    rows["best"].append(b[coin].forecasts[0].p_up)
                    x = np.nan_to_num((features[s, t].astype(np.float64) - mean) / sd)
                    rows["logistic"].append(float(logistic.predict_proba(x[None, :])[0, 1]))
                    rows["y"].append(float(targets.direction[s, t]))
                    rows["clim"].append(float(clim_coin[s]))
                    rows["t"].append(float(t))
        arr = {k: np.array(v) for k, v in rows.items()}
        boot = {"block": 168, "draws": 2000, "seed": 7}
        out["horizons"][f"h{h}"] = {
            "best_single": best,
            "stack": evidence_card(
                arr["stack"], arr["y"], arr["clim"], arr["t"], other=arr["best"], **boot
            ),
            "best": evidence_card(arr["best"], arr["y"], arr["clim"], arr["t"], **boot),
            "logistic": evidence_card(arr["logistic"], arr["y"], arr["clim"], arr["t"], **boot),
            "stack_vs_logistic": evidence_card(
                arr["stack"], arr["y"], arr["clim"], arr["t"], other=arr["logistic"], **boot
            )["bss_gain_ci95"],
            "walk_forward_ensemble": result.metrics["ensemble"][f"h{h}"],
        }
    print(json.dumps(out, indent=None if args.json else 1, sort_keys=True))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
