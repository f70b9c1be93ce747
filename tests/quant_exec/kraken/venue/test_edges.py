"""KrakenVenue's edges: ids Kraken cannot carry, overfills, paging, orders Kraken forgets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.quant_exec.kraken.venue._harness import BTC, execution, names, order

from quant_core import SimClock
from quant_exec.orders import Order, OrderFilled, OrderStatus
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken._types import order_from
from quant_exec.venues.kraken._venue_wire import from_kraken_id, state_from_order, to_kraken_id
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken


def test_an_id_kraken_cannot_carry_is_rejected_before_sending(
    venue: KrakenVenue, fake: FakeKraken
) -> None:
    long_id = "x" * 30
    placed = Order(client_order_id=long_id, instrument=BTC, side="buy", quantity="0.1",
                   order_type="market", limit_price=None, ts_init=0)  # fmt: skip
    events = venue.submit(placed)
    assert names(events) == ["OrderSubmitted", "OrderRejected"]
    assert events[1].reason_code == "KRAKEN_ORDER_ID_UNFIT"  # type: ignore[union-attr]
    assert "AddOrder" not in fake.calls
    assert KrakenVenue(venue._client, clock=fake.clock, pairs={}, assets={}).query(long_id) is None


@pytest.mark.parametrize("oid", ["O-0123456789abcdef0123", "short-id", "a" * 18])
def test_client_order_ids_travel_to_kraken_and_back(oid: str) -> None:
    assert from_kraken_id(to_kraken_id(oid)) == oid


@pytest.mark.parametrize("oid", ["", "x" * 19, "é", "O-0123456789ABCDEF0123x"])
def test_ids_no_kraken_format_fits_are_refused(oid: str) -> None:
    with pytest.raises(ValueError, match="fits no Kraken"):
        to_kraken_id(oid)


@pytest.mark.parametrize(
    ("status", "executed", "expected"),
    [
        ("pending", "0", OrderStatus.SUBMITTED),
        ("open", "0", OrderStatus.ACCEPTED),
        ("open", "0.5", OrderStatus.PARTIALLY_FILLED),
        ("closed", "1", OrderStatus.FILLED),
        ("canceled", "0.5", OrderStatus.CANCELED),
        ("expired", "0", OrderStatus.EXPIRED),
    ],
)
def test_kraken_statuses_read_as_order_states(
    status: str, executed: str, expected: OrderStatus
) -> None:
    kraken = order_from("O1", {"status": status, "vol": "1", "vol_exec": executed, "cost": "0",
                               "fee": "0", "price": "100", "opentm": 1, "cl_ord_id": "c1",
                               "descr": {"pair": "XBTUSD", "type": "buy",
                                         "ordertype": "stop-loss", "price": "90"}})  # fmt: skip
    state = state_from_order(kraken, BTC)
    assert state.status is expected
    assert state.order.limit_price is None  # a stop order reads as a market order
    assert state.avg_price == (Decimal(100) if executed != "0" else None)


def test_a_streamed_fill_beyond_the_order_is_still_emitted_for_the_session(
    make_venue: Any, fake: FakeKraken, clock: SimClock
) -> None:
    queued: list[dict[str, Any]] = []
    venue: KrakenVenue = make_venue(executions=lambda: queued)
    placed = order("buy", "0.1", limit="30000", clock=clock)
    txid = venue.submit(placed)[1].venue_order_id  # type: ignore[union-attr]
    queued.append(execution("trade", txid, None, clock.now_ns(), exec_id="T-BIG",
                            last_qty="0.5", last_price="30000"))  # fmt: skip
    polled = venue.poll()
    assert [type(e) for e in polled] == [OrderFilled]  # the session flags the overfill
    queued.clear()
    assert venue.query(placed.client_order_id).filled_qty == 0  # type: ignore[union-attr]


def test_fills_of_other_orders_and_orders_kraken_does_not_return_are_left_alone(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", limit="30000", clock=clock)
    txid = venue.submit(placed)[1].venue_order_id  # type: ignore[union-attr]
    fake.book.add_order({"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                         "volume": "0.01"})  # fmt: skip  # someone else's fill
    kept = fake.book.orders.pop(txid)  # QueryOrders does not return it this time
    assert venue.poll() == []
    filled = order("buy", "0.01", clock=clock)  # filled: the fills are read, others' skipped
    venue.submit(filled)
    assert [e.client_order_id for e in venue.poll()] == [filled.client_order_id]
    fake.book.orders[txid] = kept
    assert venue.query(placed.client_order_id).status is OrderStatus.ACCEPTED  # type: ignore[union-attr]


def test_fills_are_read_across_trade_history_pages(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = []
    for _ in range(120):  # > 50 fills between two polls: Kraken serves the newest 50 a page
        placed.append(order("buy", "0.01", clock=clock))
        venue.submit(placed[-1])
        clock.advance_by(10**9)
    ours = set(fake.book.trades)
    fake.inject("TradesHistory", FakeFault.PASS, FakeFault.INSERT_TRADES)  # rows shift mid-read
    fills = [e for e in venue.poll() if isinstance(e, OrderFilled)]
    assert sorted(f.trade_id for f in fills) == sorted(ours)  # none missed, none twice
    assert len(fills) == 120
    assert len(venue.trades_since(None)) == 120 + fake.insert_trades
    assert len(venue.trades_since(fills[-1].trade_id)) == fake.insert_trades
    assert {venue.query(o.client_order_id).status for o in placed} == {  # type: ignore[union-attr]
        OrderStatus.FILLED
    }


def test_every_name_kraken_gives_a_pair_maps_to_its_instrument(
    make_venue: Any, fake: FakeKraken, clock: SimClock
) -> None:
    fake.book.add_pair("XXBTZUSD", "XXBT", "ZUSD", Decimal("40000"))  # the pair's key name
    fake.book.add_order({"pair": "XXBTZUSD", "type": "buy", "ordertype": "market",
                         "volume": "0.01", "cl_ord_id": "elsewhere"})  # fmt: skip
    venue: KrakenVenue = make_venue()
    fills = venue.trades_since(None)
    assert [(f.client_order_id, f.instrument) for f in fills] == [("elsewhere", BTC)]
    assert fills[0].liquidity.value == "taker"
