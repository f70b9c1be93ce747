"""Fitting, predicting, calibrating and saving the stacking meta-learner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import pytest
from scipy.optimize import minimize
from tests.quant_models.meta._tables import make_table

from quant_models.families import (
    MetaArtifactError,
    MetaConfig,
    MetaInputError,
    MetaLearner,
    fit_meta,
)
from quant_models.families._meta import _design, _logit, _sigmoid, _solve
from quant_models.families._meta_rows import stack_rows
from quant_models.training import OofTable, choose_calibrator

CONTEXT_BARS = 600
REPO = Path(__file__).resolve().parents[3]


def parity_context() -> np.ndarray:
    """Two gating columns: even bars, odd bars (the regime of ``make_table(regime_flip)``)."""
    t = np.arange(CONTEXT_BARS)
    return np.stack([t % 2 == 0, t % 2 == 1], axis=1).astype(np.float64)


START = np.array([0.0, 1 / 3, 1 / 3, 1 / 3])  # the ridge pulls toward the plain average


def objective(theta: np.ndarray, x: np.ndarray, y: np.ndarray, reg: np.ndarray) -> float:
    z, gap = x @ theta, theta - START
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.dot(reg * gap, gap))


def test_the_solver_meets_the_optimality_conditions_and_matches_scipy() -> None:
    rows = stack_rows(make_table(), 1)
    x, y = _design(_logit(rows.p), np.ones((len(rows.y), 1))), rows.y
    config = MetaConfig(l2=1e-3)
    start = START
    theta = _solve(x, y, 1, start, config)
    reg = np.array([1e-8, 1e-3, 1e-3, 1e-3])
    q = _sigmoid(x @ theta)
    grad = x.T @ (q - y) / len(y) + reg * (theta - START)
    assert (theta[1:] >= 0).all()
    at_bound = theta[1:] == 0
    assert at_bound.any()  # the noise model is switched off ...
    assert (grad[1:][at_bound] > 0).all()  # ... because raising it would cost
    assert np.abs(grad[~np.r_[False, at_bound]]).max() < 1e-8
    bounds = [(None, None)] + [(0.0, None)] * 3
    ref = minimize(objective, start, args=(x, y, reg), method="L-BFGS-B", bounds=bounds)
    assert objective(theta, x, y, reg) <= ref.fun + 1e-12
    # with no tolerance left the line search stops at float precision, at the same optimum
    tight = _solve(x, y, 1, start, MetaConfig(tol=1e-300, max_iter=200))
    assert np.allclose(tight, theta, atol=1e-7)
    one = _solve(x, y, 1, start, MetaConfig(max_iter=1))  # one Newton step already descends
    assert objective(theta, x, y, reg) <= objective(one, x, y, reg) < objective(start, x, y, reg)


def test_weights_follow_the_information_of_each_base_model() -> None:
    learner = fit_meta(make_table(strengths=(1.0, 0.5, 0.0)), 1)
    w = learner.weights[0]
    assert w[0] > w[1] > w[2] >= 0
    assert learner.models == ("m0/global", "m1/global", "m2/global")
    assert learner.folds == (0, 1, 2, 3)
    assert learner.context_columns == 0
    swapped = fit_meta(make_table(strengths=(0.0, 0.5, 1.0)), 1)
    assert swapped.weights[0][2] > swapped.weights[0][1] > swapped.weights[0][0]


def test_context_gates_pick_a_weight_vector_per_regime() -> None:
    table = make_table(regime_flip=True, strengths=(0.0, 0.0, 0.0))
    learner = fit_meta(table, 1, context=parity_context())
    even, odd = learner.weights
    assert even[0] > even[1]
    assert odd[1] > odd[0]
    assert learner.context_columns == 2
    assert len(learner.intercepts) == 2
    p = np.array([[0.9, 0.1, 0.5]])
    up = learner.predict(p, np.array([[1.0, 0.0]])).p_raw[0]
    down = learner.predict(p, np.array([[0.0, 1.0]])).p_raw[0]
    assert up > 0.5 > down  # each regime trusts its own model
    with pytest.raises(MetaInputError):
        learner.predict(p)
    with pytest.raises(MetaInputError):
        fit_meta(table, 1, context=parity_context()[:10])


def test_calibration_is_chosen_on_predictions_of_weights_fit_on_earlier_folds() -> None:
    table = make_table(n_folds=4, noise=0.3)
    learner = fit_meta(table, 1)
    honest_p, honest_y = [], []
    for k in (1, 2, 3):
        earlier = OofTable(table.symbols, table.open_times_ns,
                           tuple(b for b in table.blocks if b.fold < k))  # fmt: skip
        past = fit_meta(earlier, 1, config=MetaConfig(min_calibration_rows=10**9))
        assert past.calibrator.method == "identity"
        now = stack_rows(table, 1)
        now = now.where(now.fold == k)
        honest_p.append(past.predict(now.p).p_raw)
        honest_y.append(now.y)
    honest = (np.concatenate(honest_p), np.concatenate(honest_y))
    expected, _ = choose_calibrator(*honest, learner.config.calibration)
    assert learner.calibrator == expected
    out = learner.predict(stack_rows(table, 1).p)
    assert np.array_equal(out.p, expected.apply(out.p_raw))


def test_confidence_is_one_when_the_weighted_models_agree() -> None:
    learner = fit_meta(make_table(), 1)
    p = np.array([[0.7, 0.7, 0.7], [0.9, 0.1, 0.5], [0.6, 0.55, 0.2]])
    out = learner.predict(p)
    assert out.confidence[0] == pytest.approx(1.0)
    assert out.confidence[1] < out.confidence[2] < 1.0
    assert ((out.confidence >= 0) & (out.confidence <= 1)).all()
    assert np.allclose(out.confidence, 1 - 2 * out.disagreement)
    off = MetaLearner(1, ("a/g", "b/g"), (0.0,), ((0.0, 0.0),))  # no weight: equal shares
    assert off.predict(np.array([[0.2, 0.8]])).disagreement[0] == pytest.approx(0.3)
    assert off.predict(np.array([[0.2, 0.8]])).p[0] == pytest.approx(0.5)


def test_predict_refuses_bad_input() -> None:
    learner = fit_meta(make_table(n_folds=2), 1)
    for bad in (np.ones((2, 2)), np.ones(3), np.full((1, 3), np.nan), np.full((1, 3), 1.5)):
        with pytest.raises(MetaInputError) as info:
            learner.predict(bad)
        assert info.value.reason_code == "META_INPUT_INVALID"
    with pytest.raises(MetaInputError):
        learner.predict(np.full((1, 3), 0.5), np.ones((1, 1)))
    with pytest.raises(MetaInputError):
        MetaConfig(l2=0.0)


def test_json_round_trip_is_exact() -> None:
    learner = fit_meta(make_table(regime_flip=True), 1, context=parity_context())
    data = learner.to_json()
    again = MetaLearner.from_json(data)
    assert again == learner
    assert again.to_json() == data
    rows = stack_rows(make_table(), 1)
    p, gates = rows.p, parity_context()[rows.time_rows]
    assert np.array_equal(again.predict(p, gates).p, learner.predict(p, gates).p)
    assert b"pickle" not in data
    assert json.loads(data)["format"] == "quant-meta-stack/1"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("format"),
        lambda d: d.update(format="quant-meta-stack/0"),
        lambda d: d.update(weights=[[1.0]]),
        lambda d: d.update(intercepts=[0.0, 0.0]),
        lambda d: d.pop("models"),
        lambda d: d["config"].update(l2=-1.0),
    ],
)
def test_a_malformed_artifact_is_refused(mutate: object) -> None:
    raw = json.loads(fit_meta(make_table(n_folds=2), 1).to_json())
    mutate(raw)  # type: ignore[operator]
    with pytest.raises(MetaArtifactError) as info:
        MetaLearner.from_json(json.dumps(raw).encode())
    assert info.value.reason_code == "META_ARTIFACT_INVALID"
    for junk in (b"not json", b"[1, 2]"):
        with pytest.raises(MetaArtifactError):
            MetaLearner.from_json(junk)


def test_same_inputs_give_identical_bytes_in_two_processes() -> None:
    script = (
        "import sys, hashlib; sys.path.insert(0, '.');"
        "from tests.quant_models.meta._tables import make_table;"
        "from quant_models.families import fit_meta;"
        "print(hashlib.sha256(fit_meta(make_table(3), 1).to_json()).hexdigest())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
    import hashlib

    assert runs == {hashlib.sha256(fit_meta(make_table(3), 1).to_json()).hexdigest() + "\n"}
    assert attrs.asdict(fit_meta(make_table(3), 1)) == attrs.asdict(fit_meta(make_table(3), 1))
