"""Unknown AddOrder outcomes on KrakenVenue (RT-02): nothing is resent until a query decides."""

from __future__ import annotations

from tests.quant_exec.kraken.venue._harness import drop_next_txid, names, only, order

from quant_core import SimClock
from quant_exec.orders import OrderRejected, OrderStatus
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken


def test_an_order_placed_before_the_answer_was_lost_is_adopted(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("AddOrder", FakeFault.ACCEPT_THEN_500)
    placed = order("buy", "0.1", clock=clock)
    assert names(venue.submit(placed)) == ["OrderSubmitted"]
    assert venue.query(placed.client_order_id).status is OrderStatus.SUBMITTED  # type: ignore[union-attr]
    assert names(venue.poll()) == ["OrderAccepted", "OrderFilled"]
    assert fake.calls.count("AddOrder") == 1
    assert len(fake.book.orders) == 1


def test_a_timed_out_order_is_adopted_not_resent(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("AddOrder", FakeFault.ACCEPT_THEN_TIMEOUT)
    placed = order("buy", "0.1", limit="30000", clock=clock)
    assert names(venue.submit(placed)) == ["OrderSubmitted"]
    assert names(venue.poll()) == ["OrderAccepted"]
    assert fake.calls.count("AddOrder") == 1


def test_an_order_kraken_never_got_is_rejected_after_the_query(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("AddOrder", FakeFault.SERVICE_BUSY)
    placed = order("buy", "0.1", clock=clock)
    assert names(venue.submit(placed)) == ["OrderSubmitted"]
    polled = venue.poll()
    assert [e.reason_code for e in only(list(polled), OrderRejected)] == ["KRAKEN_ORDER_ABSENT"]
    assert fake.calls.count("AddOrder") == 1
    assert fake.book.orders == {}
    assert venue.poll() == []


def test_a_failed_query_leaves_the_outcome_unknown_for_the_next_poll(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("AddOrder", FakeFault.ACCEPT_THEN_500)
    fake.inject("OpenOrders", *[FakeFault.SERVICE_UNAVAILABLE] * 3)
    placed = order("buy", "0.1", clock=clock)
    venue.submit(placed)
    assert venue.poll() == []
    assert [a.reason_code for a in venue.alarms] == ["KRAKEN_POLL_FAILED"]
    assert names(venue.poll()) == ["OrderAccepted", "OrderFilled"]
    assert fake.calls.count("AddOrder") == 1


def test_a_cancel_of_an_unknown_outcome_goes_by_client_order_id(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("AddOrder", FakeFault.HTTP_500)  # never placed
    placed = order("buy", "0.1", limit="30000", clock=clock)
    venue.submit(placed)
    assert names(venue.cancel(placed.client_order_id)) == ["OrderCancelRequested"]
    rejected = only(list(venue.poll()), OrderRejected)
    assert [r.reason_code for r in rejected] == ["KRAKEN_ORDER_ABSENT"]
    fake.inject("AddOrder", FakeFault.ACCEPT_THEN_500)  # placed
    other = order("buy", "0.1", limit="30000", clock=clock)
    venue.submit(other)
    assert names(venue.cancel(other.client_order_id)) == ["OrderCancelRequested"]
    assert names(venue.poll()) == ["OrderAccepted", "OrderCanceled"]
    assert fake.calls.count("AddOrder") == 2


def test_an_answer_without_a_txid_is_resolved_by_query(
    venue: KrakenVenue, fake: FakeKraken, clock: SimClock
) -> None:
    placed = order("buy", "0.1", limit="30000", clock=clock)
    drop_next_txid(fake)  # a well-formed answer naming no order (as a dry run's does)
    assert names(venue.submit(placed)) == ["OrderSubmitted"]
    assert names(venue.poll()) == ["OrderAccepted"]
