"""Training: deterministic bytes across processes, no leak of torch settings, no test-span use."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import attrs
import numpy as np
import pytest
import torch
from tests.quant_models.sequence._data import tiny_config

from quant_models import ConfigError, DataError, Panel, reasons
from quant_models.sequence import (
    build_windows,
    choose_sequence,
    fit_sequence,
    labels,
    resolve_device,
    training_data,
)

_CHILD = """
import hashlib
from tests.quant_models.sequence._data import synthetic_panel, tiny_config
from quant_models.sequence import fit_sequence
panel = synthetic_panel()
for family in ("lstm", "transformer"):
    config = tiny_config(family=family, max_epochs=2)
    model = fit_sequence(panel, config, train_start=0, train_end=600, seed=3)
    print(hashlib.sha256(model.to_files()["weights.safetensors"]).hexdigest())
"""


def _digests(panel: Panel, seed: int) -> list[str]:
    out = []
    for family in ("lstm", "transformer"):
        config = tiny_config(family=family, max_epochs=2)
        model = fit_sequence(panel, config, train_start=0, train_end=600, seed=seed)
        out.append(hashlib.sha256(model.to_files()["weights.safetensors"]).hexdigest())
    return out


def test_same_seed_gives_identical_weight_bytes_in_two_processes(panel: Panel) -> None:
    # this process and a fresh child process (its own torch import, threads and RNG)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True
    ).stdout.split()
    here = _digests(panel, 3)
    assert child == here
    other = _digests(panel, 4)
    assert other[0] != here[0]
    assert other[1] != here[1]


def test_fitting_leaves_torch_global_settings_as_it_found_them(panel: Panel) -> None:
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    rng_before = torch.random.get_rng_state()
    fit_sequence(panel, tiny_config(max_epochs=1), train_start=0, train_end=600, seed=1, threads=2)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def test_the_test_span_never_reaches_the_weights(panel: Panel) -> None:
    config = tiny_config(family="transformer", max_epochs=2)
    close = panel.close.copy()
    close[:, 900:] *= 1.5  # a different future after the training range
    other = attrs.evolve(panel, close=close, high=panel.high * 2, low=panel.low / 2)
    other = attrs.evolve(
        other,
        high=np.where(np.arange(1200) < 900, panel.high, other.high),
        low=np.where(np.arange(1200) < 900, panel.low, other.low),
    )
    a = fit_sequence(panel, config, train_start=0, train_end=900, seed=2)
    b = fit_sequence(other, config, train_start=0, train_end=900, seed=2)
    assert a.to_files() == b.to_files()


def test_validation_is_the_newest_part_and_labels_stay_inside_each_part(panel: Panel) -> None:
    config = tiny_config(validation_fraction=0.25)
    data = training_data(panel, config, train_start=100, train_end=900)
    n_val = data.direction.shape[0] - data.n_fit
    # fit windows: bars 100..699 minus the last 4 (labels would read the validation part)
    assert data.n_fit == 3 * (700 - 4 - 100)
    assert n_val == 3 * (900 - 4 - 700)
    assert data.up_rate.shape == (2,)
    assert 0.3 < data.up_rate.min() < 0.7
    fit_x = np.concatenate([x[: data.n_fit].reshape(-1, 3) for x in data.inputs[:1]])
    assert np.allclose(fit_x.mean(axis=0), 0.0, atol=0.05)


def test_early_stopping_keeps_the_best_epoch(panel: Panel) -> None:
    # patience 1, many epochs, a high learning rate: validation loss soon gets worse
    config = tiny_config(max_epochs=30, patience=1, learning_rate=0.05)
    model = fit_sequence(panel, config, train_start=0, train_end=900, seed=5)
    assert set(model.weights)
    assert model.up_rate.shape == (2,)


def test_refuses_bad_settings_and_too_little_data(panel: Panel) -> None:
    config = tiny_config()
    with pytest.raises(ConfigError, match="threads"):
        fit_sequence(panel, config, train_start=0, train_end=900, seed=1, threads=0)
    with pytest.raises(ConfigError, match="unknown device"):
        fit_sequence(panel, config, train_start=0, train_end=900, seed=1, device="tpu")
    with pytest.raises(ConfigError, match="bad training range"):
        fit_sequence(panel, config, train_start=900, train_end=900, seed=1)
    with pytest.raises(DataError, match="too few labelled windows") as err:
        fit_sequence(panel, config, train_start=0, train_end=90, seed=1)
    assert err.value.reason_code == reasons.INSUFFICIENT_DATA


def test_device_setting() -> None:
    assert resolve_device("cpu", True) == "cpu"
    assert resolve_device("cuda", True) == "cuda"
    assert resolve_device("auto", False) == "cpu"
    with pytest.raises(ConfigError, match="no GPU"):
        resolve_device("cuda", False)


def test_choose_keeps_the_candidate_with_the_lowest_validation_log_loss(panel: Panel) -> None:
    candidates = [
        tiny_config(max_epochs=2),
        tiny_config(max_epochs=2, dropout=0.3, weight_decay=1e-2),
        tiny_config(max_epochs=2, family="transformer"),
    ]
    chosen, losses = choose_sequence(panel, candidates, train_start=0, train_end=900, seed=2)
    assert len(losses) == 3
    assert all(0.6 < loss < 0.8 for loss in losses)
    best = candidates[int(np.argmin(losses))]
    again = fit_sequence(panel, best, train_start=0, train_end=900, seed=2)
    assert chosen.to_files() == again.to_files()
    # the criterion: the direction log loss on the newest 20% of [0, 900), recomputed here
    w = build_windows(panel, best, np.arange(720, 900))
    fwd = labels(panel, best, w, 899).forward
    keep = w.valid & np.isfinite(fwd).all(axis=1)
    p = chosen.predict([x[keep] for x in w.inputs]).p_up
    y = fwd[keep] > 0
    assert min(losses) == pytest.approx(-np.mean(np.where(y, np.log(p), np.log(1 - p))))
    with pytest.raises(ConfigError, match="at least one"):
        choose_sequence(panel, [], train_start=0, train_end=900, seed=2)
    with pytest.raises(ConfigError, match="must share horizons"):
        choose_sequence(
            panel, [candidates[0], tiny_config(horizons=(1,))], train_start=0, train_end=900, seed=2
        )
