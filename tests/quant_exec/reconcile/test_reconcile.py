"""Start-time reconciliation against the paper venue: every finding and its reason code."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tests.quant_exec.reconcile._harness import (
    CrashingVenue,
    Journal,
    crash_run,
    feed,
    new_session,
    paper_broker,
    restart,
)

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_exec import KillSwitch, reasons
from quant_exec.decisions import LogRun, read_log, replay_ledger
from quant_exec.errors import LedgerError
from quant_exec.ledger import EntryKind, Ledger, Position
from quant_exec.orders import (
    Order,
    OrderAccepted,
    OrderCancelRequested,
    OrderFilled,
    OrderRejected,
    OrderState,
    OrderStatus,
    OrderSubmitted,
    apply,
    new_state,
)
from quant_exec.session import (
    BacktestConfig,
    CarryOver,
    ReconcilePolicy,
    Reconciliation,
    TradingSession,
    carry_from_log,
    example_inputs,
)
from quant_exec.venues import PaperBroker

BTC, ETH = Instrument("BTC", "USD"), Instrument("ETH", "USD")
S = 10**9
T = 1_704_067_200 * S


def _limit(sequence: int = 1, ts: int = T, side: str = "buy") -> Order:
    return Order.create(BTC, side, "0.01", ts_init=ts, sequence=sequence,
                        order_type="limit", limit_price="30000")  # fmt: skip


def _sent(order: Order, accepted: bool = False) -> OrderState:
    oid = order.client_order_id
    state = apply(new_state(order), OrderSubmitted(oid, ts_event=order.ts_init, ts_init=0))
    if accepted:
        state = apply(state, OrderAccepted(oid, ts_event=order.ts_init, ts_init=0))
    return state


def _session(
    tmp_path: Path,
    broker: PaperBroker,
    clock: SimClock,
    carry: CarryOver | None = None,
    policy: ReconcilePolicy | None = None,
) -> TradingSession:
    return new_session(clock, broker, Journal(tmp_path / "j.jsonl"), carry, policy)


def _world(now: int = T + 10 * S) -> tuple[SimClock, PaperBroker]:
    clock = SimClock(now)
    return clock, paper_broker(clock, BacktestConfig.defaults())


# --- the ledger's opening and the carry record --------------------------------------------


def test_a_carried_ledger_opens_once_with_valid_holdings() -> None:
    held = Position("BTC", Decimal(1), Decimal(100))
    ledger = Ledger.carried("USD", "50", [held], ts_ns=7)
    (entry,) = ledger.entries
    assert (entry.kind, entry.ts_event, entry.positions) == (EntryKind.CARRY, 7, (held,))
    assert Ledger.replay("USD", ledger.entries).snapshot() == ledger.snapshot()
    for cash, positions in [
        ("-1", []),
        ("1", [Position("BTC", Decimal(0), Decimal(1))]),
        ("1", [Position("BTC", Decimal(1), Decimal(-1))]),
        ("1", [held, held]),
    ]:
        with pytest.raises(LedgerError):
            Ledger.carried("USD", cash, positions)
    with pytest.raises(LedgerError):  # a ledger with entries cannot open again
        Ledger("USD", 5)._open(Decimal(1), (), 0)


def test_a_carry_round_trips_through_its_record_and_describes_its_account() -> None:
    carry = CarryOver(
        "5", (Position("ETH", Decimal(2), Decimal(9)),), (_sent(_limit()),), "T-1", 4, 3
    )
    assert CarryOver.from_record(carry.to_record()) == carry
    assert carry.balances("USD") == {"USD": Decimal(5), "ETH": Decimal(2)}
    assert Reconciliation((("A", "x"), ("B", "y"), ("A", "z"))).ids("A") == ["x", "z"]


def test_a_journal_replays_into_the_carry_of_its_run(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    clock, broker, groups, resume = crash_run(path, "b")
    session = restart(path, clock, broker, clock.now_ns() + S)
    session.reconcile()
    feed(session, groups[resume : resume + 40])
    assert session.journal is not None
    session.journal()
    carry = carry_from_log(read_log(path)[-1])
    assert carry.cash == session.ledger.cash
    assert carry.positions == tuple(session.ledger.positions.values())
    assert {s.client_order_id for s in carry.orders} == set(session.orders)
    assert carry.last_trade_id == session.last_trade_id
    assert carry.sequence == session.sequence
    assert carry.trades == len(broker.trades_since(None))
    assert replay_ledger(read_log(path)[-1]).cash == session.ledger.cash


def test_a_flagged_overfill_in_the_journal_finishes_its_order() -> None:
    order = Order.create(BTC, "buy", "1", ts_init=T, sequence=1)
    oid = order.client_order_id
    fill = OrderFilled(oid, BTC, "buy", "t1", "100", "2", "0", ts_event=T, ts_init=T)
    run = LogRun(
        {"instruments": ["BTC/USD"], "initial_cash": "1000"},
        [
            {
                "seq": 1,
                "order_id": oid,
                "instrument": "BTC/USD",
                "action": "buy",
                "quantity": "1",
                "ts_ns": T,
                "reason_codes": ["ENTRY"],
            }
        ],
        [
            {
                "seq": 2,
                "duplicate": False,
                "event": OrderSubmitted(oid, ts_event=T, ts_init=T).to_record(),
            },
            {"seq": 3, "duplicate": False, "event": fill.to_record()},
        ],
        [{"seq": 4, "change": "instrument_halt", "booked": True, "fill": fill.to_record()}],
    )
    carry = carry_from_log(run)
    assert carry.orders == ()
    assert carry.last_trade_id == "t1"
    assert carry.positions == (Position("BTC", Decimal(2), Decimal(200)),)


# --- the paper venue keeps a restarted account's orders ------------------------------------


def test_the_paper_venue_restores_sent_orders_and_cancels_pending_ones() -> None:
    _, broker = _world()
    intent, sent, pending = _limit(1), _sent(_limit(2)), _sent(_limit(3), accepted=True)
    oid = pending.client_order_id
    pending = apply(pending, OrderCancelRequested(oid, ts_event=T + S, ts_init=0))
    broker.restore([new_state(intent), sent, pending], trades=9)
    assert [s.client_order_id for s in broker.open_orders()] == [sent.client_order_id, oid]
    assert broker.query(intent.client_order_id) is None
    events = broker.poll()  # the sent order is acknowledged, the pending cancel confirmed
    assert [type(e).__name__ for e in events] == ["OrderAccepted", "OrderCanceled"]


# --- findings -----------------------------------------------------------------------------


def test_a_fresh_session_against_an_agreeing_venue_logs_nothing(tmp_path: Path) -> None:
    clock, broker = _world()
    session = _session(tmp_path, broker, clock)
    before = session.log.to_bytes()
    assert session.reconcile() == Reconciliation()
    assert session.log.to_bytes() == before


@pytest.mark.parametrize("at_venue", [False, True])
def test_a_journaled_limit_intent_is_adopted_or_sent_once(tmp_path: Path, at_venue: bool) -> None:
    clock, broker = _world()
    order = _limit(ts=clock.now_ns() - 5 * S)
    if at_venue:
        broker.submit(order)  # it left before the crash
    session = _session(tmp_path, broker, clock, CarryOver(Decimal(10_000), (), (new_state(order),)))
    found = session.reconcile()
    code = reasons.RECONCILE_ADOPTED if at_venue else reasons.RECONCILE_RESENT
    assert found.findings == ((code, order.client_order_id),)
    assert session.orders[order.client_order_id].status is OrderStatus.SUBMITTED
    assert list(broker.states) == [order.client_order_id]  # one venue order, either way
    assert session.reconcile().findings == ()  # a second look changes nothing


def test_an_order_the_venue_closed_takes_the_venue_state(tmp_path: Path) -> None:
    clock, broker = _world()
    kept, closed = _limit(1), _limit(2)
    broker.submit(kept)
    broker.submit(closed)
    broker.poll()  # both accepted at the venue
    broker.cancel(closed.client_order_id)
    broker.poll()  # the venue canceled one on its own (its dead-man's switch)
    orders = (_sent(kept), _sent(closed))
    session = _session(tmp_path, broker, clock, CarryOver(Decimal(10_000), (), orders))
    found = session.reconcile()
    assert found.findings == ((reasons.RECONCILE_VENUE_CLOSED, closed.client_order_id),)
    assert session.done[closed.client_order_id].status is OrderStatus.CANCELED
    assert session.done[closed.client_order_id].reason_code == reasons.RECONCILE_VENUE_CLOSED
    assert session.orders[kept.client_order_id].status is OrderStatus.ACCEPTED


def test_a_venue_order_the_session_never_made_halts_its_instrument(tmp_path: Path) -> None:
    clock, broker = _world()
    stranger = _limit(9)
    broker.submit(stranger)
    session = _session(tmp_path, broker, clock)
    found = session.reconcile()
    assert found.ids(reasons.RECONCILE_UNKNOWN_ORDER) == [stranger.client_order_id]
    assert session.guard.halted == {BTC: reasons.RECONCILE_UNKNOWN_ORDER}


def test_balances_that_differ_are_flagged_and_a_base_halts(tmp_path: Path) -> None:
    clock = SimClock(T)
    broker = PaperBroker(clock, balances={"USD": "9000", "ETH": "1"})
    session = _session(tmp_path, broker, clock)
    found = session.reconcile()
    assert found.findings == (
        (reasons.RECONCILE_BALANCE_MISMATCH, "USD"),
        (reasons.RECONCILE_BALANCE_MISMATCH, "ETH"),
    )
    assert session.guard.halted == {ETH: reasons.RECONCILE_BALANCE_MISMATCH}
    line = session.log.risk[0]
    assert (line["change"], line["venue"], line["ledger"]) == ("reconcile", "9000", "10000")


def test_fills_since_the_last_trade_are_adopted_once(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    clock, broker, groups, resume = crash_run(path, "c")
    feed_venue = groups[resume : resume + 3]
    for group in feed_venue:  # the venue trades on while the session is down
        clock.advance_to(max(clock.now_ns(), group[0].close_time_ns))
        for bar in group:
            broker.on_bar(bar)
    session = restart(path, clock, broker, clock.now_ns() + S)
    found = session.reconcile()
    assert found.fills == len(broker.trades_since(None)) > 0
    assert session.ledger.cash == broker.balances()["USD"]


def test_the_kill_switch_verifies_cancels_that_take_time(tmp_path: Path) -> None:
    clock = SimClock(T)
    config = BacktestConfig.defaults(latency_ns=30 * S)
    broker = PaperBroker(clock, latency_ns=30 * S, balances={"USD": config.initial_cash})
    switch = KillSwitch(clock)
    orders = (_sent(_limit(1)), new_state(_limit(2)))  # a sent order and an unsent intent
    broker.restore(orders)
    feed_, predictor = example_inputs()
    session = TradingSession(feed_.instruments, feed_.timeframe, predictor, config,
                             venue=broker, clock=clock, kill_switch=switch,
                             carry=CarryOver(config.initial_cash, (), orders))  # fmt: skip
    switch.engage("drill", actor="ops")
    session.on_risk_change(T)

    def verify_lines() -> list[tuple[str, list[str]]]:
        lines = [line for line in session.log.risk if line["change"] == "kill_switch_verify"]
        return [(line["reason_code"], line["open"]) for line in lines]

    pulled = orders[0].client_order_id  # the unsent intent is not the venue's to cancel
    assert verify_lines() == [(reasons.KILL_SWITCH_CANCEL_PENDING, [pulled])]
    session.heartbeat(T + 10 * S)  # still open at the venue: no new line
    assert len(verify_lines()) == 1
    session.heartbeat(T + 31 * S)  # the cancel took effect: verified
    assert verify_lines()[-1] == (reasons.KILL_SWITCH_VERIFIED, [])
    assert not broker.open_orders()
    assert session.done[pulled].status is OrderStatus.CANCELED


def test_an_order_that_expired_or_was_refused_at_the_venue_takes_that_state(
    tmp_path: Path,
) -> None:
    clock, broker = _world()
    expiring = Order.create(BTC, "buy", "0.01", ts_init=T, sequence=5, order_type="limit",
                            limit_price="30000", expire_ns=T + S)  # fmt: skip
    broker.submit(expiring)
    bar = Bar(BTC, Timeframe.H1, T + 3_600 * S, "40000", "40000", "40000", "40000", "1")
    clock.advance_to(bar.close_time_ns)
    broker.on_bar(bar)
    refused = _limit(6)

    class Refusing(CrashingVenue):
        """The paper venue, except that it reports ``refused`` as rejected."""

        def query(self, client_order_id: str) -> OrderState | None:
            if client_order_id == refused.client_order_id:
                return apply(_sent(refused), OrderRejected(client_order_id, ts_event=T, ts_init=T))
            return self.inner.query(client_order_id)

    carry = CarryOver(Decimal(10_000), (), (_sent(expiring), _sent(refused)))
    session = new_session(clock, Refusing(broker, "none"), Journal(tmp_path / "j"), carry)
    found = session.reconcile()
    assert found.ids(reasons.RECONCILE_VENUE_CLOSED) == [expiring.client_order_id]
    assert session.done[expiring.client_order_id].status is OrderStatus.EXPIRED
    assert session.done[refused.client_order_id].status is OrderStatus.REJECTED
    assert session.done[refused.client_order_id].reason_code == reasons.ORDER_INVALID


def test_reconcile_and_drill_lines_read_as_report_text() -> None:
    from quant_exec.session._result import _risk_text

    line = {"change": "reconcile", "reason_code": "RECONCILE_ADOPTED", "subject": "O-1"}
    assert _risk_text(line) == "reconcile: RECONCILE_ADOPTED O-1"
    assert _risk_text({"change": "bundle", "bundle": {}}) == "bundle"


def test_a_journal_or_predictions_path_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    from quant_core.errors import ValidationError
    from quant_exec.errors import PredictionsFileError
    from quant_exec.session import read_predictions

    with pytest.raises(ValidationError) as info:
        read_log(tmp_path)  # a directory, not a journal
    assert info.value.reason_code == reasons.DECISION_LOG_INVALID
    with pytest.raises(PredictionsFileError):
        read_predictions(tmp_path)


def test_a_stale_intent_dropped_on_start_is_not_carried_again(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    clock, broker = _world(T + 3_600 * S)
    stale = _limit(ts=T)
    carry = CarryOver(Decimal(10_000), (), (new_state(stale),), None, 1)
    session = new_session(clock, broker, Journal(path), carry)
    assert session.reconcile().ids(reasons.RECONCILE_INTENT_STALE) == [stale.client_order_id]
    assert session.journal is not None
    session.journal()
    assert carry_from_log(read_log(path)[-1]).orders == ()
