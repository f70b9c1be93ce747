"""A small built-in, deterministic example: synthetic bars and predictions.

``quant backtest --example`` runs the real engine on this so a user can watch the strategy
work without any data or model. The market is synthetic (a seeded random walk with a rally, a
dip that recovers and a slide that does not), and so are the predictions: they are made *from
the synthetic future* with seeded noise, i.e. an imperfect oracle. That is fine for showing
the mechanics and useless as evidence of any edge — never read performance into it.

Examples:
    >>> bars = example_bars(n_bars=48)
    >>> len(bars), sorted({b.instrument.base for b in bars})
    (96, ['BTC', 'ETH'])
    >>> bars == example_bars(n_bars=48)          # deterministic
    True
    >>> preds = example_predictions(bars)
    >>> preds[0].model_id
    'example:oracle-with-noise/1'
    >>> [f.label for f in preds[0].forecasts]
    ['4h', '1d']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from quant_core import Bar, Instrument, QuoteCurrency, Timeframe, generator
from quant_core.events import HorizonForecast, InMemoryFeed, Prediction
from quant_exec.session._predictions import RecordedPredictor

EXAMPLE_MODEL_ID = "example:oracle-with-noise/1"
EXAMPLE_START_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
_TF = Timeframe.H1
_NEAR, _FAR = 4, 24  # horizons, in bars
_ASSETS = (("BTC", 42_000.0, 0.006), ("ETH", 2_300.0, 0.008))


def _drift(i: int, n: int) -> float:
    """A scripted regime path: rally, dip-and-recovery, slide, recovery."""
    phase = i / n
    if phase < 0.25:
        return 0.0015
    if phase < 0.32:
        return -0.004
    if phase < 0.5:
        return 0.002
    if phase < 0.7:
        return -0.0025
    return 0.001


def _price(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def example_bars(n_bars: int = 400, seed: int = 7) -> tuple[Bar, ...]:
    """Hourly synthetic bars for BTC/USD and ETH/USD (deterministic in ``seed``)."""
    bars: list[Bar] = []
    for base, start, vol in _ASSETS:
        rng = generator(seed, "quant_exec", "example", base)
        instrument = Instrument(base, QuoteCurrency.USD)
        close = start
        for i in range(n_bars):
            open_ = close
            close = open_ * math.exp(_drift(i, n_bars) + vol * float(rng.normal()))
            wick = abs(float(rng.normal())) * vol * open_ / 2
            high, low = max(open_, close) + wick, min(open_, close) - wick
            volume = Decimal(f"{float(rng.uniform(5, 50)):.3f}")
            bars.append(
                Bar(
                    instrument,
                    _TF,
                    EXAMPLE_START_NS + i * _TF.ns,
                    _price(open_),
                    _price(high),
                    _price(low),
                    _price(close),
                    volume,
                )
            )
    return tuple(bars)


def _p(future_return: float, scale: float, noise: float) -> float:
    z = future_return / scale + noise
    return round(min(0.97, max(0.03, 1 / (1 + math.exp(-z)))), 4)


def example_predictions(bars: Sequence[Bar], seed: int = 7) -> tuple[Prediction, ...]:
    """Noisy-oracle predictions at every bar close with enough future (4h and 1d horizons).

    The near-term forecast carries three return buckets (below -1%, -1%..1%, above 1%).
    """
    by_instrument: dict[Instrument, list[Bar]] = {}
    for bar in bars:
        by_instrument.setdefault(bar.instrument, []).append(bar)
    out: list[Prediction] = []
    for instrument, series in sorted(by_instrument.items(), key=lambda kv: kv[0].base):
        series.sort(key=lambda b: b.open_time_ns)
        rng = generator(seed, "quant_exec", "example", "predictions", instrument.base)
        closes = [float(b.close) for b in series]
        for i in range(len(series) - _FAR):
            near = math.log(closes[i + _NEAR] / closes[i])
            far = math.log(closes[i + _FAR] / closes[i])
            p_near = _p(near, 0.01, float(rng.normal(0, 0.6)))
            p_far = _p(far, 0.02, float(rng.normal(0, 0.6)))
            down = round((1 - p_near) * 0.7, 6)
            up = round(p_near * 0.7, 6)
            ts = series[i].close_time_ns
            out.append(
                Prediction(
                    instrument,
                    ts_event=ts,
                    ts_init=ts,
                    forecasts=(
                        HorizonForecast(
                            _NEAR * _TF.ns,
                            p_near,
                            (-0.01, 0.01),
                            (down, round(1 - down - up, 6), up),
                        ),
                        HorizonForecast(_FAR * _TF.ns, p_far),
                    ),
                    model_id=EXAMPLE_MODEL_ID,
                )
            )
    out.sort(key=lambda p: (p.ts_event, p.instrument.base))
    return tuple(out)


def example_inputs(n_bars: int = 400, seed: int = 7) -> tuple[InMemoryFeed, RecordedPredictor]:
    """The example as a feed and a predictor, ready for :func:`quant_exec.session.run_backtest`."""
    bars = example_bars(n_bars, seed)
    return InMemoryFeed(bars), RecordedPredictor(example_predictions(bars, seed))
