"""RT-20: a crash mid-append tears the journal's final record; the restart cuts it, audits it.

The journal (the decision log) is the ledger's only record: the books are replayed from it.
The process dies while appending a fill's line. On restart the torn bytes are detected and set
aside (the journal truncated to its last whole line, the bytes kept in a sidecar) with an
audit entry; no earlier record is lost; the replay of the whole lines reproduces the state
before the torn record; and reconciliation then takes the torn fill back from the venue, once.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.faults._kraken_rig import move_prices, session_fake
from tests.quant_exec.kraken.venue._harness import kraken_rig
from tests.quant_exec.reconcile._harness import (
    Journal,
    crash_run,
    feed,
    grouped,
    new_session,
    restart,
)

from quant_apps.runtime import PaperLogWriter
from quant_apps.runtime.trading.paper import carry_over
from quant_core import SimClock
from quant_core.audit import AuditLog, read_audit_log
from quant_exec import reasons
from quant_exec.decisions import read_log
from quant_exec.session import BacktestConfig, carry_from_log
from quant_exec.venues import PaperBroker


def _journal_ending_in_a_torn_fill(path: Path) -> tuple[bytes, bytes, PaperBroker, SimClock]:
    """Trade across a restart; cut the file in the middle of its last fill line."""
    clock, broker, groups, resume = crash_run(path, "b")
    session = restart(path, clock, broker, clock.now_ns() + 10**9)
    session.reconcile()
    feed(session, groups[resume : resume + 40])
    assert session.journal is not None
    session.journal()
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    last_fill = max(i for i, line in enumerate(lines) if b'"event":"OrderFilled"' in line)
    whole = b"".join(lines[:last_fill])
    torn = lines[last_fill][: len(lines[last_fill]) // 2]
    path.write_bytes(whole + torn)
    return whole, torn, broker, clock


def test_a_torn_final_record_is_cut_audited_and_replayed_around(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    whole, torn, broker, clock = _journal_ending_in_a_torn_fill(path)
    writer = PaperLogWriter(path)
    assert writer.torn_tail == {
        "offset": len(whole),
        "length": len(torn),
        "saved_to": f"decisions.jsonl.torn-{len(whole)}",
    }
    assert path.read_bytes() == whole  # truncated to the last whole record; none lost
    assert (tmp_path / f"decisions.jsonl.torn-{len(whole)}").read_bytes() == torn
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    assert writer.audit_torn_tail(audit)
    (entry,) = read_audit_log(tmp_path / "audit.jsonl")
    assert entry.kind == "journal.torn_tail"
    assert entry.data["reason_code"] == reasons.JOURNAL_TORN_TAIL
    assert entry.data["offset"] == len(whole)
    # The replay of the whole records is the state before the torn one.
    (tmp_path / "whole.jsonl").write_bytes(whole)
    carry = carry_over(writer, "USD")
    assert carry == carry_from_log(read_log(tmp_path / "whole.jsonl")[-1])
    # The venue did fill: reconciliation takes the fill back, and the books agree again.
    session = new_session(clock, broker, Journal(path), carry)
    found = session.reconcile()
    assert found.fills >= 1
    balances = broker.balances()
    assert session.ledger.cash == balances["USD"]
    held = {b: p.quantity for b, p in session.ledger.positions.items()}
    assert held == {k: v for k, v in balances.items() if k != "USD" and v}


def test_a_journal_that_ended_cleanly_is_not_audited(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    crash_run(path, "b")
    writer = PaperLogWriter(path)
    assert writer.torn_tail is None
    assert not writer.audit_torn_tail(AuditLog(tmp_path / "audit.jsonl", SimClock(0)))
    assert not (tmp_path / "audit.jsonl").exists()


def test_rt_20_a_live_session_torn_mid_fill_restarts_against_the_same_fake(
    tmp_path: Path,
) -> None:
    """The example session on KrakenVenue (the fake over HTTP) dies while appending a fill's
    line. The restart cuts and audits the torn tail, replays the whole lines, reconciles with
    the same fake (which did fill): the fill is taken back once, no order is sent twice, and
    the ledger equals the fake's account at the end."""
    path = tmp_path / "decisions.jsonl"
    groups = grouped()
    clock = SimClock(groups[0][0].open_time_ns)
    cash = BacktestConfig.defaults().initial_cash
    with kraken_rig(clock, tmp_path, session_fake(clock, groups[0], cash)) as rig:
        fake = rig.fake
        first = new_session(clock, rig.venue(), Journal(path))
        for group in groups[:40]:
            move_prices(fake, group)
            first.on_bars(group, now_ns=max(group[0].close_time_ns, clock.now_ns()))
        assert first.journal is not None
        first.journal()
        lines = path.read_bytes().splitlines(keepends=True)
        last_fill = max(i for i, line in enumerate(lines) if b'"event":"OrderFilled"' in line)
        whole = b"".join(lines[:last_fill])
        torn_trade = json.loads(lines[last_fill])["event"]["trade_id"]
        path.write_bytes(whole + lines[last_fill][: len(lines[last_fill]) // 2])
        # the process died; Kraken kept the fill. The restart opens the journal:
        writer = PaperLogWriter(path)
        assert writer.torn_tail is not None
        assert writer.torn_tail["offset"] == len(whole)
        assert path.read_bytes() == whole  # cut to the last whole record
        audit = AuditLog(tmp_path / "audit.jsonl", clock)
        assert writer.audit_torn_tail(audit)
        (entry,) = read_audit_log(tmp_path / "audit.jsonl")
        assert entry.data["reason_code"] == reasons.JOURNAL_TORN_TAIL
        carry = carry_over(writer, "USD")
        assert carry is not None
        clock.advance_by(10**9)
        session = new_session(clock, rig.venue(), Journal(path), carry)
        found = session.reconcile()
        assert found.fills >= 1  # the torn fill, taken back from Kraken
        rebooked = [e.fill.trade_id for e in session.ledger.entries if e.fill is not None]
        assert rebooked.count(torn_trade) == 1
        for group in groups[40:]:
            move_prices(fake, group)
            session.on_bars(group, now_ns=max(group[0].close_time_ns, clock.now_ns()))
        session.heartbeat(clock.now_ns() + 60 * 10**9)
        assert session.journal is not None
        session.journal()
        submitted = {
            str(o["order_id"])
            for run in read_log(path)
            for o in run.orders
            if o["event"]["event"] == "OrderSubmitted"
        }
        assert fake.calls.count("AddOrder") == len(submitted)  # no order sent twice
        cl_ids = [o["cl_ord_id"] for o in fake.book.orders.values()]
        assert len(cl_ids) == len(set(cl_ids))
        booked = [
            str(o["event"]["trade_id"])
            for run in read_log(path)
            for o in run.orders
            if o["event"]["event"] == "OrderFilled" and not o["duplicate"]
        ]
        assert sorted(booked) == sorted(fake.book.trades)  # each trade journaled once
        balances = fake.book.balances
        assert session.ledger.cash == balances["ZUSD"]
        for base, asset in (("BTC", "XXBT"), ("ETH", "XETH")):
            held = session.ledger.positions.get(base)
            assert (held.quantity if held else Decimal(0)) == balances[asset]
