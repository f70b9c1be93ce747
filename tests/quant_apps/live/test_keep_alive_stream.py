"""The live runner's one waiter: it pumps the private stream and wakes on executions.

Real WebSocket on 127.0.0.1 (W's fake); a stream that cannot connect is a reason-coded
state and the wait falls back to the inner waiter (REST polling carries on).
"""

from __future__ import annotations

from typing import Any

from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.trading.commands import EventWaiter
from quant_apps.runtime.trading.live import KeepAliveWaiter
from quant_core.settings import Secret
from quant_exec.venues.kraken import KrakenStream
from quant_exec.venues.kraken.fake import FakeKrakenWs, serve_fake_kraken_ws

NO_CLIENT: Any = None  # dead_man_s=0: the switch is never armed, no call is made


def test_an_execution_on_the_stream_polls_the_venue_at_once() -> None:
    clock = WallClock()
    ws = FakeKrakenWs(clock)
    with serve_fake_kraken_ws(ws) as server:
        stream = KrakenStream(
            server.url, clock=clock, seed=1, token=lambda: Secret(ws.issue_token())
        )
        waiter = KeepAliveWaiter(
            EventWaiter(), NO_CLIENT, clock, dead_man_s=0, refresh_s=20, stream=stream
        )
        polled: list[list[dict[str, Any]]] = []
        waiter.on_executions = lambda: polled.append(stream.drain_executions())
        waiter.wait(0.0)  # connects and subscribes
        ws.publish_execution(
            {"exec_type": "new", "order_id": "O-1", "order_status": "new", "order_qty": 1}
        )
        while not polled:
            waiter.wait(1.0)  # any frame ends the wait; the execution triggers the poll
        stream.close()
    assert [item["order_id"] for item in polled[0]] == ["O-1"]
    assert waiter.stream_state() is None


def test_a_lost_stream_is_a_reason_coded_state_and_the_wait_goes_on() -> None:
    clock = WallClock()
    stream = KrakenStream("ws://127.0.0.1:9/v2", clock=clock, seed=1, max_attempts=1)
    inner = EventWaiter()
    waiter = KeepAliveWaiter(inner, NO_CLIENT, clock, dead_man_s=0, refresh_s=20, stream=stream)
    inner.wake()  # the fallback wait returns at once
    waiter.wait(5.0)
    assert waiter.stream_state() == "KRAKEN_WS_LOST"
    assert waiter.lost is not None
    no_stream = KeepAliveWaiter(inner, NO_CLIENT, clock, dead_man_s=0, refresh_s=20)
    assert no_stream.stream_state() is None
