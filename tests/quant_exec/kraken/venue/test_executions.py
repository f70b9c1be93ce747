"""KrakenVenue's WebSocket path: drained v2 ``executions`` items, deduplicated with REST.

The items are Kraken's documented wire dicts (``exec_type``, ``order_id``, ``cl_ord_id``,
``exec_id``, ``last_qty``, ``last_price``, ``fees``, ``timestamp``...), built here from the
fake's own order and trade records so both paths describe the same fills.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.quant_exec.kraken.venue._harness import execution, names, only, order

from quant_core import SimClock
from quant_exec.orders import Liquidity, OrderCanceled, OrderFilled, OrderStatus
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken

Items = list[dict[str, Any]]


class Stream:
    """What a WebSocket client's ``drain_executions`` hands over: items queued since last."""

    def __init__(self) -> None:
        self.queued: Items = []

    def drain(self) -> Items:
        drained, self.queued = self.queued, []
        return drained


def _trade_items(fake: FakeKraken, clock: SimClock) -> Items:
    """One ``trade`` item per fill the fake made (as Kraken would stream them)."""
    items = []
    for trade_id, trade in sorted(fake.book.trades.items()):
        placed = fake.book.orders[trade["ordertxid"]]
        items.append(
            execution(
                "trade",
                trade["ordertxid"],
                placed["cl_ord_id"],
                clock.now_ns(),
                exec_id=trade_id,
                symbol="BTC/USD",
                side=trade["type"],
                last_qty=trade["vol"],
                last_price=trade["price"],
                liquidity_ind="t",
                fees=[{"asset": "USD", "qty": trade["fee"]}],
                order_status="filled",
            )
        )
    return items


def test_fills_streamed_first_are_not_emitted_again_by_rest(
    make_venue: Any, fake: FakeKraken, clock: SimClock
) -> None:
    stream = Stream()
    venue: KrakenVenue = make_venue(executions=stream.drain)
    placed = order("buy", "0.1", clock=clock)
    venue.submit(placed)
    stream.queued = _trade_items(fake, clock) * 2  # and a duplicate delivery
    polled = venue.poll()
    assert names(polled) == ["OrderFilled"]
    fill = polled[0]
    assert isinstance(fill, OrderFilled)
    assert fill.fee == Decimal(next(iter(fake.book.trades.values()))["fee"])
    assert fill.liquidity is Liquidity.TAKER
    assert venue.poll() == []
    stream.queued = _trade_items(fake, clock)  # redelivered after a reconnect
    assert venue.poll() == []


def test_a_stream_fill_after_the_rest_fill_is_a_duplicate(
    make_venue: Any, fake: FakeKraken, clock: SimClock
) -> None:
    stream = Stream()
    venue: KrakenVenue = make_venue(executions=stream.drain)
    venue.submit(order("buy", "0.1", clock=clock))
    assert names(venue.poll()) == ["OrderFilled"]
    stream.queued = _trade_items(fake, clock)
    assert venue.poll() == []


def test_the_stream_acknowledges_an_unknown_outcome_and_cancels(
    make_venue: Any, fake: FakeKraken, clock: SimClock
) -> None:
    stream = Stream()
    venue: KrakenVenue = make_venue(executions=stream.drain)
    fake.inject("AddOrder", FakeFault.ACCEPT_THEN_500)
    fake.inject("OpenOrders", *[FakeFault.HTTP_500] * 3)  # REST cannot resolve it this time
    placed = order("buy", "0.1", limit="30000", clock=clock)
    venue.submit(placed)
    txid = next(iter(fake.book.orders))
    kraken_id = KrakenVenue.kraken_id(placed.client_order_id)
    stream.queued = [
        execution("pending_new", txid, kraken_id, clock.now_ns(), order_status="pending_new"),
        execution("new", txid, kraken_id, clock.now_ns(), order_status="new"),
    ]
    assert names(venue.poll()) == ["OrderAccepted"]  # the stream proved acceptance
    fake.book.cancel_order({"txid": txid})
    stream.queued = [execution("canceled", txid, None, clock.now_ns(), reason="User requested")]
    polled = venue.poll()
    assert names(polled) == ["OrderCanceled"]  # REST's copy of the cancel is absorbed
    assert only(list(polled), OrderCanceled)[0].client_order_id == placed.client_order_id
    assert venue.query(placed.client_order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert fake.calls.count("AddOrder") == 1


def test_an_expiry_and_status_only_items_from_the_stream(
    make_venue: Any, fake: FakeKraken, clock: SimClock
) -> None:
    stream = Stream()
    venue: KrakenVenue = make_venue(executions=stream.drain)
    placed = order("buy", "0.1", limit="30000", clock=clock)
    txid = venue.submit(placed)[1].venue_order_id  # type: ignore[union-attr]
    stream.queued = [
        {
            "channel": "executions",
            "type": "update",
            "data": [
                execution("status", txid, None, clock.now_ns()),
                execution("expired", txid, None, clock.now_ns()),
            ],
        },
    ]
    assert names(venue.poll()) == ["OrderExpired"]


def test_a_streamed_fill_of_an_order_made_elsewhere_is_emitted_for_the_session_to_flag(
    make_venue: Any, clock: SimClock
) -> None:
    stream = Stream()
    venue: KrakenVenue = make_venue(executions=stream.drain)
    outside = {
        "exec_id": "T-OUT",
        "symbol": "ETH/USD",
        "side": "sell",
        "last_qty": "0.5",
        "last_price": "2000",
        "liquidity_ind": "m",
        "fees": [{"asset": "USD", "qty": "1.6"}],
    }
    stream.queued = [
        execution("trade", "O-ELSEWHERE", None, clock.now_ns(), **outside),
        execution("trade", "O-ELSEWHERE", "their-id", clock.now_ns(), **outside),  # a copy
        execution("new", "O-ELSEWHERE", None, clock.now_ns()),
    ]
    polled = venue.poll()
    assert len(polled) == 1
    fill = polled[0]
    assert isinstance(fill, OrderFilled)
    assert (fill.client_order_id, fill.instrument.base, fill.fee) == ("", "ETH", Decimal("1.6"))
    assert fill.liquidity is Liquidity.MAKER


def test_unreadable_items_are_alarms_not_crashes(make_venue: Any, clock: SimClock) -> None:
    stream = Stream()
    venue: KrakenVenue = make_venue(executions=stream.drain)
    stream.queued = [
        {"order_id": "O1"},  # no exec_type
        execution("trade", "O1", None, clock.now_ns(), exec_id="T1", last_qty="x", last_price="1"),
        execution(
            "trade", "O1", None, clock.now_ns(), exec_id="T2", last_qty="NaN", last_price="1"
        ),
        execution("trade", "O1", None, clock.now_ns(), last_qty="1", last_price="1"),
        execution("trade", "O1", None, clock.now_ns(), exec_id="T3", last_qty=True, last_price="1"),
        {**execution("new", "O1", None, 0), "timestamp": "yesterday"},
        execution(
            "trade",
            "O1",
            None,
            clock.now_ns(),
            exec_id="T4",
            symbol="DOGE/USD",
            side="buy",
            last_qty="1",
            last_price="1",
        ),
    ]
    assert venue.poll() == []
    assert [a.reason_code for a in venue.alarms] == [
        *["KRAKEN_EXECUTION_INVALID"] * 6,
        "KRAKEN_PAIR_UNKNOWN",
    ]


def test_an_item_without_a_timestamp_takes_the_clock(
    make_venue: Any, fake: FakeKraken, clock: SimClock
) -> None:
    stream = Stream()
    venue: KrakenVenue = make_venue(executions=stream.drain)
    placed = order("buy", "0.1", limit="30000", clock=clock)
    txid = venue.submit(placed)[1].venue_order_id  # type: ignore[union-attr]
    item = execution("canceled", txid, None, 0)
    del item["timestamp"]
    stream.queued = [item]
    clock.advance_by(5 * 10**9)
    canceled = venue.poll()
    assert [e.ts_event for e in canceled] == [clock.now_ns()]
