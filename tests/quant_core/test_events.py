"""Events, predictions and the feed/predictor seams."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from quant_core import Bar, Instrument, Timeframe, canonical_json, structure, unstructure
from quant_core.errors import ValidationError
from quant_core.events import (
    BarClosed,
    Heartbeat,
    HorizonForecast,
    InMemoryFeed,
    MarketDataFeed,
    Prediction,
    Predictor,
)
from quant_core.reasons import EVENT_INVALID, INVALID_INPUT, PREDICTION_INVALID

BTC = Instrument("BTC", "USD")
ETH = Instrument("ETH", "USD")
H = Timeframe.H1.ns


def _bar(inst: Instrument, i: int, tf: Timeframe = Timeframe.H1) -> Bar:
    return Bar(inst, tf, i * tf.ns, "10", "11", "9", "10", "1")


def test_bar_closed_carries_close_time_and_refuses_contradiction() -> None:
    bar = _bar(BTC, 3)
    event = BarClosed.of(bar, ts_init=4 * H + 7)
    assert event.ts_event == 4 * H
    with pytest.raises(ValidationError) as info:
        BarClosed(bar=bar, ts_event=3 * H, ts_init=4 * H)
    assert info.value.reason_code == EVENT_INVALID


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_timestamps_must_be_non_negative_integers(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        Heartbeat(ts_event=bad, ts_init=0)  # type: ignore[arg-type]
    assert info.value.reason_code == EVENT_INVALID


def test_horizon_forecast_validation() -> None:
    ok = HorizonForecast(4 * H, 0.4, (-0.01, 0.01), (0.3, 0.3, 0.4))
    assert ok.label == "4h"
    assert ok.horizon_timeframe is Timeframe.H4
    assert HorizonForecast(2 * H, 0.5).horizon_timeframe is None
    cases: list[tuple[object, ...]] = [
        (0, 0.5, (), ()),
        (True, 0.5, (), ()),
        (H, 1.5, (), ()),
        (H, float("nan"), (), ()),
        (H, 0.5, (0.0,), (1.0,)),
        (H, 0.5, (0.1, 0.0), (0.2, 0.3, 0.5)),
        (H, 0.5, (0.0, 0.0), (0.2, 0.3, 0.5)),
        (H, 0.5, (float("inf"),), (0.5, 0.5)),
        (H, 0.5, (0.0,), (0.5, 0.6)),
        (H, 0.5, (0.0,), (-0.1, 1.1)),
    ]
    for args in cases:
        with pytest.raises(ValidationError) as info:
            HorizonForecast(*args)  # type: ignore[arg-type]
        assert info.value.reason_code == PREDICTION_INVALID, args


@pytest.mark.parametrize(
    ("ns", "label"),
    [(H, "1h"), (Timeframe.D1.ns, "1d"), (Timeframe.M15.ns, "15m"), (10**9 * 7, "7s"), (5, "5ns")],
)
def test_horizon_labels(ns: int, label: str) -> None:
    assert HorizonForecast(ns, 0.5).label == label


def test_prediction_forecast_lookup_and_validation() -> None:
    f1, f4 = HorizonForecast(H, 0.6), HorizonForecast(4 * H, 0.3)
    pred = Prediction(BTC, H, H, (f1, f4), "sha256:x")
    assert pred.horizons_ns == (H, 4 * H)
    assert pred.forecast(4 * H) is f4
    with pytest.raises(KeyError, match="2h"):
        pred.forecast(2 * H)
    for forecasts, model in [((), "m"), ((f4, f1), "m"), ((f1, f1), "m"), ((f1,), "")]:
        with pytest.raises(ValidationError) as info:
            Prediction(BTC, H, H, forecasts, model)
        assert info.value.reason_code == PREDICTION_INVALID


def test_prediction_round_trips_through_the_converter_canonically() -> None:
    pred = Prediction(BTC, H, H + 1, (HorizonForecast(H, 0.25, (0.0,), (0.75, 0.25)),), "m")
    data = unstructure(pred)
    assert structure(data, Prediction) == pred
    assert canonical_json(data) == canonical_json(unstructure(structure(data, Prediction)))


def test_in_memory_feed_orders_and_windows() -> None:
    bars = [_bar(ETH, 1), _bar(BTC, 1), _bar(BTC, 0), _bar(ETH, 0)]
    feed = InMemoryFeed(bars)
    assert isinstance(feed, MarketDataFeed)
    assert feed.instruments == (BTC, ETH)
    assert feed.timeframe is Timeframe.H1
    got = [(b.instrument.base, b.open_time_ns // H) for b in feed.bars(0, 2 * H)]
    assert got == [("BTC", 0), ("ETH", 0), ("BTC", 1), ("ETH", 1)]
    assert [b.open_time_ns for b in feed.bars(H, 2 * H)] == [H, H]


def test_in_memory_feed_refuses_mixed_timeframes_and_duplicates() -> None:
    for bars in ([_bar(BTC, 0), _bar(BTC, 0, Timeframe.H4)], [_bar(BTC, 0), _bar(BTC, 0)], []):
        with pytest.raises(ValidationError) as info:
            InMemoryFeed(bars)
        assert info.value.reason_code == INVALID_INPUT


class _Constant:
    model_id = "sha256:const"
    horizons_ns = (H,)

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        return tuple(
            Prediction(inst, as_of_ns, as_of_ns, (HorizonForecast(H, 0.5),), self.model_id)
            for inst in sorted(history, key=lambda i: i.base)
            if history[inst]
        )


def test_predictor_protocol_is_structural() -> None:
    predictor = _Constant()
    assert isinstance(predictor, Predictor)
    out = predictor.predict(
        H, {ETH: [_bar(ETH, 0)], BTC: [_bar(BTC, 0)], Instrument("SOL", "USD"): []}
    )
    assert [p.instrument.base for p in out] == ["BTC", "ETH"]
