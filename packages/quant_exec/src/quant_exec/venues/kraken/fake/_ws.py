"""A fake Kraken WebSocket v2 server on 127.0.0.1: channels, tokens, heartbeats and faults.

:func:`serve_fake_kraken_ws` serves a :class:`FakeKrakenWs` with the ``websockets`` library on
a free local port. It answers ``ping`` and ``subscribe``/``unsubscribe`` requests with
Kraken's v2 acknowledgements (one per symbol for public channels), then a snapshot, and
broadcasts what the test publishes (``publish_*``, :meth:`FakeKrakenWs.set_book`,
:meth:`FakeKrakenWs.update_book`, :meth:`FakeKrakenWs.heartbeat`) to the connections
subscribed to that channel and symbol. Attached to a :class:`FakeKraken` (``exchange=``), it
publishes every order event, fill and balance change the exchange journals and takes its
``executions``/``balances`` snapshots from the exchange's account. Numbers go on the wire
as JSON numbers with their full decimal text, as Kraken writes them.

Tokens: ``executions`` and ``balances`` need a token this fake issued
(:meth:`FakeKrakenWs.issue_token`) or one the attached :class:`FakeKraken` handed out through
``GetWebSocketsToken``, not revoked by :meth:`FakeKrakenWs.expire_tokens`; any other token is
refused (``ESession:Invalid session``, the fake's wording).

Faults: :meth:`~FakeKrakenWs.drop` closes every connection's socket mid-stream;
:meth:`~FakeKrakenWs.idle` leaves the current connections alive but silent (the server still
answers protocol pings); :meth:`~FakeKrakenWs.refuse` answers the next handshakes HTTP 503;
:meth:`~FakeKrakenWs.expire_tokens` makes the tokens issued so far unusable; and
:class:`FakeWsFault` values queued with :meth:`~FakeKrakenWs.inject` duplicate, delay or
reorder the next ``executions`` messages or corrupt the next book checksum.

Examples:
    >>> from quant_core import SimClock
    >>> with serve_fake_kraken_ws(FakeKrakenWs(SimClock(0))) as server:
    ...     server.url.startswith("ws://127.0.0.1:")
    True
"""

from __future__ import annotations

import contextlib
import enum
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Final

import attrs
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from quant_core import Clock, ns_to_iso
from quant_exec.venues.kraken._ws import quiet_logger
from quant_exec.venues.kraken._ws_book import book_checksum
from quant_exec.venues.kraken.fake._server import FakeKraken

__all__ = ["FakeKrakenWs", "FakeKrakenWsServer", "FakeWsFault", "serve_fake_kraken_ws"]

TOKEN_PREFIX: Final = "fake-ws-token-"
"""Tokens are ``fake-ws-token-<n>`` (the fake REST exchange numbers them by nonce)."""

INVALID_SESSION: Final = "ESession:Invalid session"
"""The fake's refusal of a missing, unknown or expired token."""

_OPEN_STATUSES: Final = frozenset({"pending_new", "new", "partially_filled"})
_TRADE_FIELDS: Final = frozenset(
    {"exec_id", "trade_id", "last_qty", "last_price", "liquidity_ind", "cost", "fees"}
)


class FakeWsFault(enum.Enum):
    """A fault acting on the next matching message."""

    DUPLICATE = "duplicate"
    """The next ``executions`` message is sent twice."""
    DELAY = "delay"
    """The next ``executions`` message is held back until :meth:`FakeKrakenWs.release`."""
    REORDER = "reorder"
    """The next ``executions`` message is sent after the one following it."""
    BAD_CHECKSUM = "bad_checksum"
    """The next ``book`` message carries a wrong checksum."""


def _json(value: Any) -> str:
    """JSON text with :class:`Decimal` written as a number with all its digits."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(value)


class _Session:
    """One client connection: what it subscribed, whether it went idle."""

    def __init__(self, conn: ServerConnection, number: int) -> None:
        self.conn = conn
        self.number = number
        self.channels: set[tuple[str, str]] = set()
        self.idle = False

    def send(self, message: Mapping[str, Any]) -> None:
        if self.idle:
            return
        with contextlib.suppress(ConnectionClosed):
            self.conn.send(_json(message))


class FakeKrakenWs:
    """The fake WebSocket's state: sessions, tokens, published data and queued faults.

    Args:
        clock: the injected clock (timestamps of acknowledgements and messages).
        exchange: a :class:`FakeKraken` to attach: its ``GetWebSocketsToken`` tokens are
            accepted, every order event, fill and balance change it journals is published on
            ``executions``/``balances``, and its account is the channels' snapshot.

    Attributes:
        requests: every request received, as ``(connection number, method, channel,
            symbols)`` (tokens are never recorded).
        connections: how many WebSocket connections were opened.
        tokens_seen: how many subscriptions carried a token (valid or not).
    """

    def __init__(self, clock: Clock, *, exchange: FakeKraken | None = None) -> None:
        self.clock = clock
        self.exchange = exchange
        self.lock = threading.RLock()
        self.requests: list[tuple[int, str, str, tuple[str, ...]]] = []
        self.connections = 0
        self.tokens_seen = 0
        self._sessions: list[_Session] = []
        self._issued = 0
        self._expired_below = 0
        self._refuse = 0
        self._idle_new = 0
        self._faults: list[FakeWsFault] = []
        self._held: list[dict[str, Any]] = []
        self._swapped: list[dict[str, Any]] = []
        self._orders: dict[str, dict[str, Any]] = {}
        self._trades: list[dict[str, Any]] = []
        self._balances: dict[str, dict[str, Any]] = {}
        self._tickers: dict[str, dict[str, Any]] = {}
        self._ohlc: dict[str, dict[str, Any]] = {}
        self._books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self._sequence = 0
        if exchange is not None:
            exchange.add_listener(self._on_exchange)

    def _on_exchange(self, channel: str, item: Mapping[str, Any]) -> None:
        """The attached exchange's journal (called under its lock, which we take first)."""
        if channel == "executions":
            self.publish_execution(item)
        else:
            self.publish_balance(item)

    # -- tokens -------------------------------------------------------------------------------

    def issue_token(self) -> str:
        """A new token this fake accepts (as ``GetWebSocketsToken`` would hand out)."""
        with self.lock:
            self._issued += 1
            return f"{TOKEN_PREFIX}{self._issued_max()}"

    def _issued_max(self) -> int:
        if self.exchange is not None:
            return max(self._issued, self.exchange.last_nonce)
        return self._issued

    def expire_tokens(self) -> None:
        """Revoke every token issued so far (the next subscriptions need a fresh one)."""
        with self.lock:
            self._expired_below = self._issued_max()

    def _token_ok(self, token: object) -> bool:
        text = str(token or "")
        number = text.removeprefix(TOKEN_PREFIX)
        if not text.startswith(TOKEN_PREFIX) or not number.isdigit():
            return False
        return self._expired_below < int(number) <= self._issued_max()

    # -- faults -------------------------------------------------------------------------------

    def inject(self, *faults: FakeWsFault) -> None:
        """Queue ``faults``; each acts on the next message it applies to."""
        with self.lock:
            self._faults.extend(faults)

    def _take(self, *kinds: FakeWsFault) -> FakeWsFault | None:
        for index, fault in enumerate(self._faults):
            if fault in kinds:
                return self._faults.pop(index)
        return None

    def refuse(self, handshakes: int) -> None:
        """Answer the next ``handshakes`` connection attempts HTTP 503."""
        with self.lock:
            self._refuse += handshakes

    def drop(self) -> None:
        """Close every connection's socket now, without a close frame (a network drop)."""
        with self.lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.conn.close_socket()

    def idle(self, *, new_connections: int = 0) -> None:
        """The current connections stay open but receive nothing more (pings only).

        Args:
            new_connections: how many of the next connections go idle at once too (their
                subscriptions are never acknowledged).
        """
        with self.lock:
            for session in self._sessions:
                session.idle = True
            self._idle_new += new_connections

    def wake(self) -> None:
        """Idle connections receive messages again (what they missed stays missed)."""
        with self.lock:
            for session in self._sessions:
                session.idle = False

    def release(self) -> None:
        """Send the ``executions`` messages a :attr:`FakeWsFault.DELAY` held back."""
        with self.lock:
            held, self._held = self._held, []
            for message in held:
                self._broadcast("executions", "", message)

    # -- publishing ---------------------------------------------------------------------------

    def _now(self) -> str:
        return ns_to_iso(self.clock.now_ns())

    def _broadcast(self, channel: str, symbol: str, message: Mapping[str, Any]) -> None:
        for session in list(self._sessions):
            if (channel, symbol) in session.channels:
                session.send(message)

    def _update(self, channel: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        self._sequence += 1
        return {"channel": channel, "type": "update", "data": items, "sequence": self._sequence}

    def heartbeat(self) -> None:
        """Send ``{"channel": "heartbeat"}`` to every live connection."""
        with self.lock:
            for session in list(self._sessions):
                session.send({"channel": "heartbeat"})

    def publish_execution(self, item: Mapping[str, Any]) -> None:
        """Broadcast one ``executions`` item (Kraken's wire dict) and remember it for snapshots.

        Args:
            item: the item (``exec_type``, ``order_id``, ``order_status``, ``exec_id``, …).
        """
        with self.lock:
            record = dict(item)
            if record.get("exec_type") == "trade":
                self._trades = [*self._trades, record][-50:]
            order_id = str(record.get("order_id", ""))
            state = {k: v for k, v in record.items() if k not in _TRADE_FIELDS}
            self._orders[order_id] = {**self._orders.get(order_id, {}), **state}
            message = self._update("executions", [record])
            fault = self._take(FakeWsFault.DUPLICATE, FakeWsFault.DELAY, FakeWsFault.REORDER)
            if fault is FakeWsFault.DELAY:
                self._held.append(message)
                return
            if fault is FakeWsFault.REORDER:
                self._swapped.append(message)
                return
            self._broadcast("executions", "", message)
            if fault is FakeWsFault.DUPLICATE:
                self._broadcast("executions", "", message)
            swapped, self._swapped = self._swapped, []
            for late in swapped:
                self._broadcast("executions", "", late)

    def publish_balance(self, item: Mapping[str, Any]) -> None:
        """Broadcast one ``balances`` update item (``asset``, ``balance``, ``amount``, …).

        Args:
            item: the item; its ``asset`` and ``balance`` also feed later snapshots.
        """
        with self.lock:
            record = dict(item)
            self._balances[str(record["asset"])] = {
                "asset": record["asset"],
                "asset_class": record.get("asset_class", "currency"),
                "balance": record["balance"],
                "wallets": [{"type": "spot", "id": "main", "balance": record["balance"]}],
            }
            self._broadcast("balances", "", self._update("balances", [record]))

    def publish_ticker(self, item: Mapping[str, Any]) -> None:
        """Broadcast one ``ticker`` item (``symbol``, ``bid``, ``ask``, ``last``, …).

        Args:
            item: the item; the latest per symbol is the next subscriber's snapshot.
        """
        with self.lock:
            record = dict(item)
            self._tickers[record["symbol"]] = record
            message = {"channel": "ticker", "type": "update", "data": [record]}
            self._broadcast("ticker", record["symbol"], message)

    def publish_ohlc(self, item: Mapping[str, Any]) -> None:
        """Broadcast one ``ohlc`` item (``symbol``, ``open``, ``high``, ``low``, ``close``, …).

        Args:
            item: the candle; the latest per symbol is the next subscriber's snapshot.
        """
        with self.lock:
            record = dict(item)
            self._ohlc[record["symbol"]] = record
            message = {
                "channel": "ohlc",
                "type": "update",
                "timestamp": self._now(),
                "data": [record],
            }
            self._broadcast("ohlc", record["symbol"], message)

    def set_book(
        self,
        symbol: str,
        bids: Sequence[tuple[str | Decimal, str | Decimal]],
        asks: Sequence[tuple[str | Decimal, str | Decimal]],
    ) -> None:
        """Replace ``symbol``'s book and send subscribers a snapshot.

        Keep books no deeper than the depth clients subscribe (the fake does not send the
        levels that come into scope when a level leaves it).

        Args:
            symbol: the v2 symbol.
            bids: ``(price, qty)`` levels, as wire text or Decimals.
            asks: ``(price, qty)`` levels.
        """
        with self.lock:
            self._books[symbol] = (
                {Decimal(p): Decimal(q) for p, q in bids},
                {Decimal(p): Decimal(q) for p, q in asks},
            )
            self._broadcast("book", symbol, self._book_message(symbol, "snapshot"))

    def update_book(
        self,
        symbol: str,
        *,
        bids: Sequence[tuple[str | Decimal, str | Decimal]] = (),
        asks: Sequence[tuple[str | Decimal, str | Decimal]] = (),
    ) -> None:
        """Change levels of ``symbol``'s book (qty 0 removes) and send an update.

        Args:
            symbol: the v2 symbol (its book must have been set).
            bids: changed ``(price, qty)`` bid levels.
            asks: changed ``(price, qty)`` ask levels.
        """
        with self.lock:
            book_bids, book_asks = self._books[symbol]
            for side, levels in ((book_bids, bids), (book_asks, asks)):
                for price, qty in levels:
                    if Decimal(qty) == 0:
                        side.pop(Decimal(price), None)
                    else:
                        side[Decimal(price)] = Decimal(qty)
            changed = {
                "bids": [{"price": Decimal(p), "qty": Decimal(q)} for p, q in bids],
                "asks": [{"price": Decimal(p), "qty": Decimal(q)} for p, q in asks],
            }
            self._broadcast("book", symbol, self._book_message(symbol, "update", changed))

    def _book_message(
        self, symbol: str, kind: str, changed: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        book_bids, book_asks = self._books[symbol]
        bids = sorted(book_bids.items(), reverse=True)
        asks = sorted(book_asks.items())
        checksum = book_checksum(asks, bids)
        if self._take(FakeWsFault.BAD_CHECKSUM) is not None:
            checksum = (checksum + 1) & 0xFFFFFFFF
        levels = changed or {
            "bids": [{"price": p, "qty": q} for p, q in bids],
            "asks": [{"price": p, "qty": q} for p, q in asks],
        }
        item = {"symbol": symbol, **levels, "checksum": checksum, "timestamp": self._now()}
        return {"channel": "book", "type": kind, "data": [item]}

    # -- requests -----------------------------------------------------------------------------

    def _answer(self, request: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {"method": request.get("method", "")}
        if "req_id" in request:
            answer["req_id"] = request["req_id"]
        return {**answer, **fields, "time_in": self._now(), "time_out": self._now()}

    def _request(self, session: _Session, text: str | bytes) -> None:
        try:
            request = json.loads(text, parse_float=Decimal)
            method = str(request["method"])
            params = request.get("params") or {}
            channel = str(params.get("channel", ""))
            symbols = tuple(str(s) for s in params.get("symbol", ()))
        except (ValueError, KeyError, TypeError, AttributeError):
            session.send({"error": "EGeneral:Invalid arguments", "success": False})
            return
        outer = self.exchange.lock if self.exchange is not None else contextlib.nullcontext()
        with outer, self.lock:  # the exchange's lock first, as its listener calls take them
            self.requests.append((session.number, method, channel, symbols))
            if method == "ping":
                session.send(self._answer(request, method="pong"))
            elif method in ("subscribe", "unsubscribe"):
                self._subscription(session, request, method, channel, symbols, params)
            else:
                session.send(self._answer(request, success=False, error="EGeneral:Unknown method"))

    def _subscription(
        self,
        session: _Session,
        request: Mapping[str, Any],
        method: str,
        channel: str,
        symbols: tuple[str, ...],
        params: Mapping[str, Any],
    ) -> None:
        if channel in ("executions", "balances"):
            self.tokens_seen += "token" in params
            if not self._token_ok(params.get("token")):
                session.send(self._answer(request, success=False, error=INVALID_SESSION))
                return
            symbols = ("",)
        elif channel not in ("ticker", "book", "ohlc") or not symbols:
            error = "EGeneral:Invalid arguments"
            session.send(self._answer(request, success=False, error=error))
            return
        for symbol in symbols:
            result = {"channel": channel, **({"symbol": symbol} if symbol else {})}
            if method == "unsubscribe":
                session.channels.discard((channel, symbol))
                session.send(self._answer(request, success=True, result=result))
                continue
            session.channels.add((channel, symbol))
            session.send(self._answer(request, success=True, result={**result, "snapshot": True}))
            self._snapshot(session, channel, symbol)

    def _snapshot(self, session: _Session, channel: str, symbol: str) -> None:
        data: list[dict[str, Any]] = []
        if channel == "executions":
            orders = [
                {**order, "exec_type": "new"}
                for order in self._orders.values()
                if order.get("order_status") in _OPEN_STATUSES
            ]
            if self.exchange is not None:
                orders = self.exchange.book.executions_snapshot()
            data = [*orders, *self._trades]
        elif channel == "balances":
            data = list(self._balances.values())
            if self.exchange is not None:
                data = self.exchange.book.balances_snapshot()
        elif channel == "book":
            if symbol in self._books:
                session.send(self._book_message(symbol, "snapshot"))
            return
        else:
            latest = (self._tickers if channel == "ticker" else self._ohlc).get(symbol)
            data = [latest] if latest is not None else []
        message: dict[str, Any] = {"channel": channel, "type": "snapshot", "data": data}
        if channel in ("executions", "balances"):
            self._sequence += 1
            message["sequence"] = self._sequence
        session.send(message)

    # -- connections --------------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        with self.lock:
            if self._refuse > 0:
                self._refuse -= 1
                return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        return None

    def _serve(self, conn: ServerConnection) -> None:
        with self.lock:
            self.connections += 1
            session = _Session(conn, self.connections)
            session.idle = self._idle_new > 0
            self._idle_new -= session.idle
            self._sessions.append(session)
        try:
            for text in conn:
                self._request(session, text)
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                if session in self._sessions:
                    self._sessions.remove(session)


@attrs.frozen
class FakeKrakenWsServer:
    """A running fake WebSocket: where it listens.

    Attributes:
        url: ``ws://127.0.0.1:PORT/v2``.
        fake: the :class:`FakeKrakenWs` behind it.
    """

    url: str
    fake: FakeKrakenWs


@contextlib.contextmanager
def serve_fake_kraken_ws(
    fake: FakeKrakenWs, *, heartbeat_s: float | None = None
) -> Iterator[FakeKrakenWsServer]:
    """Serve ``fake`` on 127.0.0.1 (a free port) for the ``with`` block.

    Args:
        fake: the fake's state.
        heartbeat_s: when set, a heartbeat goes to every live connection each ``heartbeat_s``
            real seconds (for demos on a wall clock; tests call :meth:`FakeKrakenWs.heartbeat`).
    """
    server = serve(
        fake._serve,
        "127.0.0.1",
        0,
        process_request=fake._process_request,
        compression=None,
        ping_interval=None,
        logger=quiet_logger("websockets.server"),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()
    beat = None
    if heartbeat_s is not None:
        period = heartbeat_s

        def beating() -> None:
            while not stop.wait(period):
                fake.heartbeat()

        beat = threading.Thread(target=beating, daemon=True)
        beat.start()
    try:
        host, port = server.socket.getsockname()[:2]
        yield FakeKrakenWsServer(f"ws://{host}:{port}/v2", fake)
    finally:
        stop.set()
        if beat is not None:
            beat.join()
        fake.drop()
        server.shutdown()
        thread.join()
