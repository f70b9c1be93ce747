"""What providers and importers hand to the store: raw pages and unvalidated source bars.

Providers (HTTP adapters) and importers (files) never write to the store; they produce
:class:`FetchedPage` values. Each page keeps the exact bytes received (:class:`RawPage`, for the
append-only raw ingest record) and the candles it contained as :class:`SourceBar` values: already
mapped to our symbols and UTC nanoseconds, but *not validated*, because a bad row must reach the
store to be quarantined with a reason code rather than vanish in an adapter.

Examples:
    >>> page = RawPage(source="kraken", request="GET /0/public/OHLC?interval=60&pair=XBTUSD",
    ...                received_at_ns=5, status=200, payload=b'{"error":[]}')
    >>> page.payload_hash
    'sha256:...'
    >>> bar = SourceBar("kraken", "BTC", "USD", "1h", 0, "1", "2", "0.5", "1.5", "10")
    >>> bar.key
    ('kraken', 'BTC', 'USD', '1h', 0)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import attrs

from quant_core import Timeframe, bytes_hash
from quant_core.errors import QuantUsageError
from quant_data import reasons

__all__ = [
    "FetchedPage",
    "OhlcvProvider",
    "RawPage",
    "SourceBar",
    "parse_timeframe",
]


@attrs.frozen
class RawPage:
    """One provider response (or one imported file), exactly as received.

    Attributes:
        source: provider or importer name (``"coinapi"``, ``"kraken"``, ``"import:kraken_ohlcvt"``).
        request: canonical description of the request: method, path and sorted query, never
            a credential (for files: ``"FILE <name>"``).
        received_at_ns: clock time the response was received.
        status: HTTP status (200 for files).
        payload: the response body bytes.
    """

    source: str
    request: str
    received_at_ns: int
    status: int
    payload: bytes = attrs.field(repr=False)

    @property
    def payload_hash(self) -> str:
        """``sha256:<hex>`` of the payload."""
        return bytes_hash(self.payload)


@attrs.frozen
class SourceBar:
    """A candle as a source reported it, mapped to our symbol and UTC ns, not yet validated.

    Prices and volume are kept as the source's decimal text (``"NaN"``, ``"-1"`` and the like
    included) so the store can quarantine bad rows with a reason.
    """

    source: str
    symbol: str
    quote: str
    timeframe: str
    open_time_ns: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        """The natural key: (source, symbol, quote, timeframe, open time)."""
        return (self.source, self.symbol, self.quote, self.timeframe, self.open_time_ns)


@attrs.frozen
class FetchedPage:
    """One page of candles and what it proves about coverage.

    Attributes:
        raw: the exact response.
        bars: the candles in it, in the order received (duplicates and disorder included).
        window_start_ns: inclusive start of the time window this page answers for.
        window_end_ns: exclusive end of that window. Every grid slot in the window that has no
            bar is a gap *reported by this provider*; with
            :attr:`OhlcvProvider.confirms_no_trade` it is a confirmed no-trade period.
        next_start_ns: where the next page starts, or ``None`` when the request is complete.
    """

    raw: RawPage
    bars: tuple[SourceBar, ...]
    window_start_ns: int
    window_end_ns: int
    next_start_ns: int | None


@runtime_checkable
class OhlcvProvider(Protocol):
    """A source of historical candles, paged. Implemented by every provider adapter."""

    @property
    def name(self) -> str:
        """The source name recorded on every row (``"coinapi"``, ``"kraken"``)."""
        ...

    @property
    def page_limit(self) -> int:
        """The most candles one request can return."""
        ...

    @property
    def confirms_no_trade(self) -> bool:
        """Whether a slot missing from a successful page means no trade happened there."""
        ...

    @property
    def requests(self) -> int:
        """How many requests the provider has sent so far, retries included (never decreases).

        Backfill and sync report the difference across a run as their request count.
        """
        ...

    def fetch_ohlcv(
        self, symbol: str, quote: str, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> Iterator[FetchedPage]:
        """Pages covering ``[start_ns, end_ns)`` in time order, fetched lazily.

        Raises:
            quant_core.QuantError: a fatal provider error (auth, unknown symbol) or retries
                exhausted, with the provider's reason code; never a secret in the message.
        """
        ...


def parse_timeframe(value: str) -> Timeframe:
    """The timeframe named ``value``, as a store request or a backfill job names it.

    Raises:
        QuantUsageError: ``STORE_REQUEST_INVALID`` for an unknown timeframe.

    Examples:
        >>> parse_timeframe("1h")
        <Timeframe.H1: '1h'>
        >>> parse_timeframe("7m")
        Traceback (most recent call last):
        ...
        quant_core.errors.QuantUsageError: [STORE_REQUEST_INVALID] unknown timeframe '7m'
    """
    try:
        return Timeframe(value)
    except ValueError:
        raise QuantUsageError(
            f"unknown timeframe {value!r}", reason_code=reasons.STORE_REQUEST_INVALID
        ) from None
