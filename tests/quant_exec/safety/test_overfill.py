"""Overfills (filled > ordered) are flagged OVERFILL: booked, logged, the instrument halted."""

from __future__ import annotations

from decimal import Decimal

from tests.quant_exec.safety._venue import ETH, ScriptedVenue, scripted_session

from quant_core import Bar
from quant_exec import reasons
from quant_exec.orders import OrderFilled, OrderStatus
from quant_exec.session import TradingSession


def _first_working(session: TradingSession, bars: list[list[Bar]]) -> tuple[int, str]:
    for i, group in enumerate(bars):
        session.on_bars(group)
        if session.orders:
            return i, next(iter(session.orders))
    raise AssertionError("the example run places orders")


def _fill(session: TradingSession, oid: str, trade_id: str, quantity: Decimal | str) -> OrderFilled:
    order = (session.orders.get(oid) or session.done[oid]).order
    return OrderFilled(
        oid, order.instrument, order.side, trade_id, "1", quantity, "0", ts_event=9, ts_init=9
    )


def _inject_and_poll(session: TradingSession, venue: ScriptedVenue, *events: OrderFilled) -> None:
    venue.inject(*events)
    session.heartbeat(session.clock.now_ns())


def test_a_fill_beyond_the_open_quantity_is_an_overfill() -> None:
    session, venue, bars = scripted_session()
    i, oid = _first_working(session, bars)
    quantity = session.orders[oid].order.quantity
    big = _fill(session, oid, "over-1", quantity * 2)
    cash = session.ledger.cash
    _inject_and_poll(session, venue, big)
    state = session.done[oid]
    assert oid not in session.orders
    assert (state.status, state.filled_qty, state.reason_code) == (
        OrderStatus.FILLED,
        quantity * 2,
        reasons.OVERFILL,
    )
    assert state.trade_ids == ("over-1",)
    (line,) = [r for r in session.log.risk if r["change"] == "instrument_halt"]
    assert (line["reason_code"], line["booked"]) == (reasons.OVERFILL, True)
    assert session.ledger.cash == cash - quantity * 2  # booked at the venue's price, fee 0
    assert session.log.orders[-1]["status"] == "filled"
    assert session.guard.halted == {ETH: reasons.OVERFILL}
    # the same trade again changes nothing; the rest of the run never crashes
    _inject_and_poll(session, venue, big)
    assert session.done[oid] is state
    for group in bars[i + 1 :]:
        session.on_bars(group)
    assert not [s for s in session.orders.values() if s.order.instrument == ETH]
    assert session.fills[0].reason_code == reasons.OVERFILL


def test_a_fill_after_the_order_is_filled_is_an_overfill() -> None:
    session, venue, bars = scripted_session()
    for group in bars:
        session.on_bars(group)
    oid, done = next((k, s) for k, s in session.done.items() if s.status is OrderStatus.FILLED)
    _inject_and_poll(session, venue, _fill(session, oid, "over-2", "0.001"))
    after = session.done[oid]
    assert after.filled_qty - done.filled_qty == Decimal("0.001")
    assert (after.status, after.trade_ids[-1]) == (OrderStatus.FILLED, "over-2")
    assert session.guard.halted == {done.order.instrument: reasons.OVERFILL}
