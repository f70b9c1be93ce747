"""Streaming features equal the batch pass bit for bit, bar after bar, for every coin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import Timeframe
from quant_models import DataError, Panel, reasons
from quant_models.features import (
    FeatureConfig,
    StreamingFeatures,
    _cross,
    _streaming,
    _sums,
    compute_features,
)

CONFIGS = (
    FeatureConfig(
        return_windows=(1, 4),
        vol_windows=(4, 9),
        range_windows=(3,),
        volume_windows=(5,),
        trend_windows=(4, 20),
        cross_windows=(1, 6),
    ),
    FeatureConfig(
        return_windows=(2,),
        vol_windows=(),
        range_windows=(),
        volume_windows=(),
        trend_windows=(),
        cross_windows=(3,),
        reference_symbol="XYZ",
        calendar=False,
    ),
    FeatureConfig(),
)


def make_panel(seed: int, n_symbols: int, n_bars: int, gaps: bool) -> Panel:
    """Random walks with wide price levels (and, with ``gaps``, missing bars)."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(-6, 10, (n_symbols, 1)))
    close = level * np.exp(np.cumsum(rng.normal(0, 0.03, (n_symbols, n_bars)), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.01, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, close.shape)))
    volume = rng.lognormal(2, 2, close.shape) * (rng.random(close.shape) > 0.05)
    if gaps:
        missing = rng.random(close.shape) < 0.04
        for array in (open_, high, low, close, volume):
            array[missing] = np.nan
    symbols = ("BTC", *(f"C{k:02d}" for k in range(1, n_symbols)))
    grid = (np.arange(n_bars, dtype=np.int64) + 5) * Timeframe.H1.ns
    return Panel(symbols, "USD", Timeframe.H1, grid, open_, high, low, close, volume)


def head(panel: Panel, n: int) -> Panel:
    """The panel's first ``n`` grid bars."""
    arrays = (panel.open, panel.high, panel.low, panel.close, panel.volume)
    return Panel(
        panel.symbols,
        panel.quote,
        panel.timeframe,
        panel.open_times_ns[:n],
        *(a[:, :n] for a in arrays),
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_symbols=st.integers(1, 12),
    n_bars=st.integers(1, 160),
    gaps=st.booleans(),
    config=st.sampled_from(CONFIGS),
    block=st.sampled_from((32, 48, 2048)),
    chunk=st.sampled_from((24, 1 << 16)),
    cuts=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=6),
)
def test_streaming_rows_equal_the_batch_at_random_cut_points(
    seed: int,
    n_symbols: int,
    n_bars: int,
    gaps: bool,
    config: FeatureConfig,
    block: int,
    chunk: int,
    cuts: list[float],
) -> None:
    # short blocks and slabs bring the block joins and one-bar market slabs into short panels
    panel = make_panel(seed, n_symbols, n_bars, gaps)
    with pytest.MonkeyPatch.context() as patch:
        for module in (_sums, _streaming):
            patch.setattr(module, "_BLOCK", block)
        for module in (_cross, _streaming):
            patch.setattr(module, "CHUNK", chunk)
        stream, rows = StreamingFeatures.replay(panel, config)
        for cut in sorted({int(c * n_bars) for c in cuts}):
            batch = compute_features(head(panel, cut + 1), config).values[:, cut]
            assert np.array_equal(rows[:, cut], batch, equal_nan=True)
            assert rows[:, cut].tobytes() == batch.tobytes()  # every bit, NaNs and signs too
    assert stream.next_open_ns == int(panel.open_times_ns[-1]) + Timeframe.H1.ns


def test_a_long_history_crosses_blocks_and_the_stream_goes_on_after_a_replay() -> None:
    panel = make_panel(3, 3, 2_300, gaps=True)
    config = CONFIGS[0]
    stream, rows = StreamingFeatures.replay(head(panel, 2_100), config)
    bars = np.stack([panel.open, panel.high, panel.low, panel.close, panel.volume], axis=2)
    for t in range(2_100, 2_300):
        row = stream.update(bars[:, t])
        if t % 50 == 0 or t in (2_111, 2_112, 2_299):
            batch = compute_features(head(panel, t + 1), config).values[:, t]
            assert row.tobytes() == batch.tobytes()
    full = compute_features(head(panel, 2_100), config).values
    assert np.array_equal(rows[:, 2_048:2_100], full[:, 2_048:], equal_nan=True)


def test_update_wants_one_row_of_five_values_per_symbol() -> None:
    stream = StreamingFeatures(FeatureConfig(), ("BTC", "ETH"), Timeframe.H1, 0)
    with pytest.raises(DataError) as caught:
        stream.update(np.ones((2, 4)))
    assert caught.value.reason_code == reasons.FEATURE_INPUT_INVALID
    assert stream.next_open_ns == 0


@pytest.mark.parametrize("config", CONFIGS, ids=["small", "few-families", "default"])
def test_every_row_of_a_replay_equals_the_batch_over_its_history(config: FeatureConfig) -> None:
    panel = make_panel(5, 4, 90, gaps=True)
    _, rows = StreamingFeatures.replay(panel, config)
    for t in range(90):
        batch = compute_features(head(panel, t + 1), config).values[:, t]
        assert rows[:, t].tobytes() == batch.tobytes()
