"""The fake Kraken WebSocket's own answers, seen by a raw websockets client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from quant_core import SimClock
from quant_exec.venues.kraken.fake import FakeKrakenWs, FakeWsFault, serve_fake_kraken_ws

from .conftest import SYMBOL


@pytest.fixture
def raw(ws_url: str) -> Iterator[ClientConnection]:
    conn = connect(ws_url, proxy=None, legacy=True)
    yield conn
    conn.close()


def _ask(conn: ClientConnection, request: Any) -> dict[str, Any]:
    conn.send(request if isinstance(request, str) else json.dumps(request))
    answer: dict[str, Any] = json.loads(conn.recv(timeout=5), parse_float=Decimal)
    return answer


def test_requests_it_cannot_serve_are_refused(raw: ClientConnection, ws_fake: FakeKrakenWs) -> None:
    assert _ask(raw, "{not json") == {"error": "EGeneral:Invalid arguments", "success": False}
    refused = _ask(raw, {"method": "add_order", "req_id": 4})
    assert (refused["req_id"], refused["success"], refused["error"]) == (
        4,
        False,
        "EGeneral:Unknown method",
    )
    for params in ({"channel": "trade", "symbol": [SYMBOL]}, {"channel": "ticker"}):
        answer = _ask(raw, {"method": "subscribe", "params": params})
        assert answer["error"] == "EGeneral:Invalid arguments"
        assert "req_id" not in answer
    for token in (None, "bogus", "fake-ws-token-x", "fake-ws-token-1"):
        params = {"channel": "executions", **({"token": token} if token else {})}
        answer = _ask(raw, {"method": "subscribe", "params": params, "req_id": 1})
        assert answer["error"] == "ESession:Invalid session"
    assert ws_fake.tokens_seen == 3
    assert "time_in" in _ask(raw, {"method": "ping"})
    assert ws_fake.connections == 1
    assert [r[1] for r in ws_fake.requests][-1] == "ping"


def test_unsubscribe_stops_the_channel(raw: ClientConnection, ws_fake: FakeKrakenWs) -> None:
    subscribe = {"method": "subscribe", "params": {"channel": "ticker", "symbol": [SYMBOL]}}
    ack = _ask(raw, subscribe)
    assert ack["result"] == {"channel": "ticker", "symbol": SYMBOL, "snapshot": True}
    assert json.loads(raw.recv(timeout=5)) == {"channel": "ticker", "type": "snapshot", "data": []}
    gone = _ask(raw, {**subscribe, "method": "unsubscribe"})
    assert (gone["method"], gone["result"]) == (
        "unsubscribe",
        {"channel": "ticker", "symbol": SYMBOL},
    )
    ws_fake.publish_ticker({"symbol": SYMBOL, "last": Decimal("1.50")})
    pong = _ask(raw, {"method": "ping", "req_id": 2})
    assert (pong["method"], pong["req_id"]) == ("pong", 2)  # the ticker never came


def test_faults_pick_the_messages_they_apply_to(
    raw: ClientConnection, ws_fake: FakeKrakenWs
) -> None:
    token = ws_fake.issue_token()
    _ask(raw, {"method": "subscribe", "params": {"channel": "executions", "token": token}})
    assert json.loads(raw.recv(timeout=5))["type"] == "snapshot"
    ws_fake.inject(FakeWsFault.BAD_CHECKSUM, FakeWsFault.DUPLICATE)
    ws_fake.publish_execution({"exec_type": "new", "order_id": "O1", "order_status": "new"})
    first, second = (json.loads(raw.recv(timeout=5)) for _ in range(2))
    assert first == second
    assert first["data"][0]["order_id"] == "O1"
    ws_fake.set_book(SYMBOL, [("1.0", "1.0")], [("2.0", "1.0")])  # nobody subscribed the book
    assert ws_fake._faults == []  # the book message took the checksum fault


def test_numbers_keep_every_digit_on_the_wire(raw: ClientConnection, ws_fake: FakeKrakenWs) -> None:
    _ask(raw, {"method": "subscribe", "params": {"channel": "ohlc", "symbol": [SYMBOL]}})
    raw.recv(timeout=5)
    ws_fake.publish_ohlc(
        {"symbol": SYMBOL, "close": Decimal("0.10000000"), "trades": 3, "flags": [True, None]}
    )
    text = raw.recv(timeout=5)
    assert '"close":0.10000000,"trades":3,"flags":[true,null]' in str(text)


def test_a_heartbeat_thread_for_demos(clock: SimClock) -> None:
    fake = FakeKrakenWs(clock)
    with serve_fake_kraken_ws(fake, heartbeat_s=0.01) as server:
        conn = connect(server.url, proxy=None, legacy=True)
        assert json.loads(conn.recv(timeout=5)) == {"channel": "heartbeat"}
        conn.close()
