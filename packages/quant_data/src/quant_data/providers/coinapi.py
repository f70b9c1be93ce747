"""CoinAPI OHLCV history adapter (``GET /v1/ohlcv/{symbol_id}/history``).

Wire facts it relies on (``api-samples/README.md``):

- ``symbol_id`` is ``<EXCHANGE>_SPOT_<BASE>_<QUOTE>`` with CoinAPI's asset ids, which for our
  universe are the canonical symbols (``KRAKEN_SPOT_BTC_USD``: BTC, not Kraken's XBT);
- ``time_start`` is inclusive, ``time_end`` exclusive; the answer is a time-ascending JSON array
  of at most ``limit`` items; the next page starts at the last item's ``time_period_end``,
  also after a page shorter than ``limit`` (a page can be cut in transit): only an empty page
  ends the window;
- periods without trades are *omitted* (``include_empty_items`` defaults to false), and CoinAPI
  cannot tell an omitted no-trade hour from one it has no data for, so
  :attr:`CoinApiProvider.confirms_no_trade` is ``False``: a missing slot is a gap this provider
  reports, to be resolved elsewhere (decision record 0011);
- prices and volumes are JSON numbers; they are kept as the exact decimal text received
  (``966.34`` stays ``"966.34"``), never as binary floats; a ``null`` price is kept as the text
  ``"null"`` so the store quarantines the row instead of it vanishing;
- errors are ``{"error": "..."}`` bodies: 401 (bad key) and 403 (privileges; or the quota body)
  are fatal, 429 (with ``Retry-After``) and 5xx are retried, 550 means "no data" for that
  window and becomes an empty page, not an error;
- ``X-RateLimit-Remaining``/``X-RateLimit-Reset``: when the remaining credit reaches zero and
  overage is not enabled, the limiter pauses until the reset (or the request fails with
  ``PROVIDER_QUOTA_EXCEEDED`` when that is beyond the policy's ``max_wait_s``).

Examples:
    >>> import httpx
    >>> from quant_core import SimClock, Timeframe
    >>> body = (b'[{"time_period_start":"2017-01-01T00:00:00.0000000Z",'
    ...         b'"time_period_end":"2017-01-02T00:00:00.0000000Z","price_open":966.34,'
    ...         b'"price_high":1005.0,"price_low":960.53,"price_close":997.75,'
    ...         b'"volume_traded":6850.59330859,"trades_count":7815}]')
    >>> provider = CoinApiProvider(
    ...     "http://coinapi.test", None, clock=SimClock(0), seed=0,
    ...     transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
    >>> [page] = provider.fetch_ohlcv("BTC", "USD", Timeframe.D1,
    ...                               1_483_228_800 * 10**9, 1_483_315_200 * 10**9)
    >>> page.bars[0].open, page.bars[0].volume, page.next_start_ns is None
    ('966.34', '6850.59330859', True)
    >>> path, query = page.raw.request.split("?")
    >>> path
    'GET /v1/ohlcv/KRAKEN_SPOT_BTC_USD/history'
    >>> query.split("&")[2:]
    ['time_end=2017-01-02T00:00:00Z', 'time_start=2017-01-01T00:00:00Z']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import httpx

from quant_core import Clock, Timeframe, iso_to_ns, ns_to_iso
from quant_core.errors import QuantError
from quant_core.settings import Secret
from quant_data._errors import ProviderUsageError
from quant_data._records import FetchedPage, RawPage, SourceBar
from quant_data.providers._common import HttpAdapter, fetched_page, raw_page
from quant_net import (
    PROVIDER_BAD_REQUEST,
    PROVIDER_QUOTA_EXCEEDED,
    ProviderError,
    RateLimiter,
    ReadPolicy,
    Response,
    parse_reset_time,
)

__all__ = [
    "COINAPI_BASE_URL",
    "COINAPI_PERIODS",
    "PERIOD_IDS",
    "CoinApiProvider",
    "coinapi_symbol_id",
]

COINAPI_BASE_URL: Final = "https://rest.coinapi.io"
"""The production REST root."""

PERIOD_IDS: Final[Mapping[str, Timeframe]] = {
    "1MIN": Timeframe.M1,
    "5MIN": Timeframe.M5,
    "15MIN": Timeframe.M15,
    "30MIN": Timeframe.M30,
    "1HRS": Timeframe.H1,
    "4HRS": Timeframe.H4,
    "1DAY": Timeframe.D1,
    "7DAY": Timeframe.W1,
}
"""Every CoinAPI ``period_id`` this SDK reads (file names, the emulator) → our timeframe."""

COINAPI_PERIODS: Final[Mapping[Timeframe, str]] = {
    tf: pid for pid, tf in PERIOD_IDS.items() if tf is not Timeframe.W1
}
"""``period_id`` per timeframe the adapter requests. Weekly is absent: CoinAPI's ``7DAY`` grid
is not documented to start on Monday, so it would not line up with
:meth:`quant_core.Timeframe.floor`."""

NAME: Final = "coinapi"


def coinapi_symbol_id(symbol: str, quote: str, exchange: str = "KRAKEN") -> str:
    """CoinAPI's symbol id for a spot pair on ``exchange``.

    Examples:
        >>> coinapi_symbol_id("BTC", "USD")
        'KRAKEN_SPOT_BTC_USD'
    """
    return f"{exchange}_SPOT_{symbol.upper()}_{quote.upper()}"


def _number_text(value: Any) -> str:
    """JSON numbers were parsed as their text; ``null`` and anything else become text too."""
    if value is None:
        return "null"
    return str(value)


def _load(raw_payload: bytes) -> Any:
    """JSON with numbers kept as their exact text."""
    return json.loads(raw_payload, parse_float=str, parse_int=str)


class CoinApiProvider(HttpAdapter):
    """The CoinAPI OHLCV history adapter (an :class:`~quant_data._records.OhlcvProvider`).

    Args:
        base_url: the REST root (``https://rest.coinapi.io`` or an emulator's
            ``.../coinapi``).
        api_key: the key sent as ``X-CoinAPI-Key`` (``None`` for a keyless emulator).
        clock: the injected clock.
        seed: root seed of the retry jitter.
        policy: the HTTP policy (default: CoinAPI-friendly 5 requests/s, burst 5).
        transport: an httpx transport for tests.
        sleep: how to wait (default: advance a SimClock, or really sleep).
        page_limit: ``limit`` per request (1..100000; default 100, one credit per call).
        exchange: the exchange part of the symbol id.
        limiter: a rate limiter shared with other clients of the same key.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Secret | None,
        *,
        clock: Clock,
        seed: int,
        policy: ReadPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        page_limit: int = 100,
        exchange: str = "KRAKEN",
        limiter: RateLimiter | None = None,
    ) -> None:
        if not 1 <= page_limit <= 100_000:
            raise ProviderUsageError(
                f"CoinAPI limit must be within 1..100000, got {page_limit}",
                reason_code=PROVIDER_BAD_REQUEST,
            )
        self._page_limit = page_limit
        self._exchange = exchange
        super().__init__(
            NAME,
            base_url,
            clock=clock,
            seed=seed,
            policy=policy or ReadPolicy(rate_per_s=5.0, burst=5),
            sleep=sleep,
            transport=transport,
            secret_headers={"X-CoinAPI-Key": api_key} if api_key is not None else None,
            limiter=limiter,
        )

    def __repr__(self) -> str:
        return f"CoinApiProvider({self.http!r}, page_limit={self._page_limit})"

    @property
    def page_limit(self) -> int:
        """The ``limit`` sent with each request."""
        return self._page_limit

    @property
    def confirms_no_trade(self) -> bool:
        """``False``: an omitted period may be no trade or missing data (see the module)."""
        return False

    def _observe_quota(self, response: Response) -> None:
        """Feed ``X-RateLimit-*`` headers to the limiter (pause at zero without overage)."""
        remaining_text = response.headers.get("x-ratelimit-remaining")
        if remaining_text is None:
            return
        try:
            remaining = int(remaining_text)
        except ValueError:
            return
        overage = response.headers.get("x-ratelimit-overage", "").lower() == "enabled"
        reset_ns = parse_reset_time(response.headers.get("x-ratelimit-reset"))
        if remaining > 0 or overage or reset_ns is None:
            return
        wait_s = (reset_ns - self._clock.now_ns()) / 1e9
        if wait_s > self.http.policy.max_wait_s:
            raise ProviderError(
                f"coinapi: request credits exhausted until {ns_to_iso(reset_ns)}",
                provider=NAME,
                status=response.status,
                reason_code=PROVIDER_QUOTA_EXCEEDED,
            )
        self.http.limiter.pause_until(reset_ns)

    def _error_text(self, response: Response) -> str:
        try:
            body = _load(response.payload)
        except ValueError:
            return response.excerpt()
        if isinstance(body, dict):
            return str(body.get("error") or body.get("detail") or body.get("title") or body)
        return str(body)[:200]

    def _parse(
        self, symbol: str, quote: str, timeframe: Timeframe
    ) -> Callable[[Response], tuple[RawPage, tuple[SourceBar, ...]]]:
        def parse(response: Response) -> tuple[RawPage, tuple[SourceBar, ...]]:
            if response.status == 550:
                return raw_page(response), ()
            if response.status != 200:
                message = self._error_text(response)
                if response.status == 403 and "quota" in message.lower():
                    raise ProviderError(
                        f"coinapi: HTTP 403 for {response.request}: {message}",
                        provider=NAME,
                        status=403,
                        reason_code=PROVIDER_QUOTA_EXCEEDED,
                    )
                response.expect_ok(message)
            self._observe_quota(response)
            return raw_page(response), self._bars(response, symbol, quote, timeframe)

        return parse

    def _bars(
        self, response: Response, symbol: str, quote: str, timeframe: Timeframe
    ) -> tuple[SourceBar, ...]:
        def invalid(why: str) -> ProviderError:
            return response.invalid(f"malformed OHLCV page for {response.request}: {why}")

        try:
            items = _load(response.payload)
        except ValueError:
            raise invalid("not JSON (truncated?)") from None
        if not isinstance(items, list):
            raise invalid("not a JSON array")
        bars = []
        for item in items:
            try:
                start_ns = iso_to_ns(item["time_period_start"])
                trades_text = item.get("trades_count")
                bars.append(
                    SourceBar(
                        source=NAME,
                        symbol=symbol,
                        quote=quote,
                        timeframe=timeframe.value,
                        open_time_ns=start_ns,
                        open=_number_text(item.get("price_open")),
                        high=_number_text(item.get("price_high")),
                        low=_number_text(item.get("price_low")),
                        close=_number_text(item.get("price_close")),
                        volume=_number_text(item.get("volume_traded")),
                        trades=int(trades_text) if trades_text is not None else None,
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError, QuantError) as exc:
                raise invalid(f"bad item ({type(exc).__name__})") from None
        return tuple(bars)

    def fetch_ohlcv(
        self, symbol: str, quote: str, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> Iterator[FetchedPage]:
        """Pages covering ``[start_ns, end_ns)``, one request each, fetched lazily.

        A page covers up to its last item's end and the next page starts there, whether it is
        full or short: a page shorter than ``page_limit`` inside the window may have been cut,
        so only an empty page (or a 550 "no data" answer) covers the rest of the window. No
        request is made for an empty window.

        Raises:
            ProviderUsageError: ``PROVIDER_TIMEFRAME_UNSUPPORTED`` for a weekly timeframe.
            ProviderError: fatal errors at once; retryable ones once the retries run out.
        """
        period = COINAPI_PERIODS.get(timeframe)
        if period is None:
            raise ProviderUsageError(f"CoinAPI has no {timeframe.value} period in this SDK")
        path = f"/v1/ohlcv/{coinapi_symbol_id(symbol, quote, self._exchange)}/history"
        parse = self._parse(symbol, quote, timeframe)
        cursor = start_ns
        while cursor < end_ns:
            params = {
                "period_id": period,
                "time_start": ns_to_iso(cursor),
                "time_end": ns_to_iso(end_ns),
                "limit": str(self._page_limit),
            }
            raw, bars = self.http.get(path, params, parse=parse)
            window_end = end_ns
            if bars:
                last_end = max(b.open_time_ns for b in bars) + timeframe.ns
                # A page proves coverage only up to its last period's end, a short one too
                # (cut in transit, or sparse): the next request says whether the rest is empty.
                window_end = min(end_ns, max(last_end, cursor + timeframe.ns))
            yield fetched_page(raw, bars, cursor, window_end, end_ns)
            cursor = window_end
