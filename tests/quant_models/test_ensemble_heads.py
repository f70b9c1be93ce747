"""Each head's combiner: the learned stack or the plain average (decision 0122)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quant_core import Bar, Instrument, Timeframe, content_hash, iso_to_ns
from quant_models import (
    ArtifactError,
    ConfigError,
    ModelSetPredictor,
    TrainConfig,
    load_model_set,
    reasons,
)
from quant_models._ensemble import AVERAGE, FULL, GLOBALS, STACK, StackHead
from quant_models._metrics import log_loss
from quant_models._panel import Panel
from quant_models._persistence import artifact_files, write_files
from quant_models.families._meta_rows import stack_rows
from quant_models.features import compute_features
from quant_models.training import EnsembleConfig, TrainResult, train_panel
from quant_models.training._ensemble import choose_combiner

from .helpers import late_listing_history, tiny_config

H = Timeframe.H1.ns
History = dict[Instrument, list[Bar]]
SYMBOLS = ("ADA", "BTC", "ETH", "SOL")
START = iso_to_ns("2024-01-01T00:00:00Z")
N_BARS = 520
CUT = 470
OLD_HEAD_KEYS = {"horizon_bars", "group", "members", "file", "sha256"}  # the 0118 record


@pytest.fixture(scope="module")
def history() -> History:
    """Four synthetic coins with missing bars; ADA lists late (so it has no specialist)."""
    return late_listing_history(SYMBOLS, seed=5, n_bars=N_BARS, missing_rate=0.01, listed_at=240)


def _config(head: str) -> TrainConfig:
    return tiny_config(
        families=("lightgbm", "xgboost"),
        scopes=("global", "specialist"),
        combine="stack",
        min_specialist_bars=250,
        ensemble=EnsembleConfig(
            regime_window=12, regime_lookback=24, bootstrap_draws=100, head=head
        ),
    )


def _train(history: History, head: str) -> TrainResult:
    panel = Panel.from_history(history).upto(CUT - 1)
    return train_panel(panel, _config(head), dataset_hash="sha256:heads")


@pytest.fixture(scope="module")
def runs(history: History) -> dict[str, TrainResult]:
    return {head: _train(history, head) for head in ("auto", "stack", "average")}


def _heads(result: TrainResult) -> dict[tuple[int, str], StackHead]:
    return {(h.horizon_bars, h.group): h for h in result.model_set.heads}


# --- configuration -----------------------------------------------------------------------------


def test_the_head_setting_defaults_to_auto_and_refuses_other_values() -> None:
    assert EnsembleConfig().head == "auto"
    assert (
        TrainConfig(combine="stack").config_hash
        == TrainConfig(combine="stack", ensemble=EnsembleConfig(head="auto")).config_hash
    )
    assert (
        TrainConfig(combine="stack").config_hash
        != TrainConfig(combine="stack", ensemble=EnsembleConfig(head="average")).config_hash
    )
    with pytest.raises(ConfigError, match="head must be among"):
        EnsembleConfig(head="median")


# --- the choice --------------------------------------------------------------------------------


def _constructed() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a forecast that knows them a little, and a coin flip."""
    rng = np.random.default_rng(7)
    y = (rng.random(400) < 0.5).astype(float)
    good = np.clip(0.5 + 0.15 * (y - 0.5) + rng.normal(0, 0.05, 400), 0.05, 0.95)
    return y, good, np.full(400, 0.5)


def test_auto_serves_the_lower_nested_log_loss() -> None:
    y, good, flip = _constructed()
    assert log_loss(good, y) < log_loss(flip, y)
    stack_wins = choose_combiner(good, flip, y, "auto", 2)
    assert stack_wins["combiner"] == STACK
    assert stack_wins["reason"] == "auto: lower nested log loss"
    assert stack_wins["log_loss"][STACK] < stack_wins["log_loss"][AVERAGE]
    assert stack_wins["n"] == 400
    average_wins = choose_combiner(flip, good, y, "auto", 2)
    assert average_wins["combiner"] == AVERAGE
    assert average_wins["log_loss"][AVERAGE] == pytest.approx(log_loss(good, y), abs=1e-9)


def test_a_tie_serves_the_average_and_a_forced_head_is_served_as_it_is() -> None:
    y, good, flip = _constructed()
    tie = choose_combiner(good, good.copy(), y, "auto", 3)
    assert (tie["combiner"], tie["reason"]) == (AVERAGE, "auto: equal nested log loss, the average")
    for head in (STACK, AVERAGE):
        forced = choose_combiner(flip, good, y, head, 2)  # whatever the evidence says
        assert (forced["combiner"], forced["reason"]) == (head, "forced: EnsembleConfig.head")
    one = choose_combiner(flip, good, y, AVERAGE, 1)
    assert one["combiner"] == STACK  # one member: passed through, whatever the setting
    assert one["reason"].startswith("one member")


# --- the run -----------------------------------------------------------------------------------


def test_the_run_records_and_serves_each_groups_chosen_combiner(
    runs: dict[str, TrainResult],
) -> None:
    result = runs["auto"]
    heads = _heads(result)
    for h in (1, 4):
        ev = result.metrics["ensemble"][f"h{h}"]
        assert set(ev["heads"]) == {GLOBALS, FULL}
        for group, choice in ev["heads"].items():
            losses = choice["log_loss"]
            better = AVERAGE if losses[AVERAGE] <= losses[STACK] else STACK
            assert choice["combiner"] == better
            assert choice["reason"].startswith("auto:")
            head = heads[(h, group)]
            assert head.combiner == choice["combiner"]
            assert (head.learner is None) == (head.combiner == AVERAGE)
        combiners = {c["combiner"] for c in ev["heads"].values()}
        if len(combiners) == 1:  # one combiner everywhere: "served" is that column
            assert ev["served"] == ev[combiners.pop()]
        row = next(r for r in result.evidence.horizons if r.horizon == f"h{h}")
        assert row.bss == pytest.approx(ev["served"]["bss"], abs=1e-9)
    record = json.loads(result.files["run.json"])
    assert record["metrics"]["ensemble"] == json.loads(json.dumps(result.metrics["ensemble"]))


@pytest.mark.parametrize("head", [STACK, AVERAGE])
def test_a_forced_head_is_served_and_scored(runs: dict[str, TrainResult], head: str) -> None:
    result = runs[head]
    for (h, group), served in _heads(result).items():
        assert served.combiner == head
        assert (served.learner is None) == (head == AVERAGE)
        choice = result.metrics["ensemble"][f"h{h}"]["heads"][group]
        assert choice["reason"] == "forced: EnsembleConfig.head"
    for h in (1, 4):
        ev = result.metrics["ensemble"][f"h{h}"]
        assert ev["served"] == ev[head]
        row = next(r for r in result.evidence.horizons if r.horizon == f"h{h}")
        assert row.bss == pytest.approx(ev[head]["bss"], abs=1e-9)
    # the stack column and gains do not depend on the setting
    for key in ("h1", "h4"):
        auto = runs["auto"].metrics["ensemble"][key]
        assert result.metrics["ensemble"][key]["stack"] == auto["stack"]
        assert (
            result.metrics["ensemble"][key]["stack_gain_vs_average"]
            == (auto["stack_gain_vs_average"])
        )


def test_the_average_column_is_the_members_mean_on_the_scored_rows(
    runs: dict[str, TrainResult],
) -> None:
    result = runs[AVERAGE]
    for h in (1, 4):
        rows = stack_rows(result.oof, h, models=_heads(result)[(h, GLOBALS)].members)
        held = rows.fold >= 1
        full = stack_rows(result.oof, h, models=_heads(result)[(h, FULL)].members)
        n_t = len(result.oof.open_times_ns)
        by_key = dict(zip((rows.symbol_rows * n_t + rows.time_rows)[held].tolist(),
                          rows.p[held].mean(axis=1).tolist(), strict=True))  # fmt: skip
        f_held = full.fold >= 1
        keys = (full.symbol_rows * n_t + full.time_rows)[f_held].tolist()
        by_key.update(zip(keys, full.p[f_held].mean(axis=1).tolist(), strict=True))
        p = np.array(list(by_key.values()))
        y = rows.y[held]
        ev = result.metrics["ensemble"][f"h{h}"]
        assert ev["average"]["n"] == len(p)
        assert ev["average"]["log_loss"] == pytest.approx(log_loss(p, y), abs=1e-9)


# --- the saved set -----------------------------------------------------------------------------


def test_an_average_set_round_trips_with_equal_bytes(
    runs: dict[str, TrainResult], tmp_path: Path
) -> None:
    result = runs[AVERAGE]
    write_files(tmp_path / "a", result.files)
    loaded = load_model_set(tmp_path / "a")
    assert loaded.model_id == result.model_set.model_id
    again = artifact_files(loaded)
    assert again == artifact_files(result.model_set)
    assert again["metadata.json"] == result.files["metadata.json"]
    meta = json.loads(result.files["metadata.json"])
    for record in meta["heads"]:
        assert record["combiner"] == AVERAGE
        assert record["file"] is None
        assert set(record) == OLD_HEAD_KEYS | {"combiner"}
    assert not any(name.startswith("meta/") for name in result.files)
    assert all(head.combiner == AVERAGE and head.learner is None for head in loaded.heads)


def test_a_stack_set_keeps_the_0118_head_records(
    runs: dict[str, TrainResult], tmp_path: Path
) -> None:
    result = runs[STACK]
    meta = json.loads(result.files["metadata.json"])
    assert all(set(record) == OLD_HEAD_KEYS for record in meta["heads"])
    write_files(tmp_path / "s", result.files)
    loaded = load_model_set(tmp_path / "s")
    assert artifact_files(loaded)["metadata.json"] == result.files["metadata.json"]
    assert all(head.combiner == STACK for head in loaded.heads)


# --- the predictor -----------------------------------------------------------------------------


def _upto(history: History, t: int) -> History:
    return {i: [b for b in bars if b.open_time_ns < START + t * H] for i, bars in history.items()}


def test_the_predictor_serves_the_mean_of_the_members(
    runs: dict[str, TrainResult], history: History
) -> None:
    ms = runs[AVERAGE].model_set
    t = 500
    served = ModelSetPredictor(ms).predict(START + t * H, _upto(history, t))
    panel = Panel.from_history(_upto(history, t))
    x = compute_features(panel, ms.feature_config).values[:, -1, :]
    members = {(e.horizon_bars, e.name, e.symbol): e for e in ms.entries}
    heads = {(h.horizon_bars, h.group): h for h in ms.heads}
    assert {p.instrument.base for p in served} == set(SYMBOLS)
    for prediction in served:
        symbol = prediction.instrument.base
        row = panel.symbols.index(symbol)
        tables = sorted(ms.horizons, key=lambda h: h.bars)
        for forecast, table in zip(prediction.forecasts, tables, strict=True):
            h = table.bars
            group = GLOBALS if symbol == "ADA" else FULL  # ADA has no specialist
            head = heads[(h, group)]
            ps = []
            for name in head.members:
                entry = members[(h, name, None if name.endswith("/global") else symbol)]
                ps.append(entry.calibrator.apply(entry.model.predict_proba(x[row : row + 1]))[0])
            assert forecast.p_up == pytest.approx(sum(ps) / len(ps), rel=1e-12, abs=1e-15)


# --- refusals ----------------------------------------------------------------------------------


def _refused(result: TrainResult, target: Path, edit: Any) -> str:
    """Save ``result``, edit its metadata's heads and re-sign it; the loader's reason code."""
    files = dict(result.files)
    meta = json.loads(files["metadata.json"])
    del meta["model_id"]
    edit(meta["heads"][0])
    meta["model_id"] = content_hash(meta)
    files["metadata.json"] = json.dumps(meta).encode()
    write_files(target, files)
    with pytest.raises(ArtifactError) as info:
        load_model_set(target)
    return info.value.reason_code


@pytest.mark.parametrize(
    "edit",
    [
        lambda head: head.update(combiner="median"),
        lambda head: head.update(combiner=STACK),  # a stack head is written without the field
        lambda head: head.update(combiner=None),
        lambda head: head.update(members=head["members"][:1]),
        lambda head: head.update(file="meta/h1-globals.json"),
    ],
)
def test_a_bad_average_head_is_refused(
    runs: dict[str, TrainResult], tmp_path: Path, edit: Any
) -> None:
    assert _refused(runs[AVERAGE], tmp_path / "bad", edit) == reasons.MODEL_SHAPE_MISMATCH


def test_a_multi_member_head_without_combiner_or_learner_is_refused(
    runs: dict[str, TrainResult], tmp_path: Path
) -> None:
    def as_stack(head: dict[str, Any]) -> None:  # an average head read as a stack: no learner
        del head["combiner"]

    assert _refused(runs[AVERAGE], tmp_path / "x", as_stack) == reasons.MODEL_SHAPE_MISMATCH
    assert (
        _refused(runs[STACK], tmp_path / "y", lambda head: head.update(combiner="median"))
        == reasons.MODEL_SHAPE_MISMATCH
    )


def test_a_fold_without_earlier_rows_of_a_group_stacks_as_the_average() -> None:
    from quant_models.families import MetaConfig
    from quant_models.families._meta_rows import StackRows
    from quant_models.training._ensemble import _group_forecasts

    rng = np.random.default_rng(3)
    n = 300
    fold = np.repeat(np.array([1, 2, 3]), n // 3)  # the group starts at fold 1: no fold 0 rows
    p = rng.uniform(0.3, 0.7, (n, 2))
    y = (rng.uniform(size=n) < p.mean(axis=1)).astype(float)
    rows = StackRows(
        1, ("a/global", "b/specialist"), fold, np.zeros(n, dtype=np.int64),
        np.arange(n, dtype=np.int64), p, y, np.where(y > 0, 0.01, -0.01), np.full(n, 0.5),
    )  # fmt: skip
    grid = np.full((n, 4), 0.25)
    stack, average = _group_forecasts(rows, [1, 2, 3], grid, MetaConfig())
    first = fold == 1
    assert np.array_equal(stack[first], average[first])  # nothing earlier to fit a learner on
    assert not np.array_equal(stack[~first], average[~first])  # later folds are stacked
    assert np.array_equal(average, p.mean(axis=1))
