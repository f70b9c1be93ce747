"""Sequence members in the stacked ensemble (decision 0115, issue 18)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from tests.quant_models.test_ensemble import _first, _refused, _rewrite

from quant_core import Bar, Instrument, Timeframe, iso_to_ns, structure, unstructure
from quant_models import (
    ArtifactError,
    ConfigError,
    DataError,
    ModelSetPredictor,
    TrainConfig,
    feature_lookback,
    load_model_set,
    reasons,
)
from quant_models._ensemble import SequenceMember, StackHead, load_member
from quant_models._panel import Panel
from quant_models._persistence import write_files
from quant_models.families._meta_rows import stack_rows
from quant_models.sequence import Resolution, build_windows
from quant_models.training import EnsembleConfig, TrainResult, train_panel

from .helpers import late_listing_history, tiny_config, tiny_lstm

H = Timeframe.H1.ns
History = dict[Instrument, list[Bar]]
SYMBOLS = ("ADA", "BTC", "ETH")
START = iso_to_ns("2024-01-01T00:00:00Z")
N_BARS = 470
CUT = 430
LSTM = tiny_lstm(gap_fill_bars=0)  # strict: these tests follow which rows a gap removes


@pytest.fixture(scope="module")
def history() -> History:
    """Three synthetic coins with missing bars; ADA lists late (bar 200)."""
    return late_listing_history(SYMBOLS, seed=7, n_bars=N_BARS, missing_rate=0.002, listed_at=200)


def _config(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "families": ("lightgbm",),
        "scopes": ("global", "specialist"),
        "combine": "stack",
        "min_specialist_bars": 250,
        "ensemble": EnsembleConfig(
            regime_window=12, regime_lookback=24, bootstrap_draws=100, head="stack"
        ),
        "sequence": (LSTM,),
    }
    base.update(overrides)
    return tiny_config(**base)


@pytest.fixture(scope="module")
def stacked(history: History) -> TrainResult:
    panel = Panel.from_history(history).upto(CUT - 1)
    return train_panel(panel, _config(), dataset_hash="sha256:test")


@pytest.fixture(scope="module")
def saved(stacked: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stacked-sequence")
    write_files(out, stacked.files)
    return out


# --- configuration -----------------------------------------------------------------------------


def test_no_sequence_members_keep_the_config_hash() -> None:
    assert TrainConfig().config_hash == TrainConfig(sequence=()).config_hash
    cfg = _config()
    assert cfg.config_hash != _config(sequence=()).config_hash
    assert structure(unstructure(cfg), TrainConfig) == cfg
    assert _config(sequence=[LSTM.to_dict()]) == cfg


@pytest.mark.parametrize(
    "overrides",
    [
        {"combine": "best"},
        {"sequence": (LSTM, LSTM)},
        {"sequence": (attrs.evolve(LSTM, horizons=(1,)),)},
    ],
)
def test_bad_sequence_members_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        _config(**overrides)


# --- training ----------------------------------------------------------------------------------


def test_the_sequence_member_joins_the_oof_table_and_the_heads(stacked: TrainResult) -> None:
    ms = stacked.model_set
    members = [e for e in ms.entries if e.kind == "sequence"]
    assert [(e.horizon_bars, e.name) for e in members] == [(1, "lstm/global"), (4, "lstm/global")]
    assert all(isinstance(e.model, SequenceMember) and e.model.family == "lstm" for e in members)
    for head in ms.heads:
        assert "lstm/global" in head.members
        assert head.learner is not None
    folds = {f["index"]: f for f in stacked.run_record.folds}
    blocks = stacked.oof.select("lstm/global", 1)
    assert [b.fold for b in blocks] == sorted(folds)
    for b in blocks:
        assert folds[b.fold]["test_start"] <= b.time_rows.min()
        assert b.time_rows.max() < folds[b.fold]["test_end"]
    assert "lstm/global" in stacked.metrics["oos"]["h1"]
    assert stacked.metrics["ensemble"]["h4"]["groups"]["globals"] == [
        "lightgbm/global",
        "lstm/global",
    ]


def test_a_head_reads_only_rows_every_member_predicted(stacked: TrainResult) -> None:
    rows = stack_rows(stacked.oof, 1, models=("lightgbm/global", "lstm/global"))
    n_t = len(stacked.oof.open_times_ns)
    keys = rows.symbol_rows * n_t + rows.time_rows
    for name in ("lightgbm/global", "lstm/global"):
        own = np.concatenate(
            [b.symbol_rows * n_t + b.time_rows for b in stacked.oof.select(name, 1)]
        )
        assert np.isin(keys, own).all()
    tree = np.concatenate(
        [b.symbol_rows * n_t + b.time_rows for b in stacked.oof.select("lightgbm/global", 1)]
    )
    assert len(keys) < len(tree)  # ADA's first bars after listing have no full window


# --- the saved set -----------------------------------------------------------------------------


def test_a_saved_set_with_a_sequence_member_loads_back(
    stacked: TrainResult, saved: Path, history: History
) -> None:
    assert (saved / "models" / "lstm-global-all" / "weights.safetensors").is_file()
    meta = json.loads((saved / "metadata.json").read_bytes())
    member = _first(meta["members"], name="lstm/global", horizon_bars=4)
    assert member["kind"] == "sequence"
    assert member["file"] == "models/lstm-global-all/sequence.json"
    loaded = load_model_set(saved)
    assert loaded.model_id == stacked.model_set.model_id
    as_of = START + 460 * H
    got = ModelSetPredictor(loaded).predict(as_of, history)
    assert got == ModelSetPredictor(stacked.model_set).predict(as_of, history)
    assert got  # (a coin with a gap in its last window is left out)


def test_bad_sequence_members_are_refused_on_load(saved: Path, tmp_path: Path) -> None:
    def family(meta: dict[str, Any]) -> None:
        _first(meta["members"], name="lstm/global", horizon_bars=1)["family"] = "gru"

    def other(meta: dict[str, Any]) -> None:
        _first(meta["members"], name="lstm/global", horizon_bars=1)["family"] = "transformer"

    def horizon(meta: dict[str, Any]) -> None:
        meta["horizons"][1]["bars"] = 5
        for item in meta["members"] + meta["heads"]:
            if item["horizon_bars"] == 4:
                item["horizon_bars"] = 5

    folder = "models/lstm-global-all"
    doc = json.loads((saved / folder / "sequence.json").read_bytes())
    doc["config"]["hidden"] = 6
    wider = {f"{folder}/sequence.json": json.dumps(doc).encode()}
    torn = {f"{folder}/weights.safetensors": b"not safetensors"}
    assert _refused(saved, tmp_path / "a", family) == reasons.SEQUENCE_FAMILY_UNKNOWN
    assert _refused(saved, tmp_path / "b", other) == reasons.SEQUENCE_FAMILY_UNKNOWN
    assert _refused(saved, tmp_path / "c", horizon) == reasons.MODEL_SHAPE_MISMATCH
    assert _refused(saved, tmp_path / "d", lambda m: None, wider) == (
        reasons.SEQUENCE_SHAPE_MISMATCH
    )
    assert _refused(saved, tmp_path / "e", lambda m: None, torn) == (
        reasons.SEQUENCE_ARTIFACT_INVALID
    )
    _rewrite(saved, tmp_path / "f", lambda m: None)
    (tmp_path / "f" / folder / "weights.safetensors").unlink()
    with pytest.raises(ArtifactError) as info:
        load_model_set(tmp_path / "f")
    assert info.value.reason_code == reasons.ARTIFACT_MISSING


def test_a_sequence_member_refuses_feature_rows(stacked: TrainResult) -> None:
    member = next(e.model for e in stacked.model_set.entries if e.kind == "sequence")
    x = np.zeros((1, 3))
    for call in (lambda: member.predict_proba(x), lambda: member.fit(x, x[:, 0])):
        with pytest.raises(DataError) as info:
            call()
        assert info.value.reason_code == reasons.SEQUENCE_INPUT_INVALID
    assert isinstance(member, SequenceMember)
    assert member.to_bytes() == member.files()["sequence.json"]
    with pytest.raises(ArtifactError) as missing:  # the weights are read beside sequence.json
        load_member("sequence", "lstm", member.to_bytes())
    assert missing.value.reason_code == reasons.ARTIFACT_MISSING


# --- the predictor -----------------------------------------------------------------------------


def _upto(history: History, t: int) -> History:
    return {i: [b for b in bars if b.open_time_ns < START + t * H] for i, bars in history.items()}


def test_the_lookback_covers_the_longest_resolution(stacked: TrainResult) -> None:
    ms = stacked.model_set
    assert ms.regime is not None
    wide = attrs.evolve(LSTM, resolutions=(LSTM.resolutions[0], Resolution("day", 4, 24)))
    trees = max(feature_lookback(ms.feature_config), ms.regime.bars_needed)
    assert ModelSetPredictor(ms).lookback_bars == max(trees, LSTM.lookback - 1)
    assert wide.lookback - 1 > trees
    member = next(e.model for e in ms.entries if e.kind == "sequence")
    assert isinstance(member, SequenceMember)
    model = attrs.evolve(member.model, config=wide)
    longer = attrs.evolve(
        ms,
        entries=tuple(
            attrs.evolve(e, model=SequenceMember(model)) if e.kind == "sequence" else e
            for e in ms.entries
        ),
    )
    assert ModelSetPredictor(longer).lookback_bars == wide.lookback - 1


def test_later_bars_never_change_earlier_predictions(
    stacked: TrainResult, history: History
) -> None:
    predictor = ModelSetPredictor(stacked.model_set)
    seen = set()
    for t in (20, 205, 240, 340, 440, 441, 469):
        alone = ModelSetPredictor(stacked.model_set).predict(START + t * H, _upto(history, t))
        assert predictor.predict(START + t * H, history) == alone
        seen.add(frozenset(p.instrument.base for p in alone))
    assert frozenset() in seen  # no coin has a full window yet
    assert frozenset(SYMBOLS) in seen


def test_the_predictors_sequence_p_is_the_models_on_build_windows(
    stacked: TrainResult, history: History
) -> None:
    ms = stacked.model_set
    member = next(e.model for e in ms.entries if e.kind == "sequence")
    assert isinstance(member, SequenceMember)
    alone = attrs.evolve(
        ms, heads=tuple(StackHead(h.bars, "globals", ("lstm/global",), None) for h in ms.horizons)
    )
    panel = Panel.from_history(history)
    for t in (300, 452, 469):
        got = ModelSetPredictor(alone).predict(START + (t + 1) * H, _upto(history, t + 1))
        windows = build_windows(panel, LSTM, np.array([t]))
        valid = windows.take(windows.valid)
        want = member.model.predict(valid.inputs).p_up
        by_coin = {p.instrument.base: [f.p_up for f in p.forecasts] for p in got}
        assert sorted(by_coin) == sorted(panel.symbols[s] for s in valid.symbol_rows)
        for row, s in enumerate(valid.symbol_rows):
            np.testing.assert_allclose(by_coin[panel.symbols[s]], want[row], rtol=0, atol=1e-12)


def test_a_coin_with_a_gap_in_its_window_is_left_out(
    stacked: TrainResult, history: History
) -> None:
    eth = {i: bars for i, bars in history.items() if i.base == "ETH"}
    predictor = ModelSetPredictor(stacked.model_set)
    assert predictor.predict(START + 440 * H, eth) == ()  # ETH misses bar 430
    assert predictor.predict(START + 460 * H, eth)  # a full window again


def test_a_member_that_fills_short_gaps_serves_through_them(
    stacked: TrainResult, history: History
) -> None:
    ms = stacked.model_set
    filled = attrs.evolve(LSTM, gap_fill_bars=2)
    entries = []
    for e in ms.entries:
        if isinstance(e.model, SequenceMember):
            model = attrs.evolve(e.model.model, config=filled)
            e = attrs.evolve(e, model=SequenceMember(model))
        entries.append(e)
    heads = tuple(StackHead(h.bars, "globals", ("lstm/global",), None) for h in ms.horizons)
    alone = attrs.evolve(ms, entries=tuple(entries), heads=heads)
    eth = {i: bars for i, bars in history.items() if i.base == "ETH"}
    got = ModelSetPredictor(alone).predict(START + 440 * H, eth)  # ETH misses bar 430
    panel = Panel.from_history(eth)
    assert np.isnan(panel.close[0, 430])
    windows = build_windows(panel, filled, np.array([439]))
    assert windows.valid.all()
    member = next(e.model for e in entries if isinstance(e.model, SequenceMember))
    p = member.model.predict(windows.inputs).p_up[0]
    assert [f.p_up for f in got[0].forecasts] == pytest.approx(p.tolist(), rel=0, abs=1e-12)
