"""A fake Kraken exchange on 127.0.0.1 that checks what the real one checks, over real HTTP.

:func:`serve_fake_kraken` starts a stdlib :class:`~http.server.ThreadingHTTPServer` in a
background thread and answers ``POST /0/private/<Method>`` as Kraken does, in this order:

1. ``API-Key`` must be the fake's key (``EAPI:Invalid key``), the body must carry a numeric
   ``nonce`` and ``API-Sign`` must be the documented signature over the exact body
   (``EAPI:Invalid signature``), the nonce must exceed the last one (``EAPI:Invalid nonce``);
   and, for a key with a two-factor password, ``otp`` must match (``EAPI:Invalid signature``);
2. a lockout in force answers ``EGeneral:Temporary lockout``;
3. the next injected :class:`FakeFault` for the method, if any, acts;
4. the key's permissions (``EGeneral:Permission denied``; ``GetApiKeyInfo`` needs none);
5. the call counter, with Kraken's costs and the tier's decay on the injected clock
   (``EAPI:Rate limit exceeded``) and the per-pair order counter (``EOrder:Rate limit
   exceeded``);
6. the account (:class:`FakeBook`) answers or refuses.

``GET`` or ``POST /0/public/Time`` answers the exchange's clock (the injected clock plus
``skew_s``) without any of that.

Examples:
    >>> from decimal import Decimal
    >>> import httpx
    >>> from quant_core import SimClock
    >>> from quant_net import kraken
    >>> with serve_fake_kraken(FakeKraken(SimClock(0))) as fake:
    ...     body = "nonce=1"
    ...     sign = kraken.sign("/0/private/Balance", 1, body, fake.secret)
    ...     answer = httpx.post(fake.base_url + "/0/private/Balance", content=body,
    ...                         headers={"API-Key": fake.api_key, "API-Sign": sign})
    >>> answer.json()
    {'error': [], 'result': {}}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl

import attrs

from quant_core import NS_PER_SECOND, Bar, Clock
from quant_exec.venues.kraken._counter import (
    INTERMEDIATE_ORDERS,
    STARTER,
    CounterTier,
    _Bucket,
    call_cost,
)
from quant_exec.venues.kraken._types import TRADING_PERMISSIONS
from quant_exec.venues.kraken.fake._book import FakeBook, FakeRefusal
from quant_exec.venues.kraken.fake._events import encode_v2
from quant_net import kraken as wire

__all__ = [
    "FAKE_API_KEY",
    "FAKE_SECRET",
    "FakeFault",
    "FakeKraken",
    "FakeKrakenServer",
    "serve_fake_kraken",
]

FAKE_API_KEY: Final = "fake-public-key"
"""The fake's default public key (a test value, not a credential)."""

FAKE_SECRET: Final = "ZmFrZS1rcmFrZW4tcHJpdmF0ZS1rZXktZm9yLXRlc3RzLW9ubHk="
"""The fake's default private key, base64 (a test value, not a credential)."""

PERMISSIONS: Final[dict[str, str | None]] = {
    "Balance": "query_funds",
    "OpenOrders": "query_open_orders",
    "QueryOrders": "query_open_orders",
    "ClosedOrders": "query_closed_orders",
    "TradesHistory": "query_closed_orders",
    "AddOrder": "create_orders",
    "CancelOrder": "cancel_orders",
    "CancelAll": "cancel_orders",
    "CancelAllOrdersAfter": "cancel_orders",
    "GetWebSocketsToken": "websocket",
    "GetApiKeyInfo": None,
}
"""The permission each private method needs on the fake."""


class FakeFault(enum.Enum):
    """A fault the fake injects into the next call of a method."""

    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"
    """Act on the call (an order IS placed), then send no answer (the client times out)."""
    ACCEPT_THEN_500 = "accept_then_500"
    """Act on the call, then answer HTTP 500."""
    HTTP_500 = "http_500"
    """Answer HTTP 500 without acting."""
    SERVICE_BUSY = "EService:Busy"
    """Answer ``EService:Busy`` without acting."""
    SERVICE_UNAVAILABLE = "EService:Unavailable"
    """Answer ``EService:Unavailable`` without acting."""
    LOCKOUT = "EGeneral:Temporary lockout"
    """Lock the key out for ``lockout_s`` and answer ``EGeneral:Temporary lockout``."""
    THROTTLED = "EService:Throttled"
    """Answer ``EService:Throttled:<ts>`` (60 virtual seconds on) without acting."""
    PASS = "pass"
    """Answer normally (a placeholder that lets a fault plan skip calls)."""
    TRUNCATED = "truncated"
    """Act on the call, then answer HTTP 200 with its JSON cut off halfway."""
    COUNT_OFF = "count_off"
    """Act on the call and answer it, ``count`` (of a paged answer) overstated by 7."""
    INSERT_TRADES = "insert_trades"
    """Before acting, fill ``insert_trades`` orders placed elsewhere (new trades, newest)."""


@attrs.frozen
class _Reply:
    status: int
    body: bytes
    hang: bool = False


def _envelope(result: Any = None, error: str | None = None) -> bytes:
    if error is not None:
        return json.dumps({"error": [error]}).encode()
    return encode_v2({"error": [], "result": result}).encode()


class FakeKraken:
    """The fake exchange's state: credentials, nonce, counters, faults and the account.

    Args:
        clock: the injected clock (counter decay, lockouts, order and trade times).
        api_key: the public key it accepts (default :data:`FAKE_API_KEY`).
        secret: the private key it verifies signatures with (default :data:`FAKE_SECRET`).
        permissions: the key's permissions (default: what trading needs plus websocket).
        tier: the call counter's tier.
        order_tier: the per-pair order counter's tier.
        otp: the key's two-factor password, when it has one: every private call must carry it
            as ``otp`` (else ``EAPI:Invalid signature``, as Kraken answers).

    Attributes:
        book: the account (:class:`FakeBook`): fund it, list pairs, move prices.
        calls: every accepted call's method name, in order (what the fake acted on or
            refused after authentication).
        signatures: every ``API-Sign`` value received (so tests can check none leaks).
        lockout_s: how long a lockout lasts (virtual seconds).
        skew_s: how far the exchange's clock (``/0/public/Time``) is ahead of ``clock``.
        insert_trades: how many trades :attr:`FakeFault.INSERT_TRADES` inserts.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        api_key: str = FAKE_API_KEY,
        secret: str = FAKE_SECRET,
        permissions: frozenset[str] | None = None,
        tier: CounterTier = STARTER,
        order_tier: CounterTier = INTERMEDIATE_ORDERS,
        otp: str | None = None,
    ) -> None:
        self.clock = clock
        self.api_key = api_key
        self.secret = secret
        self.permissions = (
            frozenset({*TRADING_PERMISSIONS, "websocket"}) if permissions is None else permissions
        )
        self.book = FakeBook(clock)
        self.counter = _Bucket(tier, clock)
        self._order_tier = order_tier
        self.order_counters: dict[str, _Bucket] = {}
        self.last_nonce = 0
        self.locked_until_ns = 0
        self.lockout_s = 900
        self.skew_s = 0.0
        self.otp = otp
        self.insert_trades = 3
        self.faults: dict[str, list[FakeFault]] = {}
        self.calls: list[str] = []
        self.signatures: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    def inject(self, method: str, *faults: FakeFault) -> None:
        """Queue ``faults`` for the next calls of ``method``, one per call."""
        with self.lock:
            self.faults.setdefault(method, []).extend(faults)

    def add_listener(self, listener: Callable[[str, Mapping[str, Any]], None]) -> None:
        """Call ``listener(channel, item)`` on every order state change, fill and balance change.

        ``channel`` is ``"executions"`` or ``"balances"`` and ``item`` one element of that
        Kraken WebSocket v2 channel's ``data`` list (see :mod:`._events`; numbers are
        ``Decimal``, encode with :func:`encode_v2`). Listeners run in the thread that
        changed the account, in registration order, and for changes made through the
        server or this class's methods under the fake's lock: return quickly, never call
        the fake back.

        Args:
            listener: the callable to add.

        Examples:
            >>> from decimal import Decimal
            >>> from quant_core import SimClock
            >>> fake = FakeKraken(SimClock(0))
            >>> fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("100"))
            >>> seen = []
            >>> fake.add_listener(lambda channel, item: seen.append((channel, item)))
            >>> fake.book.fund("ZUSD", Decimal("500"))
            >>> _ = fake.book.add_order({"pair": "XBTUSD", "type": "buy",
            ...                          "ordertype": "market", "volume": "1"})
            >>> [(c, i.get("exec_type") or i["asset"]) for c, i in seen]
            ... # doctest: +NORMALIZE_WHITESPACE
            [('balances', 'USD'), ('executions', 'pending_new'), ('executions', 'new'),
             ('executions', 'trade'), ('balances', 'BTC'), ('balances', 'USD'),
             ('executions', 'filled')]
            >>> trade = seen[3][1]
            >>> trade["symbol"], trade["last_qty"], trade["fees"], trade["exec_id"]
            ('BTC/USD', Decimal('1'), [{'asset': 'USD', 'qty': Decimal('0.2600')}], 'T000002-FAKE')
        """
        with self.lock:
            self.book.listeners.append(listener)

    def remove_listener(self, listener: Callable[[str, Mapping[str, Any]], None]) -> None:
        """Stop calling ``listener`` (added with :meth:`add_listener`).

        Args:
            listener: the callable to remove.
        """
        with self.lock:
            self.book.listeners.remove(listener)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """The v2 snapshots of both channels, taken atomically under the lock.

        Returns ``{"executions": [open orders, exec_type "new"], "balances": [per asset]}``,
        what a WebSocket subscription's first message carries.
        """
        with self.lock:
            return {
                "executions": self.book.executions_snapshot(),
                "balances": self.book.balances_snapshot(),
            }

    def tick(self) -> None:
        """Let time's effects happen without a request: a due dead-man's switch cancels now.

        (A request does this first anyway; the WebSocket fake calls it as its clock moves.)
        """
        with self.lock:
            self.book.check_dead_mans_switch()

    def server_time(self) -> dict[str, Any]:
        """``/0/public/Time``'s result: the exchange's clock (``clock`` plus ``skew_s``)."""
        now_s = (self.clock.now_ns() + round(self.skew_s * NS_PER_SECOND)) // NS_PER_SECOND
        moment = dt.datetime.fromtimestamp(now_s, dt.UTC)
        return {"unixtime": now_s, "rfc1123": moment.strftime("%a, %d %b %y %H:%M:%S +0000")}

    def _insert_trades(self) -> None:
        name = sorted(self.book.pairs)[0]
        volume = self.book.pairs[name].min_volume
        for n in range(self.insert_trades):
            self.book.place_elsewhere(name, "buy" if n % 2 == 0 else "sell", volume)

    def on_bar(
        self,
        pair: str,
        open_: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal,
        ts_ns: int | None = None,
    ) -> None:
        """Serve one bar of ``pair``: match open orders against it (:meth:`FakeBook.on_bar`).

        Args:
            pair: the pair's name (``XBTUSD``).
            open_: the bar's open (waiting market orders fill there, as takers).
            high: the bar's high (resting sells at or below it fill at their limit).
            low: the bar's low (resting buys at or above it fill at their limit).
            close: the bar's close (the pair's price afterwards).
            volume: the bar's volume; orders take at most ``book.bar_volume_share`` of it.
            ts_ns: the fills' time (default: the clock's now).
        """
        with self.lock:
            self.book.on_bar(pair, open_, high, low, close, volume, ts_ns)

    def serve_bar(self, pair: str, bar: Bar) -> None:
        """:meth:`on_bar` with a :class:`~quant_core.Bar` (fills at its close time).

        Args:
            pair: the Kraken pair the bar's instrument trades as.
            bar: the bar.
        """
        self.on_bar(pair, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.close_time_ns)

    def _order_counter(self, pair: str) -> _Bucket:
        if pair not in self.order_counters:
            self.order_counters[pair] = _Bucket(self._order_tier, self.clock)
        return self.order_counters[pair]

    def _authenticate(self, path: str, headers: dict[str, str], body: bytes) -> str | None:
        if not hmac.compare_digest(headers.get("api-key", "").encode(), self.api_key.encode()):
            return "EAPI:Invalid key"
        form = dict(parse_qsl(body.decode("ascii", "replace")))
        nonce = form.get("nonce", "")
        if not nonce.isdigit():
            return "EAPI:Invalid nonce"
        self.signatures.append(headers.get("api-sign", ""))
        expected = wire.sign(path, nonce, body, self.secret)
        if not hmac.compare_digest(headers.get("api-sign", "").encode(), expected.encode()):
            return "EAPI:Invalid signature"
        if self.otp is not None and not hmac.compare_digest(
            form.get("otp", "").encode(), self.otp.encode()
        ):
            return "EAPI:Invalid signature"
        if int(nonce) <= self.last_nonce:
            return "EAPI:Invalid nonce"
        self.last_nonce = int(nonce)
        return None

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        """Answer one request (the HTTP layer's only call)."""
        method = path.rsplit("/", 1)[-1]
        if path.split("?", 1)[0] == "/0/public/Time":
            return _Reply(200, _envelope(self.server_time()))
        if not path.startswith("/0/private/") or method not in PERMISSIONS:
            return _Reply(404, _envelope(error="EGeneral:Unknown method"))
        with self.lock:
            self.book.check_dead_mans_switch()
            refused = self._authenticate(path, headers, body)
            if refused is not None:
                return _Reply(200, _envelope(error=refused))
            self.calls.append(method)
            now = self.clock.now_ns()
            if now < self.locked_until_ns:
                return _Reply(200, _envelope(error=FakeFault.LOCKOUT.value))
            form = dict(parse_qsl(body.decode("ascii")))
            queued = self.faults.get(method)
            fault = queued.pop(0) if queued else None
            if fault is FakeFault.LOCKOUT:
                self.locked_until_ns = now + self.lockout_s * NS_PER_SECOND
            if fault is FakeFault.THROTTLED:
                until = now // NS_PER_SECOND + 60
                return _Reply(200, _envelope(error=f"{fault.value}:{until}"))
            if fault is not None and fault.value.startswith("E"):
                return _Reply(200, _envelope(error=fault.value))
            if fault is FakeFault.HTTP_500:
                return _Reply(500, b"Internal Server Error")
            if fault is FakeFault.INSERT_TRADES:
                self._insert_trades()
            reply = self._act(method, form)
        if fault is FakeFault.COUNT_OFF:
            answer = json.loads(reply.body, parse_float=Decimal)
            found = answer.get("result") or {}
            if "count" in found:  # paged answers only
                found["count"] += 7
            return _Reply(200, encode_v2(answer).encode())
        if fault is FakeFault.TRUNCATED:
            return _Reply(200, reply.body[: len(reply.body) // 2])
        if fault is FakeFault.ACCEPT_THEN_TIMEOUT:
            return _Reply(200, reply.body, hang=True)
        if fault is FakeFault.ACCEPT_THEN_500:
            return _Reply(500, b"Internal Server Error")
        return reply

    def _act(self, method: str, form: dict[str, str]) -> _Reply:
        needed = PERMISSIONS[method]
        if needed is not None and needed not in self.permissions:
            return _Reply(200, _envelope(error="EGeneral:Permission denied"))
        cost = call_cost(method)
        if self.counter.wait_s(cost) > 0:
            return _Reply(200, _envelope(error="EAPI:Rate limit exceeded"))
        self.counter.add(cost)
        if method == "AddOrder" and form.get("validate") != "true":
            pair_counter = self._order_counter(form.get("pair", ""))
            if pair_counter.wait_s(1) > 0:
                return _Reply(200, _envelope(error="EOrder:Rate limit exceeded"))
            pair_counter.add(1)
        try:
            return _Reply(200, _envelope(self._dispatch(method, form)))
        except FakeRefusal as refusal:
            return _Reply(200, _envelope(error=refusal.error))

    def _dispatch(self, method: str, form: dict[str, str]) -> Any:
        if method == "GetApiKeyInfo":
            return {"name": "fake-key", "permissions": sorted(self.permissions)}
        if method == "GetWebSocketsToken":
            return {"token": f"fake-ws-token-{self.last_nonce}", "expires": 900}
        handlers: dict[str, Callable[[dict[str, str]], Any]] = {
            "Balance": self.book.balance,
            "OpenOrders": self.book.open_orders,
            "QueryOrders": self.book.query_orders,
            "ClosedOrders": self.book.closed_orders,
            "TradesHistory": self.book.trades_history,
            "AddOrder": self.book.add_order,
            "CancelOrder": self.book.cancel_order,
            "CancelAllOrdersAfter": self.book.cancel_all_orders_after,
            "CancelAll": self.book.cancel_all,
        }
        return handlers[method](form)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        """Public endpoints (``/0/public/Time``)."""
        reply = self.server.fake.handle(self.path, {}, b"")
        self._answer(reply)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.fake.handle(self.path, headers, body)
        if reply.hang:
            self.server.fake.release.wait(self.server.hang_s)
            self.close_connection = True
            return
        self._answer(reply)

    def _answer(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would carry nothing secret, but tests want clean output."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeKraken, hang_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self.hang_s = hang_s


@attrs.frozen
class FakeKrakenServer:
    """A running fake: where it listens and the credentials it accepts.

    Attributes:
        base_url: ``http://127.0.0.1:PORT`` (Kraken's paths are appended).
        fake: the :class:`FakeKraken` state behind it.
    """

    base_url: str
    fake: FakeKraken

    @property
    def api_key(self) -> str:
        """The public key the fake accepts."""
        return self.fake.api_key

    @property
    def secret(self) -> str:
        """The private key the fake checks signatures with (a test value)."""
        return self.fake.secret


@contextlib.contextmanager
def serve_fake_kraken(fake: FakeKraken, *, hang_s: float = 30.0) -> Iterator[FakeKrakenServer]:
    """Serve ``fake`` on 127.0.0.1 (a free port) for the ``with`` block.

    Args:
        fake: the exchange state.
        hang_s: the longest an ``ACCEPT_THEN_TIMEOUT`` answer is held back (it is released
            when the block ends).
    """
    server = _Server(fake, hang_s)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield FakeKrakenServer(f"http://{host!s}:{port}", fake)
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
