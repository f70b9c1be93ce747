"""Order lifecycle: every table entry, every forbidden pair, dedup and the real-world oddities."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from quant_core import Instrument
from quant_core.errors import RejectedError, ValidationError
from quant_exec import reasons
from quant_exec.errors import InvalidTransitionError, OrderError
from quant_exec.orders import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    EventKind,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderState,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
    apply,
    event_from_record,
    new_state,
)

BTC = Instrument("BTC", "USD")
ORDER = Order.create(BTC, Side.BUY, "1", ts_init=0, sequence=1)
CID = ORDER.client_order_id
S = OrderStatus


def fill(trade_id: str, qty: str, price: str = "100", fee: str = "0.1") -> OrderFilled:
    return OrderFilled(CID, BTC, Side.BUY, trade_id, price, qty, fee, ts_event=5, ts_init=5)


def event_for(kind: EventKind, state: OrderState) -> OrderEvent:
    """An event of ``kind`` valid to apply to ``state`` (fills sized to the kind)."""
    simple: dict[EventKind, OrderEvent] = {
        EventKind.DENY: OrderDenied(CID, ts_event=1, ts_init=1, reason_code="RISK_DRAWDOWN"),
        EventKind.SUBMIT: OrderSubmitted(CID, ts_event=1, ts_init=1),
        EventKind.ACCEPT: OrderAccepted(CID, ts_event=2, ts_init=2),
        EventKind.REJECT: OrderRejected(CID, ts_event=2, ts_init=2),
        EventKind.CANCEL_REQUEST: OrderCancelRequested(CID, ts_event=3, ts_init=3),
        EventKind.CANCEL_REJECT: OrderCancelRejected(CID, ts_event=4, ts_init=4),
        EventKind.CANCEL: OrderCanceled(CID, ts_event=4, ts_init=4),
        EventKind.EXPIRE: OrderExpired(CID, ts_event=4, ts_init=4),
    }
    if kind is EventKind.FILL_FINAL:
        return fill("final", str(state.leaves_qty))
    if kind is EventKind.FILL_PARTIAL:
        return fill("partial", str(state.leaves_qty / 4))
    return simple[kind]


def state_in(status: OrderStatus, filled: Decimal = Decimal(0)) -> OrderState:
    return attrs.evolve(new_state(ORDER), status=status, filled_qty=filled)


@pytest.mark.parametrize(("key", "target"), sorted(TRANSITIONS.items(), key=str))
def test_every_table_entry_is_honoured(
    key: tuple[OrderStatus, EventKind], target: OrderStatus
) -> None:
    status, kind = key
    # FILLED orders have no open quantity; any other state gets half filled where it matters
    filled = Decimal("0.5") if status in {S.PARTIALLY_FILLED, S.CANCELED, S.EXPIRED} else 0
    before = state_in(status, Decimal(filled))
    event = event_for(kind, before)
    assert event.kind(before) is kind
    after = apply(before, event)
    assert after.status is target
    assert before.status is status  # states are values: the input is untouched


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (s, k)
        for s, k in itertools.product(OrderStatus, EventKind)
        if (s, k) not in TRANSITIONS and s is not S.FILLED
    ],
)
def test_every_pair_outside_the_table_is_an_error(status: OrderStatus, kind: EventKind) -> None:
    before = state_in(status)
    event = event_for(kind, before)
    with pytest.raises(InvalidTransitionError) as err:
        apply(before, event)
    assert err.value.reason_code == reasons.ORDER_INVALID_TRANSITION
    assert isinstance(err.value, RejectedError)


def test_filled_orders_refuse_everything_but_a_late_ack_or_cancel_reject() -> None:
    done = state_in(S.FILLED, Decimal(1))
    for kind in EventKind:
        if kind in {EventKind.FILL_PARTIAL, EventKind.FILL_FINAL}:
            with pytest.raises(OrderError):  # nothing left to fill: overfill or no transition
                apply(done, fill("x", "0.1"))
        elif kind in {EventKind.ACCEPT, EventKind.CANCEL_REJECT}:  # absorbed (decision 0097)
            after = apply(done, event_for(kind, done))
            assert (after.status, after.reason_code) == (S.FILLED, done.reason_code)
        else:
            with pytest.raises(InvalidTransitionError):
                apply(done, event_for(kind, done))


def test_terminal_statuses_have_no_outgoing_cancel_or_submit() -> None:
    for status in TERMINAL_STATUSES:
        for kind in (EventKind.SUBMIT, EventKind.CANCEL_REQUEST, EventKind.CANCEL):
            assert (status, kind) not in TRANSITIONS


def test_happy_path_with_partial_fills_and_average_price() -> None:
    s = new_state(ORDER)
    s = apply(s, OrderSubmitted(CID, ts_event=1, ts_init=1))
    s = apply(s, OrderAccepted(CID, ts_event=2, ts_init=2))
    s = apply(s, fill("t1", "0.25", price="100", fee="0.1"))
    assert s.status is S.PARTIALLY_FILLED
    s = apply(s, fill("t2", "0.75", price="104", fee="0.3"))
    assert s.status is S.FILLED
    assert s.filled_qty == 1
    assert s.leaves_qty == 0
    assert s.avg_price == Decimal("103")  # (0.25*100 + 0.75*104) / 1
    assert s.fees == Decimal("0.4")
    assert s.trade_ids == ("t1", "t2")
    assert not s.is_open


def test_duplicate_fill_is_ignored_and_returns_the_same_state() -> None:
    s = apply(new_state(ORDER), OrderSubmitted(CID, ts_event=1, ts_init=1))
    s = apply(s, fill("t1", "0.5"))
    assert apply(s, fill("t1", "0.5")) is s
    # even a duplicate that would overfill is recognised as the same trade first
    assert apply(s, fill("t1", "0.9")) is s


def test_fill_after_cancel_request_then_cancel_confirm() -> None:
    s = apply(new_state(ORDER), OrderSubmitted(CID, ts_event=1, ts_init=1))
    s = apply(s, OrderAccepted(CID, ts_event=2, ts_init=2))
    s = apply(s, OrderCancelRequested(CID, ts_event=3, ts_init=3))
    s = apply(s, fill("t1", "0.4"))
    assert s.status is S.PENDING_CANCEL
    s = apply(s, OrderCanceled(CID, ts_event=6, ts_init=6))
    assert s.status is S.CANCELED
    assert s.filled_qty == Decimal("0.4")
    # a late fill after the confirm is still booked, and completing it makes it FILLED
    s = apply(s, fill("t2", "0.1"))
    assert s.status is S.CANCELED
    s = apply(s, fill("t3", "0.5"))
    assert s.status is S.FILLED


def test_cancel_rejected_returns_to_the_right_working_state() -> None:
    s = apply(new_state(ORDER), OrderSubmitted(CID, ts_event=1, ts_init=1))
    s = apply(s, OrderCancelRequested(CID, ts_event=2, ts_init=2))
    assert apply(s, OrderCancelRejected(CID, ts_event=3, ts_init=3)).status is S.ACCEPTED
    s = apply(s, fill("t1", "0.5"))
    assert apply(s, OrderCancelRejected(CID, ts_event=3, ts_init=3)).status is (S.PARTIALLY_FILLED)


def test_fill_overtaking_the_ack_then_late_ack() -> None:
    s = apply(new_state(ORDER), OrderSubmitted(CID, ts_event=1, ts_init=1))
    s = apply(s, fill("t1", "0.5"))
    assert s.status is S.PARTIALLY_FILLED
    assert apply(s, OrderAccepted(CID, ts_event=2, ts_init=2)).status is S.PARTIALLY_FILLED


def test_reasons_are_recorded() -> None:
    s = apply(new_state(ORDER), OrderDenied(CID, ts_event=1, ts_init=1, reason_code="RISK_NO_MARK"))
    assert s.status is S.DENIED
    assert s.reason_code == "RISK_NO_MARK"
    s = apply(state_in(S.SUBMITTED), OrderRejected(CID, ts_event=1, ts_init=1))
    assert s.reason_code == reasons.ORDER_INVALID


def test_overfill_and_mismatched_events_are_refused() -> None:
    s = apply(new_state(ORDER), OrderSubmitted(CID, ts_event=1, ts_init=1))
    with pytest.raises(OrderError) as err:
        apply(s, fill("t1", "1.5"))
    assert err.value.reason_code == reasons.ORDER_OVERFILL
    eth = OrderFilled(
        CID, Instrument("ETH", "USD"), "buy", "t9", "1", "0.1", "0", ts_event=1, ts_init=1
    )
    with pytest.raises(OrderError) as err:
        apply(s, eth)
    assert err.value.reason_code == reasons.ORDER_EVENT_MISMATCH
    sell = OrderFilled(CID, BTC, "sell", "t9", "1", "0.1", "0", ts_event=1, ts_init=1)
    with pytest.raises(OrderError):
        apply(s, sell)
    with pytest.raises(OrderError) as err:
        apply(s, OrderAccepted("O-other", ts_event=1, ts_init=1))
    assert err.value.reason_code == reasons.ORDER_EVENT_MISMATCH


def test_order_validation() -> None:
    with pytest.raises(OrderError):
        Order.create(BTC, Side.BUY, "0", ts_init=0, sequence=1)
    with pytest.raises(OrderError):
        Order.create(BTC, Side.BUY, "1", ts_init=0, sequence=1, order_type=OrderType.LIMIT)
    with pytest.raises(OrderError):
        Order.create(BTC, Side.BUY, "1", ts_init=0, sequence=1, limit_price="10")
    with pytest.raises(OrderError):
        Order.create(BTC, "buy", "1", ts_init=0, sequence=1, order_type="limit", limit_price="-1")
    with pytest.raises(OrderError):
        OrderFilled(CID, BTC, "buy", "t", "1", "1", "-0.01", ts_event=0, ts_init=0)
    with pytest.raises(OrderError):
        OrderFilled(CID, BTC, "buy", "t", "0", "1", "0", ts_event=0, ts_init=0)


def test_client_order_id_depends_on_content_and_sequence() -> None:
    a = Order.create(BTC, Side.BUY, "1", ts_init=0, sequence=1)
    assert a == Order.create(BTC, "buy", Decimal("1"), ts_init=0, sequence=1)
    assert (
        a.client_order_id != Order.create(BTC, Side.BUY, "1", ts_init=0, sequence=2).client_order_id
    )
    assert (
        a.client_order_id
        != Order.create(BTC, Side.SELL, "1", ts_init=0, sequence=1).client_order_id
    )
    limit = Order.create(
        BTC, "buy", "1", ts_init=0, sequence=1, order_type="limit", limit_price="5"
    )
    assert limit.limit_price == 5
    assert limit.client_order_id != a.client_order_id


def test_the_concept_page_lists_exactly_the_transition_table() -> None:
    """docs/concepts/order-lifecycle.md spells the table out; it must match the code."""
    page = Path(__file__).parents[3] / "docs" / "concepts" / "order-lifecycle.md"
    block = page.read_text().split("## The table", 1)[1].split("```")[1]
    documented: dict[tuple[OrderStatus, EventKind], OrderStatus] = {}
    for line in block.strip().splitlines():
        match = re.fullmatch(r"(\S+)\s+--(\S+)-->\s+(.*)", line.strip())
        assert match, line
        sources, kinds, rest = match.groups()
        rest = rest.split("(")[0]
        targets = [t.strip() for t in re.split(r"[|,]", rest) if t.strip()]
        targets = [t.split()[0] for t in targets if t.split()[0].isupper() or t == "unchanged"]
        for source in sources.split("|"):
            for i, kind in enumerate(kinds.split("|")):
                target = targets[i] if len(targets) == len(kinds.split("|")) else targets[0]
                status = OrderStatus[source]
                documented[(status, EventKind(kind))] = (
                    status if target == "unchanged" else OrderStatus[target]
                )
    assert documented == dict(TRANSITIONS)


@pytest.mark.parametrize("kind", list(EventKind), ids=lambda k: k.value)
def test_every_event_reads_back_from_its_record(kind: EventKind) -> None:
    event = event_for(kind, state_in(S.ACCEPTED))
    record = event.to_record()
    again = event_from_record(json.loads(json.dumps(record)))  # as a log line holds it
    assert again == event
    assert type(again) is type(event)


def test_a_record_that_is_not_an_event_is_refused() -> None:
    good = OrderSubmitted(CID, ts_event=1, ts_init=1).to_record()
    for bad, code in (
        ({**good, "event": "OrderTeleported"}, "INVALID_INPUT"),
        ({k: v for k, v in good.items() if k != "event"}, "INVALID_INPUT"),
        ({**good, "colour": "red"}, "UNKNOWN_KEY"),
        ({**good, "ts_event": "soon"}, "INVALID_INPUT"),
    ):
        with pytest.raises(ValidationError) as caught:
            event_from_record(bad)
        assert caught.value.reason_code == code
