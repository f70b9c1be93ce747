"""The feature pass itself: blocked running sums, threads, precision and determinism."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from quant_core import content_hash
from quant_models import ConfigError, Panel
from quant_models.features import _batch, _cross, _sums, compute_features, rolling_std, rolling_sum

from .helpers import synthetic_frame


def _blockwise_cumsum(x: np.ndarray, block: int) -> np.ndarray:
    """The reference: a sequential running sum that restarts every ``block`` bars."""
    out = np.empty_like(x)
    for start in range(0, x.shape[1], block):
        out[:, start : start + block] = np.cumsum(x[:, start : start + block], axis=1)
    return out


@pytest.mark.parametrize(("n", "block"), [(64, 32), (300, 32), (320, 64), (40, 48), (16, 16)])
def test_running_sums_match_a_sequential_cumsum(n: int, block: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(5.0, 2.0, (3, n))
    width = -(-n // block) * block
    out = np.full((3, width), 7.0)
    _sums._running_sums(x, out, block, _sums._Scratch())
    np.testing.assert_allclose(out[:, :n], _blockwise_cumsum(x, block), rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_running_sums_with_a_non_finite_value_stay_causal(bad: float) -> None:
    """A product with the matrix's zeros would spread inf/NaN back into its group: not here."""
    rng = np.random.default_rng(1)
    n, k = 96, 37  # k is in the middle of a group of 16
    x = rng.normal(0.0, 1.0, (2, n))
    x[1, k] = bad
    out = np.empty((2, n))
    _sums._running_sums(x, out, 48, _sums._Scratch())
    reference = _blockwise_cumsum(x, 48)
    np.testing.assert_array_equal(out, reference)  # the sequential fallback, bit for bit
    assert np.isfinite(out[1, :k]).all()


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_bar_counts_as_missing_like_in_pandas(bad: float) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(10.0, 1.0, (1, 200))
    poisoned = x.copy()
    poisoned[0, 150] = bad
    frame = pd.DataFrame(poisoned.T)
    for w in (3, 24):
        moved = rolling_sum(poisoned, w)
        np.testing.assert_array_equal(moved[:, :150], rolling_sum(x, w)[:, :150])
        assert np.isnan(moved[0, 150 : 150 + w]).all()
        np.testing.assert_allclose(moved, frame.rolling(w).sum().to_numpy().T, rtol=1e-12)
        np.testing.assert_allclose(
            rolling_std(poisoned, w), frame.rolling(w).std().to_numpy().T, rtol=1e-9
        )


def test_broken_bars_after_t_move_nothing_at_t() -> None:
    """Zero, infinite and missing prices and volumes after t: features at <= t keep every bit."""
    panel = Panel.from_frame(synthetic_frame(("BTC", "ETH", "SOL"), n=300, seed=5))
    t = 170
    arrays = {name: panel.field(name).copy() for name in ("open", "high", "low", "close", "volume")}
    arrays["close"][0, t + 1] = 0.0
    arrays["close"][1, t + 3] = np.inf
    arrays["low"][2, t + 2] = 0.0
    arrays["volume"][0, t + 5] = -1.0
    arrays["volume"][1, t + 1 :] = np.nan
    broken = Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns, **arrays)
    base = compute_features(panel).values
    moved = compute_features(broken).values
    np.testing.assert_array_equal(moved[:, : t + 1], base[:, : t + 1])
    assert not np.array_equal(moved[:, t + 1 :], base[:, t + 1 :], equal_nan=True)


def _gappy_panel(n: int = 240) -> Panel:
    frame = synthetic_frame(("BTC", "ETH", "SOL", "XRP", "ADA"), n=n, seed=4)
    h = 3_600_000_000_000
    drop = frame.index[
        ((frame["symbol"] == "ETH") & (frame["open_time_ns"] == 40 * h))
        | ((frame["symbol"] == "SOL") & (frame["open_time_ns"] < 10 * h))
        | ((frame["symbol"] == "XRP") & frame["open_time_ns"].between(100 * h, 130 * h))
    ]
    return Panel.from_frame(frame.drop(index=drop))


def _digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


@pytest.mark.parametrize("gappy", [False, True])
def test_the_values_do_not_depend_on_the_number_of_threads(
    monkeypatch: pytest.MonkeyPatch, gappy: bool
) -> None:
    panel = _gappy_panel() if gappy else Panel.from_frame(synthetic_frame(("BTC", "ETH"), n=240))
    monkeypatch.setattr(_cross, "CHUNK", 240)  # one coin per chunk
    monkeypatch.setattr(_sums, "_BLOCK", 64)
    digests = {_digest(compute_features(panel, workers=k).values) for k in (1, 2, 3, 8)}
    assert len(digests) == 1


def test_workers_must_be_positive() -> None:
    panel = Panel.from_frame(synthetic_frame(("BTC",), n=30))
    with pytest.raises(ConfigError):
        compute_features(panel, workers=0)


def test_features_keep_their_digits_on_long_drifting_panels() -> None:
    """Several running-sum blocks, prices drifting 60x: every moment feature vs a two-pass one."""
    rng = np.random.default_rng(9)
    n = 6000
    frame = synthetic_frame(("BTC", "ETH"), n=n, seed=6)
    drift = np.exp(np.linspace(0.0, np.log(60.0), n))
    for k, symbol in enumerate(("BTC", "ETH")):
        rows = frame["symbol"] == symbol
        scale = drift if k == 0 else drift[::-1]
        for name in ("open", "high", "low", "close"):
            frame.loc[rows, name] = frame.loc[rows, name].to_numpy() * scale
        frame.loc[rows, "volume"] = rng.lognormal(12.0, 0.05, n)  # big, nearly constant
    panel = Panel.from_frame(frame)
    fs = compute_features(panel)
    # the features are float32 (24-bit significand, rounding error up to 6e-8 of the value),
    # each rounded once after float64 work: 1e-6 holds every digit float32 can carry
    f32 = 1e-6

    def windows(x: np.ndarray, w: int) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(x, w, axis=1)

    for w in (24, 72):
        close = windows(panel.close, w)
        mean, sd = close.mean(axis=2), close.std(axis=2, ddof=1)
        np.testing.assert_allclose(
            fs.column(f"zclose_{w}")[:, w - 1 :], (panel.close[:, w - 1 :] - mean) / sd, rtol=f32
        )
        np.testing.assert_allclose(
            fs.column(f"sma_{w}")[:, w - 1 :],
            np.log(panel.close[:, w - 1 :]) - np.log(mean),
            rtol=f32,
            atol=1e-13,
        )
        returns = windows(np.diff(np.log(panel.close), axis=1), w)
        np.testing.assert_allclose(
            fs.column(f"vol_{w}")[:, w:], returns.std(axis=2, ddof=1), rtol=f32
        )
    lv = np.log1p(panel.volume)
    lv_windows = windows(lv, 24)
    z = (lv[:, 23:] - lv_windows.mean(axis=2)) / lv_windows.std(axis=2, ddof=1)
    np.testing.assert_allclose(fs.column("volz_24")[:, 23:], z, rtol=f32, atol=1e-9)
    np.testing.assert_allclose(  # the public helper stays float64
        rolling_std(panel.close, 72)[:, 71:],
        windows(panel.close, 72).std(axis=2, ddof=1),
        rtol=1e-8,
    )


_PANEL_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    from quant_core import Timeframe
    from quant_models.features import compute_features
    from quant_models import Panel

    rng = np.random.default_rng(8)
    n = 2000
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (3, n)), axis=1))
    high, low = close * 1.002, close * 0.998
    volume = rng.lognormal(3.0, 0.5, (3, n))
    times = np.arange(n, dtype=np.int64) * Timeframe.H1.ns
    symbols = ("BTC", "ETH", "SOL")
    panel = Panel(symbols, "USD", Timeframe.H1, times, close, high, low, close, volume)
    values = compute_features(panel, workers=int(sys.argv[1])).values
    print(hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest())
    """
)


def test_feature_bytes_are_the_same_in_another_process() -> None:
    """Another hash seed and thread count in a fresh interpreter: the same bytes."""
    digests = set()
    for seed, workers in (("1", "1"), ("97", "3")):
        done = subprocess.run(
            [sys.executable, "-c", _PANEL_SCRIPT, workers],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1
    assert len(digests.pop()) == 64


def test_edge_cases_of_the_rolling_helpers() -> None:
    # a window longer than the series: nothing is defined
    assert np.isnan(rolling_sum(np.ones((2, 5)), 8)).all()
    # finite values whose total overflows are not missing (the sums fall back to cumsum)
    huge = np.array([[1e308, 1e308, 1.0]])
    assert rolling_sum(huge, 1)[0, 0] == 1e308
    # a flat window has no spread: its z-score is 0, not a division by zero
    close = np.full((1, 40), 100.0)
    close[0, :10] += np.arange(10.0)
    panel = Panel(
        ("BTC",),
        "USD",
        Panel.from_frame(synthetic_frame(("BTC",), n=2)).timeframe,
        np.arange(40, dtype=np.int64) * 3_600_000_000_000,
        close,
        close,
        close,
        close,
        np.ones((1, 40)),
    )
    fs = compute_features(panel)
    assert (fs.column("zclose_24")[0, 34:] == 0.0).all()
    assert (fs.column("volz_24")[0, 30:] == 0.0).all()


@pytest.mark.parametrize("n", [20, 32, 37, 50])
def test_windows_across_a_short_last_block(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """One whole block and a partial one, or whole blocks only: the joins match pandas."""
    monkeypatch.setattr(_sums, "_BLOCK", 16)
    rng = np.random.default_rng(n)
    x = 1_000.0 + np.cumsum(rng.normal(0.0, 5.0, (2, n)), axis=1)
    x[1, 17] = np.nan
    frame = pd.DataFrame(x.T)
    for w in (2, 5, 16):
        np.testing.assert_allclose(
            rolling_sum(x, w), frame.rolling(w).sum().to_numpy().T, rtol=1e-12
        )
        np.testing.assert_allclose(
            rolling_std(x, w), frame.rolling(w).std().to_numpy().T, rtol=1e-8
        )


def test_an_error_in_a_worker_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = _batch.coin_features

    def flaky(*args: object, **kwargs: object) -> dict[int, np.ndarray]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("chunk failed")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_batch, "coin_features", flaky)
    monkeypatch.setattr(_cross, "CHUNK", 60)  # one coin per chunk
    panel = Panel.from_frame(synthetic_frame(("BTC", "ETH", "SOL"), n=60))
    with pytest.raises(RuntimeError, match="chunk failed"):
        compute_features(panel, workers=2)


def test_the_feature_matrix_is_float32_and_the_schema_says_so() -> None:
    panel = Panel.from_frame(synthetic_frame(("BTC", "ETH"), n=80))
    fs = compute_features(panel)
    assert fs.values.dtype == np.float32
    assert fs.column("ret_1").dtype == np.float32
    assert fs.schema.dtype == "float32"
    assert fs.schema.version == "quant.features/2"
    # the dtype is part of what the schema hash covers
    body = {
        "version": fs.schema.version,
        "timeframe": fs.schema.timeframe,
        "names": list(fs.schema.names),
        "dtype": "float32",
        "config": fs.schema.config,
    }
    assert fs.schema.schema_hash == content_hash(body)
    assert fs.schema.schema_hash != content_hash({**body, "dtype": "float64"})
    # the float64 work is rounded once: every value is the float32 nearest a float64 reference
    lc = np.log(panel.close)
    reference = lc[:, 4:] - lc[:, :-4]
    np.testing.assert_array_equal(fs.column("ret_4")[:, 4:], reference.astype(np.float32))
