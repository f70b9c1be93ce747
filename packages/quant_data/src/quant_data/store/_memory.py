"""An in-memory :class:`~quant_data.OhlcvProvider` with injectable faults.

It serves candles from a list, paged by ``page_limit`` over time windows exactly like a
window-paging HTTP provider, so the backfill and sync engines (and their tests and benchmarks)
run without a network. Faults: duplicated rows, revised candles (:meth:`MemoryProvider.revise`),
missing slots (leave bars out), and a hook called before each page (a test uses it to kill the
process mid-backfill).

Examples:
    >>> from quant_core import Timeframe
    >>> from quant_data import SourceBar
    >>> H = Timeframe.H1.ns
    >>> bars = [SourceBar("memory", "BTC", "USD", "1h", i * H, "1", "1", "1", "1", "0")
    ...         for i in range(5)]
    >>> provider = MemoryProvider(bars, page_limit=2)
    >>> [len(p.bars) for p in provider.fetch_ohlcv("BTC", "USD", Timeframe.H1, 0, 5 * H)]
    [2, 2, 1]
    >>> provider.requests
    3
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator

import attrs

from quant_core import Clock, Timeframe
from quant_data._records import FetchedPage, RawPage, SourceBar

__all__ = ["MemoryProvider"]


def _by_key(bars: Iterable[SourceBar]) -> dict[tuple[str, str, str, str, int], SourceBar]:
    return {bar.key: bar for bar in bars}


_FIXED = attrs.setters.frozen


@attrs.define(eq=False)
class MemoryProvider:
    """Serve ``bars`` as an :class:`~quant_data.OhlcvProvider`.

    ``bars`` is the one positional argument; the others are keyword-only.

    Other Parameters:
        bars (Iterable[SourceBar]): the candles the provider knows (their ``source`` should
            equal ``name``).
        name (str): the source name (default ``"memory"``).
        page_limit (int): the most candles one page holds (windows are ``page_limit`` slots
            wide; default 100).
        confirms_no_trade (bool): what the provider claims about missing slots (a missing slot
            means no trade; default ``False``).
        clock (Clock | None): stamps ``received_at_ns`` (default: 0 on every page).
        duplicate_rows (bool): repeat the first row of every page (an identical duplicate).
        on_page (Callable[[int], None] | None): called with the page number (0-based, counted
            over the provider's life) before each page is returned.
    """

    _bars: dict[tuple[str, str, str, str, int], SourceBar] = attrs.field(
        converter=_by_key, alias="bars", repr=False
    )
    name: str = attrs.field(default="memory", kw_only=True, on_setattr=_FIXED)
    page_limit: int = attrs.field(default=100, kw_only=True, on_setattr=_FIXED)
    confirms_no_trade: bool = attrs.field(default=False, kw_only=True, on_setattr=_FIXED)
    _clock: Clock | None = attrs.field(default=None, kw_only=True, alias="clock")
    _duplicate: bool = attrs.field(default=False, kw_only=True, alias="duplicate_rows")
    _on_page: Callable[[int], None] | None = attrs.field(
        default=None, kw_only=True, alias="on_page"
    )
    _requests: int = attrs.field(default=0, init=False)

    @property
    def requests(self) -> int:
        """How many pages (one request each) the provider has served so far."""
        return self._requests

    def revise(self, bars: Iterable[SourceBar]) -> None:
        """Add or replace candles (a late arrival or a revision)."""
        for bar in bars:
            self._bars[bar.key] = bar

    def fetch_ohlcv(
        self, symbol: str, quote: str, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> Iterator[FetchedPage]:
        """Pages of at most ``page_limit`` slots covering ``[start_ns, end_ns)``."""
        width = self.page_limit * timeframe.ns
        start = timeframe.floor(start_ns)
        start = start if start >= start_ns else start + timeframe.ns
        while start < end_ns:
            end = min(start + width, end_ns)
            rows = sorted(
                (
                    b
                    for k, b in self._bars.items()
                    if k[1:4] == (symbol, quote, timeframe.value) and start <= k[4] < end
                ),
                key=lambda b: b.open_time_ns,
            )
            if self._duplicate and rows:
                rows.insert(1, rows[0])
            # The raw page's bytes (a stand-in wire format): its hash keys raw-page dedup.
            payload = json.dumps([attrs.astuple(b) for b in rows], separators=(",", ":")).encode()
            raw = RawPage(
                source=self.name,
                request=(
                    f"GET /ohlcv?end={end}&quote={quote}&start={start}&symbol={symbol}"
                    f"&timeframe={timeframe.value}"
                ),
                received_at_ns=0 if self._clock is None else self._clock.now_ns(),
                status=200,
                payload=payload,
            )
            if self._on_page is not None:
                self._on_page(self._requests)
            self._requests += 1
            yield FetchedPage(raw, tuple(rows), start, end, end if end < end_ns else None)
            start = end
