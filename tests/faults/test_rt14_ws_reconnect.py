"""RT-14: WebSocket drop mid-stream, idle (pings only), token expired at reconnect, storms.

Each runs a real KrakenStream against the fake WebSocket on 127.0.0.1; waits are on the
injected SimClock (the backoff advances it), so nothing here sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quant_core import NS_PER_SECOND, SimClock
from quant_core.settings import Secret
from quant_exec.venues.kraken import KrakenPrivateClient, KrakenStream, NonceSource
from quant_exec.venues.kraken.fake import (
    FakeKraken,
    FakeKrakenWs,
    serve_fake_kraken,
    serve_fake_kraken_ws,
)
from quant_net import ProviderError

START_NS = 1_700_000_000 * NS_PER_SECOND
HEARTBEAT_S = 10
STABLE_S = 60


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START_NS)


@pytest.fixture
def fake(clock: SimClock) -> FakeKrakenWs:
    return FakeKrakenWs(clock)


@pytest.fixture
def url(fake: FakeKrakenWs) -> Iterator[str]:
    with serve_fake_kraken_ws(fake) as server:
        yield server.url


class Tokens:
    """A token source that counts what it handed out."""

    def __init__(self, fake: FakeKrakenWs) -> None:
        self.fake = fake
        self.given: list[str] = []

    def __call__(self) -> Secret:
        self.given.append(self.fake.issue_token())
        return Secret(self.given[-1])


def _stream(
    url: str, clock: SimClock, token: Callable[[], Secret] | None, **kw: Any
) -> KrakenStream:
    kw.setdefault("heartbeat_timeout_s", HEARTBEAT_S)
    kw.setdefault("open_timeout_s", 5.0)
    return KrakenStream(url, clock=clock, seed=11, token=token, **kw)


def _order(order_id: str) -> dict[str, Any]:
    return {
        "exec_type": "new",
        "order_id": order_id,
        "order_status": "new",
        "order_qty": Decimal("1.0"),
    }


def _drain_until(stream: KrakenStream, count: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for _ in range(200):
        items += stream.drain_executions()
        if len(items) >= count:
            return items
        stream.pump(0.05)
    raise AssertionError("executions never arrived")


def _pump_until(stream: KrakenStream, done: Callable[[], bool]) -> None:
    for _ in range(200):
        if done():
            return
        stream.pump(0.05)
    raise AssertionError("the stream never got there")


def _settle(stream: KrakenStream, fake: FakeKrakenWs) -> None:
    """Publish a balance and wait for it: every frame sent before it has been handled."""
    fake.publish_balance({"asset": "USD", "balance": Decimal("1")})
    for _ in range(200):
        if stream.drain_balances()[-1:]:
            return
        stream.pump(0.05)
    raise AssertionError("the sentinel never arrived")


def _subscribes(fake: FakeKrakenWs, connection: int) -> list[str]:
    return [c for n, m, c, _ in fake.requests if n == connection and m == "subscribe"]


def test_drop_mid_stream_reconnects_with_a_fresh_token_and_resubscribes_once(
    url: str, fake: FakeKrakenWs, clock: SimClock
) -> None:
    tokens, reconciled = Tokens(fake), list[int]()
    # the venue reconciles over REST here, after every channel is subscribed again
    stream = _stream(url, clock, tokens, on_reconnect=lambda: reconciled.append(len(fake.requests)))
    stream.open()
    fake.publish_execution(_order("O1"))
    assert [i["order_id"] for i in _drain_until(stream, 1)] == ["O1"]
    clock.advance_by(STABLE_S * NS_PER_SECOND)  # a stable connection: no storm
    fake.drop()
    fake.publish_execution(_order("O2"))  # sent while nobody listens: the snapshot carries it
    items = _drain_until(stream, 2)
    assert [i["order_id"] for i in items] == ["O1", "O2"]  # the re-snapshot, then nothing twice
    assert stream.connections == 2
    assert reconciled == [4]
    assert len(tokens.given) == 2
    assert tokens.given[0] != tokens.given[1]
    assert _subscribes(fake, 1) == _subscribes(fake, 2) == ["executions", "balances"]
    assert stream.waits == []  # the first reconnection attempt succeeded
    stream.close()


@pytest.mark.parametrize(
    ("silence_ns", "reconnects"),
    [
        (HEARTBEAT_S * NS_PER_SECOND - 1, False),
        (HEARTBEAT_S * NS_PER_SECOND, False),
        (HEARTBEAT_S * NS_PER_SECOND + 1, True),
    ],
)
def test_silence_beyond_the_heartbeat_interval_is_a_disconnect(
    url: str, fake: FakeKrakenWs, clock: SimClock, silence_ns: int, reconnects: bool
) -> None:
    stream = _stream(url, clock, Tokens(fake))
    stream.open()
    _settle(stream, fake)
    fake.idle()  # the connection stays up, answering protocol pings only
    fake.publish_execution(_order("O1"))  # an idle connection never sees it
    clock.advance_by(silence_ns)
    stream.pump()
    assert stream.connections == (2 if reconnects else 1)
    assert ("KRAKEN_WS_HEARTBEAT_LOST" in stream.events) is reconnects
    if reconnects:
        assert [i["order_id"] for i in _drain_until(stream, 1)] == ["O1"]
    stream.close()


def test_heartbeats_keep_a_quiet_connection_alive(
    url: str, fake: FakeKrakenWs, clock: SimClock
) -> None:
    stream = _stream(url, clock, Tokens(fake))
    stream.open()
    _settle(stream, fake)
    for _ in range(3):
        clock.advance_by(HEARTBEAT_S * NS_PER_SECOND)
        fake.heartbeat()
        assert stream.pump(5.0) == 1
    assert stream.connections == 1
    assert stream.events == []
    stream.close()


def test_an_expired_token_at_reconnect_is_replaced(
    url: str, fake: FakeKrakenWs, clock: SimClock
) -> None:
    first = fake.issue_token()
    handed: list[str] = []

    def cached_then_fresh() -> Secret:
        handed.append(first if len(handed) < 2 else fake.issue_token())
        return Secret(handed[-1])

    stream = _stream(url, clock, cached_then_fresh, backoff_base_s=2.0, jitter=0.0)
    stream.open()
    clock.advance_by(STABLE_S * NS_PER_SECOND)
    fake.expire_tokens()
    fake.drop()
    _pump_until(stream, lambda: stream.connections == 2)
    assert stream.connections == 2
    assert stream.events == ["KRAKEN_WS_SUBSCRIBE_REFUSED"]
    assert stream.waits == [2.0]
    assert clock.now_ns() == START_NS + (STABLE_S + 2) * NS_PER_SECOND
    assert handed[0] == handed[1] != handed[2]
    refused, accepted = _subscribes(fake, 2), _subscribes(fake, 3)
    assert refused == ["executions", "balances"]
    assert accepted == ["executions", "balances"]
    stream.close()


def test_a_reconnect_storm_is_bounded_capped_and_seeded(
    url: str, fake: FakeKrakenWs, clock: SimClock
) -> None:
    def storm(seed_clock: SimClock) -> KrakenStream:
        stream = KrakenStream(
            url,
            clock=seed_clock,
            seed=3,
            token=Tokens(fake),
            max_attempts=4,
            backoff_base_s=1.0,
            backoff_max_s=3.0,
            jitter=0.5,
        )
        fake.refuse(4)
        with pytest.raises(ProviderError) as lost:
            stream.open()
        assert lost.value.reason_code == "KRAKEN_WS_LOST"
        return stream

    first = storm(clock)
    assert len(first.waits) == 3  # 4 attempts, a wait between each
    assert all(0.5 * cap <= w <= cap for w, cap in zip(first.waits, (1.0, 2.0, 3.0), strict=True))
    slept_ns = clock.now_ns() - START_NS  # the waits advanced the SimClock (ns rounding aside)
    assert abs(slept_ns - sum(first.waits) * NS_PER_SECOND) <= len(first.waits)
    assert storm(SimClock(START_NS)).waits == first.waits
    assert first.events.count("KRAKEN_WS_LOST") == 5
    assert fake.connections == 0
    # the venue's drain carries on (REST still works) and records the loss
    fake.refuse(4)
    assert first.drain_executions() == []
    lost = first.lost
    assert lost is not None
    assert lost.reason_code == "KRAKEN_WS_LOST"
    assert first.stale("BTC/USD")
    first.pump()  # the refusals are over: it reconnects
    assert first.connected
    assert first.lost is None
    first.close()


def test_a_flapping_connection_is_a_storm_bounded_by_max_attempts(
    url: str, fake: FakeKrakenWs, clock: SimClock
) -> None:
    """The server accepts and subscribes, then drops at once, again and again."""
    tokens = Tokens(fake)
    stream = _stream(url, clock, tokens, max_attempts=3, backoff_base_s=1.0, jitter=0.0)
    stream.open()
    for connections in (2, 3):
        fake.drop()
        _pump_until(stream, lambda: stream.connections == connections)  # noqa: B023  # used at once
    assert stream.waits == [1.0, 2.0]  # each early death backs off further
    fake.drop()
    with pytest.raises(ProviderError) as lost:
        _pump_until(stream, lambda: False)
    assert lost.value.reason_code == "KRAKEN_WS_LOST"
    assert stream.connections == 3
    assert len(tokens.given) == 3
    # a connection that lived past stable_s ends the streak: the next drop reconnects at once
    stream.pump()
    clock.advance_by(STABLE_S * NS_PER_SECOND)
    fake.drop()
    _pump_until(stream, lambda: stream.connections == 5)
    assert stream.waits == [1.0, 2.0]
    stream.close()


def test_unreachable_endpoint_and_a_failing_token_source(clock: SimClock) -> None:
    def failing() -> Secret:
        raise ProviderError("paused", provider="kraken", reason_code="KRAKEN_PAUSED")

    with serve_fake_kraken_ws(FakeKrakenWs(clock)) as server:
        stream = _stream(server.url, clock, failing, max_attempts=1)
        with pytest.raises(ProviderError):
            stream.open()
        assert stream.events == ["KRAKEN_PAUSED", "KRAKEN_WS_LOST"]
        closed = server.url
    stream = _stream(closed, clock, None, symbols=["BTC/USD"], ticker=True, max_attempts=1)
    with pytest.raises(ProviderError):
        stream.open()


def test_a_subscription_never_acknowledged_fails_the_attempt(
    url: str, fake: FakeKrakenWs, clock: SimClock
) -> None:
    fake.idle(new_connections=1)
    # 0.2 s for the acknowledgements; spare attempts so a loaded machine cannot fail the test
    stream = _stream(url, clock, Tokens(fake), open_timeout_s=0.2, max_attempts=5)
    stream.open()
    assert stream.connections == 1
    assert stream.events[0] == "KRAKEN_WS_LOST"  # the silent connection's attempt failed
    assert fake.connections == 1 + len(stream.events) == 1 + len(stream.waits)
    stream.close()


def test_tokens_from_the_fake_exchange_over_rest(clock: SimClock, tmp_path: Path) -> None:
    exchange = FakeKraken(clock)
    ws = FakeKrakenWs(clock, exchange=exchange)
    with serve_fake_kraken(exchange) as rest, serve_fake_kraken_ws(ws) as server:
        client = KrakenPrivateClient(
            rest.base_url,
            api_key=Secret(rest.api_key),
            secret=Secret(rest.secret),
            clock=clock,
            nonce=NonceSource(tmp_path / "nonce", clock),
            seed=5,
        )
        reconciled: list[int] = []
        stream = _stream(
            server.url,
            clock,
            lambda: client.get_websockets_token().token,
            on_reconnect=lambda: reconciled.append(len(client.open_orders().orders)),
        )
        stream.open()
        ws.drop()
        _pump_until(stream, lambda: stream.connections == 2)
        assert stream.connections == 2
        assert reconciled == [0]
        assert ws.tokens_seen == 4
        assert exchange.calls.count("GetWebSocketsToken") == 2
        stream.close()
        client.close()


def test_after_a_reconnect_local_order_state_equals_the_venue(
    clock: SimClock, tmp_path: Path
) -> None:
    """The fake exchange's journal feeds the WebSocket; a drop loses events, not state."""
    exchange = FakeKraken(clock)
    exchange.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    exchange.book.fund("ZUSD", Decimal("100000"))
    ws = FakeKrakenWs(clock, exchange=exchange)
    with serve_fake_kraken(exchange) as rest, serve_fake_kraken_ws(ws) as server:
        client = KrakenPrivateClient(
            rest.base_url,
            api_key=Secret(rest.api_key),
            secret=Secret(rest.secret),
            clock=clock,
            nonce=NonceSource(tmp_path / "nonce", clock),
            seed=5,
        )
        state: dict[str, str] = {}  # order id -> v2 order_status, as the stream tells it
        fills: list[str] = []
        venue_open: list[set[str]] = []

        def reconcile() -> None:  # what a venue does on reconnect: ask REST
            venue_open.append({o.txid for o in client.open_orders().orders})

        stream = _stream(
            server.url, clock, lambda: client.get_websockets_token().token, on_reconnect=reconcile
        )
        stream.open()

        def absorb() -> dict[str, str]:
            for item in stream.drain_executions():
                state[item["order_id"]] = item["order_status"]
                if item["exec_type"] == "trade":
                    fills.append(item["exec_id"])
            return state

        def order(cl_ord_id: str, price: str | None) -> str:
            kind = "market" if price is None else "limit"
            ack = client.add_order(
                pair="XBTUSD",
                side="buy",
                order_type=kind,
                volume=Decimal("0.1"),
                cl_ord_id=cl_ord_id,
                price=None if price is None else Decimal(price),
            )
            return ack.txids[0]

        filled = order("m-1", None)
        resting = order("l-1", "39000")
        _pump_until(
            stream, lambda: absorb().get(filled) == "filled" and state.get(resting) == "new"
        )
        ws.drop()
        later = order("l-2", "38000")  # placed while the stream is down: its events are lost
        client.cancel_order(txid=resting)  # so is this cancel
        _pump_until(stream, lambda: later in absorb() and stream.connections == 2)
        absorb()
        venue = {o.txid for o in client.open_orders().orders}
        assert venue_open == [venue] == [{later}]
        # the re-snapshot brought the order placed while down; the canceled one the
        # snapshot omits is the REST reconcile's to close (it is not open at the venue)
        still_open = {oid for oid, status in state.items() if status in ("new", "partially_filled")}
        assert still_open == venue | {resting}
        assert len(fills) == len(set(fills)) == 1
        stream.close()
        client.close()
