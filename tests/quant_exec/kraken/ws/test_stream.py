"""KrakenStream against the fake WebSocket over real 127.0.0.1 connections."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

import pytest

from quant_core import SimClock
from quant_core.settings import Secret
from quant_exec.venues.kraken import KrakenStream, MarketUpdate
from quant_exec.venues.kraken.fake import FakeKrakenWs, FakeWsFault

from .conftest import SYMBOL, collect, pump_until

Make = Callable[..., KrakenStream]


def _order(order_id: str, status: str, exec_type: str = "new") -> dict[str, object]:
    return {
        "exec_type": exec_type,
        "order_id": order_id,
        "cl_ord_id": f"c-{order_id}",
        "order_status": status,
        "symbol": SYMBOL,
        "side": "buy",
        "order_qty": Decimal("0.50000000"),
        "timestamp": "2023-11-14T22:13:20Z",
    }


def _fill(order_id: str, exec_id: str, status: str = "partially_filled") -> dict[str, object]:
    return {
        **_order(order_id, status, "trade"),
        "exec_id": exec_id,
        "last_qty": Decimal("0.25000000"),
        "last_price": Decimal("40000.1"),
        "fees": [{"asset": "USD", "qty": Decimal("0.0260")}],
    }


def test_private_channels_deliver_the_wire_items_in_order(
    make_stream: Make, ws_fake: FakeKrakenWs
) -> None:
    stream = make_stream()
    stream.open()
    assert stream.connected
    assert stream.connections == 1
    assert [(m, c) for _, m, c, _ in ws_fake.requests] == [
        ("subscribe", "executions"),
        ("subscribe", "balances"),
    ]
    new, fill = _order("O1", "new"), _fill("O1", "T1")
    ws_fake.publish_execution(new)
    ws_fake.publish_execution(fill)
    ws_fake.publish_balance(
        {"asset": "USD", "balance": Decimal("990.5"), "amount": Decimal("-9.5"), "type": "trade"}
    )
    assert collect(stream.drain_executions, stream, 2) == [new, fill]
    balances = collect(stream.drain_balances, stream, 1)
    assert balances[0]["balance"] == Decimal("990.5")
    assert isinstance(fill["last_qty"], Decimal)
    assert stream.lost is None
    assert stream.events == []


def test_a_repeated_fill_is_delivered_once(make_stream: Make, ws_fake: FakeKrakenWs) -> None:
    stream = make_stream()
    stream.open()
    ws_fake.inject(FakeWsFault.DUPLICATE)
    ws_fake.publish_execution(_fill("O1", "T1"))
    ws_fake.inject(FakeWsFault.DUPLICATE)
    ws_fake.publish_execution(_order("O1", "canceled", "canceled"))
    ws_fake.publish_balance({"asset": "USD", "balance": 1})  # arrives after all of the above
    collect(stream.drain_balances, stream, 1)
    items = stream.drain_executions()
    assert [(i["exec_type"], i.get("exec_id")) for i in items] == [
        ("trade", "T1"),
        ("canceled", None),
        ("canceled", None),
    ]


def test_delayed_and_reordered_messages_arrive_as_sent(
    make_stream: Make, ws_fake: FakeKrakenWs
) -> None:
    stream = make_stream()
    stream.open()
    ws_fake.inject(FakeWsFault.REORDER)
    ws_fake.publish_execution(_order("O1", "new"))
    ws_fake.publish_execution(_fill("O1", "T1", "filled"))
    ws_fake.inject(FakeWsFault.DELAY)
    ws_fake.publish_execution(_order("O2", "new"))
    ws_fake.publish_execution(_order("O3", "new"))
    ws_fake.release()
    items = collect(stream.drain_executions, stream, 4)
    assert [(i["order_id"], i["exec_type"]) for i in items] == [
        ("O1", "trade"),
        ("O1", "new"),
        ("O3", "new"),
        ("O2", "new"),
    ]


def test_snapshots_carry_open_orders_recent_fills_and_balances(
    make_stream: Make, ws_fake: FakeKrakenWs
) -> None:
    ws_fake.publish_execution(_order("O1", "new"))
    ws_fake.publish_execution(_fill("O1", "T1"))
    ws_fake.publish_execution(_order("O2", "new"))
    ws_fake.publish_execution(_order("O2", "canceled", "canceled"))
    ws_fake.publish_balance({"asset": "BTC", "balance": Decimal("0.25000000")})
    stream = make_stream()
    stream.open()
    items = collect(stream.drain_executions, stream, 2)
    assert [(i["order_id"], i["exec_type"], i["order_status"]) for i in items] == [
        ("O1", "new", "partially_filled"),
        ("O1", "trade", "partially_filled"),
    ]
    assert "exec_id" not in items[0]
    assert collect(stream.drain_balances, stream, 1) == [
        {
            "asset": "BTC",
            "asset_class": "currency",
            "balance": Decimal("0.25000000"),
            "wallets": [{"type": "spot", "id": "main", "balance": Decimal("0.25000000")}],
        }
    ]


def test_public_channels_trigger_market_updates(
    make_stream: Make, ws_fake: FakeKrakenWs, clock: SimClock
) -> None:
    ws_fake.publish_ticker({"symbol": SYMBOL, "bid": Decimal("40000.0"), "ask": Decimal("40000.1")})
    seen: list[MarketUpdate] = []
    stream = make_stream(
        token=None, symbols=[SYMBOL, "ETH/USD"], ticker=True, ohlc_interval=5, on_market=seen.append
    )
    stream.open()
    assert stream.stale(SYMBOL) is False  # no book subscribed: connected is enough
    assert [(m, c, s) for _, m, c, s in ws_fake.requests] == [
        ("subscribe", "ticker", (SYMBOL, "ETH/USD")),
        ("subscribe", "ohlc", (SYMBOL, "ETH/USD")),
    ]
    candle = {
        "symbol": SYMBOL,
        "open": Decimal("1.0"),
        "high": Decimal("2.0"),
        "low": Decimal("0.5"),
        "close": Decimal("1.5"),
        "interval": 5,
    }
    ws_fake.publish_ohlc(candle)
    ws_fake.publish_ticker({"symbol": "ETH/USD", "last": Decimal("2000.00")})
    updates = collect(stream.drain_market, stream, 3)
    assert [(u.channel, u.symbol) for u in updates] == [
        ("ticker", SYMBOL),
        ("ohlc", SYMBOL),
        ("ticker", "ETH/USD"),
    ]
    assert updates[1].data == candle
    assert updates[1].received_ns == clock.now_ns()
    assert seen == updates
    assert stream.drain_executions() == []
    assert stream.drain_balances() == []


def test_a_book_is_kept_and_checked(make_stream: Make, ws_fake: FakeKrakenWs) -> None:
    ws_fake.set_book(SYMBOL, [("45283.5", "0.10000000")], [("45285.2", "0.00100000")])
    stream = make_stream(token=None, symbols=[SYMBOL, "ETH/USD"], book_depth=10)
    assert stream.stale(SYMBOL)
    assert stream.book(SYMBOL) is None
    stream.open()
    pump_until(stream, lambda: stream.book(SYMBOL) is not None)
    assert stream.stale(SYMBOL) is False
    assert stream.stale("ETH/USD") is True  # no snapshot for it yet
    ws_fake.update_book(SYMBOL, bids=[("45283.6", "1.00000000")], asks=[("45285.2", "0")])
    updates = collect(stream.drain_market, stream, 2)
    assert [(u.channel, u.symbol) for u in updates] == [("book", SYMBOL)] * 2
    book = stream.book(SYMBOL)
    assert book is not None
    assert book.best_bid() == Decimal("45283.6")
    assert book.best_ask() is None
    assert stream.events == []


def test_stream_basics(make_stream: Make, ws_fake: FakeKrakenWs) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        make_stream(max_attempts=0)
    with make_stream(symbols=[SYMBOL], ticker=True) as stream:
        assert repr(stream).endswith("channels=executions,balances,ticker, connected=True)")
        assert "fake-ws-token" not in repr(stream)
        assert isinstance(stream.pump(), int)
    assert not stream.connected
    assert stream.stale(SYMBOL)
    stream.close()  # closing twice is harmless


def test_frames_it_does_not_know_are_ignored(make_stream: Make, ws_fake: FakeKrakenWs) -> None:
    stream = make_stream()
    stream.open()
    session = ws_fake._sessions[0]
    for raw in (
        "not json",
        "[1, 2]",
        '{"channel": "executions", "data": {}}',
        '{"channel": "status", "type": "update", "data": [{"system": "online"}]}',
        '{"method": "pong", "req_id": 9}',
        '{"channel": "heartbeat"}',
    ):
        session.conn.send(raw)
    ws_fake.publish_execution(_order("O1", "new"))
    assert [i["order_id"] for i in collect(stream.drain_executions, stream, 1)] == ["O1"]
    assert stream.events == []


def test_a_refused_resubscription_leaves_the_book_stale(
    make_stream: Make, ws_fake: FakeKrakenWs
) -> None:
    ws_fake.set_book(SYMBOL, [("1.0", "1.0")], [("2.0", "1.0")])
    stream = make_stream(token=None, symbols=[SYMBOL], book_depth=10)
    stream.open()
    pump_until(stream, lambda: stream.book(SYMBOL) is not None)
    session = ws_fake._sessions[0]
    session.conn.send('{"method": "subscribe", "success": false, "error": "EGeneral:Oops"}')
    pump_until(stream, lambda: bool(stream.events))
    assert stream.events == ["KRAKEN_WS_SUBSCRIBE_REFUSED"]
    assert stream.connected


def test_no_token_reaches_a_log_even_at_debug(
    make_stream: Make, ws_fake: FakeKrakenWs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handed: list[str] = []

    def token() -> Secret:
        handed.append(ws_fake.issue_token())
        return Secret(handed[-1])

    stream = make_stream(token=token)
    stream.open()
    ws_fake.publish_execution(_order("O1", "new"))
    collect(stream.drain_executions, stream, 1)
    ws_fake.drop()
    pump_until(stream, lambda: stream.connections == 2)
    assert len(handed) == 2
    assert all(t not in caplog.text for t in handed)
    assert all(t not in repr(stream) for t in handed)
    assert not [r for r in caplog.records if r.name.startswith("websockets") and r.levelno < 20]
