"""Hindcasts and forward checks score the model the pipeline ships: the walk-forward winner."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict

import numpy as np
import pytest

from quant_core import Bar, Instrument, Timeframe
from quant_models import HorizonSpec, ModelSetPredictor
from quant_models._panel import FIELDS, Panel
from quant_models.evaluation import DAY_NS, forward_check, rolling_hindcast, run_hindcast
from quant_models.training import TrainConfig, train_panel

from .helpers import dataset_from_frame, synthetic_frame, tiny_config

H = Timeframe.H1.ns


@pytest.fixture(scope="module")
def panel() -> Panel:
    """Two coins with strong momentum: a model that learns beats one that cannot."""
    frame = synthetic_frame(("BTC", "ETH"), n=400, seed=3, momentum=0.4)
    return Panel.from_frame(dataset_from_frame(frame).frame())


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    """LightGBM first but crippled (no leaf may split: a constant); XGBoost second and learning."""
    return tiny_config(
        horizons=(HorizonSpec(1, (0.0,)), HorizonSpec(2, (0.0,))),
        families=("lightgbm", "xgboost"),
        params={
            "lightgbm": {"n_estimators": 1, "min_data_in_leaf": 100_000},
            "xgboost": {"n_estimators": 12, "max_depth": 2},
        },
    )


def _oof_winners(oof_csv: bytes) -> dict[str, str]:
    """Per horizon, the candidate with the lowest pooled log loss, recomputed from oof.csv."""
    losses: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(oof_csv.decode())):
        if "/" not in row["model"]:
            continue  # a baseline, never served
        p = min(max(float(row["p"]), 1e-12), 1 - 1e-12)
        y = int(row["y"])
        losses[(f"h{row['horizon_bars']}", row["model"])].append(
            -math.log(p) if y else -math.log(1 - p)
        )
    winners: dict[str, str] = {}
    for horizon in sorted({h for h, _ in losses}):
        keyed = {m: sum(v) / len(v) for (h, m), v in losses.items() if h == horizon}
        winners[horizon] = min(sorted(keyed), key=lambda m: keyed[m])
    return winners


def _ohlcv(panel: Panel, s: int, i: int) -> tuple[str, str, str, str, str]:
    o, h, lo, c, v = (repr(float(panel.field(f)[s, i])) for f in FIELDS)
    return o, h, lo, c, v


def _history(panel: Panel, last: int) -> dict[Instrument, list[Bar]]:
    history: dict[Instrument, list[Bar]] = {}
    for s, symbol in enumerate(panel.symbols):
        inst = Instrument(symbol, panel.quote)
        history[inst] = [
            Bar(inst, panel.timeframe, int(panel.open_times_ns[i]), *_ohlcv(panel, s, i))
            for i in range(last + 1)
            if not np.isnan(panel.close[s, i])
        ]
    return history


def test_hindcast_scores_the_walk_forward_winner(panel: Panel, config: TrainConfig) -> None:
    t_end = int(panel.close_times_ns[-1])
    run = run_hindcast(panel, config, t_end)
    cut = panel.n_times - 1 - 48
    assert run.training.run_record.window["bars"] == cut + 1  # trained on data to T - 2d only
    winners = _oof_winners(run.training.files["oof.csv"])
    # the second family wins, so the old "first configured family" rule would be wrong
    assert winners == {"h1": "xgboost/global", "h2": "xgboost/global"}
    assert run.served == winners
    assert {e.family for e in run.training.model_set.entries} == {"xgboost"}
    # the cards score that model set's own predictions, made through the predictor bar by bar
    predictor = ModelSetPredictor(run.training.model_set)
    full = _history(panel, panel.n_times - 1)
    for spec in config.horizons:
        h = spec.bars
        sq, n = 0.0, 0
        for t in range(cut + 1, min(cut + 24, panel.n_times - 1 - h) + 1):
            for pred in predictor.predict(int(panel.close_times_ns[t]), full):
                s = panel.symbols.index(pred.instrument.base)
                up = float(panel.close[s, t + h] > panel.close[s, t])
                sq += (pred.forecasts[config.horizons.index(spec)].p_up - up) ** 2
                n += 1
        card = run.cards[f"h{h}"]
        assert card.n == n == 24 * 2
        assert card.brier == pytest.approx(sq / n, abs=1e-9)


def test_rolling_rows_name_the_served_model(panel: Panel, config: TrainConfig) -> None:
    t_end = int(panel.close_times_ns[-1])
    rows = rolling_hindcast(panel, config, [t_end - DAY_NS])
    assert [(r["horizon"], r["model"]) for r in rows] == [
        ("h1", "xgboost/global"),
        ("h2", "xgboost/global"),
    ]
    assert [r["members"] for r in rows] == [dict.fromkeys(panel.symbols, "xgboost/global")] * 2


def test_forward_check_ships_what_training_at_t_ships(panel: Panel, config: TrainConfig) -> None:
    t = panel.n_times - 5
    check = forward_check(panel, config, int(panel.close_times_ns[t]))
    shipped = train_panel(panel.upto(t), config, dataset_hash="forward").model_set
    assert {p.model_id for p in check.predictions} == {shipped.model_id}
    assert check.served == {"h1": "xgboost/global", "h2": "xgboost/global"}
    assert {e.family for e in shipped.entries} == {"xgboost"}
