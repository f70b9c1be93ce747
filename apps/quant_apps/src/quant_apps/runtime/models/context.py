"""The market context a served bundle needs: found, fed to the predictor, or refused.

A bundle's model set declares the context it was trained with
(:func:`quant_models.context_need`: the reference coin, the market panel and how many of its
coins must be present). Every path that runs a bundle goes through here (decision 0116):

* :func:`served_need` reads the need of a served predictor (nothing for the no-model
  stand-in or a recorded-predictions file);
* :func:`require_context` refuses, with ``CONTEXT_MISSING``, a session whose coins do not
  supply it (``quant paper`` and ``quant live`` at start: their universe must hold the
  context coins); :func:`context_checked` applies the same check to every bundle a running
  session reloads, so a reload that needs coins the session lacks is refused and the
  previous bundle keeps serving;
* :class:`ContextPredictor` feeds extra coins' bars to a predictor as context only: they
  join every call's history, and only the traded coins' predictions come back, so the
  engine never trades them (``quant backtest --context DIR``).

Examples:
    >>> from quant_apps.runtime.models.bundles import NoModel
    >>> served_need(NoModel("BUNDLE_MISSING")).needed
    False
    >>> require_context(NoModel("BUNDLE_MISSING"), ["ETH"]).needed
    False
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from quant_apps.runtime.models.bundles import BundledPredictor
from quant_core import Bar, Instrument
from quant_core.events import Prediction, Predictor

if TYPE_CHECKING:
    from quant_models import ContextNeed

__all__ = ["ContextPredictor", "context_checked", "require_context", "served_need"]

Loader = Callable[[], tuple[Predictor, Mapping[str, Any]]]


def _close_time(bar: Bar) -> int:
    return bar.close_time_ns


def served_need(predictor: Predictor) -> ContextNeed:
    """The context ``predictor`` needs: its model set's, or none for anything else.

    A :class:`~quant_apps.runtime.models.bundles.BundledPredictor` is looked through to
    the model set it serves. (``quant_models`` is imported here, not with the module: the
    command line starts without the model stack.)
    """
    from quant_models import ContextNeed, ModelSetPredictor, context_need

    inner = predictor.active.predictor if isinstance(predictor, BundledPredictor) else predictor
    if isinstance(inner, ModelSetPredictor):
        return context_need(inner.model_set)
    return ContextNeed()


def require_context(predictor: Predictor, symbols: Iterable[str]) -> ContextNeed:
    """Refuse a session over ``symbols`` that lacks the context ``predictor`` needs.

    Args:
        predictor: the served predictor.
        symbols: every coin whose bars the session gives the predictor.

    Returns:
        The need (checked).

    Raises:
        DataError: ``CONTEXT_MISSING``, naming the missing reference coin or panel coins.
    """
    need = served_need(predictor)
    need.check(symbols)
    return need


def context_checked(load: Loader, symbols: Sequence[str]) -> Loader:
    """``load`` (a session's bundle loader), refusing a bundle ``symbols`` lack context for.

    Args:
        load: activates the bundle again and returns its predictor and description.
        symbols: the session's coins.

    Examples:
        >>> from quant_apps.runtime.models.bundles import NoModel
        >>> loader = context_checked(lambda: (NoModel("BUNDLE_MISSING"), {}), ["ETH"])
        >>> loader()[1]
        {}
    """
    coins = tuple(symbols)

    def checked() -> tuple[Predictor, Mapping[str, Any]]:
        predictor, about = load()
        require_context(predictor, coins)
        return predictor, about

    return checked


class ContextPredictor:
    """A predictor fed extra coins' bars as context; it predicts only the traded coins.

    Every call's history is the traded coins' (from the engine) plus the context coins' bars
    closed at or before the call's time (found by binary search, so nothing later leaks in).
    Predictions for coins outside the call's history are dropped.

    Examples:
        >>> from quant_core import Timeframe
        >>> from quant_core.events import HorizonForecast
        >>> btc, eth = Instrument("BTC", "USD"), Instrument("ETH", "USD")
        >>> class Both:
        ...     model_id, horizons_ns = "m", (3600,)
        ...     def predict(self, as_of_ns, history):
        ...         assert set(history) == {btc, eth} and len(history[eth]) == 1
        ...         return tuple(Prediction(i, as_of_ns, as_of_ns, (HorizonForecast(3600, .5),),
        ...                                 "m") for i in sorted(history, key=str))
        >>> bar = Bar(eth, Timeframe.H1, 0, 1, 1, 1, 1, 1)
        >>> later = Bar(eth, Timeframe.H1, 3600 * 10**9, 1, 1, 1, 1, 1)
        >>> fed = ContextPredictor(Both(), {eth: (bar, later)})
        >>> [p.instrument.base for p in fed.predict(3600 * 10**9, {btc: ()})]
        ['BTC']
    """

    def __init__(self, inner: Predictor, context: Mapping[Instrument, Sequence[Bar]]) -> None:
        """Wrap ``inner``; ``context`` holds each context coin's bars, oldest first."""
        self.inner = inner
        self.context = dict(context)

    @property
    def model_id(self) -> str:
        """The wrapped predictor's."""
        return self.inner.model_id

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """The wrapped predictor's."""
        return self.inner.horizons_ns

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        """The wrapped predictor's predictions for the coins of ``history``, with context."""
        merged: dict[Instrument, Sequence[Bar]] = {
            instrument: bars[: bisect.bisect_right(bars, as_of_ns, key=_close_time)]
            for instrument, bars in self.context.items()
        }
        merged.update(history)
        return tuple(p for p in self.inner.predict(as_of_ns, merged) if p.instrument in history)
