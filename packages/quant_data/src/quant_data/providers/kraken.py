"""Kraken public market-data adapter: ``AssetPairs``, ``OHLC`` and ``Trades``.

Wire facts it relies on (``api-samples/README.md``):

- every answer is ``{"error": [...], "result": {...}}`` and errors usually come with HTTP 200:
  ``EGeneral:Too many requests`` and ``EAPI:Rate limit exceeded`` are retried like a 429,
  ``EService:*`` like a 5xx; ``EQuery:Unknown asset pair``/``EQuery:Invalid asset pair`` raise
  ``PROVIDER_SYMBOL_UNKNOWN`` and ``EGeneral:Invalid arguments`` ``PROVIDER_BAD_REQUEST`` at once;
- the result key is Kraken's pair key, not necessarily the pair asked for (``XBTUSD`` →
  ``XXBTZUSD``): the adapter takes the single key that is not ``last``;
- ``OHLC`` returns at most the 720 most recent candles, the last one still open; ``last`` (an
  int or a string) is the open time of the last *closed* candle, and rows after it are dropped;
  no-trade candles are present, so :attr:`KrakenPublicProvider.confirms_no_trade` is ``True``;
- ``Trades`` pages forward with a *nanosecond* ``since`` cursor (``result.last``); rows have 7
  or 8 elements (the 8th, when present, is the exact nanosecond time); paging stops when a page
  holds fewer than ``count`` rows or ``last`` stops moving.

:meth:`KrakenPublicProvider.fetch_ohlcv` uses ``OHLC`` when the window lies inside the last 720
candles of the clock's now, and rebuilds older history from ``Trades`` with
:func:`quant_data.trades.trades_to_bars` (decision record 0012). Each trades response becomes
one :class:`~quant_data.records.FetchedPage` whose window covers the grid slots completed so
far (a slot is complete once a later trade has been seen), so every response is recorded
raw and no candle is emitted half-built.

Examples:
    >>> kraken_pair("BTC", "USD"), kraken_pair("ETH", "CAD")
    ('XBTUSD', 'ETHCAD')
    >>> kraken_interval(Timeframe.H1)
    60
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs
import httpx

from quant_core import Clock, Timeframe
from quant_core.errors import UniverseError, ValidationError
from quant_core.secret import Secret
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE, Universe
from quant_data import reasons
from quant_data._errors import ProviderError, ProviderUsageError
from quant_data._records import FetchedPage, RawPage, SourceBar
from quant_data._trades import Trade, trades_to_bars
from quant_data.http import HttpPolicy, RateLimiter, Response
from quant_data.providers._common import (
    HttpAdapter,
    fetched_page,
    invalid_response,
    payload_excerpt,
)

__all__ = [
    "KRAKEN_BASE_URL",
    "KRAKEN_INTERVALS",
    "KrakenPair",
    "KrakenPublicProvider",
    "kraken_interval",
    "kraken_pair",
]

KRAKEN_BASE_URL: Final = "https://api.kraken.com"
"""The production REST root (paths start with ``/0/public/``)."""

NAME: Final = "kraken"

KRAKEN_INTERVALS: Final = {
    Timeframe.M1: 1,
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.M30: 30,
    Timeframe.H1: 60,
    Timeframe.H4: 240,
    Timeframe.D1: 1440,
    Timeframe.W1: 10080,
}
"""``OHLC`` ``interval`` (minutes) per timeframe."""

OHLC_WINDOW: Final = 720
"""Candles one ``OHLC`` answer can hold, the open one included."""

_NS = 1_000_000_000
_RETRY_RATE = ("EGeneral:Too many requests", "EAPI:Rate limit exceeded")
_RETRY_SERVICE = ("EService:", "EGeneral:Internal error")
_SYMBOL = ("EQuery:Unknown asset pair", "EQuery:Invalid asset pair")
_BAD_REQUEST = ("EGeneral:Invalid arguments",)
_AUTH = ("EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied")
_LEGACY_ALIASES: Final = {"XBT": "BTC", "XDG": "DOGE"}
_CURSOR_SLACK_NS = 1_000  # float trade times are exact to well under a microsecond


def kraken_interval(timeframe: Timeframe) -> int:
    """The ``OHLC`` interval in minutes for a timeframe."""
    return KRAKEN_INTERVALS[timeframe]


def kraken_pair(symbol: str, quote: str, universe: Universe = UNIVERSE_V1_TOP30_NON_STABLE) -> str:
    """The pair name Kraken accepts for our (symbol, quote): Kraken's base code + quote.

    Raises:
        UniverseError: ``SYMBOL_UNKNOWN`` when the symbol is not in ``universe``.
    """
    return universe.to_kraken(symbol) + quote.upper()


def _asset(code: str, universe: Universe) -> str:
    """Our symbol for a Kraken asset code (``XXBT`` → ``BTC``, ``ZUSD`` → ``USD``)."""
    try:
        return universe.from_kraken(code)
    except UniverseError:
        pass
    if len(code) == 4 and code[0] in "XZ":
        code = code[1:]
    return _LEGACY_ALIASES.get(code, code)


@attrs.frozen
class KrakenPair:
    """One ``AssetPairs`` entry, mapped to our symbols.

    Attributes:
        key: Kraken's result key (``XXBTZUSD``).
        altname: the alternate name (``XBTUSD``), accepted as ``pair``.
        wsname: the websocket name (``XBT/USD``).
        base: our symbol for the base asset (``BTC``).
        quote: our code for the quote asset (``USD``).
        aclass_base: asset class of the base (``currency``; ``tokenized_asset`` for stocks).
        status: trading status (``online``, ``cancel_only``, ...).
    """

    key: str
    altname: str
    wsname: str
    base: str
    quote: str
    aclass_base: str
    status: str

    @property
    def is_crypto(self) -> bool:
        """Whether the base is a currency (tokenized stocks and the like are not)."""
        return self.aclass_base == "currency"


def _kraken_error(errors: Sequence[Any], response: Response) -> ProviderError:
    text = "; ".join(str(e) for e in errors)
    message = f"kraken: {text} for {response.raw.request}"

    def made(code: str, retryable: bool = False) -> ProviderError:
        return ProviderError(
            message, provider=NAME, status=response.status, retryable=retryable, reason_code=code
        )

    if any(text.startswith(p) for p in _RETRY_RATE):
        return made(reasons.PROVIDER_RATE_LIMITED, retryable=True)
    if any(text.startswith(p) for p in _RETRY_SERVICE):
        return made(reasons.PROVIDER_UNAVAILABLE, retryable=True)
    if any(text.startswith(p) for p in _SYMBOL):
        return made(reasons.PROVIDER_SYMBOL_UNKNOWN)
    if any(text.startswith(p) for p in _BAD_REQUEST):
        return made(reasons.PROVIDER_BAD_REQUEST)
    if any(text.startswith(p) for p in _AUTH):
        return made(reasons.PROVIDER_AUTH_FAILED)
    return made(reasons.PROVIDER_ERROR)


def _invalid(response: Response, why: str) -> ProviderError:
    return invalid_response(NAME, f"malformed answer to {response.raw.request}: {why}", response)


def _result(response: Response) -> dict[str, Any]:
    """The ``result`` object of a Kraken envelope, or the classified error."""
    if response.status != 200:
        response.expect_ok(NAME, payload_excerpt(response))
    try:
        body = json.loads(response.raw.payload, parse_float=str)
    except ValueError:
        raise _invalid(response, "not JSON (truncated?)") from None
    if not isinstance(body, dict):
        raise _invalid(response, "not a JSON object")
    errors = body.get("error") or []
    if errors:
        raise _kraken_error(errors, response)
    result = body.get("result")
    if not isinstance(result, dict):
        raise _invalid(response, "no result object")
    return result


def _series(result: dict[str, Any], response: Response) -> tuple[list[Any], int]:
    """The single pair series and the ``last`` cursor (int or numeric string)."""
    keys = [k for k in result if k != "last"]
    if len(keys) != 1 or not isinstance(result[keys[0]], list):
        raise _invalid(response, f"expected one pair series, got keys {sorted(result)}")
    try:
        last = int(result["last"])
    except (KeyError, TypeError, ValueError):
        raise _invalid(response, "missing or non-integer 'last'") from None
    return result[keys[0]], last


def _trade_time_ns(row: Sequence[Any]) -> int:
    if len(row) >= 8 and isinstance(row[7], str) and row[7].isdigit():
        return int(row[7])
    return int(Decimal(str(row[2])) * _NS)


class KrakenPublicProvider(HttpAdapter):
    """The Kraken public-data adapter (an :class:`~quant_data.records.OhlcvProvider`).

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
        policy: HttpPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        universe: Universe = UNIVERSE_V1_TOP30_NON_STABLE,
        trades_count: int = 1000,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not 1 <= trades_count <= 1000:
            raise ProviderUsageError(
                f"Kraken Trades count must be within 1..1000, got {trades_count}",
                reason_code=reasons.PROVIDER_BAD_REQUEST,
            )
        del credentials  # public endpoints take no key
        self._universe = universe
        self._trades_count = trades_count
        super().__init__(
            NAME,
            base_url,
            clock=clock,
            seed=seed,
            policy=policy or HttpPolicy(rate_per_s=1.0, burst=1),
            sleep=sleep,
            transport=transport,
            limiter=limiter,
        )

    def __repr__(self) -> str:
        return f"KrakenPublicProvider({self.http!r})"

    @property
    def name(self) -> str:
        """``"kraken"``."""
        return NAME

    @property
    def page_limit(self) -> int:
        """720: the candles one ``OHLC`` answer holds."""
        return OHLC_WINDOW

    @property
    def confirms_no_trade(self) -> bool:
        """``True``: Kraken returns no-trade candles, and a trades rebuild sees every trade."""
        return True

    # --- AssetPairs -----------------------------------------------------------------------

    def asset_pairs(self, pairs: Sequence[str] = ()) -> tuple[KrakenPair, ...]:
        """``GET /0/public/AssetPairs``: every pair (or the named ones), sorted by key.

        Raises:
            ProviderError: ``PROVIDER_SYMBOL_UNKNOWN`` for an unknown pair name, and the
                other provider errors.
        """
        params = {"pair": ",".join(pairs)} if pairs else {}

        def parse(response: Response) -> tuple[KrakenPair, ...]:
            result = _result(response)
            out = []
            try:
                for key in sorted(result):
                    info = result[key]
                    out.append(
                        KrakenPair(
                            key=key,
                            altname=str(info["altname"]),
                            wsname=str(info.get("wsname", "")),
                            base=_asset(str(info["base"]), self._universe),
                            quote=_asset(str(info["quote"]), self._universe),
                            aclass_base=str(info.get("aclass_base", "currency")),
                            status=str(info.get("status", "online")),
                        )
                    )
            except (KeyError, TypeError):
                raise _invalid(response, "AssetPairs entry without base/quote/altname") from None
            return tuple(out)

        return self.http.get("/0/public/AssetPairs", params, parse=parse)

    # --- OHLC -----------------------------------------------------------------------------

    def ohlc(
        self, symbol: str, quote: str, timeframe: Timeframe, since_ns: int | None = None
    ) -> tuple[RawPage, tuple[SourceBar, ...], int]:
        """``GET /0/public/OHLC``: the closed candles and the ``last`` cursor (UTC ns).

        The still-open final candle (any row after ``last``) is dropped.
        """
        params = {"pair": kraken_pair(symbol, quote, self._universe)}
        params["interval"] = str(kraken_interval(timeframe))
        if since_ns is not None:
            params["since"] = str(since_ns // _NS)

        def parse(response: Response) -> tuple[RawPage, tuple[SourceBar, ...], int]:
            rows, last = _series(_result(response), response)
            bars = []
            try:
                for row in rows:
                    if int(row[0]) > last:
                        continue
                    bars.append(
                        SourceBar(
                            source=NAME,
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
                raise _invalid(response, "OHLC row is not [time, o, h, l, c, vwap, v, n]") from None
            return response.raw, tuple(bars), last * _NS

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
            "pair": kraken_pair(symbol, quote, self._universe),
            "since": str(since_ns),
            "count": str(self._trades_count),
        }

        def parse(response: Response) -> tuple[RawPage, tuple[Trade, ...], int]:
            rows, last = _series(_result(response), response)
            out = []
            seen: set[Any] = set()
            for row in rows:
                trade_id = row[6] if isinstance(row, list) and len(row) > 6 else None
                if trade_id is not None and trade_id in seen:
                    continue  # a row repeated in transit; trade ids are unique per pair
                seen.add(trade_id)
                try:
                    out.append(Trade(_trade_time_ns(row), str(row[0]), str(row[1])))
                except (IndexError, TypeError, InvalidOperation):
                    raise _invalid(
                        response, "Trades row is not [price, volume, time, ...]"
                    ) from None
                except ValidationError as exc:
                    raise ProviderError(
                        f"kraken: {exc.message} in {response.raw.request}",
                        provider=NAME,
                        status=response.status,
                        reason_code=reasons.TRADE_INVALID,
                    ) from None
            return response.raw, tuple(out), last

        return self.http.get("/0/public/Trades", params, parse=parse)

    # --- OhlcvProvider --------------------------------------------------------------------

    def ohlc_window_start_ns(self, timeframe: Timeframe) -> int:
        """Open time of the oldest candle ``OHLC`` still serves at the clock's now."""
        return timeframe.floor(self._clock.now_ns()) - (OHLC_WINDOW - 1) * timeframe.ns

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
        kraken_pair(symbol, quote, self._universe)  # fail fast on an unknown symbol
        cursor = start_ns
        while cursor < end_ns:
            boundary = self.ohlc_window_start_ns(timeframe)
            if cursor < boundary:
                # A few candles of margin, so the clock moving during the rebuild cannot
                # push the OHLC window past where the trades stopped.
                stop = min(end_ns, boundary + 24 * timeframe.ns)
                cursor = yield from self._trade_pages(
                    symbol, quote, timeframe, cursor, stop, end_ns
                )
                continue
            raw, bars, last_ns = self.ohlc(symbol, quote, timeframe, since_ns=cursor - _NS)
            first = min((b.open_time_ns for b in bars), default=None)
            if first is not None and first > cursor and len(bars) >= OHLC_WINDOW - 1:
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
        """Trades pages rebuilding ``[start_ns, stop_ns)``; returns where coverage ended."""
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
                complete_end = stop_ns
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
                trades_to_bars(ready, source=NAME, symbol=symbol, quote=quote, timeframe=timeframe),
                window_start,
                complete_end,
                end_ns,
            )
            window_start = complete_end
            since = newest if cut and newest is not None else last
            if done:
                return complete_end
