"""Validation scoring with a false-transition penalty, and the ensemble's gating function."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from quant_models._errors import ConfigError
from quant_models.families import (
    RegimeInputError,
    RegimeModel,
    count_transitions,
    regime_weights,
    score_regimes,
)

Fitted = tuple[RegimeModel, np.ndarray, np.ndarray]


def _plain_count(path: list[int], min_dwell: int) -> tuple[int, int]:
    """Walk the path run by run."""
    runs: list[int] = []
    for i, state in enumerate(path):
        if i == 0 or state != path[i - 1]:
            runs.append(1)
        else:
            runs[-1] += 1
    changes = len(runs) - 1
    false = sum(1 for length in runs[1:-1] if length < min_dwell)
    return changes, false


@pytest.mark.parametrize("seed", range(20))
def test_count_transitions_matches_a_run_walk(seed: int) -> None:
    rng = np.random.default_rng(seed)
    path = [int(v) for v in rng.integers(0, 3, int(rng.integers(1, 40)))]
    dwell = int(rng.integers(1, 5))
    assert count_transitions(path, min_dwell=dwell) == _plain_count(path, dwell)


def test_count_transitions_edge_cases() -> None:
    assert count_transitions([], min_dwell=2) == (0, 0)
    assert count_transitions([1, 1, 1], min_dwell=2) == (0, 0)
    assert count_transitions([0, 1], min_dwell=5) == (1, 0)  # undecided at the end
    assert count_transitions([0, 1, 0], min_dwell=1) == (2, 0)
    with pytest.raises(ConfigError):
        count_transitions([0], min_dwell=0)
    with pytest.raises(ConfigError):
        count_transitions([0], min_dwell=True)


def test_score_penalises_false_transitions(fitted: Fitted) -> None:
    model, close, _ = fitted
    span = close[:, 1440:]
    free = score_regimes(model, span, penalty=0.0)
    strict = score_regimes(model, span, penalty=5.0, min_dwell=50)
    assert free.score == free.log_likelihood
    _, loglik = model.posterior_and_loglik(span)
    assert free.log_likelihood == pytest.approx(float(np.nanmean(loglik)))
    assert free.observed_bars == span.shape[1] - model.window
    expected = strict.log_likelihood - 5.0 * strict.false_transitions / strict.observed_bars
    assert strict.score == pytest.approx(expected)
    assert strict.false_transitions >= free.false_transitions


def test_a_flickering_model_scores_below_a_sticky_one(
    fitted: Fitted, make_panel: Callable[..., tuple[np.ndarray, np.ndarray]]
) -> None:
    model = fitted[0]
    flicker = RegimeModel(
        window=model.window,
        feature_mean=model.feature_mean,
        feature_scale=model.feature_scale,
        means=model.means,
        variances=model.variances,
        transition=np.full((4, 4), 0.25),  # no persistence: the filter follows every row
        start=model.start,
        seed=model.seed,
        log_likelihood=model.log_likelihood,
    )
    # short blocks: many real changes, where a filter without persistence flickers
    span, _ = make_panel(9, blocks=24, block_bars=40)
    sticky, loose = score_regimes(model, span), score_regimes(flicker, span)
    assert loose.false_transitions > sticky.false_transitions
    assert loose.score < sticky.score


def test_score_refusals(fitted: Fitted) -> None:
    model, close, _ = fitted
    with pytest.raises(ConfigError):
        score_regimes(model, close, penalty=-1.0)
    with pytest.raises(ConfigError):
        score_regimes(model, close, penalty="1")  # type: ignore[arg-type]
    with pytest.raises(RegimeInputError):
        score_regimes(model, close[:, : model.window])


def test_weights_are_the_posterior_mix_of_affinities() -> None:
    rng = np.random.default_rng(2)
    post = rng.dirichlet(np.ones(4), size=30)
    affinity = rng.uniform(0, 1, (5, 4))
    weights = regime_weights(post, affinity)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    t = 7
    raw = [sum(post[t, k] * affinity[s, k] for k in range(4)) for s in range(5)]
    np.testing.assert_allclose(weights[t], np.array(raw) / sum(raw))
    assert weights.tobytes() == regime_weights(post, affinity).tobytes()


def test_hard_gating_uses_the_most_likely_regime_only() -> None:
    post = np.array([[0.1, 0.2, 0.6, 0.1], [0.25, 0.25, 0.25, 0.25]])
    affinity = np.eye(4)
    gated = regime_weights(post, affinity, hard=True)
    assert gated.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]


def test_a_bar_no_specialist_covers_gets_equal_weights() -> None:
    weights = regime_weights([[0, 0, 0, 1.0]], [[1, 0, 0, 0], [0, 1, 0, 0]])
    assert weights.tolist() == [[0.5, 0.5]]


@pytest.mark.parametrize(
    ("post", "aff"),
    [
        (np.ones((2, 3)), np.ones((1, 4))),
        (np.ones(4), np.ones((1, 4))),
        (np.ones((2, 4)), np.ones((1, 3))),
        (np.ones((2, 4)), np.ones((0, 4))),
        (np.full((2, 4), np.nan), np.ones((1, 4))),
        (np.ones((2, 4)), -np.ones((1, 4))),
    ],
)
def test_bad_weight_inputs_are_refused(post: np.ndarray, aff: np.ndarray) -> None:
    with pytest.raises(RegimeInputError) as info:
        regime_weights(post, aff)
    assert info.value.reason_code == "FEATURE_INPUT_INVALID"
