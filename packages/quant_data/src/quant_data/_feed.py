"""The store as a :class:`~quant_core.MarketDataFeed` that hands out new bars as they land.

A trading session reads its history once with :meth:`StoreFeed.bars` and then, each cycle,
asks :meth:`StoreFeed.poll` for the bars that closed since. A poll is one indexed query on
open time per group of instruments that stand at the same place (one group in the steady
state), so its cost follows the number of new bars, not the length of the history: no
dataset is built, no CSV written, nothing hashed.

The values are exactly those :meth:`Store.materialize(...).bars() <quant_data.Store.materialize>`
gives for the same window and source preference: the newest version of every bar, from the
first source in :func:`~quant_data.source_preference` order that has one.

Examples:
    >>> from quant_core import SimClock, Timeframe
    >>> from quant_data import MemoryProvider, SourceBar, Store
    >>> H = Timeframe.H1.ns
    >>> store = Store.open("sqlite://", clock=SimClock(100 * H))
    >>> def bar(symbol: str, i: int) -> SourceBar:
    ...     return SourceBar("memory", symbol, "USD", "1h", i * H, "1", "2", "1", "2", "5")
    >>> def land(*bars: SourceBar) -> None:
    ...     for page in MemoryProvider(bars).fetch_ohlcv("BTC", "USD", Timeframe.H1, 0, 9 * H):
    ...         store.ingest_page(page)
    >>> land(*(bar("BTC", i) for i in range(3)))
    >>> feed = StoreFeed(store, ["BTC"], "USD", Timeframe.H1)
    >>> [b.open_time_ns // H for b in feed.bars(0, 3 * H)]
    [0, 1, 2]
    >>> feed.poll(until_ns=10 * H)
    []
    >>> land(bar("BTC", 3), bar("BTC", 4))
    >>> [b.open_time_ns // H for b in feed.poll(until_ns=5 * H)]
    [3, 4]
    >>> feed.poll(until_ns=6 * H)
    []
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from quant_core import Bar, Instrument, Timeframe
from quant_core.events import FeedBase, bar_sort_key
from quant_data.store import Store

__all__ = ["StoreFeed"]


class StoreFeed(FeedBase):
    """A :class:`~quant_core.MarketDataFeed` over a :class:`~quant_data.Store`, with polling.

    Its instruments are one per symbol asked for (in the feed's quote), sorted by base asset.

    Args:
        store: the governed store the bars land in.
        symbols: base assets.
        quote: the quote currency.
        timeframe: the bar length.
        prefer: sources to prefer, in order (as ``Store.materialize(prefer=...)``); empty: the
            store's default order (see :func:`~quant_data.source_preference`).

    Raises:
        QuantUsageError: ``STORE_REQUEST_INVALID`` for no symbols, an unknown quote or an
            unknown timeframe.
    """

    def __init__(
        self,
        store: Store,
        symbols: Sequence[str],
        quote: str,
        timeframe: Timeframe,
        *,
        prefer: Sequence[str] = (),
    ) -> None:
        tf = Timeframe(timeframe)
        store.latest_bars(symbols, quote, tf.value, 0, 0)  # checks the request
        self._store = store
        self._symbols = tuple(sorted(set(symbols)))
        self._quote = quote
        self._prefer = tuple(prefer) or None
        super().__init__(tuple(Instrument(s, quote) for s in self._symbols), tf)
        #: symbol -> the newest open time handed out (by bars() or poll()).
        self._last: dict[str, int] = {}
        #: the newest open time bars() handed out, any symbol (None: nothing yet).
        self._history_end: int | None = None

    def bars(self, start_ns: int, end_ns: int) -> Iterator[Bar]:
        """Bars opened in ``[start_ns, end_ns)``, in event order (:func:`~quant_core.bar_sort_key`).

        The bars count as handed out: a later :meth:`poll` starts after them.
        """
        found = self._read(self._symbols, start_ns, end_ns)
        self._hand_out(found)
        if found:
            newest = found[-1].open_time_ns
            end = self._history_end
            self._history_end = newest if end is None else max(end, newest)
        return iter(found)

    def poll(self, until_ns: int) -> list[Bar]:
        """The bars that closed at or before ``until_ns`` and were not handed out yet.

        Per instrument, a poll hands out the bars opened after the newest one already handed
        out (by :meth:`bars` or an earlier poll); an instrument nothing was handed out for yet
        starts after the newest bar :meth:`bars` handed out, or from the beginning. A late bar
        for a slot before an instrument's newest handed-out bar is not handed out again.

        Returns:
            The new bars, in event order.
        """
        end = until_ns - self._timeframe.ns + 1  # opened at or before until - length
        groups: dict[int, list[str]] = defaultdict(list)
        for symbol in self._symbols:
            groups[self._after(symbol)].append(symbol)
        fresh: list[Bar] = []
        for after, symbols in sorted(groups.items()):
            fresh.extend(self._read(symbols, after + 1, end))
        fresh.sort(key=bar_sort_key)
        self._hand_out(fresh)
        return fresh

    def _after(self, symbol: str) -> int:
        last = self._last.get(symbol, self._history_end)
        return -1 if last is None else last

    def _read(self, symbols: Sequence[str], start_ns: int, end_ns: int) -> list[Bar]:
        return self._store.latest_bars(
            symbols, self._quote, self._timeframe.value, start_ns, end_ns, prefer=self._prefer
        )

    def _hand_out(self, bars: Iterable[Bar]) -> None:
        last = self._last
        for bar in bars:
            symbol, t = bar.instrument.base, bar.open_time_ns
            if t > last.get(symbol, -1):
                last[symbol] = t
