"""A fill of a known order that the ledger cannot fold: unreconciled, halted, never a crash."""

from __future__ import annotations

from tests.quant_exec.safety._venue import ETH, scripted_session

from quant_exec import reasons
from quant_exec.orders import OrderFilled, OrderStatus, Side


def test_a_buy_fill_the_cash_cannot_pay_is_held_unreconciled_and_halts() -> None:
    session, venue, bars = scripted_session()
    seen = 0
    while not [s for s in session.orders.values() if s.order.side is Side.BUY]:
        session.on_bars(bars[seen])
        seen += 1
    order = next(iter(session.orders.values())).order
    cash, entries = session.ledger.cash, session.ledger.entries
    dear = OrderFilled(
        order.client_order_id, ETH, "buy", "dear-1", "1000000000", order.quantity, "0",
        ts_event=9, ts_init=9,
    )  # fmt: skip
    venue.inject(dear, dear)  # delivered twice: held once
    session.heartbeat(session.clock.now_ns())
    assert session.done[order.client_order_id].status is OrderStatus.FILLED  # the venue says so
    assert (session.ledger.cash, session.ledger.entries) == (cash, entries)  # nothing booked
    assert session.guard.unreconciled == [dear]
    assert session.guard.halted == {ETH: reasons.LEDGER_INSUFFICIENT_CASH}
    (line,) = [r for r in session.log.risk if r["change"] == "instrument_halt"]
    assert (line["reason_code"], line["booked"]) == (reasons.LEDGER_INSUFFICIENT_CASH, False)
    assert line["ledger_reason_code"] == reasons.LEDGER_INSUFFICIENT_CASH
    for group in bars[seen:]:  # the rest of the run: the broker's own fill is an overfill
        session.on_bars(group)
    overfill = [r for r in session.log.risk if r["reason_code"] == reasons.OVERFILL]
    assert [r["booked"] for r in overfill] == [True]
    assert session.guard.halted == {ETH: reasons.LEDGER_INSUFFICIENT_CASH}  # the first halt
    assert not [s for s in session.orders.values() if s.order.instrument == ETH]
