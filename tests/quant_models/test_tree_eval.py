"""Compiled LightGBM evaluation: bit-equal to ``Booster.predict``, with the library as fallback.

Decision 0123: serving evaluates every compiled LightGBM member of a bar in one numpy pass.
These tests hold it to the library's bytes on random, NaN-laden and edge-value inputs (zeros,
denormals, LightGBM's zero threshold, infinities, the trees' own thresholds) across boosters
exercising every missing-value mode, and check that what it cannot do exactly goes to the
library.
"""

from __future__ import annotations

import re
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pytest

from quant_data import Dataset
from quant_models._calibration import Calibrator, apply_each
from quant_models._member_eval import MemberEvaluator
from quant_models._panel import Panel
from quant_models._persistence import ModelEntry
from quant_models.families import get_family
from quant_models.families._tree_eval import (
    ZERO_THRESHOLD,
    CompiledBooster,
    TreeBank,
    compile_lightgbm,
)
from quant_models.families._trees import LightGBMClassifier
from quant_models.features import compute_features

from .helpers import TINY_FEATURES

N_FEATURES = 5


def _train(x: np.ndarray, y: np.ndarray, rounds: int = 12, **params: Any) -> Any:
    base = {"objective": "binary", "num_leaves": 7, "min_data_in_leaf": 5, "verbosity": -1}
    return lgb.train({**base, **params}, lgb.Dataset(x, label=y), num_boost_round=rounds)


def _data(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)) * np.array([1.0, 0.01, 100.0, 1.0, 1.0])
    y = (x[:, 0] + x[:, 1] * 50 + 0.5 * rng.normal(size=n) > 0).astype(float)
    return x, y


def _compiled(booster: Any) -> CompiledBooster:
    compiled = compile_lightgbm(booster)
    assert compiled is not None
    return compiled


def _lightgbm(seed: int, **params: Any) -> LightGBMClassifier:
    return cast(LightGBMClassifier, get_family("lightgbm").build(params, seed=seed))


def _boosters() -> dict[str, Any]:
    """Boosters covering each missing type, a custom sigmoid, deep trees and constant trees."""
    x, y = _data(1)
    with_nan = x.copy()
    with_nan[np.random.default_rng(2).random(x.shape) < 0.2] = np.nan
    with_zero = x.copy()
    with_zero[np.random.default_rng(3).random(x.shape) < 0.3] = 0.0
    truncated = _train(x, y, rounds=10)
    truncated.best_iteration = 4  # predict (and the text model) then use 4 trees only
    return {
        "plain": _train(x, y),
        "nan": _train(with_nan, y),
        "zero": _train(with_zero, y, zero_as_missing=True),
        "no_missing": _train(with_nan, y, use_missing=False),
        "sigmoid": _train(x, y, sigmoid=0.6),
        "deep": _train(x, y, rounds=30, num_leaves=31, learning_rate=0.3),
        "constant": _train(x[:20], y[:20], rounds=3, min_data_in_leaf=100),
        "truncated": truncated,
    }


@pytest.fixture(scope="module")
def boosters() -> dict[str, Any]:
    return _boosters()


def _inputs(boosters: dict[str, Any], seed: int) -> np.ndarray:
    """Random rows, then rows of edge values and of the boosters' own thresholds."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, N_FEATURES)) * rng.choice([1e-3, 0.01, 1.0, 100.0], (600, 1))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[rng.random(x.shape) < 0.1] = 0.0
    edges = np.array(
        [
            0.0,
            -0.0,
            1e-40,
            -1e-40,
            ZERO_THRESHOLD,
            -ZERO_THRESHOLD,
            np.nextafter(ZERO_THRESHOLD, 1.0),
            np.nextafter(-ZERO_THRESHOLD, -1.0),
            np.inf,
            -np.inf,
            np.nan,
        ]
    )
    rows = [np.tile(edges[:, None], (1, N_FEATURES))]
    for booster in boosters.values():
        compiled = _compiled(booster)
        internal = compiled.children[:, 0] != np.arange(len(compiled.feature))
        for f, t in zip(compiled.feature[internal], compiled.threshold[internal], strict=True):
            for v in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)):
                row = rng.normal(size=N_FEATURES)
                row[f] = v
                rows.append(row[None, :])
    return np.vstack([x, *rows])


def test_the_boosters_exercise_every_missing_mode(boosters: dict[str, Any]) -> None:
    compiled = {name: _compiled(b) for name, b in boosters.items()}
    masks = {name: set(c.missing.tolist()) for name, c in compiled.items()}
    assert 4 in masks["nan"]
    assert 6 in masks["zero"]
    assert masks["plain"] == {0}
    assert set(compiled["nan"].default_right.tolist()) == {False, True}
    assert compiled["constant"].depth == 0
    assert len(compiled["constant"].roots) == 1  # training stops: no split is possible
    assert len(compiled["truncated"].roots) == 4
    assert compiled["sigmoid"].sigmoid == 0.6
    assert compiled["deep"].depth > compiled["plain"].depth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_booster_gives_the_librarys_bytes(boosters: dict[str, Any], seed: int) -> None:
    x = _inputs(boosters, seed)
    names = sorted(boosters)
    bank = TreeBank([_compiled(boosters[n]) for n in names])
    which = np.random.default_rng(seed).integers(0, len(names), len(x))
    got = bank.predict(which, x)
    for k, name in enumerate(names):
        chosen = which == k
        want = boosters[name].predict(x[chosen])
        assert np.array_equal(got[chosen], want), name
        alone = TreeBank([_compiled(boosters[name])])
        zeros = np.zeros(len(x), dtype=np.int64)
        for rows in (
            x,
            x.astype(np.float32),
            np.nan_to_num(x * 100, posinf=1e9, neginf=-1e9).astype(int),
        ):
            assert np.array_equal(alone.predict(zeros, rows), boosters[name].predict(rows)), name


def test_project_models_on_real_features_give_the_librarys_bytes(small_dataset: Dataset) -> None:
    """The project's LightGBM wrapper on computed features, NaN warm-up rows included."""
    panel = Panel.from_frame(small_dataset.frame())
    values = compute_features(panel, TINY_FEATURES).values
    x = values.reshape(-1, values.shape[2])
    close = panel.close.reshape(-1)
    y = (np.roll(close, -1) > close).astype(float)
    assert np.isnan(x).any()
    models = []
    for seed, params in enumerate(({}, {"num_leaves": 15, "n_estimators": 40})):
        model = _lightgbm(seed, min_data_in_leaf=20, **params)
        model.fit(x[: len(x) // 2], y[: len(x) // 2])
        models.append(model)
    bank = TreeBank([_compiled(m.booster) for m in models])
    for k, model in enumerate(models):
        got = bank.predict(np.full(len(x), k, dtype=np.int64), x)
        assert np.array_equal(got, model.predict_proba(x))


def test_scores_past_exps_range_saturate_as_in_c(boosters: dict[str, Any]) -> None:
    """A raw score beyond ±709 overflows ``exp``: C gives inf, so exactly 0 or 1."""
    text = boosters["plain"].model_to_string()
    text = re.sub(r"^tree_sizes=.*\n", "", text, flags=re.MULTILINE)  # sizes change below

    def saturate(match: re.Match[str]) -> str:  # the first tree's leaves become ±1000
        leaves = [float(v) for v in match[1].split()]
        middle = float(np.median(leaves))
        return "leaf_value=" + " ".join("1000" if v > middle else "-1000" for v in leaves)

    huge = re.sub(r"^leaf_value=(.*)$", saturate, text, count=1, flags=re.MULTILINE)
    booster = lgb.Booster(model_str=huge)
    x = _inputs({"plain": boosters["plain"]}, 5)
    got = TreeBank([_compiled(booster)]).predict(np.zeros(len(x), dtype=np.int64), x)
    assert np.array_equal(got, booster.predict(x))
    assert set(got.tolist()) <= {0.0, 1.0}
    assert len(set(got.tolist())) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"linear_tree": True},
        {"boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1},
        {"objective": "regression"},
        {"objective": "multiclass", "num_class": 3},
        {"objective": "cross_entropy"},
    ],
)
def test_what_cannot_be_exact_is_not_compiled(params: dict[str, Any]) -> None:
    x, y = _data(4)
    if params.get("objective") == "multiclass":
        y = (x[:, 0] > 0).astype(float) + (x[:, 0] > 1).astype(float)
    assert compile_lightgbm(_train(x, y, rounds=3, **params)) is None


def _categorical(n_features: int) -> Any:
    """A booster whose trees split on the categorical feature 0."""
    rng = np.random.default_rng(6)
    x = np.column_stack([rng.integers(0, 6, 400), rng.normal(size=(400, n_features - 1))])
    y = (np.isin(x[:, 0], (1, 4)) ^ (x[:, 1] > 1.5)).astype(float)
    params = {"objective": "binary", "min_data_in_leaf": 5, "verbosity": -1}
    data = lgb.Dataset(x.astype(float), label=y, categorical_feature=[0])
    booster = lgb.train(params, data, num_boost_round=3)
    assert "num_cat=0" not in booster.model_to_string().split("end of trees")[0]
    return booster


def test_categorical_splits_are_not_compiled() -> None:
    assert compile_lightgbm(_categorical(2)) is None


def test_a_bank_needs_one_feature_count(boosters: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="one feature count"):
        TreeBank([])
    x, y = _data(7)
    narrow = _compiled(_train(x[:, :3], y, rounds=2))
    wide = _compiled(boosters["plain"])
    with pytest.raises(ValueError, match=r"\[3, 5\]"):
        TreeBank([narrow, wide])


# --- calibration over many members at once --------------------------------------------------


def _calibrators(rng: np.random.Generator, count: int) -> list[Calibrator]:
    out = []
    for _ in range(count):
        method = rng.choice(["platt", "identity", "isotonic", "other"])
        if method == "platt":
            out.append(Calibrator("platt", a=float(rng.normal() * 3), b=float(rng.normal())))
        elif method == "isotonic":
            xs, ys = np.sort(rng.random(6)), np.sort(rng.random(6))
            out.append(Calibrator("isotonic", x=xs, y=ys))
        else:
            out.append(Calibrator(str(method)))  # an unknown method maps like identity
    return out


@pytest.mark.parametrize("seed", range(5))
def test_apply_each_gives_each_calibrators_bytes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    calibrators = _calibrators(rng, 80)
    sizes = rng.integers(0, 12, len(calibrators)).tolist()
    p = rng.random(sum(sizes)) ** rng.choice([0.2, 1.0, 5.0], sum(sizes))
    p[rng.random(len(p)) < 0.05] = 0.0
    p[rng.random(len(p)) < 0.05] = 1.0
    got = apply_each(calibrators, p, sizes)
    start = 0
    for calibrator, size in zip(calibrators, sizes, strict=True):
        segment = p[start : start + size]
        assert np.array_equal(got[start : start + size], calibrator.apply(segment))
        for i in range(size):  # and as the predictor used to: one value at a time
            one = calibrator.apply(segment[i : i + 1])
            assert got[start + i] == one[0]
        start += size
    assert len(apply_each([], np.empty(0), [])) == 0


# --- the serving evaluator --------------------------------------------------------------------


def _entry(model: Any, calibrator: Calibrator, symbol: str | None = None) -> ModelEntry:
    scope = "global" if symbol is None else "specialist"
    return ModelEntry(1, model.family, scope, symbol, {}, calibrator, model)


def test_the_evaluator_matches_one_library_call_per_request() -> None:
    x, y = _data(8)
    models = [_lightgbm(s, min_data_in_leaf=10) for s in range(3)]
    for model in models:
        model.fit(x, y)
    categorical = _lightgbm(0)
    categorical.booster = _categorical(N_FEATURES)
    xgb = get_family("xgboost").build({"n_estimators": 5}, seed=1)
    xgb.fit(x, y)
    narrow = _lightgbm(4, min_data_in_leaf=10)
    narrow.fit(x[:, :3], y)
    rng = np.random.default_rng(9)
    cals = _calibrators(rng, 6)
    entries = [
        _entry(models[0], cals[0]),
        _entry(models[1], cals[1], "BTC"),
        _entry(models[2], cals[2], "ETH"),
        _entry(categorical, cals[3], "SOL"),
        _entry(xgb, cals[4]),
        _entry(narrow, cals[5], "XRP"),
    ]
    evaluator = MemberEvaluator(entries, n_features=N_FEATURES)
    assert evaluator.compiled == 3  # the categorical, XGBoost and narrow members are not
    rows = np.vstack([x[:40], _inputs({"m": models[0].booster}, 10)[-60:]])
    requests: list[tuple[ModelEntry, list[int]]] = [
        (entries[0], list(range(0, 100, 3))),
        (entries[1], [5]),
        (entries[3], [6]),
        (entries[2], [7]),
        (entries[4], list(range(50, 60))),
        (entries[1], [99]),
        (entries[0], []),
    ]
    values, offsets = evaluator.calibrated(requests, rows)
    assert offsets == [0, 34, 35, 36, 37, 47, 48, 48]
    for k, (entry, members) in enumerate(requests):
        want = entry.calibrator.apply(entry.model.predict_proba(rows[members]))
        assert np.array_equal(values[offsets[k] : offsets[k + 1]], want)
    only_library = MemberEvaluator(entries[3:5], n_features=N_FEATURES)
    assert only_library.compiled == 0
    got, _ = only_library.calibrated([(entries[4], [1, 2])], rows)
    assert np.array_equal(got, cals[4].apply(xgb.predict_proba(rows[[1, 2]])))
