"""Fuzz: any venue misbehaviour at any bar never stops a session, and its log explains its ledger.

Hypothesis slips random events into a whole example run: fills for unknown orders (either
side, any size), fills beyond or after an order, duplicates of fills already booked, late
acknowledgements, cancel refusals and confirmations and stray submissions for orders the
session made. After every run: no exception escaped, every halted instrument has its
``instrument_halt`` line, no order was made on an instrument after its halt, and the ledger
rebuilt from the written log alone equals the session's.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.quant_exec.safety._venue import external_fill, scripted_session

from quant_exec.decisions import read_log, replay_ledger
from quant_exec.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderEvent,
    OrderFilled,
    OrderSubmitted,
)
from quant_exec.session import TradingSession

KINDS = ("external", "overfill", "duplicate", "ack", "cancel_reject", "cancel", "submit")
PLAN_STEP = st.tuples(st.integers(0, 71), st.sampled_from(KINDS), st.integers(0, 99))
"""(the bar before which it arrives, what, which order / size)."""


def _event(session: TradingSession, kind: str, pick: int, n: int) -> OrderEvent | None:
    known = sorted({**session.done, **session.orders}.items())
    if kind == "external":
        return external_fill(f"x-{n}", "buy" if pick % 2 else "sell", f"0.0{pick % 9 + 1}")
    if kind == "duplicate":
        booked = [e.fill for e in session.ledger.entries if e.fill is not None]
        return booked[pick % len(booked)] if booked else None
    if not known:
        return None
    oid, state = known[pick % len(known)]
    if kind == "overfill":
        order = state.order
        return OrderFilled(oid, order.instrument, order.side, f"o-{n}", "1", order.quantity,
                           "0", ts_event=n, ts_init=n)  # fmt: skip
    if kind == "ack":
        return OrderAccepted(oid, ts_event=n, ts_init=n)
    if kind == "cancel_reject":
        return OrderCancelRejected(oid, ts_event=n, ts_init=n)
    if kind == "cancel":
        return OrderCanceled(oid, ts_event=n, ts_init=n)
    return OrderSubmitted(oid, ts_event=n, ts_init=n)


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=st.lists(PLAN_STEP, max_size=12))
def test_no_misbehaviour_stops_a_session_and_the_log_explains_the_ledger(
    plan: list[tuple[int, str, int]], tmp_path: Path
) -> None:
    session, venue, bars = scripted_session()
    for i, group in enumerate(bars):
        for n, (when, kind, pick) in enumerate(plan):
            injected = _event(session, kind, pick, n) if when == i else None
            if injected is not None:
                venue.inject(injected)
        session.on_bars(group)
    halts = [line for line in session.log.risk if line["change"] == "instrument_halt"]
    event(f"halted: {bool(halts)}, refused: {len(session.log.risk) > len(halts)}")
    assert {str(i) for i in session.guard.halted} == {line["instrument"] for line in halts}
    halted_at: dict[str, int] = {}
    for line in halts:
        halted_at.setdefault(line["instrument"], line["seq"])
    for record in session.log.records:
        if record.instrument in halted_at and record.seq > halted_at[record.instrument]:
            assert record.order_id is None, f"an order on halted {record.instrument}"
    told = session.result().report_data().tables.get("Risk changes", {})
    assert len(told) == len(session.log.risk)  # every risk line told in words
    path = tmp_path / "decisions.jsonl"
    session.log.write(path)  # written afresh for every example
    (run,) = read_log(path)
    books, live = replay_ledger(run), session.ledger
    assert (books.cash, dict(books.positions)) == (live.cash, dict(live.positions))
    assert books.fees_paid == live.fees_paid
