"""The regime HMM: recovers known regimes, causal, streaming equals batch, stable labels."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from itertools import permutations

import numpy as np
import pytest

from quant_models._errors import ArtifactError, ConfigError, DataError
from quant_models.families import (
    REGIME_LABELS,
    RegimeInputError,
    RegimeModel,
    fit_regimes,
)
from quant_models.families._regime import label_order

Fitted = tuple[RegimeModel, np.ndarray, np.ndarray]


def test_recovers_the_true_regimes_out_of_sample(fitted: Fitted) -> None:
    model, close, truth = fitted
    predicted = model.posterior(close).argmax(axis=1)
    held_out = slice(1440 + 2 * model.window, None)  # bars the fit never saw
    accuracy = float((predicted[held_out] == truth[held_out]).mean())
    assert accuracy > 0.85  # chance is 0.25
    for k in range(len(REGIME_LABELS)):  # every regime is found under its own label
        mine = truth[held_out] == k
        if mine.any():
            assert (predicted[held_out][mine] == k).mean() > 0.6


@pytest.mark.parametrize("seed", [0, 7])
def test_labels_are_stable_across_refits_from_other_seeds(fitted: Fitted, seed: int) -> None:
    model, close, _ = fitted
    other = fit_regimes(close[:, :1440], seed=seed, window=12)
    a = model.posterior(close).argmax(axis=1)[12:]
    b = other.posterior(close).argmax(axis=1)[12:]
    assert (a == b).mean() > 0.9


def test_posterior_rows_are_distributions(fitted: Fitted) -> None:
    model, close, _ = fitted
    post = model.posterior(close)
    assert post.shape == (close.shape[1], 4)
    assert (post >= 0).all()
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # before the first feature row the filter only predicts: the prior, propagated
    np.testing.assert_allclose(post[0], model.start)


def test_posterior_at_t_ignores_appended_or_altered_later_bars(fitted: Fitted) -> None:
    model, close, _ = fitted
    base = model.posterior(close[:, :1600])
    altered = close.copy()
    altered[:, 1600:] *= np.random.default_rng(5).uniform(0.3, 3.0, altered[:, 1600:].shape)
    for later in (close, altered):
        assert model.posterior(later)[:1600].tobytes() == base.tobytes()


def test_streaming_equals_the_batch_filter_bit_for_bit(fitted: Fitted) -> None:
    model, close, _ = fitted
    gapped = close[:, 1300:].copy()
    gapped[1, 50:60] = np.nan
    gapped[:, 200] = np.nan
    batch, loglik = model.posterior_and_loglik(gapped)
    stream = model.filter()
    rows, lls = [], []
    for t in range(gapped.shape[1]):
        rows.append(stream.update(gapped[:, t]))
        lls.append(stream.log_likelihood)
    assert np.array(rows).tobytes() == batch.tobytes()
    assert np.array(lls).tobytes() == loglik.tobytes()
    assert np.isnan(loglik[:12]).all()
    assert np.isfinite(loglik[12:200]).all()


def test_stream_refuses_a_changed_coin_count_or_a_bad_price(fitted: Fitted) -> None:
    model, close, _ = fitted
    stream = model.filter()
    stream.update(close[:, 0])
    with pytest.raises(RegimeInputError):
        stream.update(close[:3, 1])
    with pytest.raises(RegimeInputError):
        stream.update(np.full(close.shape[0], -1.0))


def test_fit_is_deterministic_and_serialises_losslessly(fitted: Fitted) -> None:
    model, close, _ = fitted
    again = fit_regimes(close[:, :1440], seed=3, window=12)
    assert again.to_bytes() == model.to_bytes()
    loaded = RegimeModel.from_bytes(model.to_bytes())
    assert loaded.to_bytes() == model.to_bytes()
    assert loaded.posterior(close).tobytes() == model.posterior(close).tobytes()
    for name in ("means", "variances", "transition", "feature_mean", "feature_scale"):
        assert getattr(loaded, name).tobytes() == getattr(model, name).tobytes()
    assert model.to_bytes().startswith(b"{")


_CHILD = """
import hashlib, sys
import numpy as np
rng = np.random.default_rng(4)
close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (5, 500)), axis=1))
from quant_models.families import fit_regimes
sys.stdout.write(hashlib.sha256(fit_regimes(close, seed=2, window=12).to_bytes()).hexdigest())
"""


def test_same_seed_and_data_give_identical_bytes_in_two_processes() -> None:
    digests = {
        subprocess.run(
            [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (5, 500)), axis=1))
    here = hashlib.sha256(fit_regimes(close, seed=2, window=12).to_bytes()).hexdigest()
    assert digests == {here}


def test_label_order_follows_the_means_not_the_state_indices() -> None:
    means = np.random.default_rng(8).normal(size=(4, 4))
    order = label_order(means)
    assert sorted(order) == [0, 1, 2, 3]
    for perm in permutations(range(4)):
        shuffled = means[list(perm)]
        assert [perm[i] for i in label_order(shuffled)] == list(order)


def test_label_rule_on_hand_made_means() -> None:
    # columns: momentum, efficiency, log_volatility, comovement
    means = np.array(
        [[-2.0, 0.0, 1.0, 2.0], [0.0, -1.0, -1.0, 0.0], [0.0, 0.0, 2.0, 0.0], [1.0, 2.0, -1.0, 0]]
    )
    assert label_order(means) == (3, 1, 2, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": -1},
        {"seed": True},
        {"seed": 1.5},
        {"seed": 0, "max_iter": 0},
        {"seed": 0, "min_bars": 3},
        {"seed": 0, "tol": -1.0},
        {"seed": 0, "tol": 1},
        {"seed": 0, "restarts": 0},
    ],
)
def test_bad_fit_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        fit_regimes(np.ones((2, 400)), **kwargs)  # type: ignore[arg-type]
    assert info.value.reason_code == "CONFIG_INVALID"


def test_too_little_data_is_refused(
    make_panel: Callable[..., tuple[np.ndarray, np.ndarray]],
) -> None:
    close, _ = make_panel(0, blocks=2, block_bars=60)
    with pytest.raises(DataError) as info:
        fit_regimes(close, seed=0, window=12, min_bars=200)
    assert info.value.reason_code == "INSUFFICIENT_DATA"
    all_gaps = np.full((3, 500), np.nan)
    with pytest.raises(DataError):
        fit_regimes(all_gaps, seed=0)


def test_fit_skips_leading_gaps_and_handles_constant_features() -> None:
    rng = np.random.default_rng(6)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (1, 400)), axis=1))
    close[0, :30] = np.nan
    model = fit_regimes(close, seed=0, window=6, max_iter=3, restarts=1, tol=0.0)
    assert model.feature_scale[3] == 1.0  # one coin: comovement is constant
    assert np.isfinite(model.posterior(close)).all()


def _document(model: RegimeModel) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(model.to_bytes())
    return loaded


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", "other/1"),
        ("labels", ["a", "b", "c", "d"]),
        ("window", 1),
        ("seed", "0"),
        ("means", [[0.0]]),
        ("means", "x"),
        ("start", ["nan", "0x1p-2", "0x1p-2", "0x1p-2"]),
        ("start", ["-0x1p-2", "0x1p-2", "0x1p-2", "0x1p-2"]),
        ("variances", [["0x0p+0"] * 4] * 4),
        ("log_likelihood", None),
    ],
)
def test_corrupt_documents_are_refused(fitted: Fitted, field: str, value: object) -> None:
    doc = _document(fitted[0])
    doc[field] = value
    with pytest.raises(ArtifactError) as info:
        RegimeModel.from_bytes(json.dumps(doc).encode())
    assert info.value.reason_code == "ARTIFACT_INVALID"


@pytest.mark.parametrize("data", [b"not json", b"[]", b"{}"])
def test_non_documents_are_refused(data: bytes) -> None:
    with pytest.raises(ArtifactError):
        RegimeModel.from_bytes(data)
