"""Windows are causal, the streaming path equals the batch, labels stop where told."""

from __future__ import annotations

import numpy as np
import pytest
from tests.quant_models.sequence._data import tiny_config

from quant_models import Panel
from quant_models._panel import FIELDS
from quant_models.sequence import FEATURES, SequenceConfig, build_windows, labels
from quant_models.sequence._windows import stream_window


def _changed_after(panel: Panel, t: int, seed: int) -> Panel:
    """``panel`` with every bar after ``t`` replaced by other random values."""
    rng = np.random.default_rng(seed)
    o, h, lo, c, v = (panel.field(name).copy() for name in FIELDS)
    for values in (o, h, lo, c, v):
        values[:, t + 1 :] *= rng.uniform(0.5, 2.0, values[:, t + 1 :].shape)
    return Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns, o, h, lo, c, v)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_changing_bars_after_t_never_changes_the_window_at_t(panel: Panel, family: str) -> None:
    config = tiny_config(family=family)
    times = np.array([80, 300, 700, 1100])
    before = build_windows(panel, config, times)
    for k, t in enumerate(times.tolist()):
        after = build_windows(_changed_after(panel, t, k), config, times)
        rows = before.time_rows <= t
        for a, b in zip(before.inputs, after.inputs, strict=True):
            assert np.array_equal(a[rows], b[rows], equal_nan=True)
        # and a window past t does see the change (the check above is not vacuous)
        later = before.time_rows > t
        if later.any():
            assert not all(
                np.array_equal(a[later], b[later], equal_nan=True)
                for a, b in zip(before.inputs, after.inputs, strict=True)
            )


def test_windows_have_the_configured_shapes_and_a_warm_up(panel: Panel) -> None:
    config = tiny_config()
    w = build_windows(panel, config)
    assert len(w.inputs) == len(config.resolutions)
    for r, a in zip(config.resolutions, w.inputs, strict=True):
        assert a.shape == (3 * panel.n_times, r.steps, len(FEATURES))
    span = config.lookback - 1 - config.gap_fill_bars  # bars a window reads, less one
    first_valid = w.time_rows[w.valid].min()
    assert first_valid == span
    assert w.valid[w.time_rows >= span].all()
    sub = w.take(w.valid)
    assert sub.valid.all()
    assert sub.inputs[0].shape[0] == int(w.valid.sum())


def _gapped(panel: Panel, coin: int, bars: slice) -> Panel:
    """``panel`` with ``coin``'s ``bars`` missing (every field NaN)."""
    fields = [panel.field(name).copy() for name in FIELDS]
    for values in fields:
        values[coin, bars] = np.nan
    return Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns, *fields)


@pytest.mark.parametrize("fill", [0, 2])
def test_a_gap_longer_than_the_fill_invalidates_only_the_windows_that_reach_it(
    panel: Panel, fill: int
) -> None:
    config = tiny_config(gap_fill_bars=fill)
    span = config.lookback - fill
    w = build_windows(_gapped(panel, 1, slice(500, 500 + fill + 1)), config)
    coin1 = w.symbol_rows == 1
    bad = coin1 & ~w.valid & (w.time_rows >= span)
    assert bad.any()
    assert w.time_rows[bad].min() == 500 + fill  # the first bar the fill does not reach
    assert w.time_rows[bad].max() < 500 + fill + span
    assert w.valid[(w.symbol_rows != 1) & (w.time_rows >= span)].all()


def test_a_gap_within_the_fill_reads_as_bars_without_trades(panel: Panel) -> None:
    config = tiny_config(gap_fill_bars=3)
    gapped = _gapped(panel, 1, slice(500, 503))
    w = build_windows(gapped, config)
    later = w.time_rows >= config.lookback
    assert w.valid[later].all()
    # the hourly step of a filled bar: no return, no range, no volume
    at = np.nonzero((w.symbol_rows == 1) & (w.time_rows == 502))[0][0]
    short = w.inputs[0][at]
    assert short[-1, 0] == 0.0
    assert short[-1, 1] == 0.0
    assert short[-1, 2] == pytest.approx(-np.log1p(panel.volume[1, 495:500]).sum() / 8, rel=1e-12)
    # the bar after the gap carries the whole move since the last close
    after = np.nonzero((w.symbol_rows == 1) & (w.time_rows == 503))[0][0]
    move = np.log(panel.close[1, 503] / panel.close[1, 499])
    assert w.inputs[0][after][-1, 0] == pytest.approx(move)
    # windows of other coins and of bars before the gap are untouched
    plain = build_windows(panel, config)
    untouched = (w.symbol_rows != 1) | (w.time_rows < 500)
    for a, b in zip(w.inputs, plain.inputs, strict=True):
        assert np.array_equal(a[untouched], b[untouched], equal_nan=True)


@pytest.mark.parametrize("t", [72, 400, 1199, 503, 505])
def test_the_streaming_window_equals_the_batch_window_bit_for_bit(panel: Panel, t: int) -> None:
    config = tiny_config(gap_fill_bars=2)
    panel = _gapped(_gapped(panel, 0, slice(500, 502)), 2, slice(400 - 73, 400 - 71))
    batch = build_windows(panel, config, np.array([t]))
    cut = slice(max(t + 1 - config.lookback, 0), t + 1)
    for s in range(3):
        one = stream_window(
            panel.close[s, cut], panel.high[s, cut], panel.low[s, cut], panel.volume[s, cut], config
        )
        for a, b in zip(one, batch.inputs, strict=True):
            assert a[0].tobytes() == b[s].tobytes()


def test_default_resolutions_look_back_a_day_two_weeks_and_two_months() -> None:
    config = SequenceConfig()
    rng = np.random.default_rng(0)
    n = config.lookback + 5
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    volume = rng.lognormal(3, 0.5, n)
    window = stream_window(close, close * 1.01, close * 0.99, volume, config)
    assert [w.shape for w in window] == [(1, 24, 3), (1, 14, 3), (1, 8, 3)]
    # the weekly log returns add up to the log return over the 8 weeks
    total = np.log(close[-1] / close[-1 - 8 * 168])
    assert window[2][0, :, 0].sum() == pytest.approx(total)


def test_labels_never_read_past_the_last_bar_allowed(panel: Panel) -> None:
    config = tiny_config()
    w = build_windows(panel, config, np.array([100, 995, 996, 999]))
    lab = labels(panel, config, w, 999)
    coin0 = w.symbol_rows == 0
    forward = lab.forward[coin0]
    logc = np.log(panel.close[0])
    assert forward[0, 1] == pytest.approx(logc[104] - logc[100])
    assert np.isfinite(forward[1]).all()  # 995 + 4 = 999: allowed
    assert np.isfinite(forward[2, 0])
    assert np.isnan(forward[2, 1])
    assert np.isnan(lab.risk[coin0][2])
    steps = np.diff(logc[100:105])
    assert lab.risk[coin0][0] == pytest.approx(np.sqrt(np.mean(steps**2)))
    changed = _changed_after(panel, 999, 5)
    again = labels(changed, config, w, 999)
    assert np.array_equal(again.forward, lab.forward, equal_nan=True)


def test_a_panel_shorter_than_a_block_has_no_valid_window(panel: Panel) -> None:
    short = panel.upto(10)
    w = build_windows(short, tiny_config())
    assert not w.valid.any()
