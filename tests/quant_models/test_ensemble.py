"""The stacked ensemble: training option, model-set format 2, predictor, evidence (issue 18)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from quant_core import Bar, Instrument, Timeframe, content_hash, iso_to_ns
from quant_models import (
    ArtifactError,
    ConfigError,
    ModelSet,
    ModelSetPredictor,
    TrainConfig,
    feature_lookback,
    load_model_set,
    reasons,
)
from quant_models._ensemble import MEMBER_KINDS, load_member, truncated_posterior
from quant_models._panel import Panel
from quant_models._persistence import STACKED_FORMAT, artifact_files, write_files
from quant_models.families import MetaInputError, get_family, regime_features
from quant_models.training import (
    EnsembleConfig,
    FoldConfig,
    OofTable,
    TrainResult,
    train_panel,
)
from quant_models.training._data import TrainingData
from quant_models.training._ensemble import ensemble_evidence
from quant_models.training._evidence import auc, block_bootstrap_bss
from quant_models.training._stages import make_folds

from .helpers import late_listing_history, tiny_config

H = Timeframe.H1.ns
History = dict[Instrument, list[Bar]]
SYMBOLS = ("ADA", "BTC", "ETH", "SOL")
START = iso_to_ns("2024-01-01T00:00:00Z")
N_BARS = 520
CUT = 470  # the training panel ends here; later bars only feed the predictor


@pytest.fixture(scope="module")
def history() -> History:
    """Four synthetic coins with missing bars; ADA lists late (bar 240)."""
    return late_listing_history(SYMBOLS, seed=5, n_bars=N_BARS, missing_rate=0.01, listed_at=240)


def _config(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "families": ("lightgbm", "xgboost"),
        "scopes": ("global", "specialist"),
        "combine": "stack",
        "min_specialist_bars": 250,
        "ensemble": EnsembleConfig(
            regime_window=12, regime_lookback=24, bootstrap_draws=200, head="stack"
        ),  # the learned stack's tests; test_ensemble_heads.py covers "auto" and "average"
    }
    base.update(overrides)
    return tiny_config(**base)


@pytest.fixture(scope="module")
def stacked(history: History) -> TrainResult:
    panel = Panel.from_history(history).upto(CUT - 1)
    return train_panel(panel, _config(), dataset_hash="sha256:test")


@pytest.fixture(scope="module")
def saved(stacked: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stacked")
    write_files(out, stacked.files)
    return out


# --- configuration -----------------------------------------------------------------------------


def test_new_fields_at_their_defaults_keep_the_config_hash() -> None:
    plain = TrainConfig()
    assert plain.config_hash == TrainConfig(combine="best", min_specialist_bars=0).config_hash
    assert plain.config_hash != TrainConfig(combine="stack").config_hash
    assert plain.config_hash != TrainConfig(min_specialist_bars=5).config_hash
    moved = TrainConfig(ensemble=EnsembleConfig(regime_lookback=10))
    assert plain.config_hash != moved.config_hash


@pytest.mark.parametrize(
    "overrides",
    [
        {"combine": "vote"},
        {"combine": "stack", "scopes": ("specialist",)},
        {"combine": "stack", "folds": FoldConfig(n_folds=1, test_size=168)},
        {"min_specialist_bars": -1},
    ],
)
def test_bad_ensemble_configs_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**overrides)


@pytest.mark.parametrize(
    "fields",
    [
        {"regime_window": 1},
        {"regime_lookback": -1},
        {"meta_l2": 0.0},
        {"bootstrap_block": 0},
        {"bootstrap_draws": 0},
    ],
)
def test_bad_ensemble_settings_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        EnsembleConfig(**fields)


# --- training and the saved set ----------------------------------------------------------------


def test_a_stacked_run_serves_members_heads_and_a_regime_model(stacked: TrainResult) -> None:
    ms = stacked.model_set
    assert ms.stacked
    assert ms.regime is not None
    names = {(e.horizon_bars, e.name, e.symbol) for e in ms.entries}
    for h in (1, 4):
        assert {(h, "lightgbm/global", None), (h, "xgboost/global", None)} <= names
        # ADA listed late: below min_specialist_bars, it has no specialist
        assert {s for hh, n, s in names if hh == h and n.endswith("specialist")} == {
            "BTC",
            "ETH",
            "SOL",
        }
        groups = {hd.group: hd for hd in ms.heads if hd.horizon_bars == h}
        assert set(groups) == {"globals", "full"}
        for head in groups.values():
            assert head.learner is not None
            assert head.learner.context_columns == 4
            assert head.learner.models == head.members
    meta = json.loads(stacked.files["metadata.json"])
    assert meta["format"] == STACKED_FORMAT
    assert {m["kind"] for m in meta["members"]} == {"tree"}
    assert stacked.metrics["served"] == {"h1": "stack", "h4": "stack"}
    assert stacked.evidence.artifacts_complete, stacked.evidence.missing


def test_the_specialist_oof_blocks_leave_out_coins_below_the_threshold(
    stacked: TrainResult,
) -> None:
    ada = stacked.oof.symbols.index("ADA")
    for block in stacked.oof.blocks:
        if block.model.endswith("/specialist"):
            assert ada not in block.symbol_rows.tolist()
        if block.model.endswith("/global") and block.fold == 1:
            assert ada in block.symbol_rows.tolist()


def test_the_run_record_holds_the_ensemble_evidence(stacked: TrainResult) -> None:
    for h in ("h1", "h4"):
        ev = stacked.metrics["ensemble"][h]
        assert ev["scored_folds"] == [1]
        for name in ("stack", "average", "best_single", "logistic"):
            card = ev[name]
            low, high = card["bss_ci95"]
            assert low <= card["bss"] <= high
            assert 0.0 <= card["auc"] <= 1.0
            assert card["ece"] >= 0.0
            assert card["n"] == ev["stack"]["n"]
        for name in ("logistic", "best_single", "average"):
            gain = ev[f"stack_gain_vs_{name}"]
            expected = ev["stack"]["bss"] - ev[name]["bss"]
            assert gain["bss_gain"] == pytest.approx(expected, abs=1e-9)
            assert gain["ci95"][0] <= gain["bss_gain"] <= gain["ci95"][1]
        row = next(r for r in stacked.evidence.horizons if r.horizon == h)
        assert row.bss == pytest.approx(ev["stack"]["bss"], abs=1e-9)
    record = json.loads(stacked.files["run.json"])
    assert record["metrics"]["ensemble"] == json.loads(json.dumps(stacked.metrics["ensemble"]))


def test_a_saved_stacked_set_loads_back_with_the_same_id(
    stacked: TrainResult, saved: Path, tmp_path: Path
) -> None:
    loaded = load_model_set(saved)
    assert loaded.model_id == stacked.model_set.model_id
    again = tmp_path / "again"
    write_files(again, artifact_files(loaded))
    assert load_model_set(again).model_id == loaded.model_id


# --- refusals ----------------------------------------------------------------------------------


def _rewrite(source: Path, target: Path, edit: Any, files: dict[str, bytes] | None = None) -> None:
    """Copy a saved set, apply ``edit`` to its metadata and re-sign it (a consistent id)."""
    tree = {
        str(p.relative_to(source)): p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file()
    }
    tree.update(files or {})
    meta = json.loads(tree["metadata.json"])
    del meta["model_id"]
    edit(meta)
    for item in [*meta["members"], *meta["heads"], meta["regime"]]:
        if item.get("file") is not None:
            item["sha256"] = hashlib.sha256(tree[item["file"]]).hexdigest()
    meta["model_id"] = content_hash(meta)
    tree["metadata.json"] = json.dumps(meta).encode()
    write_files(target, tree)


def _refused(source: Path, target: Path, edit: Any, files: Any = None) -> str:
    _rewrite(source, target, edit, files)
    with pytest.raises(ArtifactError) as info:
        load_model_set(target)
    return info.value.reason_code


def _first(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next(i for i in items if all(i[k] == v for k, v in match.items()))


def test_an_unknown_family_or_kind_is_refused(saved: Path, tmp_path: Path) -> None:
    def family(meta: dict[str, Any]) -> None:
        meta["members"][0]["family"] = "catboost"

    def kind(meta: dict[str, Any]) -> None:
        meta["members"][0]["kind"] = "lstm"

    assert _refused(saved, tmp_path / "a", family) == reasons.MODEL_FAMILY_UNKNOWN
    assert _refused(saved, tmp_path / "b", kind) == reasons.MODEL_FAMILY_UNKNOWN


def test_a_member_the_head_expects_must_be_present(saved: Path, tmp_path: Path) -> None:
    def drop(meta: dict[str, Any]) -> None:
        meta["members"] = [
            m
            for m in meta["members"]
            if not (m["name"] == "xgboost/global" and m["horizon_bars"] == 1)
        ]

    assert _refused(saved, tmp_path / "a", drop) == reasons.ENSEMBLE_MEMBER_MISSING


def test_shapes_that_do_not_match_are_refused(saved: Path, tmp_path: Path) -> None:
    narrow = get_family("lightgbm").build({"n_estimators": 2, "min_data_in_leaf": 2}, seed=1)
    x = np.arange(60.0).reshape(20, 3)
    narrow.fit(x, (x[:, 0] > 30).astype(float))
    member = json.loads((saved / "metadata.json").read_bytes())["members"][0]
    swapped = {member["file"]: narrow.to_bytes()}
    code = _refused(saved, tmp_path / "a", lambda meta: None, swapped)
    assert code == reasons.MODEL_SHAPE_MISMATCH

    def reorder(meta: dict[str, Any]) -> None:
        head = _first(meta["heads"], group="full", horizon_bars=1)
        head["members"] = list(reversed(head["members"]))

    assert _refused(saved, tmp_path / "b", reorder) == reasons.MODEL_SHAPE_MISMATCH

    def no_learner(meta: dict[str, Any]) -> None:
        _first(meta["heads"], group="full", horizon_bars=1)["file"] = None

    assert _refused(saved, tmp_path / "c", no_learner) == reasons.MODEL_SHAPE_MISMATCH
    learner = json.loads((saved / "meta" / "h1-globals.json").read_bytes())
    learner.update(context_columns=0, intercepts=[0.0], weights=[[0.5, 0.5]])
    ungated = {"meta/h1-globals.json": json.dumps(learner).encode()}
    code = _refused(saved, tmp_path / "d", lambda meta: None, ungated)
    assert code == reasons.MODEL_SHAPE_MISMATCH


def test_a_schema_other_than_the_runtimes_is_refused(saved: Path, tmp_path: Path) -> None:
    def rename(meta: dict[str, Any]) -> None:
        meta["feature_schema"]["names"][0] = "not_a_feature"

    assert _refused(saved, tmp_path / "a", rename) == reasons.SCHEMA_MISMATCH


def test_malformed_stacked_metadata_or_learner_files_are_refused(
    saved: Path, tmp_path: Path
) -> None:
    def drop_regime(meta: dict[str, Any]) -> None:
        del meta["regime"]["lookback"]

    assert _refused(saved, tmp_path / "a", drop_regime) == reasons.ARTIFACT_INVALID
    garbage = {"meta/h1-globals.json": b"{}"}
    assert _refused(saved, tmp_path / "b", lambda m: None, garbage) == reasons.ARTIFACT_INVALID


def test_member_loaders_refuse_unknown_kinds_and_families() -> None:
    assert set(MEMBER_KINDS) == {"tree", "sequence"}
    for kind, family in (("rnn", "lstm"), ("tree", "catboost")):
        with pytest.raises(ArtifactError) as info:
            load_member(kind, family, b"")
        assert info.value.reason_code == reasons.MODEL_FAMILY_UNKNOWN


# --- the predictor -----------------------------------------------------------------------------


def _upto(history: History, t: int) -> History:
    return {i: [b for b in bars if b.open_time_ns < START + t * H] for i, bars in history.items()}


def test_the_predictor_stacks_every_coin_and_reads_a_bounded_tail(
    stacked: TrainResult, history: History
) -> None:
    ms = stacked.model_set
    predictor = ModelSetPredictor(ms)
    assert ms.regime is not None
    needed = max(feature_lookback(ms.feature_config), ms.regime.lookback + ms.regime.model.window)
    assert predictor.lookback_bars == needed
    as_of = START + 500 * H
    full = predictor.predict(as_of, history)
    assert {p.instrument.base for p in full} == set(SYMBOLS)
    assert all(p.model_id == ms.model_id for p in full)
    tail = {
        i: [b for b in bars if as_of - (needed + 1) * H <= b.open_time_ns < as_of]
        for i, bars in history.items()
    }
    assert ModelSetPredictor(ms).predict(as_of, tail) == full


def test_later_bars_never_change_earlier_stacked_predictions(
    stacked: TrainResult, history: History
) -> None:
    predictor = ModelSetPredictor(stacked.model_set)
    for t in (20, 255, 300, 480, 481, 519):  # 480 then 481: the regime rows' cache
        alone = ModelSetPredictor(stacked.model_set).predict(START + t * H, _upto(history, t))
        assert predictor.predict(START + t * H, history) == alone
        assert alone  # every t has coins past the warm-up


def test_the_predictors_regime_posterior_is_the_training_one(
    stacked: TrainResult, history: History
) -> None:
    ms = stacked.model_set
    assert ms.regime is not None
    panel = Panel.from_history(history)
    rows = regime_features(panel.close, window=ms.regime.model.window)
    grid = truncated_posterior(ms.regime.model, rows, ms.regime.lookback)
    for t in (30, 300, 519):
        one = truncated_posterior(
            ms.regime.model,
            rows[max(0, t - ms.regime.lookback) : t + 1],
            ms.regime.lookback,
            last_only=True,
        )
        assert one.tobytes() == grid[t : t + 1].tobytes()


def test_one_family_stacks_through_a_pass_through_globals_head(history: History) -> None:
    panel = Panel.from_history(history).upto(CUT - 1)
    result = train_panel(panel, _config(families=("lightgbm",)), dataset_hash="sha256:t")
    heads = {(h.horizon_bars, h.group): h for h in result.model_set.heads}
    assert heads[(1, "globals")].learner is None
    assert heads[(1, "globals")].file is None
    assert heads[(1, "full")].learner is not None
    predictions = ModelSetPredictor(result.model_set).predict(START + 500 * H, history)
    assert {p.instrument.base for p in predictions} == set(SYMBOLS)
    plain = train_panel(
        panel,
        _config(scopes=("global",), min_specialist_bars=0, search_budget=2),
        dataset_hash="sha256:t",
    )
    assert {h.group for h in plain.model_set.heads} == {"globals"}
    search = plain.run_record.search
    assert search["seed"] == plain.run_record.seed
    assert len(search["trials"]) == 8
    assert {(c["family"], c["horizon_bars"]) for c in search["chosen"]} == {
        ("lightgbm", 1),
        ("lightgbm", 4),
        ("xgboost", 1),
        ("xgboost", 4),
    }


def test_the_nested_evidence_needs_two_folds(stacked: TrainResult, history: History) -> None:
    cfg = _config()
    panel = Panel.from_history(history).upto(CUT - 1)
    folds = make_folds(TrainingData.of(panel, cfg), cfg)
    one = OofTable(
        stacked.oof.symbols,
        stacked.oof.open_times_ns,
        tuple(b for b in stacked.oof.blocks if b.fold == 0),
    )
    grid = np.full((len(one.open_times_ns), 4), 0.25)
    with pytest.raises(MetaInputError):
        ensemble_evidence(one, folds, cfg, grid, 1)


def test_best_mode_leaves_coins_below_the_threshold_out_of_specialist_blocks(
    history: History,
) -> None:
    panel = Panel.from_history(history).upto(CUT - 1)
    cfg = tiny_config(scopes=("global", "specialist"), min_specialist_bars=250)
    result = train_panel(panel, cfg, dataset_hash="sha256:t")
    assert not result.model_set.stacked
    ada = result.oof.symbols.index("ADA")
    spec = [b for b in result.oof.blocks if b.model == "lightgbm/specialist"]
    assert spec
    assert all(ada not in b.symbol_rows.tolist() for b in spec)


# --- evidence helpers --------------------------------------------------------------------------


def test_auc_is_a_half_without_both_classes() -> None:
    assert auc(np.array([0.2, 0.9]), np.array([1.0, 1.0])) == 0.5
    assert auc(np.array([0.2, 0.9]), np.array([0.0, 1.0])) == 1.0


def test_the_bootstrap_bounds_a_difference_on_the_same_draws() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.5).astype(float)
    good = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.05, 400), 0.01, 0.99)
    out = block_bootstrap_bss(
        good,
        y,
        np.full(400, 0.5),
        np.arange(400),
        block=20,
        draws=300,
        seed=2,
        other=np.full(400, 0.5),
    )
    assert out["diff"] == pytest.approx(out["bss"])
    assert 0 < out["diff_low"] <= out["diff"] <= out["diff_high"]


# --- determinism across processes --------------------------------------------------------------

_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from helpers import dataset_from_frame, synthetic_frame, tiny_config
from quant_models.sequence import Resolution, SequenceConfig
from quant_models.training import EnsembleConfig, train
ds = dataset_from_frame(synthetic_frame(("BTC", "ETH", "SOL"), n=400, momentum=0.15))
lstm = SequenceConfig(hidden=4, horizons=(1, 4), risk_bars=4, max_epochs=2, batch_size=64,
                      resolutions=(Resolution("short", 6, 1), Resolution("medium", 4, 6)))
cfg = tiny_config(families=("lightgbm", "xgboost"), scopes=("global", "specialist"),
                  combine="stack",
                  ensemble=EnsembleConfig(regime_window=12, bootstrap_draws=100, head="stack"),
                  sequence=(lstm,))
print(train(ds, cfg, out=Path(sys.argv[1])).model_set.model_id)
"""


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_stacked_training_is_byte_identical_across_processes(tmp_path: Path) -> None:
    script = _SCRIPT.format(tests=str(Path(__file__).parent))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / name)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, seed in (("a", "1"), ("b", "4242"))
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert outs[0][0] == outs[1][0]
    assert outs[0][0].startswith("sha256:")
    tree = _tree(tmp_path / "a")
    assert tree == _tree(tmp_path / "b")
    assert {"regime.json", "meta/h1-full.json", "meta/h4-globals.json"} <= set(tree)
    assert "models/lstm-global-all/weights.safetensors" in tree  # a sequence member too


def test_a_stacked_set_type_is_a_model_set(stacked: TrainResult) -> None:
    assert isinstance(stacked.model_set, ModelSet)
    assert attrs.evolve(stacked.model_set, heads=(), regime=None).stacked is False


@pytest.mark.parametrize("seed", range(6))
def test_the_one_bar_filter_equals_the_vectorised_filter_bit_for_bit(seed: int) -> None:
    from quant_models.families import fit_regimes

    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.002, 0.03, (4, 1))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1, (4, 700)) * scale, axis=1))
    model = fit_regimes(close, seed=seed, window=12)
    rows = regime_features(close, window=12)
    rows[rng.choice(np.arange(20, 700), size=40, replace=False)] = np.nan  # missing bars
    lookback = int(rng.integers(0, 60))
    grid = truncated_posterior(model, rows, lookback)
    for t in (0, 5, lookback, 200, *rng.integers(1, 700, size=30).tolist()):
        tail = rows[max(0, t - lookback) : t + 1]
        one = truncated_posterior(model, tail, lookback, last_only=True)
        assert one.tobytes() == grid[t : t + 1].tobytes()
