"""RT-05: every ordering of one order's venue events ends in one state and one ledger.

Pass criterion: the final order state and ledger are identical for all permutations, no
illegal transition is raised, and a fill before the acknowledgement is booked, not dropped.
Exhaustive here (every permutation, not a sample) over the events a venue can send for one
buy after a cancel request: the acknowledgement, a partial fill, the final fill and the cancel
refusal (the cancel lost the race), or the acknowledgement, a partial fill and the cancel
confirmation (the cancel won). Against the fake (over HTTP and WebSocket): executions
reordered, and delayed past the REST snapshots, end in the same order states and ledger.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from tests.faults._kraken_rig import assert_ledger_is_the_account, move_prices, session_fake, ws_rig
from tests.quant_exec.reconcile._harness import Journal, grouped, new_session

from quant_core import Instrument, SimClock
from quant_exec.ledger import Ledger
from quant_exec.orders import (
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderEvent,
    OrderFilled,
    OrderStatus,
    OrderSubmitted,
    apply,
    new_state,
)
from quant_exec.session import BacktestConfig
from quant_exec.venues.kraken.fake import FakeWsFault

BTC = Instrument("BTC", "USD")
ORDER = Order.create(BTC, "buy", "1", ts_init=0, sequence=1)
OID = ORDER.client_order_id
PREFIX = (
    OrderSubmitted(OID, ts_event=1, ts_init=1),
    OrderCancelRequested(OID, ts_event=2, ts_init=2),
)
ACK = OrderAccepted(OID, ts_event=3, ts_init=3)
PARTIAL = OrderFilled(OID, BTC, "buy", "t-1", "100", "0.25", "0.1", ts_event=4, ts_init=4)
FINAL = OrderFilled(OID, BTC, "buy", "t-2", "102", "0.75", "0.2", ts_event=5, ts_init=5)
REFUSED = OrderCancelRejected(OID, ts_event=6, ts_init=6)
CANCELED = OrderCanceled(OID, ts_event=6, ts_init=6)


@pytest.mark.parametrize(
    ("events", "final", "filled"),
    [
        ((ACK, PARTIAL, FINAL, REFUSED), OrderStatus.FILLED, 1),
        ((ACK, PARTIAL, CANCELED), OrderStatus.CANCELED, "0.25"),
    ],
    ids=["cancel-lost", "cancel-won"],
)
def test_every_permutation_ends_in_the_same_state_and_ledger(
    events: tuple[OrderEvent, ...], final: OrderStatus, filled: object
) -> None:
    outcomes = set()
    for ordering in itertools.permutations(events):
        state, ledger = new_state(ORDER), Ledger("USD", 1000)
        for event in (*PREFIX, *ordering):
            state = apply(state, event)  # never raises
            ledger.apply(event)
        outcomes.add(
            (
                state.status,
                state.filled_qty,
                state.fees,
                ledger.cash,
                tuple(ledger.positions.items()),
            )
        )
    (outcome,) = outcomes
    assert outcome[0] is final
    assert outcome[1] == Decimal(str(filled))


def _run_on_the_fake(tmp_path: Path, mode: str) -> tuple[object, ...]:
    """The example session on the fake over HTTP and WebSocket, the executions messages
    delivered as ``mode`` says; returns the final order states, fills and books."""
    groups = grouped()
    clock = SimClock(groups[0][0].open_time_ns)
    cash = BacktestConfig.defaults().initial_cash
    with ws_rig(clock, tmp_path / mode, session_fake(clock, groups[0], cash)) as w:
        fake = w.rig.fake
        session = new_session(clock, w.venue(), Journal(tmp_path / mode / "decisions.jsonl"))
        for n, group in enumerate(groups):
            move_prices(fake, group)
            if mode == "reordered" and not w.ws._faults:  # the next order's n % 3-th message
                # (pending_new, new, trade) is sent after the one following it
                w.ws.inject(*[FakeWsFault.DUPLICATE] * (n % 3), FakeWsFault.REORDER)
            elif mode == "delayed":  # held back: the REST snapshots come first
                w.ws.inject(*[FakeWsFault.DELAY] * 8)
            session.on_bars(group, now_ns=max(group[0].close_time_ns, clock.now_ns()))
        if mode == "delayed":
            assert w.ws._held  # messages were held while REST moved the orders on
        w.ws.release()  # the delayed messages arrive last, after REST saw everything
        clock.advance_by(60 * 10**9)
        session.heartbeat(clock.now_ns())
        session.heartbeat(clock.now_ns())
        assert_ledger_is_the_account(session, fake)
        trades = [i for i in w.received if i.get("exec_type") == "trade"]
        if mode == "reordered":  # some fill arrived before its order's acknowledgement
            kinds = [(i["order_id"], i["exec_type"]) for i in w.received]
            assert any(
                kinds.index((oid, "trade")) < kinds.index((oid, "new"))
                for oid, kind in kinds
                if kind == "trade" and (oid, "new") in kinds
            )
        assert {i["exec_id"] for i in trades} == set(fake.book.trades)  # all came over WS too
        assert not [r for r in session.log.risk if r["change"] == "order_event_refused"]
        states = {**session.done, **session.orders}
        snapshot = session.ledger.snapshot()
        return (
            sorted((k, s.status, s.filled_qty, s.fees) for k, s in states.items()),
            sorted(e.fill.trade_id for e in session.ledger.entries if e.fill is not None),
            snapshot.cash,
            snapshot.fees_paid,
            sorted((b, p.quantity) for b, p in session.ledger.positions.items()),
        )


def test_rt_05_reordered_and_delayed_websocket_executions_against_rest_on_the_fake(
    tmp_path: Path,
) -> None:
    """The same session against the fake three times: executions in order, every message
    swapped with the next (REORDER), and every message held back until after the REST
    snapshots (DELAY, released at the end). Same final order states, fills and ledger."""
    runs = {mode: _run_on_the_fake(tmp_path, mode) for mode in ("in_order", "reordered",
                                                                  "delayed")}  # fmt: skip
    assert runs["in_order"][1]  # the run trades
    assert runs["reordered"] == runs["in_order"]
    assert runs["delayed"] == runs["in_order"]
