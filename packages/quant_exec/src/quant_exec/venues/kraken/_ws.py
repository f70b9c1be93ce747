"""Kraken's WebSocket v2 as a pumped, single-threaded stream: executions, balances, market data.

:class:`KrakenStream` holds one connection (Kraken serves private channels on
``wss://ws-auth.kraken.com/v2`` and public ones on ``wss://ws.kraken.com/v2``: open one stream
for each). Nothing runs in the background: the owner calls :meth:`KrakenStream.pump` (or a
``drain_*`` method, which pumps first) and every frame that has arrived is handled on the
caller's thread, in order (decision 0105). Numbers are parsed as :class:`~decimal.Decimal`, so
items keep Kraken's full precision.

- **Private** (when a ``token`` source is given): ``executions`` (open orders and the last 50
  fills as a snapshot, then every order event) and ``balances``, each subscribed with a fresh
  token from ``GetWebSocketsToken`` on every connection. :meth:`~KrakenStream.drain_executions`
  returns Kraken's wire items unchanged, in arrival order; a fill (``exec_type`` ``trade``)
  whose ``exec_id`` was already delivered is dropped.
- **Public**: ``ticker``, ``book`` (kept per pair in a :class:`BookState` and checked against
  Kraken's CRC32 on every message: a mismatch drops the book, resubscribes it and marks the pair
  stale until a snapshot matches) and ``ohlc``, delivered as :class:`MarketUpdate` values
  (:meth:`~KrakenStream.drain_market`, or the ``on_market`` callback). No book update is
  delivered while the pair is stale.
- **Liveness**: any frame counts as life (Kraken sends ``{"channel": "heartbeat"}`` about once
  a second when nothing else moves); silence beyond ``heartbeat_timeout_s`` on the injected
  clock, a closed socket or a failed handshake is a disconnect. Reconnection waits with
  capped exponential backoff and seeded jitter (through ``sleep``, which advances a
  :class:`~quant_core.SimClock`) after each failure in a row (a failed attempt, or a
  connection that died younger than ``stable_s``: a storm), sends one subscription per
  channel, and after every channel is acknowledged calls ``on_reconnect`` (the venue reconciles
  through REST there). After ``max_attempts`` failures in a row, :meth:`~KrakenStream.pump` raises
  :class:`StreamLostError`; the ``drain_*`` methods record it in
  :attr:`~KrakenStream.lost` and return what they hold, so a venue carries on over REST.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from quant_core import NS_PER_SECOND, Clock, generator
from quant_core.settings import Secret
from quant_exec.venues.kraken import _ws_reasons as reasons
from quant_exec.venues.kraken._ws_book import BookState
from quant_net import ProviderError, default_sleep

__all__ = ["PRIVATE_CHANNELS", "KrakenStream", "MarketUpdate", "StreamLostError", "quiet_logger"]

PRIVATE_CHANNELS: Final = ("executions", "balances")
"""The authenticated channels, subscribed with a token."""


class _NoFrames(logging.LoggerAdapter[logging.Logger]):
    """A logger that never takes DEBUG: there ``websockets`` writes every frame, tokens too."""

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802  # logging's own name
        """Whether ``level`` is logged: never DEBUG, otherwise as the wrapped logger says."""
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


def quiet_logger(name: str) -> logging.LoggerAdapter[logging.Logger]:
    """``name``'s logger with DEBUG off, for a ``websockets`` connection or server.

    ``websockets`` logs each frame it sends or receives at DEBUG, and a subscription frame
    carries the WebSocket token; with this logger none of them is written, whatever the
    application's logging configuration.

    Args:
        name: the logger's name.

    Examples:
        >>> quiet = quiet_logger("websockets.client")
        >>> quiet.isEnabledFor(logging.DEBUG)
        False
    """
    return _NoFrames(logging.getLogger(name), {})


class StreamLostError(ProviderError, reason=reasons.KRAKEN_WS_LOST):
    """The stream could not (re)connect within its attempts (the last failure is the cause)."""


class _AttemptError(Exception):
    """One connection attempt failed (internal; carries a reason code and a safe message)."""

    def __init__(self, message: str, reason_code: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@attrs.frozen
class MarketUpdate:
    """One market-data item from a public channel, a decision trigger.

    Attributes:
        channel: ``"ticker"``, ``"book"`` or ``"ohlc"``.
        symbol: Kraken's v2 symbol (``"BTC/USD"``).
        data: the wire item (for ``book``, the message's item; the whole book is
            :meth:`KrakenStream.book`).
        received_ns: when it was handled, on the injected clock.
    """

    channel: str
    symbol: str
    data: Mapping[str, Any]
    received_ns: int


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


def _dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class KrakenStream:
    """One Kraken WebSocket v2 connection, its subscriptions and what they delivered.

    Args:
        url: the endpoint (``wss://ws-auth.kraken.com/v2``, ``wss://ws.kraken.com/v2``, or
            the fake's).
        clock: the injected clock (heartbeat silence, backoff, receive times).
        seed: root seed of the reconnect jitter.
        token: where a fresh ``GetWebSocketsToken`` token comes from (e.g.
            ``lambda: client.get_websockets_token().token``); given, ``executions`` and
            ``balances`` are subscribed.
        symbols: v2 symbols for the public channels (``"BTC/USD"``).
        ticker: subscribe ``ticker`` for ``symbols``.
        book_depth: subscribe ``book`` at this depth (10, 25, 100, 500, 1000); 0: no book.
        ohlc_interval: subscribe ``ohlc`` at this interval in minutes; 0: no ohlc.
        on_reconnect: called after a reconnection's subscriptions are all acknowledged.
        on_market: called with each :class:`MarketUpdate` as it is handled (they are also
            kept for :meth:`drain_market`).
        heartbeat_timeout_s: silence (injected clock) after which the connection is dead.
        max_attempts: failed connections in a row before the stream is lost: failed attempts
            and connections that died younger than ``stable_s`` (a reconnect storm) count.
        backoff_base_s: the wait after the first failed attempt, doubling after each.
        backoff_max_s: the cap of that wait.
        jitter: the randomized fraction of each wait (0: none, 1: full).
        stable_s: how long (injected clock) a connection must live to end a failure streak.
        open_timeout_s: real seconds a handshake or a subscription acknowledgement may take.
        sleep: how to wait between attempts (default :func:`quant_net.default_sleep`).

    Examples:
        >>> from decimal import Decimal
        >>> from quant_core import SimClock
        >>> from quant_exec.venues.kraken.fake import FakeKrakenWs, serve_fake_kraken_ws
        >>> clock = SimClock(1_700_000_000 * 10**9)
        >>> fake = FakeKrakenWs(clock)
        >>> with serve_fake_kraken_ws(fake) as server:
        ...     stream = KrakenStream(server.url, clock=clock, seed=1,
        ...                           token=lambda: Secret(fake.issue_token()))
        ...     stream.open()
        ...     fake.publish_execution({"exec_type": "new", "order_id": "O1",
        ...                             "order_status": "new", "order_qty": Decimal("0.5")})
        ...     items = []
        ...     for _ in range(100):  # each pump waits at most 50 ms for a frame
        ...         items += stream.drain_executions()
        ...         if items:
        ...             break
        ...         _ = stream.pump(0.05)
        ...     stream.close()
        >>> items
        [{'exec_type': 'new', 'order_id': 'O1', 'order_status': 'new', 'order_qty': Decimal('0.5')}]
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        seed: int,
        token: Callable[[], Secret] | None = None,
        symbols: Sequence[str] = (),
        ticker: bool = False,
        book_depth: int = 0,
        ohlc_interval: int = 0,
        on_reconnect: Callable[[], None] | None = None,
        on_market: Callable[[MarketUpdate], None] | None = None,
        heartbeat_timeout_s: float = 10.0,
        max_attempts: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        jitter: float = 0.5,
        stable_s: float = 60.0,
        open_timeout_s: float = 10.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.url = url
        self._clock = clock
        self._rng = generator(seed, "quant_exec.kraken.ws", url)
        self._token = token
        self.symbols = tuple(symbols)
        self._book_depth = book_depth
        self._on_reconnect = on_reconnect
        self._on_market = on_market
        self._heartbeat_ns = int(heartbeat_timeout_s * NS_PER_SECOND)
        self.max_attempts = max_attempts
        self._backoff = (backoff_base_s, backoff_max_s, jitter)
        self._open_timeout_s = open_timeout_s
        self._stable_ns = int(stable_s * NS_PER_SECOND)
        self._streak = 0
        self._since_ns = clock.now_ns()
        self._sleep = sleep or default_sleep(clock)
        self._subscriptions = self._plan(ticker=ticker, ohlc_interval=ohlc_interval)
        self._conn: ClientConnection | None = None
        self._last_seen_ns = clock.now_ns()
        self._req_id = 0
        self._pending: set[tuple[str, str]] = set()
        self._books: dict[str, BookState] = {}
        self._executions: list[dict[str, Any]] = []
        self._balances: list[dict[str, Any]] = []
        self._market: list[MarketUpdate] = []
        self._exec_ids: set[str] = set()
        self.connections = 0
        """How many connections were established (1 + reconnections)."""
        self.waits: list[float] = []
        """Every backoff wait, in seconds, in order."""
        self.events: list[str] = []
        """Reason codes of what the stream went through (refusals, checksum drops, losses)."""
        self.lost: StreamLostError | None = None
        """The loss a ``drain_*`` call swallowed (``None`` while the stream is healthy)."""

    def _plan(self, *, ticker: bool, ohlc_interval: int) -> list[dict[str, Any]]:
        plan: list[dict[str, Any]] = []
        if self._token is not None:
            plan.append({"channel": "executions", "snap_orders": True, "snap_trades": True})
            plan.append({"channel": "balances", "snapshot": True})
        symbols = list(self.symbols)
        if symbols and ticker:
            plan.append({"channel": "ticker", "symbol": symbols})
        if symbols and self._book_depth:
            plan.append(
                {"channel": "book", "symbol": symbols, "depth": self._book_depth, "snapshot": True}
            )
        if symbols and ohlc_interval:
            plan.append(
                {"channel": "ohlc", "symbol": symbols, "interval": ohlc_interval, "snapshot": True}
            )
        return plan

    def __repr__(self) -> str:
        channels = ",".join(params["channel"] for params in self._subscriptions)
        return f"KrakenStream({self.url!r}, channels={channels}, connected={self.connected})"

    def __enter__(self) -> KrakenStream:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """Whether a connection with every subscription acknowledged is held."""
        return self._conn is not None

    # -- connection -------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and subscribe (bounded attempts, as for a reconnection, no callback).

        Raises:
            StreamLostError: every attempt failed.
        """
        self._establish(reconnect=False)

    def close(self) -> None:
        """Close the connection (the stream can be opened again)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _establish(self, *, reconnect: bool) -> None:
        died_young = (
            reconnect
            and self._conn is not None
            and self._clock.now_ns() - self._since_ns < self._stable_ns
        )
        self._streak = self._streak + 1 if died_young else 0
        self.close()
        last = "the connection kept dropping"
        while True:
            if self._streak >= self.max_attempts:
                self._streak = 0
                self.events.append(reasons.KRAKEN_WS_LOST)
                raise StreamLostError(
                    f"kraken websocket: {self.max_attempts} failed connections in a row "
                    f"(last: {last})",
                    provider="kraken",
                )
            if self._streak:
                self._wait(self._streak)
            try:
                self._attempt()
                break
            except _AttemptError as failure:
                self.close()
                self.events.append(failure.reason_code)
                last = str(failure)
                self._streak += 1
        self._since_ns = self._clock.now_ns()
        self.lost = None
        if reconnect and self._on_reconnect is not None:
            self._on_reconnect()

    def _wait(self, attempt: int) -> None:
        base, cap, jitter = self._backoff
        delay = min(cap, base * 2.0 ** (attempt - 1))
        delay *= 1.0 - jitter + jitter * float(self._rng.random())
        self.waits.append(delay)
        self._sleep(delay)

    def _attempt(self) -> None:
        token = self._fresh_token()
        try:
            conn = connect(
                self.url,
                proxy=None,
                legacy=True,
                open_timeout=self._open_timeout_s,
                close_timeout=1.0,
                max_size=2**24,
                max_queue=None,  # frames wait for the next pump, never stall the socket
                logger=quiet_logger("websockets.client"),
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise _AttemptError(f"connect: {type(exc).__name__}", reasons.KRAKEN_WS_LOST) from None
        self._conn = conn
        self._pending.clear()
        self._books.clear()
        self._last_seen_ns = self._clock.now_ns()
        try:
            for params in self._subscriptions:
                self._subscribe(dict(params), token)
            while self._pending:
                self._handle(conn.recv(timeout=self._open_timeout_s))
        except (ConnectionClosed, TimeoutError) as exc:
            raise _AttemptError(
                f"subscribe: {type(exc).__name__}", reasons.KRAKEN_WS_LOST
            ) from None
        self.connections += 1

    def _fresh_token(self) -> str | None:
        if self._token is None:
            return None
        try:
            return self._token().reveal()
        except ProviderError as exc:
            raise _AttemptError(f"token: {exc.reason_code}", exc.reason_code) from None

    def _subscribe(
        self, params: dict[str, Any], token: str | None, method: str = "subscribe"
    ) -> None:
        channel = params["channel"]
        if channel in PRIVATE_CHANNELS:
            params["token"] = token
            self._pending.add((channel, ""))
        elif method == "subscribe":
            self._pending.update((channel, symbol) for symbol in params["symbol"])
        self._req_id += 1
        self._send({"method": method, "params": params, "req_id": self._req_id})

    def _send(self, message: Mapping[str, Any]) -> None:
        assert self._conn is not None  # only called on an open connection
        self._conn.send(_dumps(message))

    # -- pumping ------------------------------------------------------------------------------

    def pump(self, wait_s: float = 0.0) -> int:
        """Handle every frame that has arrived (waiting up to ``wait_s`` real seconds for one).

        A closed connection, or silence beyond the heartbeat interval on the injected clock,
        reconnects (bounded attempts, then ``on_reconnect``).

        Args:
            wait_s: how long to wait for the first frame (0: only what is already here).

        Returns:
            How many frames were handled.

        Raises:
            StreamLostError: the stream is closed and could not reconnect.
        """
        if self._conn is None:
            self._establish(reconnect=self.connections > 0)
        handled = 0
        timeout = wait_s
        while True:
            conn = self._conn
            assert conn is not None  # _establish connected or raised
            try:
                self._handle(conn.recv(timeout=timeout))
            except TimeoutError:
                break
            except ConnectionClosed:
                self._establish(reconnect=True)
                continue
            handled += 1
            timeout = 0.0
        if self._clock.now_ns() - self._last_seen_ns > self._heartbeat_ns:
            self.events.append(reasons.KRAKEN_WS_HEARTBEAT_LOST)
            self._establish(reconnect=True)
        return handled

    def _pump_safely(self) -> None:
        try:
            self.pump()
        except StreamLostError as lost:
            self.lost = lost

    @property
    def pending_executions(self) -> int:
        """How many ``executions`` items are held for the next drain (news for the venue)."""
        return len(self._executions)

    def drain_executions(self) -> list[dict[str, Any]]:
        """Pump, then take the ``executions`` items received so far (Kraken's wire dicts).

        Returns:
            The items in arrival order (snapshot items included), each fill once.
        """
        self._pump_safely()
        taken, self._executions = self._executions, []
        return taken

    def drain_balances(self) -> list[dict[str, Any]]:
        """Pump, then take the ``balances`` items received so far (Kraken's wire dicts)."""
        self._pump_safely()
        taken, self._balances = self._balances, []
        return taken

    def drain_market(self) -> list[MarketUpdate]:
        """Pump, then take the market updates received so far (books only while valid)."""
        self._pump_safely()
        taken, self._market = self._market, []
        return taken

    def book(self, symbol: str) -> BookState | None:
        """The pair's book while its checksum matches (``None`` while it is stale)."""
        return self._books.get(symbol)

    def stale(self, symbol: str) -> bool:
        """Whether the pair's market data must not drive decisions.

        Stale while the stream is disconnected and, with a book subscribed, until the pair's
        book snapshot arrived and its checksum matches.

        Args:
            symbol: the v2 symbol.
        """
        if self._conn is None:
            return True
        return bool(self._book_depth) and symbol not in self._books

    # -- frames -------------------------------------------------------------------------------

    def _handle(self, frame: str | bytes) -> None:
        self._last_seen_ns = self._clock.now_ns()
        try:
            message = _loads(frame)
        except ValueError:
            return  # not JSON: nothing Kraken documents, nothing to act on
        if not isinstance(message, dict):
            return
        if "method" in message:
            self._handle_answer(message)
            return
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(data, list):
            return
        snapshot = message.get("type") == "snapshot"
        for item in data:
            if channel == "executions":
                self._execution(item)
            elif channel == "balances":
                self._balances.append(item)
            elif channel == "book":
                self._book(item, snapshot=snapshot)
            elif channel in ("ticker", "ohlc"):
                self._deliver(MarketUpdate(channel, item["symbol"], item, self._last_seen_ns))

    def _handle_answer(self, message: Mapping[str, Any]) -> None:
        if message["method"] != "subscribe":
            return  # pong, unsubscribe acknowledgements
        result = message.get("result") or {}
        channel = result.get("channel", "")
        if not message.get("success"):
            if self._pending:
                raise _AttemptError(
                    f"subscribe refused: {message.get('error', '')}",
                    reasons.KRAKEN_WS_SUBSCRIBE_REFUSED,
                )
            self.events.append(reasons.KRAKEN_WS_SUBSCRIBE_REFUSED)
            return
        self._pending.discard((channel, result.get("symbol", "")))

    def _execution(self, item: dict[str, Any]) -> None:
        if item.get("exec_type") == "trade":
            exec_id = str(item.get("exec_id", ""))
            if exec_id in self._exec_ids:
                return
            self._exec_ids.add(exec_id)
        self._executions.append(item)

    def _book(self, item: Mapping[str, Any], *, snapshot: bool) -> None:
        symbol = item["symbol"]
        book = BookState(symbol, depth=self._book_depth) if snapshot else self._books.get(symbol)
        if book is None:
            return  # an update for a dropped book: wait for its snapshot
        book.apply(item, snapshot=snapshot)
        if book.checksum() != int(item.get("checksum", -1)):
            self.events.append(reasons.KRAKEN_WS_BOOK_CHECKSUM)
            self._books.pop(symbol, None)
            params = {"channel": "book", "symbol": [symbol], "depth": self._book_depth}
            self._subscribe(dict(params), None, method="unsubscribe")
            self._subscribe({**params, "snapshot": True}, None)
            self._pending.discard(("book", symbol))
            return
        self._books[symbol] = book
        self._deliver(MarketUpdate("book", symbol, item, self._last_seen_ns))

    def _deliver(self, update: MarketUpdate) -> None:
        self._market.append(update)
        if self._on_market is not None:
            self._on_market(update)
