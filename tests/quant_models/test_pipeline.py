"""The whole pipeline: walk-forward training, lineage, evidence, predictor, hindcast, registry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.errors import QuantUsageError
from quant_core.events import Predictor
from quant_data import Dataset
from quant_models import (
    ChampionRecord,
    ConfigError,
    DataError,
    GateDecision,
    HorizonSpec,
    ModelSetPredictor,
    Panel,
    load_model_set,
    reasons,
)
from quant_models._metrics import brier
from quant_models.evaluation import DAY_NS, forward_check, hindcast, rolling_hindcast, score_forward
from quant_models.training import FoldConfig, TrainConfig, TrainResult, load_config, train

from .helpers import dataset_from_frame, real_frame, synthetic_frame, tiny_config

H = Timeframe.H1.ns
Trained = tuple[TrainResult, Path, TrainConfig]


@pytest.fixture(scope="module")
def trained(small_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    out = tmp_path_factory.mktemp("run") / "out"
    cfg = tiny_config(
        families=("lightgbm", "xgboost", "random_forest"),
        scopes=("global", "specialist"),
        search_budget=2,
    )
    return train(small_dataset, cfg, out=out), out, cfg


def test_train_writes_the_full_artifact_set(trained: Trained, small_dataset: Dataset) -> None:
    result, out, cfg = trained
    names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {"metadata.json", "run.json", "oof.csv", "evidence.json", "decision.json"} <= names
    assert names == set(result.files)
    record = json.loads((out / "run.json").read_bytes())
    assert record["dataset_hash"] == small_dataset.manifest.dataset_hash
    assert record["feature_schema_hash"] == result.model_set.schema.schema_hash
    assert record["config_hash"] == cfg.config_hash
    assert record["seed"] == cfg.seed
    assert record["model_id"] == result.model_set.model_id
    assert {"python", "lightgbm", "xgboost", "scikit-learn", "skops"} <= set(
        record["library_versions"]
    )
    assert len(record["folds"]) == 2
    assert record["folds"][0]["test_start_ns"] > 0
    assert record["search"]["budget"] == 2
    # every trial logged: 2 per family per horizon
    assert len(record["search"]["trials"]) == 2 * 3 * 2
    import hashlib

    for name, digest in record["artifacts"].items():
        assert digest == "sha256:" + hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert load_model_set(out).model_id == result.model_set.model_id


def test_metric_package_has_models_and_baselines_oos(trained: Trained) -> None:
    result, _, cfg = trained
    for h in ("h1", "h4"):
        block = result.metrics["oos"][h]
        assert {"climatology", "persistence", "logistic"} <= set(block)
        for fam in cfg.families:
            for scope in cfg.scopes:
                pooled = block[f"{fam}/{scope}"]["pooled"]
                assert pooled["n"] > 0
                assert 0 <= pooled["brier"] <= 1
                assert len(block[f"{fam}/{scope}"]["folds"]) == 2
                assert set(block[f"{fam}/{scope}"]["symbols"]) == {"BTC", "ETH", "SOL"}
        # climatology is its own reference: skill 0
        assert block["climatology"]["pooled"]["bss"] == pytest.approx(0.0, abs=1e-9)
        served = result.metrics["served"][h]
        losses = {k: v["pooled"]["log_loss"] for k, v in block.items() if "/" in k}
        assert losses[served] == min(losses.values())
    assert result.metrics["in_sample"]["h1"]["sample"] == "in_sample"


def test_oof_predictions_are_out_of_sample(trained: Trained) -> None:
    result, out, _ = trained
    rows = list(csv.DictReader(io.StringIO((out / "oof.csv").read_text())))
    record = json.loads((out / "run.json").read_bytes())
    folds = {f["index"]: f for f in record["folds"]}
    for row in rows:
        fold = folds[int(row["fold"])]
        assert fold["test_start_ns"] <= int(row["open_time_ns"]) < fold["test_end_ns"]
        assert 0 < float(row["p"]) < 1
    # recompute one pooled Brier from the stored predictions independently
    lgb = [r for r in rows if r["model"] == "lightgbm/global" and r["horizon_bars"] == "1"]
    p = np.array([float(r["p"]) for r in lgb])
    y = np.array([float(r["y"]) for r in lgb])
    assert brier(p, y) == pytest.approx(
        result.metrics["oos"]["h1"]["lightgbm/global"]["pooled"]["brier"]
    )


def test_evidence_is_oos_and_decision_follows(trained: Trained) -> None:
    result, out, _ = trained
    assert result.evidence.sample == "oos"
    assert result.evidence.artifacts_complete
    assert [h.horizon for h in result.evidence.horizons] == ["h1", "h4"]
    decision = json.loads((out / "decision.json").read_bytes())
    assert decision["promote"] == result.decision.promote
    assert decision["reasons"] == list(result.decision.reasons)


def test_predictor_implements_the_core_protocol(trained: Trained, small_dataset: Dataset) -> None:
    result, out, _ = trained
    predictor = ModelSetPredictor(load_model_set(out), clock=SimClock(7))
    assert isinstance(predictor, Predictor)
    assert predictor.model_id == result.model_set.model_id
    assert predictor.horizons_ns == (H, 4 * H)
    history: dict[Instrument, list[Bar]] = {}
    for bar in small_dataset.bars():
        history.setdefault(bar.instrument, []).append(bar)
    as_of = history[Instrument("BTC", "USD")][300].close_time_ns
    preds = predictor.predict(as_of, history)
    assert [p.instrument.base for p in preds] == ["BTC", "ETH", "SOL"]
    for pred in preds:
        assert pred.ts_event == as_of
        assert pred.ts_init == 7
        for f in pred.forecasts:
            up = sum(
                prob
                for prob, lo in zip(f.bucket_probs, (-1.0, *f.bucket_edges), strict=True)
                if lo >= 0
            )
            assert up == pytest.approx(f.p_up)
    # causal: bars after as_of do not matter
    cut = {i: [b for b in bars if b.close_time_ns <= as_of] for i, bars in history.items()}
    assert ModelSetPredictor(load_model_set(out), clock=SimClock(7)).predict(as_of, cut) == preds
    # too little history, or no bar at as_of: left out
    early = history[Instrument("BTC", "USD")][3].close_time_ns
    assert predictor.predict(early, history) == ()
    assert predictor.predict(as_of + 1, history) == ()
    assert predictor.predict(0, history) == ()


def test_specialists_serve_their_own_coin(small_dataset: Dataset) -> None:
    cfg = tiny_config(scopes=("specialist",), horizons=(HorizonSpec(1, (0.0,)),))
    result = train(small_dataset, cfg)
    assert {e.symbol for e in result.model_set.entries} == {"BTC", "ETH", "SOL"}
    predictor = ModelSetPredictor(result.model_set)
    history: dict[Instrument, list[Bar]] = {}
    for bar in small_dataset.bars():
        if bar.instrument.base != "SOL":
            history.setdefault(bar.instrument, []).append(bar)
    as_of = history[Instrument("BTC", "USD")][-1].close_time_ns
    preds = predictor.predict(as_of, history)
    assert [p.instrument.base for p in preds] == ["BTC", "ETH"]
    assert preds[0].ts_init == as_of


def test_train_refuses_bad_requests(small_dataset: Dataset, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with pytest.raises(QuantUsageError):
        train(small_dataset, tiny_config(), out=tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep"
    with pytest.raises(DataError) as exc:
        train(
            small_dataset,
            tiny_config(folds=FoldConfig(n_folds=5, test_size=100)),
            out=tmp_path / "new",
        )
    assert exc.value.reason_code == reasons.INSUFFICIENT_DATA
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["full"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"families": ("lstm",)},
        {"scopes": ("regional",)},
        {"horizons": ()},
        {"calibration_fraction": 1.0},
        {"calibration_methods": ("magic",)},
        {"search_budget": 0},
        {"params": {"xgboost": {"colour": 1}}},
        {"folds": {"mode": "static"}},
    ],
)
def test_config_validation(kwargs: dict[str, object]) -> None:
    if "folds" in kwargs:
        with pytest.raises(ConfigError):
            FoldConfig(**kwargs["folds"])  # type: ignore[arg-type]
        return
    with pytest.raises((ConfigError, QuantUsageError)):
        tiny_config(**kwargs)


def test_load_config_json_and_toml(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(
        json.dumps({"seed": 3, "families": ["xgboost"], "horizons": [{"bars": 2}]})
    )
    cfg = load_config(tmp_path / "c.json")
    assert cfg.seed == 3
    assert cfg.horizons == (HorizonSpec(2),)
    (tmp_path / "c.toml").write_text('seed = 4\nscopes = ["global"]\n[folds]\nn_folds = 2\n')
    assert load_config(tmp_path / "c.toml").folds.n_folds == 2
    assert load_config(tmp_path / "c.toml").config_hash != TrainConfig().config_hash
    for text in ('{"colour": 1}', "{not json", '{"families": ["lstm"]}'):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ConfigError):
            load_config(tmp_path / "bad.json")
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.json")


def test_hindcast_forward_check_and_rolling(small_dataset: Dataset) -> None:
    panel = Panel.from_frame(small_dataset.frame())
    cfg = tiny_config()
    t_end = int(panel.close_times_ns[-1])
    cards = hindcast(panel, cfg, t_end)
    assert set(cards) == {"h1", "h4"}
    assert cards["h1"].n == 24 * 3  # one day of hourly predictions for three coins
    assert cards["h4"].n == 24 * 3
    rows = rolling_hindcast(panel, cfg, [t_end - DAY_NS, t_end])
    assert [r["as_of_ns"] for r in rows] == [t_end - DAY_NS] * 2 + [t_end] * 2
    with pytest.raises(DataError):
        hindcast(panel, cfg, t_end + 1)
    t = int(panel.close_times_ns[-10])
    check = forward_check(panel, cfg, t)
    assert {p.instrument.base for p in check.predictions} == {"BTC", "ETH", "SOL"}
    scored = score_forward(check, panel)
    assert {r["status"] for r in scored} == {"realised"}
    assert all(r["squared_error"] == pytest.approx((r["p_up"] - r["up"]) ** 2) for r in scored)
    pending = score_forward(forward_check(panel, cfg, t_end), panel)
    assert {r["status"] for r in pending} == {"pending"}


def test_registry_keeps_the_champion_on_failed_promotion(trained: Trained, tmp_path: Path) -> None:
    result, out, _ = trained
    reg = ChampionRecord(tmp_path / "reg")
    assert reg.champion() is None
    assert reg.champion_evidence() is None
    assert reg.submit(out, result.model_set.model_id, GateDecision(True, ("GATE_PASSED",)))
    assert reg.champion_evidence() == result.evidence
    assert not reg.submit(
        tmp_path / "other", "sha256:x", GateDecision(False, (reasons.GATE_BSS_BELOW_MIN,))
    )
    assert reg.champion() == {"run_dir": str(out), "model_id": result.model_set.model_id}
    assert len((tmp_path / "reg" / "history.jsonl").read_text().splitlines()) == 2


def test_champion_comparison_in_training(small_dataset: Dataset, trained: Trained) -> None:
    result, _, _ = trained
    again = train(small_dataset, tiny_config(), champion=result.evidence)
    assert again.evidence.sample == "oos"
    mean = sum(h.bss for h in result.evidence.horizons) / 2
    ours = sum(h.bss for h in again.evidence.horizons) / 2
    assert (reasons.GATE_NOT_BETTER_THAN_CHAMPION in again.decision.reasons) == (ours <= mean)


def test_train_on_real_hourly_data(shared_data: Path) -> None:
    ds = dataset_from_frame(real_frame(shared_data, ("BTC", "ETH", "SOL"), last=420))
    result = train(ds, tiny_config(families=("lightgbm", "xgboost")))
    assert result.evidence.artifacts_complete
    for h in result.evidence.horizons:
        assert h.n > 100
        assert -0.5 < h.bss < 0.5  # real hourly direction is near coin-flip
    assert result.model_set.dataset_hash == ds.manifest.dataset_hash


def test_train_gap_in_data_is_not_filled() -> None:
    frame = synthetic_frame(("BTC", "ETH"), n=400, seed=9).drop(index=list(range(200, 210)))
    result = train(dataset_from_frame(frame), tiny_config())
    assert result.evidence.artifacts_complete


def test_coverage_edges(small_dataset: Dataset, tmp_path: Path) -> None:
    from quant_models import ModelSet
    from quant_models.families import get_family
    from quant_models.features import FeatureConfig, compute_features
    from quant_models.training._pipeline import _verify

    # an empty, existing output directory is fine
    (tmp_path / "empty").mkdir()
    result = train(small_dataset, tiny_config(), out=tmp_path / "empty")
    assert (tmp_path / "empty" / "metadata.json").exists()
    # artifact verification notices a missing model file
    files = dict(result.files)
    broken = {k: v for k, v in files.items() if not k.startswith("models/")}
    complete, missing = _verify(broken, result.model_set.model_id)
    assert not complete
    assert "unloadable" in missing[0]
    # test blocks must be longer than the longest horizon
    with pytest.raises(ConfigError):
        tiny_config(folds=FoldConfig(n_folds=2, test_size=4))
    # a random forest trained on one class predicts 0 for "up"
    rf = get_family("random_forest").build({"n_estimators": 2}, seed=0)
    rf.fit(np.zeros((5, 2)), np.zeros(5))
    assert rf.predict_proba(np.zeros((2, 2))).tolist() == [0.0, 0.0]
    # features without the calendar columns
    panel = Panel.from_frame(small_dataset.frame())
    no_cal = compute_features(panel, FeatureConfig(calendar=False))
    assert "hour" not in no_cal.schema.names
    # a predictor for a set with a missing horizon, or a different schema, refuses
    import attrs

    from quant_models import ArtifactError

    ms = result.model_set
    with pytest.raises(ArtifactError):
        ModelSetPredictor(attrs.evolve(ms, entries=ms.entries[:1]))
    other = ModelSet(
        ms.schema,
        FeatureConfig(calendar=False),
        ms.quote,
        ms.symbols,
        ms.dataset_hash,
        ms.horizons,
        ms.entries,
    )
    history: dict[Instrument, list[Bar]] = {}
    for bar in small_dataset.bars():
        history.setdefault(bar.instrument, []).append(bar)
    with pytest.raises(ArtifactError) as exc:
        ModelSetPredictor(other).predict(
            history[Instrument("BTC", "USD")][-1].close_time_ns, history
        )
    assert exc.value.reason_code == reasons.SCHEMA_MISMATCH
    assert Panel.from_history(history).symbols == ("BTC", "ETH", "SOL")


def test_specialists_skip_unknown_coins_and_short_coins() -> None:
    frame = synthetic_frame(("BTC", "ETH", "SOL"), n=420, seed=4, momentum=0.1)
    ds = dataset_from_frame(frame[(frame.symbol != "SOL") | (frame.open_time_ns < 355 * H)])
    cfg = tiny_config(scopes=("global", "specialist"), horizons=(HorizonSpec(1, (0.0,)),))
    result = train(ds, cfg)
    assert "SOL" in result.metrics["oos"]["h1"]["lightgbm/specialist"]["symbols"]
    panel = Panel.from_frame(ds.frame())
    cards = hindcast(panel, tiny_config(), int(panel.close_times_ns[-1]))
    assert cards["h1"].n == 24 * 2  # SOL has no bars in the hindcast day
    spec_only = train(ds, tiny_config(scopes=("specialist",), horizons=(HorizonSpec(1, (0.0,)),)))
    extra = synthetic_frame(("XRP",), n=420, seed=5)
    history: dict[Instrument, list[Bar]] = {}
    for bar in dataset_from_frame(pd.concat([frame[frame.symbol == "BTC"], extra])).bars():
        history.setdefault(bar.instrument, []).append(bar)
    as_of = history[Instrument("BTC", "USD")][-1].close_time_ns
    preds = ModelSetPredictor(spec_only.model_set).predict(as_of, history)
    assert [p.instrument.base for p in preds] == ["BTC"]  # no specialist for XRP


def test_too_few_rows_for_a_specialist() -> None:
    frame = synthetic_frame(("BTC", "ETH"), n=420, seed=6)
    short = frame[(frame.symbol != "ETH") | (frame.open_time_ns > 380 * H)]
    with pytest.raises(DataError) as exc:
        train(dataset_from_frame(short), tiny_config(scopes=("specialist",)))
    assert exc.value.reason_code == reasons.INSUFFICIENT_DATA


def test_sliding_folds_in_the_pipeline(small_dataset: Dataset) -> None:
    cfg = tiny_config(
        folds=FoldConfig(n_folds=2, test_size=60, embargo=4, mode="sliding", min_train=150)
    )
    record = train(small_dataset, cfg).run_record
    assert [f["train_end"] - f["train_start"] for f in record.folds] == [150, 150]
    assert all(f["test_start"] - f["train_end"] == 4 + 4 for f in record.folds)
