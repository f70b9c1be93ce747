"""ModelSetPredictor: each call reads only the features' lookback, and agrees with full history."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, overload

import attrs
import numpy as np
import pytest

from quant_core import Bar, Instrument, Timeframe, iso_to_ns
from quant_core.events import Predictor
from quant_data import SyntheticMarket
from quant_models import (
    ArtifactError,
    ConfigError,
    DataError,
    HorizonSpec,
    ModelSet,
    ModelSetPredictor,
    feature_lookback,
    reasons,
)
from quant_models._panel import FIELDS, Panel
from quant_models.features import FeatureConfig, compute_features
from quant_models.training import fit_model_set

from .helpers import TINY_FEATURES, tiny_config

H = Timeframe.H1.ns
History = dict[Instrument, list[Bar]]
SYMBOLS = ("BTC", "ETH", "SOL", "XRP", "ADA")
START = iso_to_ns("2024-01-01T00:00:00Z")
N_BARS = 560
SPECIALISTS = ("BTC", "ETH")


@pytest.fixture(scope="module")
def market_history() -> History:
    """Five coins of the synthetic market, with missing bars; ADA lists late (bar 300)."""
    market = SyntheticMarket(
        seed=11, symbols=SYMBOLS, start_ns=START, end_ns=START + N_BARS * H, missing_rate=0.01
    )
    history: History = {}
    for symbol in SYMBOLS:
        bars = list(market.bars(symbol))
        if symbol == "ADA":
            bars = [b for b in bars if b.open_time_ns >= START + 300 * H]
        history[bars[0].instrument] = bars
    return history


@pytest.fixture(scope="module")
def model_set(market_history: History) -> ModelSet:
    """A global LightGBM model per horizon, plus XGBoost specialists for BTC and ETH."""
    panel = Panel.from_history(market_history).upto(399)
    cfg = tiny_config(
        horizons=(HorizonSpec(1, (-0.005, 0.0, 0.005)), HorizonSpec(4, (-0.01, 0.0, 0.01))),
        scopes=("global",),
    )
    glob = fit_model_set(panel, cfg, dataset_hash="sha256:test", family="lightgbm")
    pair = Panel.from_history({i: b for i, b in market_history.items() if i.base in SPECIALISTS})
    spec = fit_model_set(
        pair.upto(399), cfg, dataset_hash="sha256:test", family="xgboost", scope="specialist"
    )
    chosen = tuple(e for e in spec.entries if e.symbol in SPECIALISTS)
    assert len(chosen) == 4
    return attrs.evolve(glob, entries=glob.entries + chosen)


def _perturbed(panel: Panel, t: int) -> Panel:
    """``panel`` with grid bar ``t`` moved on every coin (each field and coin differently)."""
    factors = {"open": 1.05, "high": 1.3, "low": 0.9, "close": 1.1, "volume": 2.0}
    arrays = {}
    for name in FIELDS:
        values = panel.field(name).copy()
        values[:, t] *= factors[name] + 0.07 * np.arange(len(panel.symbols))
        arrays[name] = values
    return Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns, **arrays)


@pytest.mark.parametrize("config", [TINY_FEATURES, FeatureConfig()], ids=["tiny", "default"])
def test_lookback_is_exactly_what_the_features_read(config: FeatureConfig) -> None:
    # derive each feature's reach from its behaviour: move bar t - k and see what changes at t
    market = SyntheticMarket(
        seed=12,
        symbols=SYMBOLS,
        start_ns=START,
        end_ns=START + 300 * H,
        no_trade_rate=0.0,
        missing_rate=0.0,
    )
    panel = Panel.from_bars(b for symbol in SYMBOLS for b in market.bars(symbol))
    t = 250
    base = compute_features(panel, config).values[:, t, :]
    assert not np.isnan(base).any()
    reach = np.full(len(config.names), -1)
    for k in range(config.warmup + 3):
        moved = compute_features(_perturbed(panel, t - k), config).values[:, t, :]
        changed = np.abs(moved - base) > 1e-7 * np.maximum(1.0, np.abs(base))
        reach[changed.any(axis=0)] = k
    by_name = dict(zip(config.names, reach.tolist(), strict=True))
    # calendar features read no bar at all; everything else reads bar t at least
    assert by_name.pop("hour") == -1
    assert by_name.pop("weekday") == -1
    assert min(by_name.values()) == 0  # range_1
    assert max(by_name.values()) == feature_lookback(config)
    for w in config.return_windows:
        assert by_name[f"ret_{w}"] == w
    for w in config.trend_windows:
        assert by_name[f"sma_{w}"] == w - 1
    assert feature_lookback(config) <= config.warmup


def _reference(
    model_set: ModelSet, history: History, as_ofs: Sequence[int]
) -> dict[int, dict[str, list[float]]]:
    """Predictions from features over the whole history (the old, O(n) computation)."""
    panel = Panel.from_history(history)
    values = compute_features(panel, model_set.feature_config).values
    warmup = model_set.feature_config.warmup
    ts = np.searchsorted(panel.close_times_ns, as_ofs)
    assert np.array_equal(panel.close_times_ns[ts], as_ofs)
    present = np.cumsum(~np.isnan(panel.close), axis=1)[:, ts]
    ok = ~np.isnan(panel.close[:, ts]) & (present > warmup)
    probs: dict[tuple[int, int], list[float]] = {}
    for table in sorted(model_set.horizons, key=lambda h: h.bars):
        entries = [e for e in model_set.entries if e.horizon_bars == table.bars]
        for s, symbol in enumerate(panel.symbols):
            entry = next((e for e in entries if e.symbol == symbol), None) or next(
                e for e in entries if e.symbol is None
            )
            p = entry.calibrator.apply(entry.model.predict_proba(values[s, ts, :]))
            for k in np.nonzero(ok[s])[0].tolist():
                probs.setdefault((k, s), []).append(float(p[k]))
    out: dict[int, dict[str, list[float]]] = {a: {} for a in as_ofs}
    for (k, s), ps in probs.items():
        out[as_ofs[k]][panel.symbols[s]] = ps
    return out


def test_windowed_predictions_match_the_full_history(
    market_history: History, model_set: ModelSet
) -> None:
    predictor = ModelSetPredictor(model_set)
    assert isinstance(predictor, Predictor)
    assert predictor.lookback_bars == feature_lookback(model_set.feature_config) == 12
    as_ofs = [START + (i + 1) * H for i in range(5, N_BARS)]
    expected = _reference(model_set, market_history, as_ofs)
    seen: set[str] = set()
    for as_of in as_ofs:
        got = {
            p.instrument.base: [f.p_up for f in p.forecasts]
            for p in predictor.predict(as_of, market_history)
        }
        assert got.keys() == expected[as_of].keys(), as_of
        for symbol, probs in got.items():
            assert probs == pytest.approx(expected[as_of][symbol], abs=1e-9, rel=0), (as_of, symbol)
        seen.update(got)
    assert seen == set(SYMBOLS)
    # the warm-up rule and the gaps were exercised: some bars predict only some coins
    counts = {len(row) for row in expected.values()}
    assert {0, len(SYMBOLS)} <= counts
    assert len(counts) > 2


class CountingSeq(Sequence[Bar]):
    """A history sequence that counts how many bars are read from it."""

    def __init__(self, bars: list[Bar]) -> None:
        self.bars = bars
        self.reads = 0

    def __len__(self) -> int:
        return len(self.bars)

    @overload
    def __getitem__(self, index: int) -> Bar: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Bar]: ...

    def __getitem__(self, index: int | slice) -> Bar | Sequence[Bar]:
        if isinstance(index, slice):
            part = self.bars[index]
            self.reads += len(part)
            return part
        self.reads += 1
        return self.bars[index]

    def __iter__(self) -> Iterator[Bar]:
        raise AssertionError("the predictor must not scan the whole history")


def test_each_call_reads_only_the_lookback(market_history: History, model_set: ModelSet) -> None:
    predictor = ModelSetPredictor(model_set)
    window = predictor.lookback_bars + 1
    for n in (100, N_BARS - 1):
        wrapped = {i: CountingSeq(bars) for i, bars in market_history.items()}
        as_of = START + n * H
        predictor.predict(as_of, wrapped)
        for seq in wrapped.values():
            # the tail itself, plus two binary searches
            assert seq.reads <= window + 2 * (math.ceil(math.log2(len(seq))) + 2)


def test_bars_after_as_of_and_a_larger_lookback_change_nothing(
    market_history: History, model_set: ModelSet
) -> None:
    as_of = START + 450 * H
    cut = {i: [b for b in bars if b.close_time_ns <= as_of] for i, bars in market_history.items()}
    narrow = ModelSetPredictor(model_set).predict(as_of, market_history)
    assert narrow == ModelSetPredictor(model_set).predict(as_of, cut)
    wide = ModelSetPredictor(model_set, lookback=10_000).predict(as_of, market_history)
    assert [p.instrument for p in wide] == [p.instrument for p in narrow]
    for a, b in zip(wide, narrow, strict=True):
        assert [f.p_up for f in a.forecasts] == pytest.approx(
            [f.p_up for f in b.forecasts], abs=1e-9
        )
    with pytest.raises(ConfigError):
        ModelSetPredictor(model_set, lookback=predictor_lookback(model_set) - 1)


def predictor_lookback(model_set: ModelSet) -> int:
    return feature_lookback(model_set.feature_config)


def test_a_corrected_bar_is_not_served_from_the_cache(
    market_history: History, model_set: ModelSet
) -> None:
    btc = Instrument("BTC", "USD")
    history = {i: list(bars) for i, bars in market_history.items()}
    predictor = ModelSetPredictor(model_set)
    as_of = history[btc][-1].close_time_ns
    first = predictor.predict(as_of, history)
    last = history[btc][-1]
    history[btc][-1] = attrs.evolve(last, close=last.close * 2, high=last.high * 2)
    again = predictor.predict(as_of, history)
    assert again == ModelSetPredictor(model_set).predict(as_of, history)
    assert again[0].forecasts != first[0].forecasts


def _bars(instrument: Instrument, opens: list[int], timeframe: str = "1h") -> list[Bar]:
    return [Bar(instrument, timeframe, o, 10, 11, 9, 10, 1) for o in opens]


def test_bad_histories_are_refused(model_set: ModelSet) -> None:
    predictor = ModelSetPredictor(model_set)
    btc, eth = Instrument("BTC", "USD"), Instrument("ETH", "USD")
    opens = [i * H for i in range(40)]
    as_of = 40 * H
    assert predictor.predict(as_of, {}) == ()
    assert len(predictor.predict(as_of, {btc: _bars(btc, opens)})) == 1
    eth_cad = Instrument("ETH", "CAD")
    cases: list[tuple[dict[Instrument, Any], type[Exception], str]] = [
        ({btc: _bars(btc, opens), eth_cad: _bars(eth_cad, opens)}, DataError, "FEATURE_INPUT"),
        ({btc: _bars(btc, opens[:-1] + opens[-2:-1] + opens[-1:])}, DataError, "FEATURE_INPUT"),
        (
            {btc: _bars(btc, opens), eth: _bars(eth, [36 * H], "4h")},
            ArtifactError,
            reasons.SCHEMA_MISMATCH,
        ),
    ]
    for history, error, code in cases:
        with pytest.raises(error) as exc:
            predictor.predict(as_of, history)
        assert exc.value.reason_code.startswith(code)  # type: ignore[attr-defined]
