"""RT-03: the same trade id delivered again (websocket, REST poll, reconciliation), any order.

Pass criterion: position, ledger and fee totals are unchanged by duplicates; the apply is
idempotent, keyed by the venue's trade id.
"""

from __future__ import annotations

from pathlib import Path

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.faults._kraken_rig import assert_ledger_is_the_account, move_prices, session_fake, ws_rig
from tests.quant_exec.reconcile._harness import Journal, grouped, new_session, restart
from tests.quant_exec.safety._venue import scripted_session

from quant_core import SimClock
from quant_exec.orders import OrderFilled
from quant_exec.session import BacktestConfig
from quant_exec.venues.kraken.fake import FakeWsFault


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


def test_rt_03_duplicates_over_the_websocket_rest_and_a_restart_against_the_fake(
    tmp_path: Path,
) -> None:
    """The example session on KrakenVenue (the fake over HTTP, its executions over a real
    WebSocket). Every executions message is sent twice (DUPLICATE), the REST poll reads the
    same trades again, and a restart reconciles against the account: each trade is booked once
    and the books, fees included, are unchanged by the redeliveries."""
    path = tmp_path / "decisions.jsonl"
    groups = grouped()
    clock = SimClock(groups[0][0].open_time_ns)
    cash = BacktestConfig.defaults().initial_cash
    with ws_rig(clock, tmp_path, session_fake(clock, groups[0], cash)) as w:
        fake = w.rig.fake
        session = new_session(clock, w.venue(), Journal(path))
        for group in groups:
            move_prices(fake, group)
            w.ws.inject(*[FakeWsFault.DUPLICATE] * 4)
            session.on_bars(group, now_ns=max(group[0].close_time_ns, clock.now_ns()))
        clock.advance_by(60 * 10**9)
        session.heartbeat(clock.now_ns())  # the last orders' fills, over WS and REST
        assert session.journal is not None
        session.journal()
        streamed = [i["exec_id"] for i in w.received if i.get("exec_type") == "trade"]
        assert len(fake.book.trades) >= 3  # the run trades
        assert set(streamed) == set(fake.book.trades)  # every fill came over the WebSocket too
        assert_ledger_is_the_account(session, fake)
        before = session.ledger.snapshot()
        assert before.fees_paid > 0
        # the process restarts: reconciliation reads every trade of the account again (REST)
        again = restart(path, clock, w.rig.venue(), clock.now_ns() + 10**9)
        again.reconcile()
        again.heartbeat(clock.now_ns())
        after = again.ledger.snapshot()
        assert after.cash == before.cash  # the carried cash, net of every fee paid before
        assert after.fees_paid == 0  # the restarted run's own fees: no trade charged again
        assert {b: p.quantity for b, p in again.ledger.positions.items()} == {
            b: p.quantity for b, p in session.ledger.positions.items()
        }
        assert not [
            o for o in again.log.orders
            if o["event"]["event"] == "OrderFilled" and not o["duplicate"]
        ]  # fmt: skip
        assert again.log.risk == ()  # nothing external, nothing over
        assert fake.calls.count("AddOrder") == len(
            {o["order_id"] for o in session.log.orders if o["event"]["event"] == "OrderSubmitted"}
        )
