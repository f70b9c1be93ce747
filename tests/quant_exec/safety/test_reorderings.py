"""Legal reorderings of venue events are absorbed, never raised (decision 0097, RT-05).

One test per reordering the issue names, then a property: every permutation of one order's
venue events (with duplicated fills anywhere) ends in the same order state and the same
ledger, and never raises.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.quant_exec.safety._venue import scripted_session

from quant_core import Instrument
from quant_exec import reasons
from quant_exec.ledger import Ledger
from quant_exec.orders import (
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderState,
    OrderStatus,
    OrderSubmitted,
    apply,
    new_state,
)

BTC = Instrument("BTC", "USD")
ORDER = Order.create(BTC, "buy", "1", ts_init=0, sequence=1)
OID = ORDER.client_order_id
S = OrderStatus


def submit() -> OrderSubmitted:
    return OrderSubmitted(OID, ts_event=1, ts_init=1)


def ack() -> OrderAccepted:
    return OrderAccepted(OID, ts_event=2, ts_init=2, venue_order_id="V-1")


def cancel_request() -> OrderCancelRequested:
    return OrderCancelRequested(OID, ts_event=3, ts_init=3)


def cancel_ack() -> OrderCanceled:
    return OrderCanceled(OID, ts_event=4, ts_init=4)


def cancel_reject() -> OrderCancelRejected:
    return OrderCancelRejected(OID, ts_event=5, ts_init=5)


def fill(trade_id: str, quantity: str, price: str = "100") -> OrderFilled:
    return OrderFilled(OID, BTC, "buy", trade_id, price, quantity, "0.1", ts_event=6, ts_init=6)


def fold(*events: OrderEvent) -> OrderState:
    state = new_state(ORDER)
    for event in events:
        state = apply(state, event)
    return state


def test_an_ack_after_the_cancel_ack_is_absorbed() -> None:
    canceled = fold(submit(), cancel_request(), cancel_ack())
    after = apply(canceled, ack())
    assert (after.status, after.reason_code, after.filled_qty) == (S.CANCELED, None, Decimal(0))


def test_an_ack_after_the_expiry_is_absorbed() -> None:
    assert apply(fold(submit(), OrderExpired(OID, ts_event=4, ts_init=4)), ack()).status is (
        S.EXPIRED
    )


def test_a_cancel_reject_after_the_final_fill_is_absorbed() -> None:
    filled = fold(submit(), ack(), cancel_request(), fill("t-1", "1"))
    assert filled.status is S.FILLED
    after = apply(filled, cancel_reject())
    assert (after.status, after.reason_code, after.filled_qty) == (S.FILLED, None, Decimal(1))


def test_a_cancel_reject_after_the_cancel_ack_is_absorbed() -> None:
    canceled = fold(submit(), ack(), cancel_request(), cancel_ack())
    assert apply(canceled, cancel_reject()).status is S.CANCELED


def test_a_fill_before_the_ack_is_booked_and_the_ack_absorbed() -> None:
    early = fold(submit(), fill("t-1", "0.4"))
    assert (early.status, early.filled_qty) == (S.PARTIALLY_FILLED, Decimal("0.4"))
    late = apply(early, ack())
    assert late.status is S.PARTIALLY_FILLED
    assert apply(late, fill("t-2", "0.6")).status is S.FILLED


def test_a_cancel_reject_on_a_working_order_still_records_its_reason() -> None:
    refused = fold(submit(), ack(), cancel_request(), cancel_reject())
    assert (refused.status, refused.reason_code) == (S.ACCEPTED, reasons.ORDER_INVALID_TRANSITION)


def test_late_acks_and_cancel_rejects_reach_the_session_without_a_crash() -> None:
    session, venue, bars = scripted_session()
    for group in bars:
        session.on_bars(group)
    oid = next(k for k, s in session.done.items() if s.status is S.FILLED)
    before = session.done[oid]
    venue.inject(
        OrderAccepted(oid, ts_event=1, ts_init=1), OrderCancelRejected(oid, ts_event=2, ts_init=2)
    )
    session.heartbeat(session.clock.now_ns())
    assert [line["status"] for line in session.log.orders[-2:]] == ["filled", "filled"]
    assert session.done[oid].filled_qty == before.filled_qty
    assert session.log.risk == ()


# --- every ordering of one order's venue events --------------------------------------------

FILLS = (fill("t-1", "0.4", "100"), fill("t-2", "0.6", "101"))
SCENARIOS = {
    # the cancel lost the race: the venue refused it because the last fill came first
    "cancel_lost": ((submit(), cancel_request()), (ack(), *FILLS, cancel_reject()), S.FILLED),
    # the cancel won after one partial fill (which may even arrive after the cancel ack)
    "cancel_won": ((submit(), cancel_request()), (ack(), FILLS[0], cancel_ack()), S.CANCELED),
    # no cancel: the fills may overtake the ack
    "no_cancel": ((submit(),), (ack(), *FILLS), S.FILLED),
}


def _book(events: list[OrderEvent]) -> tuple[OrderState, Ledger]:
    state, ledger = new_state(ORDER), Ledger("USD", 1000)
    for event in events:
        state = apply(state, event)
        ledger.apply(event)
    return state, ledger


@settings(max_examples=200, derandomize=True)
@given(st.data(), st.sampled_from(sorted(SCENARIOS)))
def test_every_ordering_ends_in_the_same_state_and_ledger(data: st.DataObject, name: str) -> None:
    prefix, venue_events, final = SCENARIOS[name]
    ordering = data.draw(st.permutations(venue_events))
    fills = [e for e in venue_events if isinstance(e, OrderFilled)]
    for copy in data.draw(st.lists(st.sampled_from(fills), max_size=3)):  # duplicates anywhere
        ordering.insert(data.draw(st.integers(0, len(ordering))), copy)
    state, ledger = _book([*prefix, *ordering])
    reference, expected = _book([*prefix, *venue_events])
    assert state.status is final is reference.status
    assert (state.filled_qty, state.fees) == (reference.filled_qty, reference.fees)
    assert sorted(state.trade_ids) == sorted(reference.trade_ids)
    assert (ledger.cash, dict(ledger.positions)) == (expected.cash, dict(expected.positions))
    assert ledger.fees_paid == expected.fees_paid
