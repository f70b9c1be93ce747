"""Features: hand-computed values, a naive reference, causality (leakage) and the schema."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pytest

from quant_models import ConfigError, DataError, Panel, reasons
from quant_models.features import (
    FeatureConfig,
    FeatureSchema,
    _cross,
    _sums,
    compute_features,
    rolling_mean,
    rolling_std,
    rolling_sum,
)
from quant_models.training import HorizonSpec, make_targets

from .helpers import real_frame, synthetic_frame

SMALL = FeatureConfig(
    return_windows=(1, 3),
    vol_windows=(4,),
    range_windows=(3,),
    volume_windows=(4,),
    trend_windows=(4,),
    cross_windows=(1, 3),
)


def _panel(n: int = 120, symbols: tuple[str, ...] = ("BTC", "ETH", "SOL")) -> Panel:
    return Panel.from_frame(synthetic_frame(symbols, n=n, seed=3))


def test_rolling_helpers_match_pandas_with_gaps() -> None:
    x = _panel(300).close.copy()
    x[1, 40] = np.nan
    x[2, :10] = np.nan
    frame = pd.DataFrame(x.T)
    for w in (2, 5, 24):
        np.testing.assert_allclose(
            rolling_sum(x, w), frame.rolling(w).sum().to_numpy().T, rtol=1e-10
        )
        np.testing.assert_allclose(
            rolling_mean(x, w), frame.rolling(w).mean().to_numpy().T, rtol=1e-10
        )
        np.testing.assert_allclose(
            rolling_std(x, w), frame.rolling(w).std().to_numpy().T, rtol=1e-7, atol=1e-9
        )


def _gappy(x: np.ndarray) -> np.ndarray:
    """Gaps of every kind: leading, mid-block, a block start, one whole block on one row."""
    x = x.copy()
    x[1, 40] = np.nan
    x[2, :10] = np.nan
    x[0, 64] = np.nan
    x[1, 96:112] = np.nan
    return x


def test_rolling_helpers_across_running_sum_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny blocks: windows reaching back into the previous (re-centred) block match pandas."""
    monkeypatch.setattr(_sums, "_BLOCK", 16)
    x = _gappy(_panel(300).close)
    frame = pd.DataFrame(x.T)
    for w in (2, 5, 16, 24):
        np.testing.assert_allclose(
            rolling_sum(x, w), frame.rolling(w).sum().to_numpy().T, rtol=1e-10
        )
        np.testing.assert_allclose(
            rolling_mean(x, w), frame.rolling(w).mean().to_numpy().T, rtol=1e-10
        )
        np.testing.assert_allclose(
            rolling_std(x, w), frame.rolling(w).std().to_numpy().T, rtol=1e-7, atol=1e-9
        )


def test_rolling_std_keeps_its_digits_on_a_long_drifting_series() -> None:
    """A price drifting from 60,000 to under 1,000 over 30,000 bars, against a two-pass std."""
    rng = np.random.default_rng(5)
    n = 30_000
    x = 60_000.0 * np.exp(np.cumsum(rng.normal(-0.0003, 0.01, n)))[None, :]
    assert x[0, -1] < 1_000
    windows = np.lib.stride_tricks.sliding_window_view(x[0], 24)
    two_pass = np.sqrt(((windows - windows.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) / 23)
    np.testing.assert_allclose(rolling_std(x, 24)[0, 23:], two_pass, rtol=1e-8)


def _gappy_panel(n: int = 200) -> Panel:
    frame = synthetic_frame(("BTC", "ETH", "SOL"), n=n, seed=3)
    drop = frame.index[
        ((frame["symbol"] == "ETH") & frame["open_time_ns"].isin([40 * 3_600_000_000_000]))
        | ((frame["symbol"] == "SOL") & (frame["open_time_ns"] < 10 * 3_600_000_000_000))
        | (
            (frame["symbol"] == "BTC")
            & frame["open_time_ns"].between(96 * 3_600_000_000_000, 111 * 3_600_000_000_000)
        )
    ]
    return Panel.from_frame(frame.drop(index=drop))


def test_features_do_not_depend_on_the_running_sum_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = _gappy_panel()
    assert np.isnan(panel.close).any()
    one_block = compute_features(panel)
    monkeypatch.setattr(_sums, "_BLOCK", 16)
    monkeypatch.setattr(_cross, "CHUNK", 400)  # two coins per chunk: a short last chunk
    blocks = compute_features(panel)
    # float32 values: float64 sums taken in other blocks may round to the neighbouring float32
    np.testing.assert_allclose(blocks.values, one_block.values, rtol=2.4e-7, atol=1e-12)
    np.testing.assert_array_equal(np.isnan(blocks.values), np.isnan(one_block.values))
    t = 120
    moved = compute_features(_perturb_after(panel, t, seed=2))
    np.testing.assert_array_equal(blocks.values[:, : t + 1], moved.values[:, : t + 1])


def test_feature_families_can_be_left_out() -> None:
    panel = _panel(60)
    full = compute_features(panel, SMALL)
    bare = FeatureConfig(
        return_windows=(3,),
        vol_windows=(),
        range_windows=(),
        volume_windows=(),
        trend_windows=(),
        cross_windows=(1,),
        calendar=False,
    )
    fs = compute_features(panel, bare)
    assert fs.schema.names == ("ret_3", "range_1", "ref_ret_1", "mkt_ret_1", "rel_ret_1")
    for name in fs.schema.names:
        np.testing.assert_array_equal(fs.column(name), full.column(name), err_msg=name)


def test_hand_computed_features() -> None:
    panel = _panel(40)
    fs = compute_features(panel, SMALL)
    c, t = panel.close, 20
    lc = np.log(c)
    assert fs.column("ret_3")[1, t] == pytest.approx(lc[1, t] - lc[1, t - 3])
    r1 = np.diff(lc[1, t - 4 : t + 1])
    assert fs.column("vol_4")[1, t] == pytest.approx(np.std(r1, ddof=1))
    assert fs.column("range_1")[0, t] == pytest.approx(np.log(panel.high[0, t] / panel.low[0, t]))
    assert fs.column("sma_4")[2, t] == pytest.approx(lc[2, t] - np.log(c[2, t - 3 : t + 1].mean()))
    window = c[2, t - 3 : t + 1]
    assert fs.column("zclose_4")[2, t] == pytest.approx(
        (c[2, t] - window.mean()) / window.std(ddof=1)
    )
    lv = np.log1p(panel.volume[0, t - 3 : t + 1])
    assert fs.column("volz_4")[0, t] == pytest.approx((lv[-1] - lv.mean()) / lv.std(ddof=1))
    # cross-asset context: BTC's move for every coin, the equal-weight market, the residual
    assert fs.column("ref_ret_1")[2, t] == pytest.approx(lc[0, t] - lc[0, t - 1])
    market = np.mean(lc[:, t] - lc[:, t - 3])
    assert fs.column("mkt_ret_3")[1, t] == pytest.approx(market)
    assert fs.column("rel_ret_3")[1, t] == pytest.approx(lc[1, t] - lc[1, t - 3] - market)
    # calendar at the bar close: bar t opens at t hours after the epoch (a Thursday)
    assert fs.column("hour")[0, t] == (t + 1) % 24
    assert fs.column("weekday")[0, t] == 3
    # warm-up: not enough history yet
    assert np.isnan(fs.column("vol_4")[0, 3])
    assert not np.isnan(fs.column("vol_4")[0, 4])


def test_missing_reference_coin_gives_nan_context() -> None:
    fs = compute_features(_panel(40, ("ETH", "SOL")), SMALL)
    assert np.isnan(fs.column("ref_ret_1")).all()


def test_schema_hash_is_stable_and_changes_with_config() -> None:
    a = FeatureSchema.of(SMALL, "1h")
    assert a == FeatureSchema.of(FeatureConfig(**attrs.asdict(SMALL)), "1h")
    assert a.schema_hash != FeatureSchema.of(FeatureConfig(), "1h").schema_hash
    assert a.schema_hash != FeatureSchema.of(SMALL, "4h").schema_hash
    assert a.names == SMALL.names
    assert len(set(a.names)) == len(a.names)


@pytest.mark.parametrize(
    "kwargs",
    [{"return_windows": (3, 1)}, {"vol_windows": (1,)}, {"trend_windows": (0, 4)}],
)
def test_bad_feature_config(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FeatureConfig(**kwargs)  # type: ignore[arg-type]


def _perturb_after(panel: Panel, t: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in ("open", "high", "low", "close", "volume"):
        values = panel.field(name).copy()
        values[:, t + 1 :] *= rng.uniform(0.5, 2.0, values[:, t + 1 :].shape)
        arrays[name] = values
    return Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns, **arrays)


@pytest.mark.parametrize("t", [30, 75, 118])
def test_no_feature_looks_ahead(t: int) -> None:
    """Perturb every bar after t: no feature of any coin at <= t may change."""
    panel = _panel(120)
    config = FeatureConfig(
        return_windows=(1, 4, 24),
        vol_windows=(24,),
        range_windows=(24,),
        volume_windows=(24,),
        trend_windows=(24,),
        cross_windows=(1, 24),
    )
    base = compute_features(panel, config)
    moved = compute_features(_perturb_after(panel, t, seed=t), config)
    for k, name in enumerate(config.names):
        np.testing.assert_array_equal(
            base.values[:, : t + 1, k], moved.values[:, : t + 1, k], err_msg=name
        )
    # and the perturbation is real: later features do move
    assert not np.array_equal(base.values[:, t + 1 :, 0], moved.values[:, t + 1 :, 0])


@pytest.mark.parametrize("h", [1, 4, 24])
def test_targets_use_only_bars_up_to_t_plus_h(h: int) -> None:
    panel = _panel(120)
    t = 60
    spec = HorizonSpec(h, (-0.01, 0.0, 0.01))
    base = make_targets(panel.close, spec)
    moved = make_targets(_perturb_after(panel, t + h, seed=h).close, spec)
    np.testing.assert_array_equal(base.forward_return[:, : t + 1], moved.forward_return[:, : t + 1])
    np.testing.assert_array_equal(base.bucket[:, : t + 1], moved.bucket[:, : t + 1])
    # the label at t really is the move from t to t + h
    assert base.forward_return[0, t] == pytest.approx(
        np.log(panel.close[0, t + h] / panel.close[0, t])
    )
    assert np.isnan(base.direction[:, -h:]).all()


def test_targets_direction_and_buckets_agree() -> None:
    spec = HorizonSpec(4, (-0.02, -0.005, 0.0, 0.005, 0.02))
    targets = make_targets(_panel(200).close, spec)
    ok = ~np.isnan(targets.direction)
    up = targets.direction[ok] == 1.0
    in_up_bucket = np.isin(targets.bucket[ok], spec.up_buckets)
    np.testing.assert_array_equal(up, in_up_bucket)


@pytest.mark.parametrize("edges", [(0.01, -0.01), (-0.01, 0.01), ()])
def test_bucket_edges_must_include_zero_and_ascend(edges: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError):
        HorizonSpec(1, edges)
    with pytest.raises(ConfigError):
        HorizonSpec(0)


def test_panel_rejects_bad_frames() -> None:
    frame = synthetic_frame(("BTC",), n=5)
    with pytest.raises(DataError) as exc:
        Panel.from_frame(frame.iloc[0:0])
    assert exc.value.reason_code == reasons.FEATURE_INPUT_INVALID
    mixed = frame.copy()
    mixed.loc[0, "timeframe"] = "4h"
    with pytest.raises(DataError):
        Panel.from_frame(mixed)
    off = frame.copy()
    off["open_time_ns"] = off["open_time_ns"].to_numpy() + (np.arange(len(off)) == 1)
    with pytest.raises(DataError):
        Panel.from_frame(off)
    with pytest.raises(DataError):
        Panel.from_frame(pd.concat([frame, frame.iloc[:1]]))


def test_panel_keeps_gaps_visible() -> None:
    frame = synthetic_frame(("BTC", "ETH"), n=10).drop(index=[3])
    panel = Panel.from_frame(frame)
    assert np.isnan(panel.close[0, 3])
    assert panel.upto(4).n_times == 5


def test_features_on_real_data_are_causal(shared_data: Path) -> None:
    panel = Panel.from_frame(real_frame(shared_data, ("BTC", "ETH", "SOL"), last=400))
    fs = compute_features(panel)
    t = 300
    moved = compute_features(_perturb_after(panel, t, seed=1))
    np.testing.assert_array_equal(fs.values[:, : t + 1], moved.values[:, : t + 1])
    warm = FeatureConfig().warmup
    assert np.isfinite(fs.values[:, warm + 1 :, :]).mean() > 0.99
