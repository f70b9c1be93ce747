"""KrakenVenue on W's real stream: a reconnection makes a poll reconcile through REST.

The venue drains a real :class:`KrakenStream` connected over WebSocket on 127.0.0.1 to the
fake WebSocket attached to the fake exchange (its journal is the ``executions`` channel).
"""

from __future__ import annotations

from typing import Any

from tests.quant_exec.kraken.venue._harness import order

from quant_core import SimClock
from quant_exec.orders import OrderAccepted, OrderEvent, OrderFilled
from quant_exec.venues.kraken import KrakenStream, KrakenVenue
from quant_exec.venues.kraken.fake import FakeKraken, FakeKrakenWs, serve_fake_kraken_ws


def test_a_reconnect_reconciles_and_the_snapshot_is_state_not_news(
    make_venue: Any, make_client: Any, fake: FakeKraken, clock: SimClock
) -> None:
    ws = FakeKrakenWs(clock, exchange=fake)
    client = make_client()
    venues: list[KrakenVenue] = []
    with serve_fake_kraken_ws(ws) as server:
        stream = KrakenStream(
            server.url, clock=clock, seed=3, token=lambda: client.get_websockets_token().token,
            on_reconnect=lambda: venues[0].request_reconcile(),  # inside a poll's drain
            heartbeat_timeout_s=3600.0, open_timeout_s=5.0,
        )  # fmt: skip
        drained: list[dict[str, Any]] = []

        def drain() -> list[dict[str, Any]]:
            items = stream.drain_executions()
            drained.extend(items)
            return items

        venue = make_venue(client, executions=drain)
        venues.append(venue)
        stream.open()
        resting = order("buy", "0.1", limit="30000", clock=clock)
        filled = order("buy", "0.1", clock=clock)
        events: list[OrderEvent] = [*venue.submit(resting), *venue.submit(filled)]
        while not any(isinstance(e, OrderFilled) for e in events):
            stream.pump(wait_s=0.05)
            events += venue.poll()
        resting_txid = next(
            e.venue_order_id for e in events
            if isinstance(e, OrderAccepted) and e.client_order_id == resting.client_order_id
        )  # fmt: skip
        ws.drop()
        drained.clear()
        missed = order("buy", "0.05", clock=clock)  # its stream events are lost
        after: list[OrderEvent] = list(venue.submit(missed))
        while venue.resyncs == 0:  # the drain reconnects; the flag waits for the poll
            after += venue.poll()
        assert stream.connections == 2
        snapshot = {"exec_type": "new", "order_id": resting_txid}
        while not any(snapshot.items() <= item.items() for item in drained):
            stream.pump(wait_s=0.05)  # the new subscription's snapshot: the resting order again
            after += venue.poll()
        stream.close()
    fills = [e for e in after if isinstance(e, OrderFilled)]
    assert [f.client_order_id for f in fills] == [missed.client_order_id]
    accepted = [e.client_order_id for e in after if isinstance(e, OrderAccepted)]
    assert accepted == [missed.client_order_id]  # the snapshot re-announced no known order
    assert venue.query(resting.client_order_id).status.value == "accepted"
    assert venue.resyncs == 1
    every = fills + [e for e in events if isinstance(e, OrderFilled)]
    assert sorted(f.trade_id for f in every) == sorted(fake.book.trades)  # each fill once
