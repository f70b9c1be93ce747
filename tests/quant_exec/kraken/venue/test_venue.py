"""KrakenVenue against the fake exchange over real HTTP: orders, cancels, polls, reads."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.quant_exec.kraken.venue._harness import ETH, names, only, order

from quant_core import Instrument, SimClock
from quant_exec.errors import OrderError, UnknownOrderError
from quant_exec.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
    OrderStatus,
)
from quant_exec.venues import ExecutionVenue
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import ProviderError


def test_a_market_order_is_accepted_then_filled_by_the_poll(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", clock=clock)
    events = venue.submit(placed)
    assert names(events) == ["OrderSubmitted", "OrderAccepted"]
    txid = events[1].venue_order_id  # type: ignore[union-attr]
    assert fake.book.orders[txid]["cl_ord_id"] == KrakenVenue.kraken_id(placed.client_order_id)
    polled = venue.poll()
    assert names(polled) == ["OrderFilled"]
    fill = polled[0]
    assert isinstance(fill, OrderFilled)
    trade = fake.book.trades[fill.trade_id]
    assert (fill.price, fill.quantity, fill.fee) == (
        Decimal(trade["price"]),
        Decimal(trade["vol"]),
        Decimal(trade["fee"]),
    )
    assert venue.poll() == []  # settled: nothing more is read
    assert venue.query(placed.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert venue.balances()["BTC"] == Decimal("0.1")
    assert venue.on_bar(None, cash_available=None) == []  # type: ignore[arg-type]
    assert venue.throttle.wait_ns() == 0
    assert "KrakenVenue(orders=1" in repr(venue)


def test_the_venue_satisfies_the_session_protocol(venue: KrakenVenue) -> None:
    seam: ExecutionVenue = venue
    assert seam.open_orders() == []


def test_a_resting_limit_order_is_canceled_after_its_partial_fill(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    fake.book.partial_fill = Decimal("0.5")
    placed = order("buy", "0.2", limit="41000", clock=clock)  # crosses: half fills at once
    venue.submit(placed)
    assert [s.client_order_id for s in venue.open_orders()] == [placed.client_order_id]
    requested = venue.cancel(placed.client_order_id)
    assert names(requested) == ["OrderCancelRequested"]
    polled = venue.poll()
    assert names(polled) == ["OrderFilled", "OrderCanceled"]  # the fill that beat the cancel
    state = venue.query(placed.client_order_id)
    assert state is not None
    assert (state.status, state.filled_qty) == (OrderStatus.CANCELED, Decimal("0.1"))
    assert venue.cancel(placed.client_order_id) == []  # done
    assert venue.open_orders() == []


def test_a_resting_order_fills_when_the_price_crosses(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", limit="39000", clock=clock)
    venue.submit(placed)
    assert venue.poll() == []  # resting: read, nothing new
    fake.book.set_price("XBTUSD", Decimal("38900"))
    clock.advance_by(10**9)
    fill = only(list(venue.poll()), OrderFilled)
    assert [f.price for f in fill] == [Decimal("39000")]
    assert venue.query(placed.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_a_duplicate_submit_and_an_unknown_cancel_are_usage_errors(
    venue: KrakenVenue, clock: SimClock
) -> None:
    placed = order(clock=clock)
    venue.submit(placed)
    with pytest.raises(OrderError) as refused:
        venue.submit(placed)
    assert refused.value.reason_code == "ORDER_DUPLICATE"
    with pytest.raises(UnknownOrderError):
        venue.cancel("O-never")


def test_an_instrument_without_a_pair_is_rejected_without_a_call(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    sol = order(instrument=Instrument("SOL", "USD"), clock=clock)
    events = venue.submit(sol)
    assert names(events) == ["OrderSubmitted", "OrderRejected"]
    assert events[1].reason_code == "KRAKEN_PAIR_UNKNOWN"  # type: ignore[union-attr]
    assert "AddOrder" not in fake.calls


def test_a_refused_cancel_keeps_the_order_working(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", limit="30000", clock=clock)
    venue.submit(placed)
    fake.inject("CancelOrder", FakeFault.SERVICE_UNAVAILABLE)
    events = venue.cancel(placed.client_order_id)  # EService: unknown outcome: poll reads it
    assert names(events) == ["OrderCancelRequested"]
    assert venue.poll() == []  # Kraken still has it open
    fake.inject("CancelOrder", FakeFault.THROTTLED)
    clock.advance_by(10**9)
    again = venue.cancel(placed.client_order_id)  # asked again: refused (throttled)
    assert names(again) == ["OrderCancelRequested", "OrderCancelRejected"]
    state = venue.query(placed.client_order_id)
    assert state is not None
    assert state.status is OrderStatus.ACCEPTED
    paused = venue.cancel(placed.client_order_id)  # paused: nothing sent, refused at once
    assert [e.reason_code for e in only(list(paused), OrderCancelRejected)] == ["KRAKEN_PAUSED"]


def test_a_definitive_cancel_refusal_is_a_cancel_reject(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", limit="30000", clock=clock)
    venue.submit(placed)
    fake.permissions = fake.permissions - {"cancel_orders"}
    events = venue.cancel(placed.client_order_id)
    assert names(events) == ["OrderCancelRequested", "OrderCancelRejected"]
    rejected = only(list(events), OrderCancelRejected)[0]
    assert rejected.reason_code == "VENUE_PERMISSION_DENIED"
    assert venue.query(placed.client_order_id).status is OrderStatus.ACCEPTED  # type: ignore[union-attr]


def test_a_cancel_of_an_order_kraken_already_finished_is_settled_by_the_poll(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", clock=clock)  # a market order: filled at once
    venue.submit(placed)
    assert names(venue.cancel(placed.client_order_id)) == ["OrderCancelRequested"]
    assert names(venue.poll()) == ["OrderFilled"]  # EOrder:Unknown order, then the fill
    assert venue.query(placed.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_a_fresh_venue_adopts_orders_and_fills_it_did_not_send(
    make_venue: object, venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    fake.book.partial_fill = Decimal("0.5")
    resting = order("buy", "0.2", limit="41000", clock=clock)
    done = order("sell", "1", instrument=ETH, clock=clock)
    venue.submit(resting)
    fake.book.partial_fill = None
    venue.submit(done)
    fake.book.add_order({"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                         "volume": "0.01", "price": "100"})  # fmt: skip  # no cl_ord_id
    restarted: KrakenVenue = make_venue()  # type: ignore[operator]
    open_now = restarted.open_orders()
    assert [s.client_order_id for s in open_now] == [resting.client_order_id, ""]
    adopted = open_now[0]
    assert (adopted.status, adopted.filled_qty) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.1"))
    assert len(adopted.trade_ids) == 1
    state = restarted.query(done.client_order_id)
    assert state is not None
    assert state.status is OrderStatus.FILLED
    assert restarted.query("O-never") is None
    fake.book.set_price("XBTUSD", Decimal("40500"))  # the adopted order fills the rest
    clock.advance_by(10**9)
    fills = only(list(restarted.poll()), OrderFilled)
    assert [(f.client_order_id, f.quantity) for f in fills] == [
        (resting.client_order_id, Decimal("0.1"))
    ]


def test_trades_since_gives_the_fills_after_a_trade_id(
    venue: KrakenVenue, make_venue: object, fake: FakeKraken, clock: SimClock
) -> None:
    first, second = order("buy", "0.1", clock=clock), order("sell", "1", instrument=ETH)
    venue.submit(first)
    clock.advance_by(10**9)
    venue.submit(second)
    fake.book.add_order({"pair": "ETHUSD", "type": "sell", "ordertype": "market",
                         "volume": "0.5"})  # fmt: skip  # placed elsewhere, no cl_ord_id
    every = venue.trades_since(None)
    assert [f.client_order_id for f in every] == [
        first.client_order_id,
        second.client_order_id,
        "",
    ]
    after = venue.trades_since(every[0].trade_id)
    assert [f.trade_id for f in after] == [f.trade_id for f in every[1:]]
    assert venue.trades_since("T-unknown") == every
    restarted: KrakenVenue = make_venue()  # type: ignore[operator]
    assert [f.client_order_id for f in restarted.trades_since(None)] == [
        f.client_order_id for f in every
    ]
    fake.inject("TradesHistory", FakeFault.LOCKOUT)  # a refusal other than "no such trade"
    with pytest.raises(ProviderError):
        venue.trades_since(every[0].trade_id)


def test_fills_and_orders_on_pairs_without_an_instrument_are_alarms(
    make_venue: object, fake: FakeKraken, clock: SimClock
) -> None:
    fake.book.add_pair("SOLUSD", "SOL", "ZUSD", Decimal("100"))
    fake.book.add_order({"pair": "SOLUSD", "type": "buy", "ordertype": "market",
                         "volume": "1", "cl_ord_id": "elsewhere"})  # fmt: skip
    fake.book.add_order({"pair": "SOLUSD", "type": "buy", "ordertype": "limit",
                         "volume": "1", "price": "1"})  # fmt: skip
    venue: KrakenVenue = make_venue()  # type: ignore[operator]
    assert venue.trades_since(None) == []
    assert venue.open_orders() == []
    assert [a.reason_code for a in venue.alarms] == ["KRAKEN_PAIR_UNKNOWN"] * 2


def test_the_balances_use_the_sessions_asset_codes(venue: KrakenVenue, fake: FakeKraken) -> None:
    fake.book.balances["XXRP"] = Decimal("5")
    assert venue.balances() == {
        "BTC": Decimal("0"),
        "ETH": Decimal("10"),
        "USD": Decimal("100000"),
        "XXRP": Decimal("5"),
    }


def test_a_failed_poll_read_is_an_alarm_and_the_next_poll_catches_up(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", clock=clock)
    venue.submit(placed)
    fake.inject("QueryOrders", FakeFault.HTTP_500, FakeFault.HTTP_500, FakeFault.HTTP_500)
    assert venue.poll() == []
    assert [a.reason_code for a in venue.alarms] == ["KRAKEN_POLL_FAILED"]
    assert names(venue.poll()) == ["OrderFilled"]


def test_a_venue_initiated_cancel_is_read_by_the_poll(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", limit="30000", clock=clock)
    txid = venue.submit(placed)[1].venue_order_id  # type: ignore[union-attr]
    fake.book.orders[txid].update(status="expired", closetm="1700000001")
    polled = venue.poll()
    assert names(polled) == ["OrderExpired"]
    assert venue.poll() == []
    other = order("buy", "0.1", limit="30000", clock=clock)
    txid = venue.submit(other)[1].venue_order_id  # type: ignore[union-attr]
    fake.book.cancel_order({"txid": txid})
    assert only(list(venue.poll()), OrderCanceled)[0].client_order_id == other.client_order_id


def test_an_accepted_order_is_acknowledged_once(venue: KrakenVenue, clock: SimClock) -> None:
    placed = order("buy", "0.1", limit="30000", clock=clock)
    events = venue.submit(placed)
    assert len(only(list(events), OrderAccepted)) == 1
    assert only(list(venue.poll()), OrderAccepted) == []
    assert only(list(events), OrderRejected) == []
