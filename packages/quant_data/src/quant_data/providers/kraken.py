"""Kraken public market-data adapter: ``AssetPairs``, ``OHLC`` and ``Trades``.

Kraken's wire format (pair names, the ``{"error": [...], "result": ...}`` envelope and its
error strings, intervals, the 720-candle ``OHLC`` window, the ``Trades`` cursor) lives in
:mod:`quant_net.kraken`; this module turns answers into pages. No-trade candles are present
in ``OHLC``, so :attr:`KrakenPublicProvider.confirms_no_trade` is ``True``; ``Trades`` paging
stops when a page holds fewer than ``count`` rows or ``last`` stops moving.

:meth:`KrakenPublicProvider.fetch_ohlcv` uses ``OHLC`` when the window lies inside the last 720
candles of the clock's now, and rebuilds older history from ``Trades`` with
:func:`quant_data.trades_to_bars` (decision record 0012). Each trades response becomes
one :class:`~quant_data._records.FetchedPage` whose window covers the grid slots completed so
far (a slot is complete once a later trade has been seen), so every response is recorded
raw and no candle is emitted half-built.

Examples:
    >>> from quant_core import SimClock
    >>> provider = KrakenPublicProvider("http://127.0.0.1:9", clock=SimClock(0), seed=0)
    >>> provider.name, provider.page_limit, provider.confirms_no_trade
    ('kraken', 720, True)
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from decimal import InvalidOperation
from typing import Any, Final

import httpx

from quant_core import Clock, Timeframe
from quant_core.errors import ValidationError
from quant_core.settings import Secret
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE, Universe
from quant_data import reasons
from quant_data._errors import ProviderUsageError
from quant_data._records import FetchedPage, RawPage, SourceBar
from quant_data._trades import Trade, trades_to_bars
from quant_data.providers._common import HttpAdapter, fetched_page, raw_page
from quant_net import PROVIDER_BAD_REQUEST, ProviderError, RateLimiter, ReadPolicy, Response, kraken

__all__ = ["KrakenPublicProvider"]

_NS = 1_000_000_000
_CURSOR_SLACK_NS = 1_000  # float trade times are exact to well under a microsecond
_OHLC_ROW: Final = "OHLC row is not [time, o, h, l, c, vwap, v, n]"


class KrakenPublicProvider(HttpAdapter):
    """The Kraken public-data adapter (an :class:`~quant_data._records.OhlcvProvider`).

    Args:
        base_url: the REST root (``https://api.kraken.com`` or an emulator's ``.../kraken``).
        credentials: unused by the public endpoints; accepted so every adapter is built alike.
        clock: the injected clock ("now" picks OHLC or Trades, and times every response).
        seed: root seed of the retry jitter.
        policy: the HTTP policy (default: 1 request/s, Kraken's public allowance).
        transport: an httpx transport for tests.
        sleep: how to wait (default: advance a SimClock, or really sleep).
        universe: maps our symbols to Kraken's codes.
        trades_count: rows per ``Trades`` request (1..1000).
        limiter: a rate limiter shared with other Kraken clients.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Secret | None = None,
        *,
        clock: Clock,
        seed: int,
        policy: ReadPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        universe: Universe = UNIVERSE_V1_TOP30_NON_STABLE,
        trades_count: int = 1000,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not 1 <= trades_count <= kraken.TRADES_MAX_COUNT:
            raise ProviderUsageError(
                f"Kraken Trades count must be within 1..1000, got {trades_count}",
                reason_code=PROVIDER_BAD_REQUEST,
            )
        del credentials  # public endpoints take no key
        self._universe = universe
        self._trades_count = trades_count
        super().__init__(
            kraken.NAME,
            base_url,
            clock=clock,
            seed=seed,
            policy=policy or ReadPolicy(rate_per_s=1.0, burst=1),
            sleep=sleep,
            transport=transport,
            limiter=limiter,
        )

    def __repr__(self) -> str:
        return f"KrakenPublicProvider({self.http!r})"

    @property
    def page_limit(self) -> int:
        """720: the candles one ``OHLC`` answer holds."""
        return kraken.OHLC_WINDOW

    @property
    def confirms_no_trade(self) -> bool:
        """``True``: Kraken returns no-trade candles, and a trades rebuild sees every trade."""
        return True

    # --- AssetPairs -----------------------------------------------------------------------

    def asset_pairs(self, pairs: Sequence[str] = ()) -> tuple[kraken.AssetPair, ...]:
        """``GET /0/public/AssetPairs``: every pair (or the named ones), sorted by key.

        Raises:
            ProviderError: ``PROVIDER_SYMBOL_UNKNOWN`` for an unknown pair name, and the
                other provider errors.
        """
        params = {"pair": ",".join(pairs)} if pairs else {}

        def parse(response: Response) -> tuple[kraken.AssetPair, ...]:
            return kraken.asset_pairs(response, self._universe)

        return self.http.get("/0/public/AssetPairs", params, parse=parse)

    # --- OHLC -----------------------------------------------------------------------------

    def ohlc(
        self, symbol: str, quote: str, timeframe: Timeframe, since_ns: int | None = None
    ) -> tuple[RawPage, tuple[SourceBar, ...], int]:
        """``GET /0/public/OHLC``: the closed candles and the ``last`` cursor (UTC ns).

        The still-open final candle (any row after ``last``) is dropped.
        """
        params = {"pair": kraken.pair_name(symbol, quote, self._universe)}
        params["interval"] = str(kraken.INTERVALS[timeframe])
        if since_ns is not None:
            params["since"] = str(since_ns // _NS)

        def parse(response: Response) -> tuple[RawPage, tuple[SourceBar, ...], int]:
            rows, last = kraken.pair_series(kraken.result(response), response)
            bars = []
            try:
                for row in rows:
                    if int(row[0]) > last:
                        continue
                    bars.append(
                        SourceBar(
                            source=kraken.NAME,
                            symbol=symbol,
                            quote=quote,
                            timeframe=timeframe.value,
                            open_time_ns=int(row[0]) * _NS,
                            open=str(row[1]),
                            high=str(row[2]),
                            low=str(row[3]),
                            close=str(row[4]),
                            volume=str(row[6]),
                            trades=int(row[7]),
                        )
                    )
            except (IndexError, TypeError, ValueError):
                raise kraken.invalid(response, _OHLC_ROW) from None
            return raw_page(response), tuple(bars), last * _NS

        return self.http.get("/0/public/OHLC", params, parse=parse)

    # --- Trades ---------------------------------------------------------------------------

    def trades(
        self, symbol: str, quote: str, since_ns: int
    ) -> tuple[RawPage, tuple[Trade, ...], int]:
        """``GET /0/public/Trades``: up to ``trades_count`` trades and the next cursor (ns).

        Raises:
            ProviderError: ``TRADE_INVALID`` when a trade has an impossible price or volume
                (fatal: retrying gets the same trade), and the other provider errors.
        """
        params = {
            "pair": kraken.pair_name(symbol, quote, self._universe),
            "since": str(since_ns),
            "count": str(self._trades_count),
        }

        def parse(response: Response) -> tuple[RawPage, tuple[Trade, ...], int]:
            rows, last = kraken.pair_series(kraken.result(response), response)
            out = []
            seen: set[Any] = set()
            for row in rows:
                trade_id = row[6] if isinstance(row, list) and len(row) > 6 else None
                if trade_id is not None and trade_id in seen:
                    continue  # a row repeated in transit; trade ids are unique per pair
                seen.add(trade_id)
                try:
                    out.append(Trade(kraken.trade_time_ns(row), str(row[0]), str(row[1])))
                except (IndexError, TypeError, InvalidOperation):
                    raise kraken.invalid(
                        response, "Trades row is not [price, volume, time, ...]"
                    ) from None
                except ValidationError as exc:
                    raise ProviderError(
                        f"kraken: {exc.message} in {response.request}",
                        provider=kraken.NAME,
                        status=response.status,
                        reason_code=reasons.TRADE_INVALID,
                    ) from None
            return raw_page(response), tuple(out), last

        return self.http.get("/0/public/Trades", params, parse=parse)

    # --- OhlcvProvider --------------------------------------------------------------------

    def ohlc_window_start_ns(self, timeframe: Timeframe) -> int:
        """Open time of the oldest candle ``OHLC`` still serves at the clock's now."""
        return timeframe.floor(self._clock.now_ns()) - (kraken.OHLC_WINDOW - 1) * timeframe.ns

    def fetch_ohlcv(
        self, symbol: str, quote: str, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> Iterator[FetchedPage]:
        """Pages covering ``[start_ns, end_ns)``: trades rebuild for old slots, then OHLC.

        Slots older than the ``OHLC`` window (at the clock's now) are rebuilt from ``Trades``;
        the rest comes from one ``OHLC`` request. Candles that are not closed yet are not
        returned: the last page's window ends at the last closed candle.

        Raises:
            UniverseError: ``SYMBOL_UNKNOWN`` for a symbol outside the adapter's universe.
            ProviderError: fatal errors at once; retryable ones once the retries run out.
        """
        kraken.pair_name(symbol, quote, self._universe)  # fail fast on an unknown symbol
        cursor = start_ns
        while cursor < end_ns:
            boundary = self.ohlc_window_start_ns(timeframe)
            if cursor < boundary:
                # Trades only as far as OHLC cannot reach; should the clock move the window on
                # meanwhile, the loop sees it here again (or the cut-off check below does).
                cursor = yield from self._trade_pages(
                    symbol, quote, timeframe, cursor, min(end_ns, boundary), end_ns
                )
                continue
            raw, bars, last_ns = self.ohlc(symbol, quote, timeframe, since_ns=cursor - _NS)
            first = min((b.open_time_ns for b in bars), default=None)
            if first is not None and first > cursor and len(bars) >= kraken.OHLC_WINDOW - 1:
                # The 720-candle cap cut the window's start off: rebuild that part first.
                cursor = yield from self._trade_pages(
                    symbol, quote, timeframe, cursor, first, end_ns
                )
            closed_end = max(cursor, min(end_ns, last_ns + timeframe.ns))
            newest = max((b.open_time_ns for b in bars if b.open_time_ns >= cursor), default=None)
            window_end = closed_end
            if newest is not None and newest + timeframe.ns < closed_end:
                # Kraken serves no-trade candles too, so rows ending before `last` mean a cut
                # answer: claim only what arrived and ask again for the rest.
                window_end = newest + timeframe.ns
            yield fetched_page(
                raw,
                tuple(b for b in bars if cursor <= b.open_time_ns < window_end),
                cursor,
                window_end,
                closed_end,
            )
            if window_end >= closed_end:
                return
            cursor = window_end

    def _trade_pages(
        self,
        symbol: str,
        quote: str,
        timeframe: Timeframe,
        start_ns: int,
        stop_ns: int,
        end_ns: int,
    ) -> Generator[FetchedPage, None, int]:
        """Trades pages rebuilding ``[start_ns, stop_ns)``; returns where coverage ended.

        One request per page of ``trades_count`` trades, each after the previous cursor: the
        fewest Kraken allows. The page that passes ``stop_ns`` covers every slot it completes
        (up to ``end_ns``), so no trade received is fetched twice.
        """
        window_start = start_ns
        since = start_ns - 1
        buffer: list[Trade] = []
        while True:
            raw, trades, last = self.trades(symbol, quote, since)
            buffer.extend(t for t in trades if t.time_ns >= window_start)
            newest = max((t.time_ns for t in trades), default=None)
            short = len(trades) < self._trades_count
            # A short page whose cursor runs past its newest trade was cut in transit: go on
            # from the newest trade received instead of trusting the cursor.
            cut = short and newest is not None and last > newest + _CURSOR_SLACK_NS
            exhausted = (short and not cut) or last <= since
            done = True
            if newest is not None and newest >= stop_ns:
                # Every slot before the newest trade's is complete: use all of the page.
                complete_end = min(end_ns, max(stop_ns, timeframe.floor(newest)))
            elif exhausted or newest is None:
                complete_end = min(stop_ns, timeframe.floor(raw.received_at_ns))
            else:
                complete_end = timeframe.floor(newest)
                done = False
            complete_end = max(window_start, complete_end)
            ready = [t for t in buffer if t.time_ns < complete_end]
            buffer = [t for t in buffer if t.time_ns >= complete_end]
            yield fetched_page(
                raw,
                trades_to_bars(
                    ready, source=kraken.NAME, symbol=symbol, quote=quote, timeframe=timeframe
                ),
                window_start,
                complete_end,
                end_ns,
            )
            window_start = complete_end
            since = newest if cut and newest is not None else last
            if done:
                return complete_end
