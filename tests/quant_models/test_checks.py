"""The checks a run records (decision 0124): hindcast, forward and rolling, for best and stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
import pytest

from quant_core import Bar, Instrument, Timeframe
from quant_models import DataError, ModelSetPredictor, Panel, TrainConfig, reasons
from quant_models._metrics import brier_skill, log_loss
from quant_models._panel import FIELDS
from quant_models.evaluation import (
    DAY_NS,
    run_hindcast,
    score_checks,
    score_forward,
    served_members,
)
from quant_models.training import EnsembleConfig, FoldConfig, TrainResult, train_panel
from quant_models.training._data import TrainingData
from quant_models.training._ensemble import nested_forecasts, regime_grid
from quant_models.training._stages import make_folds

from .helpers import dataset_from_frame, synthetic_frame, tiny_config, tiny_lstm

H = Timeframe.H1.ns
N_BARS = 480


@pytest.fixture(scope="module")
def panel() -> Panel:
    """Three coins; SOL lists late (bar 220), too late for a specialist at 250 bars."""
    frame = synthetic_frame(("BTC", "ETH", "SOL"), n=N_BARS, seed=3, momentum=0.2)
    frame = frame[(frame.symbol != "SOL") | (frame.open_time_ns >= 220 * H)]
    return Panel.from_frame(dataset_from_frame(frame).frame())


def _best() -> TrainConfig:
    return tiny_config(checks=True, families=("lightgbm", "xgboost"))


def _stack(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "checks": True,
        "families": ("lightgbm", "xgboost"),
        "scopes": ("global", "specialist"),
        "combine": "stack",
        "min_specialist_bars": 250,
        "folds": FoldConfig(n_folds=3, test_size=48, embargo=4, min_train=150),
        "ensemble": EnsembleConfig(regime_window=12, regime_lookback=24, bootstrap_draws=50),
    }
    base.update(overrides)
    return tiny_config(**base)


@pytest.fixture(scope="module")
def best(panel: Panel) -> TrainResult:
    return train_panel(panel, _best(), dataset_hash="sha256:test")


@pytest.fixture(scope="module")
def stacked(panel: Panel) -> TrainResult:
    return train_panel(panel, _stack(), dataset_hash="sha256:test")


def _ohlcv(panel: Panel, s: int, i: int) -> tuple[str, str, str, str, str]:
    o, h, lo, c, v = (repr(float(panel.field(f)[s, i])) for f in FIELDS)
    return o, h, lo, c, v


def _history(panel: Panel) -> dict[Instrument, list[Bar]]:
    history: dict[Instrument, list[Bar]] = {}
    for s, symbol in enumerate(panel.symbols):
        inst = Instrument(symbol, panel.quote)
        history[inst] = [
            Bar(inst, panel.timeframe, int(panel.open_times_ns[i]), *_ohlcv(panel, s, i))
            for i in range(panel.n_times)
            if not np.isnan(panel.close[s, i])
        ]
    return history


def _record(result: TrainResult) -> dict[str, Any]:
    checks: dict[str, Any] = json.loads(result.files["run.json"])["metrics"]["checks"]
    return checks


# --- the switch --------------------------------------------------------------------------------


def test_checks_off_by_default_keep_the_config_hash_and_the_model(
    panel: Panel, best: TrainResult
) -> None:
    assert TrainConfig().checks is False
    assert TrainConfig().config_hash == TrainConfig(checks=False).config_hash
    assert TrainConfig().config_hash != TrainConfig(checks=True).config_hash  # what was asked
    plain = train_panel(panel, attrs.evolve(_best(), checks=False), dataset_hash="sha256:test")
    assert "checks" not in plain.metrics
    assert "checks" not in json.loads(plain.files["run.json"])["metrics"]
    # the checks only add to the run record: the model set and the out-of-fold table are the same
    assert plain.model_set.model_id == best.model_set.model_id
    for name in plain.files:
        if name != "run.json":
            assert plain.files[name] == best.files[name], name


@pytest.mark.parametrize("kind", ["best", "stacked"])
def test_the_recorded_checks_are_deterministic(
    panel: Panel, kind: str, request: pytest.FixtureRequest
) -> None:
    first: TrainResult = request.getfixturevalue(kind)
    again = train_panel(panel, _best() if kind == "best" else _stack(), dataset_hash="sha256:test")
    assert again.files["run.json"] == first.files["run.json"]
    checks = _record(first)
    assert set(checks) == {"hindcast", "forward", "rolling"}
    assert checks == json.loads(json.dumps(first.metrics["checks"]))


class _Reversed:
    """Runs the tasks last first and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], /) -> list[Any]:
        self.calls += 1
        return list(reversed([fn(item) for item in reversed(items)]))


def test_the_checks_run_on_the_runs_runner_with_the_same_bytes(
    panel: Panel, best: TrainResult
) -> None:
    plain, checked = _Reversed(), _Reversed()
    train_panel(panel, attrs.evolve(_best(), checks=False), dataset_hash="x", runner=plain)
    result = train_panel(panel, _best(), dataset_hash="sha256:test", runner=checked)
    assert result.files["run.json"] == best.files["run.json"]
    assert checked.calls == 2 * plain.calls  # the hindcast's retrain ran on it too


# --- hindcast ----------------------------------------------------------------------------------


def test_the_recorded_hindcast_is_the_hindcast_at_the_last_bar(
    panel: Panel, best: TrainResult
) -> None:
    hindcast = _record(best)["hindcast"]
    t_end = int(panel.close_times_ns[-1])
    assert hindcast["status"] == "scored"
    assert (hindcast["as_of_ns"], hindcast["cut_ns"]) == (t_end, t_end - 2 * DAY_NS)
    run = run_hindcast(panel, attrs.evolve(_best(), checks=False), t_end)
    assert hindcast["model_id"] == run.training.model_set.model_id
    assert run.training.run_record.window["bars"] == panel.n_times - 48  # data to T - 2d only
    for label, card in run.cards.items():
        recorded = hindcast["horizons"][label]
        assert {k: recorded[k] for k in ("n", "brier", "bss", "log_loss")} == pytest.approx(
            {k: card.as_dict()[k] for k in ("n", "brier", "bss", "log_loss")}, abs=1e-11
        )
        assert recorded["model"] == run.served[label]
        assert recorded["members"] == run.members[label]
    # a best set's members: its walk-forward winner serves every coin
    for label, members in run.members.items():
        assert members == dict.fromkeys(panel.symbols, run.served[label])


def _predictor_rows(result: TrainResult, panel: Panel, cut: int, h_index: int) -> dict[Any, float]:
    """Every bar close of the hindcast day predicted by the predictor, independently."""
    predictor = ModelSetPredictor(result.model_set)
    history = _history(panel)
    out = {}
    for t in range(cut + 1, cut + 25):
        as_of = int(panel.close_times_ns[t])
        for pred in predictor.predict(as_of, history):
            out[(pred.instrument.base, as_of)] = pred.forecasts[h_index].p_up
    return out


@pytest.mark.parametrize("kind", ["best", "stack"])
def test_hindcast_predictions_are_the_predictors(panel: Panel, kind: str) -> None:
    config = attrs.evolve(_best() if kind == "best" else _stack(), checks=False)
    t_end = int(panel.close_times_ns[-1])
    run = run_hindcast(panel, config, t_end)
    cut = panel.n_times - 1 - 48
    for k, spec in enumerate(config.horizons):
        rows = run.predictions[f"h{spec.bars}"]
        expected = _predictor_rows(run.training, panel, cut, k)
        keys = zip(rows.symbols, rows.close_times_ns.tolist(), strict=True)
        got = dict(zip(keys, rows.p_up.tolist(), strict=True))
        assert got == expected
        assert run.cards[f"h{spec.bars}"].n == len(expected) == 24 * 2 + 24  # SOL included
        # outcomes: the realised direction h bars after each prediction
        s = np.array([panel.symbols.index(x) for x in rows.symbols])
        t = np.searchsorted(panel.close_times_ns, rows.close_times_ns)
        up = panel.close[s, t + spec.bars] > panel.close[s, t]
        assert rows.up.tolist() == up.astype(float).tolist()
    if kind == "stack":
        assert run.served == {"h1": "stack", "h4": "stack"}
        # SOL lists too late for a specialist: it is served by the globals head
        assert run.members["h1"] == {
            "BTC": "stack/full",
            "ETH": "stack/full",
            "SOL": "stack/globals",
        }


def test_nothing_after_the_cut_reaches_the_model_or_an_earlier_prediction(panel: Panel) -> None:
    config = attrs.evolve(_stack(), checks=False)
    t_end = int(panel.close_times_ns[-1])
    cut = panel.n_times - 1 - 48
    base = run_hindcast(panel, config, t_end)
    after = cut + 6  # bars from here on are perturbed
    arrays = [panel.field(f).copy() for f in FIELDS]
    scale = np.where(np.arange(panel.n_times) > after, 1.07, 1.0)
    for a in arrays[:4]:
        a *= scale
    shaken = Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns, *arrays)
    moved = run_hindcast(shaken, config, t_end)
    assert moved.training.model_set.model_id == base.training.model_set.model_id
    for label, rows in base.predictions.items():
        early = rows.close_times_ns <= panel.close_times_ns[after]
        other = moved.predictions[label]
        assert other.p_up[early].tolist() == rows.p_up[early].tolist()
        assert other.p_up[~early].tolist() != rows.p_up[~early].tolist()  # the test can see


def test_a_hindcast_without_enough_data_is_recorded_unavailable() -> None:
    frame = synthetic_frame(("BTC", "ETH"), n=300, seed=2)
    short = Panel.from_frame(dataset_from_frame(frame).frame())
    result = train_panel(short, tiny_config(checks=True), dataset_hash="sha256:short")
    hindcast = _record(result)["hindcast"]
    assert hindcast["status"] == "unavailable"
    assert hindcast["reason_code"] == reasons.INSUFFICIENT_DATA
    assert "horizons" not in hindcast
    assert _record(result)["forward"]["forecasts"]  # the other checks are still there


def test_served_members_follow_the_set() -> None:
    frame = synthetic_frame(("BTC", "ETH"), n=400, seed=1)
    small = Panel.from_frame(dataset_from_frame(frame).frame())
    spec_only = train_panel(small, tiny_config(scopes=("specialist",)), dataset_hash="x")
    assert served_members(spec_only.model_set, 1, "BTC") == "lightgbm/specialist"
    assert served_members(spec_only.model_set, 1, "XRP") == "none"
    globals_only = train_panel(
        small, _stack(scopes=("global",), min_specialist_bars=0), dataset_hash="x"
    )
    assert served_members(globals_only.model_set, 1, "BTC") == "stack/globals"
    checks = _record(globals_only)  # a stack without a full head records its checks too
    assert set(checks["hindcast"]["horizons"]["h1"]["members"].values()) == {"stack/globals"}
    assert [r["fold"] for r in checks["rolling"]["horizons"]["h4"]["folds"]] == [1, 2]


# --- forward -----------------------------------------------------------------------------------


def test_the_forward_check_is_the_shipped_sets_forecast_at_t(
    panel: Panel, stacked: TrainResult
) -> None:
    forward = _record(stacked)["forward"]
    t_end = int(panel.close_times_ns[-1])
    assert forward["as_of_ns"] == t_end
    assert forward["model_id"] == stacked.model_set.model_id
    preds = ModelSetPredictor(stacked.model_set).predict(t_end, _history(panel))
    expected = [
        (p.instrument.base, f.label, f.horizon_ns // H, f.p_up) for p in preds for f in p.forecasts
    ]
    got = [(r["symbol"], r["horizon"], r["horizon_bars"], r["p_up"]) for r in forward["forecasts"]]
    assert got == expected
    assert {r["status"] for r in forward["forecasts"]} == {"pending"}
    # with the 48 bars after the hindcast's cut SOL has its specialists: the full head serves it
    assert {e.symbol for e in stacked.model_set.entries} == {None, "BTC", "ETH", "SOL"}
    full = {"BTC": "stack/full", "ETH": "stack/full", "SOL": "stack/full"}
    assert forward["members"] == {"h1": full, "h4": full}


def test_pending_forecasts_become_realised_with_newer_data(panel: Panel) -> None:
    k = panel.n_times - 3  # train to k: h1 realises within the newer bars, h4 does not
    result = train_panel(panel.upto(k), _best(), dataset_hash="sha256:test")
    checks = _record(result)
    still = score_checks(checks, panel.upto(k))
    assert {r["status"] for r in still["forecasts"]} == {"pending"}
    assert still["summary"]["1h"] == {"realised": 0, "pending": 3, "brier": None}
    scored = score_checks(checks, panel)
    rows = {(r["symbol"], r["horizon"]): r for r in scored["forecasts"]}
    sq = []
    for symbol in ("BTC", "ETH", "SOL"):
        s = panel.symbols.index(symbol)
        row = rows[(symbol, "1h")]
        up = float(panel.close[s, k + 1] > panel.close[s, k])
        assert (row["status"], row["up"]) == ("realised", up)
        assert row["squared_error"] == (row["p_up"] - up) ** 2
        sq.append(row["squared_error"])
        assert rows[(symbol, "4h")]["status"] == "pending"
    assert scored["summary"]["1h"] == {"realised": 3, "pending": 0, "brier": np.mean(sq)}
    assert scored["summary"]["4h"] == {"realised": 0, "pending": 3, "brier": None}
    # a coin the newer data lacks stays pending; a panel without T is refused
    btc_eth = Panel(
        panel.symbols[:2],
        panel.quote,
        panel.timeframe,
        panel.open_times_ns,
        *(panel.field(f)[:2] for f in FIELDS),
    )
    partial = score_checks(checks, btc_eth)
    assert [r["status"] for r in partial["forecasts"] if r["symbol"] == "SOL"] == ["pending"] * 2
    with pytest.raises(DataError):
        score_checks(checks, panel.upto(k - 1))


def test_score_forward_keeps_its_rows(panel: Panel, best: TrainResult) -> None:
    t = panel.n_times - 3
    preds = ModelSetPredictor(best.model_set).predict(
        int(panel.close_times_ns[t]), _history(panel.upto(t))
    )
    from quant_models.evaluation import ForwardCheck

    rows = score_forward(ForwardCheck(int(panel.close_times_ns[t]), preds), panel)
    assert [r["status"] for r in rows] == ["realised", "pending"] * 3
    assert set(rows[0]) == {"symbol", "horizon", "p_up", "status", "up", "squared_error"}


# --- rolling -----------------------------------------------------------------------------------


def test_rolling_best_is_the_served_candidates_per_fold_score(best: TrainResult) -> None:
    rolling = _record(best)["rolling"]
    assert rolling["definition"].startswith("per walk-forward fold")
    folds = best.run_record.folds
    for label, model in best.metrics["served"].items():
        entry = rolling["horizons"][label]
        assert entry["model"] == model
        cards = json.loads(json.dumps(best.metrics["oos"][label][model]["folds"]))
        assert [{k: r[k] for k in cards[0]} for r in entry["folds"]] == cards
        assert [(r["fold"], r["test_start_ns"], r["test_end_ns"]) for r in entry["folds"]] == [
            (f["index"], f["test_start_ns"], f["test_end_ns"]) for f in folds
        ]


def test_rolling_stack_scores_each_later_fold_as_the_evidence_does(
    panel: Panel, stacked: TrainResult
) -> None:
    rolling = _record(stacked)["rolling"]
    config = _stack()
    data = TrainingData.of(panel, config)
    folds = make_folds(data, config)
    _, grid = regime_grid(panel, config)
    for spec, evidence in zip(config.horizons, stacked.evidence.horizons, strict=True):
        rows = rolling["horizons"][f"h{spec.bars}"]
        assert rows["model"] == "stack"
        assert [r["fold"] for r in rows["folds"]] == [1, 2]  # fold 0 has no earlier fold
        assert sum(r["n"] for r in rows["folds"]) == evidence.n
        # the per-fold rows pooled are exactly the nested evidence the gate read
        nested = nested_forecasts(stacked.oof, folds, config, grid, spec.bars)
        fold, p, y, clim = nested.rows.fold, nested.served, nested.rows.y, nested.rows.climatology
        held = fold >= 1
        assert log_loss(p[held], y[held]) == evidence.log_loss
        assert brier_skill(p[held], y[held], clim[held]) == evidence.bss
        for r in rows["folds"]:
            at = fold == r["fold"]
            assert r["brier"] == pytest.approx(float(np.mean((p[at] - y[at]) ** 2)), abs=1e-11)


def test_a_stack_with_a_sequence_member_hindcasts_through_the_predictor(panel: Panel) -> None:
    lstm = tiny_lstm()
    config = _stack(checks=False, families=("lightgbm",), sequence=(lstm,))
    run = run_hindcast(panel, config, int(panel.close_times_ns[-1]))
    assert any(e.kind == "sequence" for e in run.training.model_set.entries)
    cut = panel.n_times - 1 - 48
    for k, spec in enumerate(config.horizons):
        rows = run.predictions[f"h{spec.bars}"]
        keys = zip(rows.symbols, rows.close_times_ns.tolist(), strict=True)
        assert dict(zip(keys, rows.p_up.tolist(), strict=True)) == _predictor_rows(
            run.training, panel, cut, k
        )
        assert run.cards[f"h{spec.bars}"].n == 24 * 3
