"""RT-04 (and the attack of issue 17, item 4): overfills and fills for unknown orders.

The attack: a fill for an order the session did not know killed the session with an untyped
``KeyError``. Pass criterion: flag ``OVERFILL`` / ``EXTERNAL_FILL``, halt new orders on that
instrument, never a silent merge: each is a ``risk`` line with its reason code, and the session
runs to its end.
"""

from __future__ import annotations

from tests.quant_exec.safety._venue import ETH, external_fill, scripted_session

from quant_exec import reasons
from quant_exec.orders import OrderFilled, OrderStatus


def test_an_unknown_fill_and_an_overfill_flag_halt_and_log_without_a_crash() -> None:
    session, venue, bars = scripted_session()
    venue.inject(external_fill("attack-1", side="sell", quantity="3"))  # the attack's fill
    for group in bars:
        session.on_bars(group)
    assert session.guard.halted == {ETH: reasons.EXTERNAL_FILL}
    # the attacked run placed no ETH order at all; overfill a filled order of a clean run
    clean, clean_venue, clean_bars = scripted_session()
    for group in clean_bars:
        clean.on_bars(group)
    oid, done = next((k, s) for k, s in clean.done.items() if s.status is OrderStatus.FILLED)
    order = done.order
    clean_venue.inject(
        OrderFilled(
            oid, order.instrument, order.side, "attack-2", "1", "1", "0", ts_event=1, ts_init=1
        )
    )
    clean.heartbeat(clean.clock.now_ns())
    assert clean.guard.halted == {order.instrument: reasons.OVERFILL}
    for run, code in ((session, reasons.EXTERNAL_FILL), (clean, reasons.OVERFILL)):
        (line,) = [r for r in run.log.risk if r["change"] == "instrument_halt"]
        assert line["reason_code"] == code
        assert line["instrument"] == str(ETH)
    assert session.guard.unreconciled[0].trade_id == "attack-1"
    assert clean.done[oid].filled_qty == done.filled_qty + 1
