"""Market events, predictions, and the two seams between packages.

Every event carries two nanosecond timestamps, as in nautilus_trader: ``ts_event`` is when the
thing happened in the market or at the provider, ``ts_init`` is when this system observed it
(read from the injected :class:`~quant_core.Clock`). Replays sort by ``ts_event`` and
never consult the wall clock.

The two protocols here are how packages meet without importing each other:

* :class:`MarketDataFeed` yields bars in event order. ``quant_data`` implements it over the
  governed store; tests and examples use :class:`InMemoryFeed`.
* :class:`Predictor` turns the bars seen so far into :class:`Prediction` values: calibrated
  probabilities per instrument and horizon. ``quant_models`` implements it over trained models;
  ``quant_exec`` consumes it and therefore never needs torch or scikit-learn.

Examples:
    >>> from quant_core import Bar, Instrument, Timeframe
    >>> btc = Instrument("BTC", "USD")
    >>> bar = Bar(btc, Timeframe.H1, 0, "100", "110", "95", "105", "12.5")
    >>> closed = BarClosed.of(bar, ts_init=3_600_000_000_001)
    >>> closed.ts_event == bar.close_time_ns
    True
    >>> day = HorizonForecast(horizon_ns=Timeframe.D1.ns, p_up=0.58,
    ...                       bucket_edges=(-0.02, 0.02), bucket_probs=(0.2, 0.5, 0.3))
    >>> pred = Prediction(btc, ts_event=closed.ts_event, ts_init=closed.ts_init,
    ...                   forecasts=(day,), model_id="sha256:abc")
    >>> pred.forecast(Timeframe.D1.ns).p_up
    0.58
    >>> day.label
    '1d'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from quant_core import reasons
from quant_core._values.clock import NS_PER_SECOND
from quant_core._values.types import Bar, Instrument, Timeframe
from quant_core.errors import ValidationError

__all__ = [
    "BarClosed",
    "FeedBase",
    "Heartbeat",
    "HorizonForecast",
    "InMemoryFeed",
    "MarketDataFeed",
    "Prediction",
    "Predictor",
    "bar_sort_key",
]

_PROB_TOLERANCE = 1e-6


def _invalid_prediction(message: str) -> ValidationError:
    return ValidationError(message, reason_code=reasons.PREDICTION_INVALID)


def _check_ts(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"{attribute.name} must be a non-negative integer of UTC nanoseconds, got {value!r}",
            reason_code=reasons.EVENT_INVALID,
        )


def _check_probability(name: str, value: float) -> None:
    if not (isinstance(value, float | int) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise _invalid_prediction(f"{name} must be a probability in [0, 1], got {value!r}")


def _floats(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(values)


def _forecasts(values: Iterable[HorizonForecast]) -> tuple[HorizonForecast, ...]:
    return tuple(values)


def bar_sort_key(bar: Bar) -> tuple[int, str, str]:
    """Event order of bars: by close time, then base asset, then quote currency.

    Examples:
        >>> from quant_core import Bar, Instrument, Timeframe
        >>> a = Bar(Instrument("ETH", "USD"), "1h", 0, 1, 1, 1, 1, 0)
        >>> b = Bar(Instrument("BTC", "USD"), "1h", 0, 1, 1, 1, 1, 0)
        >>> [x.instrument.base for x in sorted([a, b], key=bar_sort_key)]
        ['BTC', 'ETH']
    """
    return (bar.close_time_ns, bar.instrument.base, bar.instrument.quote.value)


@attrs.frozen
class BarClosed:
    """A bar has closed; decisions are made on this event.

    ``ts_event`` is the bar's close time; ``ts_init`` when the system saw it.
    """

    bar: Bar
    ts_event: int = attrs.field(validator=_check_ts)
    ts_init: int = attrs.field(validator=_check_ts)

    def __attrs_post_init__(self) -> None:
        if self.ts_event != self.bar.close_time_ns:
            raise ValidationError(
                f"ts_event {self.ts_event} is not the bar's close time {self.bar.close_time_ns}",
                reason_code=reasons.EVENT_INVALID,
            )

    @classmethod
    def of(cls, bar: Bar, ts_init: int) -> BarClosed:
        """The close event of ``bar``, observed at ``ts_init``."""
        return cls(bar=bar, ts_event=bar.close_time_ns, ts_init=ts_init)


@attrs.frozen
class Heartbeat:
    """A liveness tick: lets a strategy re-evaluate when no market event arrives."""

    ts_event: int = attrs.field(validator=_check_ts)
    ts_init: int = attrs.field(validator=_check_ts)


def _label(horizon_ns: int) -> str:
    seconds, rest = divmod(horizon_ns, NS_PER_SECOND)
    if rest:
        return f"{horizon_ns}ns"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@attrs.frozen
class HorizonForecast:
    """Calibrated probabilities for one horizon.

    Attributes:
        horizon_ns: how far ahead, in nanoseconds, from the prediction's ``ts_event``.
        p_up: probability that the close ``horizon_ns`` later is above the close at
            ``ts_event``.
        bucket_edges: ascending inner edges of log-return buckets (``k - 1`` edges make
            ``k`` buckets); empty when the model gives direction only.
        bucket_probs: probability of each bucket; sums to 1 within 1e-6.
    """

    horizon_ns: int
    p_up: float
    bucket_edges: tuple[float, ...] = attrs.field(default=(), converter=_floats)
    bucket_probs: tuple[float, ...] = attrs.field(default=(), converter=_floats)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.horizon_ns, bool) or self.horizon_ns <= 0:
            raise _invalid_prediction(f"horizon must be positive, got {self.horizon_ns!r}")
        _check_probability("p_up", self.p_up)
        edges, probs = self.bucket_edges, self.bucket_probs
        if not edges and not probs:
            return
        if len(probs) != len(edges) + 1:
            raise _invalid_prediction(
                f"{len(edges)} bucket edges need {len(edges) + 1} probabilities, got {len(probs)}"
            )
        if any(not math.isfinite(e) for e in edges) or list(edges) != sorted(set(edges)):
            raise _invalid_prediction("bucket edges must be finite and strictly ascending")
        for p in probs:
            _check_probability("bucket probability", p)
        if abs(math.fsum(probs) - 1.0) > _PROB_TOLERANCE:
            raise _invalid_prediction(f"bucket probabilities sum to {math.fsum(probs)}, not 1")

    @property
    def label(self) -> str:
        """A short name for the horizon (``"4h"``, ``"1d"``)."""
        return _label(self.horizon_ns)

    @property
    def horizon_timeframe(self) -> Timeframe | None:
        """The :class:`Timeframe` of the same length, if there is one."""
        return next((tf for tf in Timeframe if tf.ns == self.horizon_ns), None)


@attrs.frozen
class Prediction:
    """One model output for one instrument, made at bar close ``ts_event``.

    Attributes:
        instrument: what is predicted.
        ts_event: close time of the last bar the model saw (its features' as-of time).
        ts_init: when the prediction was made (clock time).
        forecasts: one :class:`HorizonForecast` per horizon, ascending, no duplicates.
        model_id: content hash of the model set (or bundle) that made it; goes into every
            decision record that uses it.
    """

    instrument: Instrument
    ts_event: int = attrs.field(validator=_check_ts)
    ts_init: int = attrs.field(validator=_check_ts)
    forecasts: tuple[HorizonForecast, ...] = attrs.field(converter=_forecasts)
    model_id: str

    def __attrs_post_init__(self) -> None:
        forecasts = self.forecasts
        if len(forecasts) == 1 and self.model_id:  # one horizon is always in order: skip the sort
            return
        horizons = [f.horizon_ns for f in forecasts]
        if not horizons or horizons != sorted(set(horizons)):
            raise _invalid_prediction(
                f"forecasts must be non-empty with unique ascending horizons, got {horizons}"
            )
        if not self.model_id:
            raise _invalid_prediction("a prediction must name the model that made it")

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """The horizons forecast, ascending."""
        return tuple(f.horizon_ns for f in self.forecasts)

    def forecast(self, horizon_ns: int) -> HorizonForecast:
        """The forecast for exactly ``horizon_ns``.

        Raises:
            KeyError: no forecast has that horizon.
        """
        for item in self.forecasts:
            if item.horizon_ns == horizon_ns:
                return item
        raise KeyError(f"no forecast for horizon {_label(horizon_ns)} in {self.horizons_ns}")


@runtime_checkable
class Predictor(Protocol):
    """Turns the bars seen so far into calibrated predictions.

    Implementations must be causal: a prediction at ``as_of_ns`` depends only on bars whose
    close time is at or before ``as_of_ns``, and the same inputs give the same outputs.
    """

    @property
    def model_id(self) -> str:
        """Content hash identifying the models (e.g. the bundle hash)."""
        ...

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """The horizons every prediction carries, ascending."""
        ...

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        """Predict for each instrument that has enough history at ``as_of_ns``.

        Args:
            as_of_ns: the decision time (a bar close).
            history: per instrument, bars closed at or before ``as_of_ns``, oldest first.

        Returns:
            Predictions with ``ts_event == as_of_ns``, sorted by instrument; instruments
            without enough history are left out rather than guessed.
        """
        ...


@runtime_checkable
class MarketDataFeed(Protocol):
    """A source of bars in event order (:func:`bar_sort_key`)."""

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """The instruments this feed carries, sorted."""
        ...

    @property
    def timeframe(self) -> Timeframe:
        """The bar length of every bar in the feed."""
        ...

    def bars(self, start_ns: int, end_ns: int) -> Iterator[Bar]:
        """Bars opened in ``[start_ns, end_ns)``, in event order."""
        ...


class FeedBase:
    """The fixed part of a :class:`MarketDataFeed`: the instruments and timeframe it carries.

    A feed subclasses it, hands both to ``__init__`` once, and implements ``bars``.

    Args:
        instruments: the instruments the feed carries, in the order the feed reports them.
        timeframe: the bar length of every bar in the feed.
    """

    def __init__(self, instruments: tuple[Instrument, ...], timeframe: Timeframe) -> None:
        self._instruments = instruments
        self._timeframe = timeframe

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """The instruments this feed carries."""
        return self._instruments

    @property
    def timeframe(self) -> Timeframe:
        """The bar length of every bar in the feed."""
        return self._timeframe


class InMemoryFeed(FeedBase):
    """A :class:`MarketDataFeed` over bars held in memory, its instruments sorted.

    Examples:
        >>> from quant_core import Bar, Instrument, Timeframe
        >>> eth, btc = Instrument("ETH", "USD"), Instrument("BTC", "USD")
        >>> h = Timeframe.H1.ns
        >>> feed = InMemoryFeed([Bar(eth, "1h", h, 2, 2, 2, 2, 0), Bar(btc, "1h", 0, 1, 1, 1, 1, 0),
        ...                      Bar(btc, "1h", h, 1, 1, 1, 1, 0)])
        >>> [(b.instrument.base, b.open_time_ns // h) for b in feed.bars(0, 2 * h)]
        [('BTC', 0), ('BTC', 1), ('ETH', 1)]
        >>> isinstance(feed, MarketDataFeed)
        True
    """

    def __init__(self, bars: Iterable[Bar]) -> None:
        ordered = sorted(bars, key=bar_sort_key)
        timeframes = {bar.timeframe for bar in ordered}
        if len(timeframes) != 1:
            raise ValidationError(
                "a feed needs bars of exactly one timeframe, got "
                f"{sorted(t.value for t in timeframes)}",
                reason_code=reasons.INVALID_INPUT,
            )
        keys = [(b.instrument, b.open_time_ns) for b in ordered]
        if len(set(keys)) != len(keys):
            raise ValidationError(
                "a feed cannot hold two bars of one instrument at one open time",
                reason_code=reasons.INVALID_INPUT,
            )
        super().__init__(
            tuple(sorted({b.instrument for b in ordered}, key=lambda i: (i.base, i.quote.value))),
            timeframes.pop(),
        )
        self._bars = tuple(ordered)

    def bars(self, start_ns: int, end_ns: int) -> Iterator[Bar]:
        """Bars opened in ``[start_ns, end_ns)``, in event order."""
        return (b for b in self._bars if start_ns <= b.open_time_ns < end_ns)
