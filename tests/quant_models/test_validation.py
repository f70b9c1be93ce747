"""Walk-forward splits, metrics, calibration, search and baselines."""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_core import generator, structure, unstructure
from quant_models import ConfigError, DataError, reasons
from quant_models._metrics import (
    brier,
    brier_skill,
    directional_accuracy,
    expected_calibration_error,
    log_loss,
    score,
    simulate_long_only,
)
from quant_models.training import Calibrator, choose_calibrator, fit_calibrator, walk_forward
from quant_models.training._baselines import fit_climatology, fit_logistic, fit_persistence
from quant_models.training._search import grid_free_search


@given(
    n=st.integers(260, 2000),
    folds=st.integers(1, 5),
    test=st.integers(5, 30),
    purge=st.integers(0, 24),
    embargo=st.integers(0, 24),
    mode=st.sampled_from(["expanding", "sliding"]),
)
def test_folds_never_train_on_or_near_the_test_block(
    n: int,
    folds: int,
    test: int,
    purge: int,
    embargo: int,
    mode: Literal["expanding", "sliding"],
) -> None:
    result = walk_forward(
        n,
        n_folds=folds,
        test_size=test,
        purge=purge,
        embargo=embargo,
        min_train=50,
        start=10,
        mode=mode,
    )
    assert len(result) == folds
    for fold in result:
        # a training label at t looks purge bars ahead: it must end before the test block
        assert fold.train_end - 1 + purge < fold.test_start
        assert fold.test_start - fold.train_end == purge + embargo
        assert fold.train_start >= 10
        assert fold.train_end - fold.train_start >= 50
        if mode == "sliding":
            assert fold.train_end - fold.train_start == 50
    tests = [(f.test_start, f.test_end) for f in result]
    assert tests[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(tests))


def test_folds_refuse_too_little_data() -> None:
    with pytest.raises(DataError) as exc:
        walk_forward(100, n_folds=5, test_size=20, purge=1, min_train=10)
    assert exc.value.reason_code == reasons.INSUFFICIENT_DATA
    with pytest.raises(ConfigError):
        walk_forward(100, n_folds=0, test_size=20, purge=1)
    with pytest.raises(ConfigError):
        walk_forward(100, n_folds=1, test_size=20, purge=1, mode="static")  # type: ignore[arg-type]


def test_metrics_hand_computed() -> None:
    p = np.array([0.8, 0.3, 0.6, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    assert directional_accuracy(p, y) == 0.5  # 0.5 counts as "not up"
    assert brier(p, y) == pytest.approx((0.04 + 0.09 + 0.36 + 0.25) / 4)
    assert log_loss(p, y) == pytest.approx(
        -(math.log(0.8) + math.log(0.7) + math.log(0.4) + math.log(0.5)) / 4
    )
    assert brier_skill(p, y, 0.5) == pytest.approx(1 - brier(p, y) / 0.25)
    assert brier_skill(p, np.ones(4), 1.0) == 0.0
    assert brier_skill(np.full(4, 0.5), y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0)
    # two bins: [0.2,0.2] -> freq 0.5 gap 0.3; [0.9] -> freq 1 gap 0.1
    assert expected_calibration_error(np.array([0.2, 0.2, 0.9]), np.array([0.0, 1.0, 1.0])) == (
        pytest.approx((2 * 0.3 + 0.1) / 3)
    )


def test_simulation_is_long_only_and_pays_fees() -> None:
    p = np.array([0.7, 0.4, 0.56, 0.9])
    fwd = np.array([0.01, 0.05, -0.02, 0.004])
    sim = simulate_long_only(p, fwd, threshold=0.55, fee=0.002)
    assert sim.trades == 3
    assert sim.total_net_return == pytest.approx(0.01 - 0.02 + 0.004 - 3 * 0.004)
    assert sim.mean_net_return == pytest.approx(sim.total_net_return / 3)
    assert sim.exposure == 0.75
    assert sim.min_position == 0.0
    assert sim.max_position == 1.0
    none = simulate_long_only(p, fwd, threshold=0.95, fee=0.002)
    assert none.trades == 0
    assert none.mean_net_return == 0.0
    empty = score(np.array([]), np.array([]), np.array([]), climatology=0.5)
    assert empty.n == 0
    assert empty.bss == 0.0


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = generator(seed, "calibration-test")
    true_p = rng.uniform(0.3, 0.7, n)
    y = (rng.uniform(size=n) < true_p).astype(float)
    raw = 1 / (1 + np.exp(-3 * np.log(true_p / (1 - true_p))))  # overconfident
    return raw, y


def test_calibration_fixes_overconfidence_out_of_sample() -> None:
    raw, y = _miscalibrated(4000, 1)
    cal, scores = choose_calibrator(raw[:2000], y[:2000])
    assert cal.method in ("platt", "isotonic")
    assert set(scores) == {"identity", "platt", "isotonic"}
    assert scores[cal.method] < scores["identity"]
    assert brier(cal.apply(raw[2000:]), y[2000:]) < brier(raw[2000:], y[2000:])
    platt = fit_calibrator("platt", raw, y)
    assert platt.a == pytest.approx(1 / 3, abs=0.05)  # undoes the factor 3 on the logit
    iso = fit_calibrator("isotonic", raw, y)
    assert list(iso.x) == sorted(iso.x)
    assert structure(unstructure(iso), Calibrator) == iso


def test_calibration_keeps_calibrated_input_and_refuses_unknown() -> None:
    rng = generator(2, "calibrated")
    p = rng.uniform(0.2, 0.8, 3000)
    y = (rng.uniform(size=3000) < p).astype(float)
    cal, _ = choose_calibrator(p, y, ("identity", "platt"))
    assert cal.method in ("identity", "platt")
    np.testing.assert_allclose(cal.apply(p), p, atol=0.05)
    with pytest.raises(ConfigError):
        fit_calibrator("temperature", p, y)
    assert Calibrator("identity").apply(np.array([0.0]))[0] > 0


def test_search_is_seeded_budgeted_and_logged() -> None:
    space = {"depth": (1, 2, 3, 4), "rate": (0.1, 0.2)}
    seen: list[dict[str, object]] = []

    def objective(params: dict[str, object]) -> float:
        seen.append(params)
        return abs(float(params.get("depth", 0)) - 3) + float(params.get("rate", 0))  # type: ignore[arg-type]

    a = grid_free_search(space, objective, budget=6, seed=11, name=("x",))
    b = grid_free_search(space, objective, budget=6, seed=11, name=("x",))
    c = grid_free_search(space, objective, budget=6, seed=12, name=("x",))
    assert len(a.trials) == 6
    assert len(seen) == 18
    assert a.trials == b.trials
    assert [t.params for t in a.trials] != [t.params for t in c.trials]
    assert a.best.score == min(t.score for t in a.trials)
    assert a.trials[0].params == {}
    with pytest.raises(ConfigError):
        grid_free_search(space, objective, budget=0, seed=1, name=("x",))


def test_baselines() -> None:
    sym = np.array([0, 0, 0, 1, 1, 1])
    y = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    last = np.array([0.1, -0.1, 0.1, 0.1, 0.1, -0.1])
    x = np.zeros((6, 2))
    clim = fit_climatology(y, sym, n_symbols=3)(x[:3], np.array([0, 1, 2]), last[:3])
    np.testing.assert_allclose(clim, [2 / 3, 1 / 3, 0.5])
    pers = fit_persistence(y, sym, last, n_symbols=2)
    # coin 0 after an up move: ups 1 of 2; after a down move: 1 of 1
    np.testing.assert_allclose(pers(x[:2], np.array([0, 0]), np.array([0.2, -0.2])), [0.5, 1.0])
    rng = generator(3, "logistic")
    xs = rng.normal(size=(400, 3))
    ys = (xs[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(float)
    xs[0, 1] = np.nan
    logit = fit_logistic(xs, ys)
    p = logit(xs, np.zeros(400, dtype=np.int64), np.zeros(400))
    assert directional_accuracy(p, ys) > 0.85
    constant = fit_logistic(xs[:5], np.ones(5))
    assert constant(xs[:2], np.zeros(2, dtype=np.int64), np.zeros(2)).tolist() == [1.0, 1.0]
