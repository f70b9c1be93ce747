"""RT-03: the same trade id delivered again (websocket, REST poll, reconciliation), any order.

Pass criterion: position, ledger and fee totals are unchanged by duplicates; the apply is
idempotent, keyed by the venue's trade id.
"""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.quant_exec.safety._venue import scripted_session

from quant_exec.orders import OrderFilled


@settings(max_examples=15, derandomize=True, deadline=None)
@given(st.randoms(use_true_random=False))
def test_every_fill_redelivered_three_ways_in_any_order_changes_nothing(rnd: object) -> None:
    session, venue, bars = scripted_session()
    for group in bars:
        session.on_bars(group)
    booked = [e.fill for e in session.ledger.entries if e.fill is not None]
    assert booked  # the example run trades
    snapshot, entries, fills = session.ledger.snapshot(), session.ledger.entries, session.fills[:]
    copies: list[OrderFilled] = []
    for fill in booked:
        assert fill is not None
        copies += [
            fill,  # the websocket message again
            attrs.evolve(fill, ts_init=fill.ts_init + 1),  # the REST poll's copy
            attrs.evolve(fill, client_order_id="O-reconciliation"),  # unmatched, same trade
        ]
    rnd.shuffle(copies)  # type: ignore[attr-defined]
    venue.inject(*copies)
    session.heartbeat(session.clock.now_ns())
    assert session.ledger.snapshot() == snapshot
    assert session.ledger.entries == entries
    assert session.fills == fills
    assert all(line["duplicate"] for line in session.log.orders[-2 * len(booked) :])
    assert session.log.risk == ()  # a known trade is no external fill
