"""The session's market-data seam: a feed of closed bars, and where new candles come from.

A trading runtime gets its bars through a :class:`BarFeed`: ``bars(start_ns, end_ns)`` for
the history a predictor looks back on, and ``poll(until_ns)`` for the bars closed by
``until_ns`` that it has not handed out yet, in event order. :class:`quant_data.StoreFeed`
implements it over the governed store with one indexed query per poll (no dataset is
re-materialized). :class:`ProviderSync` moves newly closed candles from a provider into the
store (the runtime calls it before it polls the feed).

Examples:
    >>> from quant_core import Instrument, SimClock, Timeframe
    >>> from quant_data import MemoryProvider, SourceBar, Store, StoreFeed
    >>> H = Timeframe.H1.ns
    >>> rows = [SourceBar("memory", "BTC", "USD", "1h", k * H, "1", "2", "1", "2", "5")
    ...         for k in range(3)]
    >>> store = Store.open("sqlite://", clock=SimClock(3 * H))
    >>> ProviderSync(store, MemoryProvider(rows), ["BTC"], "USD", Timeframe.H1).sync(0)
    3
    >>> feed = StoreFeed(store, ["BTC"], "USD", Timeframe.H1, prefer=["memory"])
    >>> isinstance(feed, BarFeed)
    True
    >>> [b.open_time_ns // H for b in feed.bars(0, 2 * H)]
    [0, 1]
    >>> [b.open_time_ns // H for b in feed.poll(3 * H)], feed.poll(3 * H)
    ([2], [])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from quant_core import Bar, Instrument, Timeframe
from quant_core.events import Predictor
from quant_data import OhlcvProvider, Store

__all__ = ["BarFeed", "ProviderSync", "warm_bars_needed"]


@runtime_checkable
class BarFeed(Protocol):
    """Closed bars for a session (the shape of ``quant_data.StoreFeed``).

    The runtime loads its warm-up history with :meth:`bars` and then polls: a bar
    :meth:`bars` handed out is not handed out again by :meth:`poll`.
    """

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """The instruments the feed serves."""
        ...

    @property
    def timeframe(self) -> Timeframe:
        """The bar length."""
        ...

    def bars(self, start_ns: int, end_ns: int) -> Iterator[Bar]:
        """The bars opening in ``[start_ns, end_ns)``, in event order."""
        ...

    def poll(self, until_ns: int) -> list[Bar]:
        """The bars closed by ``until_ns`` not handed out yet, in event order."""
        ...


class ProviderSync:
    """Moves a provider's candles into the store: backfill history, sync new closes.

    Args:
        store: the market-data store.
        provider: where candles come from.
        symbols: base assets.
        quote: the quote currency.
        timeframe: the bar length.
    """

    def __init__(
        self,
        store: Store,
        provider: OhlcvProvider,
        symbols: Sequence[str],
        quote: str,
        timeframe: Timeframe,
    ) -> None:
        """Sync ``symbols``/``quote`` bars of ``timeframe`` from ``provider`` into ``store``."""
        self.store, self.provider = store, provider
        self.symbols, self.quote, self.timeframe = list(symbols), quote, timeframe

    def backfill(self, start_ns: int, end_ns: int) -> int:
        """Fetch ``[start_ns, end_ns)``; return the bars new to the store."""
        from quant_data.backfill import backfill

        report = backfill(
            self.store, self.provider, **self._series(), start_ns=start_ns, end_ns=end_ns
        )
        return sum(s.bars_new for s in report.series)

    def sync(self, start_ns: int) -> int:
        """Fetch the candles closed since ``start_ns``; return the bars new to the store."""
        from quant_data.sync import sync

        report = sync(self.store, self.provider, **self._series(), start_ns=start_ns)
        return sum(s.bars_new for s in report.series)

    def _series(self) -> dict[str, Any]:
        return {"symbols": self.symbols, "quote": self.quote, "timeframe": self.timeframe.value}


def warm_bars_needed(predictor: Predictor) -> int:
    """Bars of history per instrument the predictor needs before it predicts (at least 1).

    A :class:`quant_models.ModelSetPredictor` (or a wrapper exposing one as
    ``active.predictor``) predicts a coin once it has more than its feature warm-up bars.

    Examples:
        >>> from quant_apps.runtime.models.bundles import NoModel
        >>> warm_bars_needed(NoModel("BUNDLE_MISSING"))
        1
    """
    from quant_models import ModelSetPredictor

    inner = getattr(getattr(predictor, "active", None), "predictor", predictor)
    if isinstance(inner, ModelSetPredictor):
        warmup = inner.model_set.feature_config.warmup
        return max(inner.lookback_bars, warmup) + 1
    return 1
