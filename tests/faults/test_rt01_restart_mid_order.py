"""RT-01: a restart mid-order finds the order at the venue by client order id; never twice.

The session dies at (a) after the intent is journaled, before sending; (b) after sending,
before the answer; (c) after the answer, before it is journaled. A new session opens from the
journal, reconciles with the venue that kept running, and trades on: exactly one venue order
per intent, every fill booked exactly once, the ledger equal to the venue's account. Each case
runs on the paper venue and against the fake Kraken exchange over HTTP (``KrakenVenue``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.quant_exec.kraken.venue._harness import Rig
from tests.quant_exec.reconcile._harness import (
    T0,
    CrashError,
    CrashingVenue,
    Journal,
    crash_run,
    feed,
    funded_rig,
    kraken_account,
    ledger_account,
    new_session,
    paper_broker,
    restart,
)

from quant_core import Instrument, SimClock
from quant_exec import reasons
from quant_exec.decisions import read_log
from quant_exec.orders import Order, OrderStatus, new_state
from quant_exec.session import BacktestConfig, CarryOver, TradingSession
from quant_exec.venues import PaperBroker

S = 10**9
BTC = Instrument("BTC", "USD")


def _intents(path: Path) -> list[str]:
    return [str(d["order_id"]) for run in read_log(path) for d in run.decisions if d["order_id"]]


def _booked_trade_ids(path: Path) -> list[str]:
    return [
        str(o["event"]["trade_id"])
        for run in read_log(path)
        for o in run.orders
        if o["event"]["event"] == "OrderFilled" and not o["duplicate"]
    ]


def _flush(session: TradingSession) -> None:
    assert session.journal is not None
    session.journal()  # the run's lines on disk, as its runtime flushes them


def _assert_books_match(session: TradingSession, broker: PaperBroker) -> None:
    balances = broker.balances()
    assert session.ledger.cash == balances["USD"]
    held = {base: p.quantity for base, p in session.ledger.positions.items()}
    assert held == {k: v for k, v in balances.items() if k != "USD" and v}


@pytest.mark.parametrize(
    ("point", "code"),
    [
        ("a", reasons.RECONCILE_RESENT),
        ("b", reasons.RECONCILE_ADOPTED),
        ("c", reasons.RECONCILE_ADOPTED),
    ],
)
def test_a_restart_mid_order_sends_each_intent_exactly_once(
    tmp_path: Path, point: str, code: str
) -> None:
    path = tmp_path / "decisions.jsonl"
    clock, broker, groups, resume = crash_run(path, point)
    (intent,) = _intents(path)  # the journal holds the intent, and no answer to it
    assert not [o for run in read_log(path) for o in run.orders]
    assert (broker.query(intent) is None) == (point == "a")
    session = restart(path, clock, broker, clock.now_ns() + 5 * S)
    found = session.reconcile()
    assert found.ids(code) == [intent]
    assert broker.query(intent) is not None
    feed(session, groups[resume:])
    _flush(session)
    intents = _intents(path)
    assert len(set(intents)) == len(intents)
    assert set(broker.states) == set(intents)  # exactly one venue order per intent
    booked = _booked_trade_ids(path)
    assert sorted(booked) == sorted(f.trade_id for f in broker.trades_since(None))
    assert len(set(booked)) == len(booked)  # the strategy saw each fill exactly once
    _assert_books_match(session, broker)
    assert session.log.risk[0]["reason_code"] == code


@pytest.mark.parametrize("point", ["a", "b", "c"])
def test_a_restart_after_the_intent_aged_out_sends_nothing(tmp_path: Path, point: str) -> None:
    path = tmp_path / "decisions.jsonl"
    clock, broker, _, _ = crash_run(path, point)
    (intent,) = _intents(path)
    session = restart(path, clock, broker, clock.now_ns() + 3_600 * S)
    found = session.reconcile()
    if point == "a":  # never sent, and too old to send now
        assert found.ids(reasons.RECONCILE_INTENT_STALE) == [intent]
        assert broker.query(intent) is None
        assert intent in session.done
    else:  # the venue has it: adopted whatever its age
        assert found.ids(reasons.RECONCILE_ADOPTED) == [intent]
    assert len(broker.states) == (0 if point == "a" else 1)
    _assert_books_match(session, broker)


def test_a_restart_of_a_clean_journal_finds_nothing_to_flag(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    clock, broker, groups, resume = crash_run(path, "b")
    session = restart(path, clock, broker, clock.now_ns() + 5 * S)
    session.reconcile()
    feed(session, groups[resume : resume + 30])
    _flush(session)
    again = restart(path, clock, broker, clock.now_ns() + S)  # a second, clean restart
    assert again.reconcile().findings == ()
    assert again.ledger.cash == session.ledger.cash
    assert again.session["carry"]["cash"] == str(session.ledger.cash)
    assert isinstance(again.ledger.cash, Decimal)


@pytest.mark.parametrize(
    ("point", "code"),
    [
        ("a", reasons.RECONCILE_RESENT),
        ("b", reasons.RECONCILE_ADOPTED),
        ("c", reasons.RECONCILE_ADOPTED),
    ],
)
def test_a_resting_limit_order_survives_a_restart_at_each_kill_point(
    tmp_path: Path, point: str, code: str
) -> None:
    path = tmp_path / "decisions.jsonl"
    clock = SimClock(T0)
    broker = paper_broker(clock, BacktestConfig.defaults())
    limit = Order.create(BTC, "buy", "0.01", ts_init=T0, sequence=1, order_type="limit",
                         limit_price="30000", tag="ENTRY")  # fmt: skip
    journaled = CarryOver(Decimal(10_000), (), (new_state(limit),), None, 1)
    first = new_session(clock, CrashingVenue(broker, point), Journal(path), journaled)
    if point != "a":  # (a) dies before sending; (b) and (c) die in the send
        with pytest.raises(CrashError):
            first.reconcile()
    assert (broker.query(limit.client_order_id) is None) == (point == "a")
    session = restart(path, clock, broker, T0 + 5 * S)
    assert session.reconcile().findings == ((code, limit.client_order_id),)
    session.heartbeat(T0 + 6 * S)  # the venue's acknowledgement
    assert session.orders[limit.client_order_id].status is OrderStatus.ACCEPTED
    assert [s.client_order_id for s in broker.open_orders()] == [limit.client_order_id]
    assert len(broker.states) == 1  # it rests, once
    _assert_books_match(session, broker)


# --- against the fake Kraken exchange over HTTP --------------------------------------------


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with funded_rig(tmp_path) as running:
        yield running


@pytest.mark.parametrize(
    ("point", "code"),
    [
        ("a", reasons.RECONCILE_RESENT),
        ("b", reasons.RECONCILE_ADOPTED),
        ("c", reasons.RECONCILE_ADOPTED),
    ],
)
def test_a_restart_mid_order_over_http_sends_each_intent_exactly_once(
    rig: Rig, tmp_path: Path, point: str, code: str
) -> None:
    path = tmp_path / "decisions.jsonl"
    _, _, groups, resume = crash_run(path, point, rig.clock, rig.venue(dead_man_s=0))
    (intent,) = _intents(path)
    session = restart(path, rig.clock, rig.venue(dead_man_s=0), rig.clock.now_ns() + 5 * S)
    found = session.reconcile()
    assert found.ids(code) == [intent]
    feed(session, groups[resume : resume + 24])
    assert session.journal is not None
    session.journal()
    intents = _intents(path)
    placed = [o["cl_ord_id"] for o in rig.fake.book.orders.values()]
    assert len(placed) == len(set(placed)) == len(intents)  # one exchange order per intent
    trades = [o["event"]["trade_id"] for run in read_log(path) for o in run.orders
              if o["event"]["event"] == "OrderFilled" and not o["duplicate"]]  # fmt: skip
    assert sorted(trades) == sorted(rig.fake.book.trades)  # each fill booked exactly once
    assert ledger_account(session) == kraken_account(rig)  # the ledger equals the exchange


@pytest.mark.parametrize(
    ("point", "code"),
    [
        ("a", reasons.RECONCILE_RESENT),
        ("b", reasons.RECONCILE_ADOPTED),
        ("c", reasons.RECONCILE_ADOPTED),
    ],
)
def test_a_resting_limit_order_over_http_survives_each_kill_point(
    rig: Rig, tmp_path: Path, point: str, code: str
) -> None:
    path = tmp_path / "decisions.jsonl"
    limit = Order.create(BTC, "buy", "0.01", ts_init=T0, sequence=1, order_type="limit",
                         limit_price="30000", tag="ENTRY")  # fmt: skip
    carry = CarryOver(Decimal(10_000), (), (new_state(limit),), None, 1)
    venue = CrashingVenue(rig.venue(dead_man_s=0), point)
    first = new_session(rig.clock, venue, Journal(path), carry)
    if point != "a":
        with pytest.raises(CrashError):
            first.reconcile()
    session = restart(path, rig.clock, rig.venue(dead_man_s=0), T0 + 5 * S)
    assert session.reconcile().findings == ((code, limit.client_order_id),)
    assert session.orders[limit.client_order_id].status is OrderStatus.ACCEPTED
    assert len(rig.fake.book.orders) == 1  # it rests at the exchange, once
    assert ledger_account(session) == kraken_account(rig)
