"""The live Kraken spot venue: the private REST client, its nonces and rate counters, and a fake.

- :class:`KrakenPrivateClient` signs each private call (:mod:`quant_net.kraken`), takes its
  nonce from a :class:`NonceSource` (strictly increasing across threads, processes and
  restarts), keeps Kraken's call counter (:class:`CallCounter`) and per-pair order counter
  (:class:`OrderRateLimiter`) on the injected clock, sends writes once (a failure after
  sending is :class:`quant_net.UnknownOutcomeError`, resolved with
  :meth:`~KrakenPrivateClient.find_order`) and retries reads; results are typed
  (:class:`KrakenOrder`, :class:`KrakenTrade`, amounts as ``Decimal``).
- :class:`KrakenStream`: Kraken's WebSocket v2, pumped on the caller's thread: ``executions``
  and ``balances`` (a fresh token per connection) as Kraken's wire items, ``ticker``/``book``/
  ``ohlc`` as :class:`MarketUpdate` triggers, each pair's :class:`BookState` checked against
  Kraken's CRC32 (a mismatch drops, resubscribes and marks the pair stale); heartbeat silence
  on the injected clock and bounded, seeded reconnects that resubscribe once, then call back.
- :class:`KrakenVenue`: Kraken as the session's :class:`~quant_exec.venues.ExecutionVenue`:
  orders sent once, unknown outcomes resolved by query, Kraken's truth (REST and the
  WebSocket ``executions`` items) turned into order events, the dead-man's switch kept armed;
  its reason-coded problems are :class:`VenueAlarm` values.
- The errors: every one is a :class:`~quant_core.errors.QuantError` with a reason code, so a
  caller may catch the base class and branch on ``reason_code``; the classes are exported for
  those who catch one kind: :class:`ClockSkewError` (``CLOCK_SKEW``, from
  :meth:`~KrakenPrivateClient.check_clock_skew`), :class:`PagingError` (history that did not
  settle within the page budget), :class:`StreamLostError` (``KRAKEN_WS_LOST``),
  :class:`CallBudgetError`, :class:`KeyScopeError`, :class:`NonceStoreError`,
  :class:`PausedError`.
- :mod:`quant_exec.venues.kraken.fake`: a fake exchange over real HTTP on 127.0.0.1 that
  verifies keys, signatures and nonces, keeps balances, fills orders with fees, enforces the
  counters and injects faults, for tests and demos.

Examples:
    >>> import tempfile, pathlib
    >>> from decimal import Decimal
    >>> from quant_core import SimClock
    >>> from quant_core.settings import Secret
    >>> from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken
    >>> clock = SimClock(1_700_000_000 * 10**9)
    >>> fake = FakeKraken(clock)
    >>> fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    >>> fake.book.balances["ZUSD"] = Decimal("10000")
    >>> with serve_fake_kraken(fake) as server:
    ...     client = KrakenPrivateClient(
    ...         server.base_url, api_key=Secret(server.api_key), secret=Secret(server.secret),
    ...         clock=clock, seed=7,
    ...         nonce=NonceSource(pathlib.Path(tempfile.mkdtemp()) / "nonce", clock))
    ...     ack = client.add_order(pair="XBTUSD", side="buy", order_type="market",
    ...                            volume=Decimal("0.1"), cl_ord_id="intent-1")
    ...     order = client.find_order("intent-1")
    ...     client.close()
    >>> order.status, order.volume_executed, order.txid == ack.txids[0]
    ('closed', Decimal('0.1'), True)
"""

from quant_exec.venues.kraken._client import KrakenPrivateClient
from quant_exec.venues.kraken._counter import (
    INTERMEDIATE,
    INTERMEDIATE_ORDERS,
    PRO,
    PRO_ORDERS,
    STARTER,
    STARTER_ORDERS,
    CallCounter,
    CounterTier,
    OrderRateLimiter,
    call_cost,
    cancel_cost,
)
from quant_exec.venues.kraken._errors import (
    CallBudgetError,
    ClockSkewError,
    KeyScopeError,
    NonceStoreError,
    PagingError,
    PausedError,
)
from quant_exec.venues.kraken._nonce import NonceSource
from quant_exec.venues.kraken._types import (
    TRADING_PERMISSIONS,
    ApiKeyInfo,
    KrakenOrder,
    KrakenTrade,
    OrderAck,
)
from quant_exec.venues.kraken._venue import KrakenVenue
from quant_exec.venues.kraken._venue_wire import VenueAlarm
from quant_exec.venues.kraken._ws import KrakenStream, MarketUpdate, StreamLostError
from quant_exec.venues.kraken._ws_book import BookState

__all__ = [
    "INTERMEDIATE",
    "INTERMEDIATE_ORDERS",
    "PRO",
    "PRO_ORDERS",
    "STARTER",
    "STARTER_ORDERS",
    "TRADING_PERMISSIONS",
    "ApiKeyInfo",
    "BookState",
    "CallBudgetError",
    "CallCounter",
    "ClockSkewError",
    "CounterTier",
    "KeyScopeError",
    "KrakenOrder",
    "KrakenPrivateClient",
    "KrakenStream",
    "KrakenTrade",
    "KrakenVenue",
    "MarketUpdate",
    "NonceSource",
    "NonceStoreError",
    "OrderAck",
    "OrderRateLimiter",
    "PagingError",
    "PausedError",
    "StreamLostError",
    "VenueAlarm",
    "call_cost",
    "cancel_cost",
]
