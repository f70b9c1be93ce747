"""Kill switch: unit behaviour and a full drill (engage, halt, exit, audit, release)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.audit import AuditLog, verify_audit_log
from quant_core.errors import QuantUsageError
from quant_core.profiles import ProfileHistory, RiskProfile
from quant_exec import reasons
from quant_exec.ledger import Ledger
from quant_exec.orders import Order, OrderCanceled, OrderStatus, Side
from quant_exec.risk import KillSwitch, KillSwitchState, RiskContext, check_order
from quant_exec.venues import PaperBroker

H = 3_600 * 10**9
BTC = Instrument("BTC", "USD")
ETH = Instrument("ETH", "USD")


def test_engage_release_are_logged_with_clock_time() -> None:
    clock = SimClock(10)
    switch = KillSwitch(clock)
    assert switch.state == KillSwitchState()
    assert switch.release("nothing to release", actor="ops") is None
    record = switch.engage("drawdown alarm", actor="monitor")
    assert record is not None
    assert (record.action, record.reason, record.actor, record.ts_ns) == (
        "engage",
        "drawdown alarm",
        "monitor",
        10,
    )
    assert switch.state == KillSwitchState(True, 10, "drawdown alarm")
    clock.advance_to(20)
    assert switch.engage("again", actor="ops") is None
    released = switch.release("all clear", actor="ops")
    assert released is not None
    assert released.ts_ns == 20
    assert released.audit_kind == "kill_switch.release"
    assert [r.action for r in switch.records] == ["engage", "release"]
    assert repr(switch) == "KillSwitch(engaged=False)"


@pytest.mark.parametrize(("reason", "actor"), [("", "ops"), ("why", " ")])
def test_actions_need_reason_and_actor(reason: str, actor: str) -> None:
    switch = KillSwitch(SimClock(0))
    with pytest.raises(QuantUsageError) as err:
        switch.engage(reason, actor=actor)
    assert err.value.reason_code == reasons.KILL_SWITCH_STATE
    assert not switch.engaged
    assert switch.records == ()


def test_kill_switch_drill(tmp_path: Path) -> None:
    """Engage mid-session: open buys are canceled, new buys rejected, exits still work."""
    clock = SimClock(H)
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    switch = KillSwitch(clock, audit)
    broker = PaperBroker(clock, seed=1)
    ledger = Ledger("USD", Decimal(100_000))
    profile = ProfileHistory.create(RiskProfile(), author="ops", reason="drill", clock=clock).active

    def context() -> RiskContext:
        ledger.mark({"BTC": Decimal(40_000), "ETH": Decimal(2_000)})
        return RiskContext(
            profile=profile,
            portfolio=ledger.snapshot(),
            kill_switch=switch.state,
            open_orders=broker.open_orders(),
        )

    def bar(instrument: Instrument, start: int, price: str) -> Bar:
        return Bar(instrument, Timeframe.H1, start, price, price, price, price, "1000")

    # 1. a normal session: buy BTC, it fills on the next bar
    entry = Order.create(BTC, Side.BUY, "0.5", ts_init=clock.now_ns(), sequence=1)
    assert check_order(entry, context()).ok
    broker.submit(entry)
    clock.advance_to(2 * H)
    for event in broker.on_bar(bar(BTC, H, "40000"), cash_available=ledger.cash):
        ledger.apply(event)
    assert ledger.positions["BTC"].quantity == Decimal("0.5")

    # 2. a resting ETH buy is working when the operator pulls the switch
    resting = Order.create(
        ETH,
        Side.BUY,
        "1",
        ts_init=clock.now_ns(),
        sequence=2,
        order_type="limit",
        limit_price="1000",
    )
    assert check_order(resting, context()).ok
    broker.submit(resting)
    switch.engage("drill: venue incident", actor="ops")
    canceled = broker.cancel_all(side=Side.BUY)
    assert [e.client_order_id for e in canceled] == [resting.client_order_id]

    # 3. every new-risk order is rejected immediately; exits are admitted
    more = Order.create(BTC, Side.BUY, "0.1", ts_init=clock.now_ns(), sequence=3)
    rejected = check_order(more, context())
    assert rejected.reason_code == reasons.KILL_SWITCH_ENGAGED
    exit_order = Order.create(BTC, Side.SELL, "0.5", ts_init=clock.now_ns(), sequence=4)
    assert check_order(exit_order, context()).ok
    broker.submit(exit_order)
    clock.advance_to(3 * H)
    events = broker.on_bar(bar(BTC, 2 * H, "39000"), cash_available=ledger.cash)
    events += broker.on_bar(bar(ETH, 2 * H, "900"), cash_available=ledger.cash)
    for event in events:
        ledger.apply(event)
    assert "BTC" not in ledger.positions  # the exit went through
    assert "ETH" not in ledger.positions  # the canceled buy never filled, despite the dip
    state = broker.query(resting.client_order_id)
    assert state is not None
    assert state.status is OrderStatus.CANCELED
    assert any(isinstance(e, OrderCanceled) for e in events)

    # 4. release: new risk is admitted again
    switch.release("drill complete", actor="ops")
    assert check_order(more, context()).ok

    # the drill left a verifiable audit trail
    report = verify_audit_log(tmp_path / "audit.jsonl")
    assert report.ok
    kinds = [r.kind for r in audit.records()]
    assert kinds == ["kill_switch.engage", "kill_switch.release"]
    assert audit.records()[0].data["reason"] == "drill: venue incident"
