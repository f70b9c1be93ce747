"""Duplicate fills by venue trade id change nothing (RT-03), whichever order id they carry."""

from __future__ import annotations

import attrs
from tests.quant_exec.safety._venue import scripted_session

from quant_exec.orders import OrderFilled


def test_a_redelivered_fill_changes_nothing() -> None:
    session, venue, bars = scripted_session()
    for group in bars:
        session.on_bars(group)
    entry = next(e for e in session.ledger.entries if e.fill is not None)
    assert entry.fill is not None
    original: OrderFilled = entry.fill
    snapshot = session.ledger.snapshot()
    entries, fills, orders = session.ledger.entries, list(session.fills), dict(session.done)
    venue.inject(
        original,  # the same message again (a websocket re-delivery)
        attrs.evolve(original, ts_init=original.ts_init + 1),  # from a REST poll, seen later
        attrs.evolve(original, client_order_id="O-someone"),  # the same trade, no known order
    )
    session.heartbeat(session.clock.now_ns())
    assert session.ledger.entries == entries
    assert session.ledger.snapshot() == snapshot
    assert session.fills == fills
    assert session.done == orders
    assert [line["duplicate"] for line in session.log.orders[-2:]] == [True, True]
    assert session.log.risk == ()
    assert session.guard.halted == {}
