"""Risk gates: one test per gate, reduce-risk always allowed, both exposure modes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest

from quant_core import Instrument, SimClock
from quant_core.profiles import ExposureLimit, ProfileHistory, ProfileVersion, RiskProfile
from quant_exec import reasons
from quant_exec.errors import ExecConfigError
from quant_exec.ledger import Ledger
from quant_exec.orders import Order, OrderState, OrderStatus, OrderType, Side, new_state
from quant_exec.risk import (
    Approved,
    ClusterMap,
    KillSwitchState,
    Rejected,
    RiskContext,
    check_order,
    evaluate,
)
from quant_exec.venues import FeeSchedule, FeeTier, VenueRulebook, VenueRules

D = Decimal
USD = "USD"
NO_FEES = FeeSchedule((FeeTier(0, 0, 0),))
RULES = VenueRulebook(
    {
        "BTC": VenueRules(lot_size="0.001", tick_size="0.5", min_quantity="0.002", min_cost="5"),
        "ETH": VenueRules(lot_size="0.01", tick_size="0.01"),
        "SOL": VenueRules(lot_size="0.01", tick_size="0.01"),
        "DOGE": VenueRules(lot_size="1", tick_size="0.0001"),
    }
)
CLUSTERS = ClusterMap({"BTC": "sov", "ETH": "l1", "SOL": "l1"})


def inst(base: str) -> Instrument:
    return Instrument(base, USD)


def profile(**changes: Any) -> ProfileVersion[RiskProfile]:
    history = ProfileHistory.create(RiskProfile(), author="t", reason="t", clock=SimClock(0))
    if changes:
        history = history.change(changes, author="t", reason="t", clock=SimClock(1))
    return history.active


def ledger_with(cash: str = "10000", holdings: dict[str, tuple[str, str]] | None = None) -> Ledger:
    ledger = Ledger(USD, D(cash))
    for i, (base, (qty, price)) in enumerate((holdings or {}).items()):
        from quant_exec.orders import OrderFilled

        ledger.apply(
            OrderFilled(
                "O-x", inst(base), "buy", f"seed-{i}", price, qty, "0", ts_event=0, ts_init=0
            )
        )
    return ledger


def ctx(ledger: Ledger | None = None, **kw: Any) -> RiskContext:
    ledger = ledger or ledger_with()
    marks = {"BTC": D(100), "ETH": D(10), "SOL": D(10), "DOGE": D("0.1")}
    kw.setdefault("profile", profile())
    kw.setdefault("venue", RULES)
    kw.setdefault("clusters", CLUSTERS)
    kw.setdefault("fees", NO_FEES)
    kw.setdefault("marks", marks)
    return RiskContext(portfolio=ledger.snapshot(), **kw)


def buy(base: str, qty: str, seq: int = 1, **kw: Any) -> Order:
    return Order.create(inst(base), Side.BUY, qty, ts_init=0, sequence=seq, **kw)


def sell(base: str, qty: str, seq: int = 2, **kw: Any) -> Order:
    return Order.create(inst(base), Side.SELL, qty, ts_init=0, sequence=seq, **kw)


def code(decision: Approved | Rejected) -> str | None:
    return decision.reason_code


def test_a_plain_buy_is_approved_with_its_numbers() -> None:
    decision = check_order(buy("BTC", "1"), ctx())
    assert isinstance(decision, Approved)
    assert decision.ok
    assert (decision.new_risk, decision.price, decision.notional, decision.fee) == (
        True,
        D(100),
        D(100),
        D(0),
    )
    report = evaluate(buy("BTC", "1"), ctx())
    assert report.gates[0] == "kill_switch"
    assert report.gates[-1] == "cluster_exposure"


def test_kill_switch_blocks_new_risk_but_not_exits() -> None:
    c = ctx(ledger_with(holdings={"BTC": ("1", "100")}), kill_switch=KillSwitchState(True, 5, "x"))
    decision = check_order(buy("BTC", "0.01"), c)
    assert isinstance(decision, Rejected)
    assert decision.reason_code == reasons.KILL_SWITCH_ENGAGED
    assert not decision.ok
    assert check_order(sell("BTC", "1"), c).ok


def test_profile_missing_and_stale() -> None:
    assert code(check_order(buy("BTC", "1"), ctx(profile=None))) == reasons.RISK_PROFILE_MISSING
    active = profile(max_concurrent_positions=3)  # version 2
    stale = buy("BTC", "1", profile_version=1)
    assert code(check_order(stale, ctx(profile=active))) == reasons.RISK_PROFILE_STALE
    assert check_order(buy("BTC", "1", profile_version=2), ctx(profile=active)).ok
    # exits never depend on the profile
    held = ledger_with(holdings={"BTC": ("1", "100")})
    assert check_order(sell("BTC", "1", profile_version=1), ctx(held, profile=None)).ok


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (
            Order.create(Instrument("BTC", "CAD"), "buy", "1", ts_init=0, sequence=1),
            reasons.RISK_QUOTE_MISMATCH,
        ),
        (buy("XRP", "1"), reasons.RISK_VENUE_UNKNOWN),
        (buy("BTC", "0.0025"), reasons.RISK_LOT_SIZE),
        (buy("BTC", "1", order_type=OrderType.LIMIT, limit_price="100.2"), reasons.RISK_TICK_SIZE),
        (buy("BTC", "0.001"), reasons.RISK_BELOW_MIN_QUANTITY),
        (buy("BTC", "0.002"), reasons.RISK_BELOW_MIN_COST),  # 0.2 USD < 5
        (sell("BTC", "0.001"), reasons.RISK_BELOW_MIN_QUANTITY),
    ],
)
def test_venue_gates(order: Order, expected: str) -> None:
    held = ledger_with(holdings={"BTC": ("1", "100")})
    assert code(check_order(order, ctx(held))) == expected


def test_no_mark_is_rejected() -> None:
    assert code(check_order(buy("DOGE", "10"), ctx(marks={}))) == reasons.RISK_NO_MARK
    # the snapshot's own mark (from a fill) is used when the context has none
    held = ledger_with(holdings={"DOGE": ("10", "0.1")})
    assert check_order(buy("DOGE", "10"), ctx(held, marks={})).ok


def test_no_short_counts_open_sells() -> None:
    held = ledger_with(holdings={"ETH": ("5", "10")})
    assert code(check_order(sell("ETH", "5.01"), ctx(held))) == reasons.RISK_NO_SHORT
    assert check_order(sell("ETH", "5"), ctx(held)).ok
    working = _working(sell("ETH", "3", seq=9))
    c = ctx(held, open_orders=(working,))
    assert code(check_order(sell("ETH", "2.01"), c)) == reasons.RISK_NO_SHORT
    assert check_order(sell("ETH", "2"), c).ok
    assert code(check_order(sell("SOL", "1"), ctx())) == reasons.RISK_NO_SHORT


def _working(order: Order, status: OrderStatus = OrderStatus.ACCEPTED) -> OrderState:
    return attrs.evolve(new_state(order), status=status)


def test_drawdown_gate_blocks_buys_only() -> None:
    ledger = ledger_with("1000", {"BTC": ("5", "100")})  # PV 1000, peak 1000
    ledger.mark({"BTC": D(70)})  # PV 850: 15% drawdown, the default gate
    c = ctx(ledger, marks={"BTC": D(70), "ETH": D(10)})
    assert code(check_order(buy("ETH", "1"), c)) == reasons.RISK_DRAWDOWN
    assert check_order(sell("BTC", "5"), c).ok
    ledger.mark({"BTC": D("70.2")})  # 14.9%
    c = ctx(ledger, marks={"BTC": D("70.2"), "ETH": D(10)})
    assert check_order(buy("ETH", "1"), c).ok


def test_max_concurrent_positions_counts_pending_buys() -> None:
    held = ledger_with(holdings={"BTC": ("1", "100"), "ETH": ("1", "10")})
    c = ctx(held, profile=profile(max_concurrent_positions=3))
    assert check_order(buy("SOL", "1"), c).ok
    c = ctx(
        held,
        profile=profile(max_concurrent_positions=3),
        open_orders=(_working(buy("SOL", "1", seq=5)),),
    )
    assert code(check_order(buy("DOGE", "10"), c)) == reasons.RISK_MAX_POSITIONS
    # adding to an asset already held or pending is not a new position
    assert check_order(buy("ETH", "1"), c).ok
    assert check_order(buy("SOL", "1", seq=6), c).ok
    # a closed order does not count
    c = ctx(
        held,
        profile=profile(max_concurrent_positions=3),
        open_orders=(_working(buy("SOL", "1", seq=5), OrderStatus.CANCELED),),
    )
    assert check_order(buy("DOGE", "10"), c).ok


def test_cash_gate_includes_worst_case_fee_and_reservations() -> None:
    fees = FeeSchedule((FeeTier(0, "0.1", "1"),))  # 1% taker
    c = ctx(
        ledger_with("101"),
        fees=fees,
        profile=profile(
            max_total_exposure=ExposureLimit.percent(100),
            max_cluster_exposure=ExposureLimit.percent(100),
        ),
    )
    assert check_order(buy("BTC", "1"), c).ok  # 100 + 1 fee == 101
    c2 = attrs.evolve(c, market_buffer_bps=D(1))
    assert code(check_order(buy("BTC", "1"), c2)) == reasons.RISK_INSUFFICIENT_CASH
    limit = buy("BTC", "1", order_type="limit", limit_price="99.5")
    assert check_order(limit, c2).ok
    reserved = attrs.evolve(c, open_orders=(_working(buy("ETH", "0.1", seq=7)),))
    assert code(check_order(buy("BTC", "1"), reserved)) == reasons.RISK_INSUFFICIENT_CASH


def test_total_exposure_percent_and_absolute() -> None:
    ledger = ledger_with("1000")
    pct = profile(
        max_total_exposure=ExposureLimit.percent(50), max_cluster_exposure=ExposureLimit.percent(50)
    )
    assert check_order(buy("BTC", "5"), ctx(ledger, profile=pct)).ok  # 500 of PV 1000
    assert (
        code(check_order(buy("BTC", "5.001"), ctx(ledger, profile=pct)))
        == reasons.RISK_TOTAL_EXPOSURE
    )
    absolute = profile(
        max_total_exposure=ExposureLimit.absolute(300),
        max_cluster_exposure=ExposureLimit.absolute(300),
    )
    assert check_order(buy("BTC", "3"), ctx(ledger, profile=absolute)).ok
    assert (
        code(check_order(buy("BTC", "3.001"), ctx(ledger, profile=absolute)))
        == reasons.RISK_TOTAL_EXPOSURE
    )
    # existing holdings (at their mark) and pending buys count
    held = ledger_with("1000", {"ETH": ("10", "10")})  # 100 held, PV 1000
    c = ctx(held, profile=absolute, open_orders=(_working(buy("SOL", "10", seq=8)),))
    assert check_order(buy("BTC", "1"), c).ok  # 100 + 100 + 100 = 300
    assert code(check_order(buy("BTC", "1.001"), c)) == reasons.RISK_TOTAL_EXPOSURE


def test_cluster_exposure_percent_and_absolute() -> None:
    held = ledger_with("1000", {"ETH": ("20", "10")})  # l1: 200 of PV 1000
    pct = profile(
        max_total_exposure=ExposureLimit.percent(80), max_cluster_exposure=ExposureLimit.percent(30)
    )
    assert check_order(buy("SOL", "10"), ctx(held, profile=pct)).ok  # l1 -> 300
    assert (
        code(check_order(buy("SOL", "10.01"), ctx(held, profile=pct)))
        == reasons.RISK_CLUSTER_EXPOSURE
    )
    assert check_order(buy("BTC", "3"), ctx(held, profile=pct)).ok  # other cluster
    absolute = profile(
        max_total_exposure=ExposureLimit.absolute(10_000),
        max_cluster_exposure=ExposureLimit.absolute(250),
    )
    pending = (_working(buy("SOL", "4", seq=9)),)  # 40 more in l1
    c = ctx(held, profile=absolute, open_orders=pending)
    assert check_order(buy("ETH", "1"), c).ok  # 200 + 40 + 10
    assert code(check_order(buy("ETH", "1.01"), c)) == reasons.RISK_CLUSTER_EXPOSURE


def test_sells_skip_new_risk_gates_even_when_every_limit_is_breached() -> None:
    held = ledger_with("1000", {"BTC": ("10", "100")})
    tight = profile(
        max_concurrent_positions=1,
        max_total_exposure=ExposureLimit.absolute(1),
        max_cluster_exposure=ExposureLimit.absolute(1),
    )
    held.mark({"BTC": D(1)})  # 99% drawdown
    c = ctx(held, profile=tight, marks={"BTC": D(1)}, kill_switch=KillSwitchState(True, 1, "x"))
    sale = check_order(sell("BTC", "10", seq=3), c)
    assert isinstance(sale, Approved)
    assert not sale.new_risk


def test_config_errors() -> None:
    with pytest.raises(ExecConfigError):
        VenueRules(lot_size="0", tick_size="1")
    with pytest.raises(ExecConfigError):
        ClusterMap.from_groups({"a": ("BTC",), "b": ("BTC",)})


def test_open_limit_buys_reserve_at_their_limit() -> None:
    c = ctx(
        ledger_with("1000"),
        profile=profile(
            max_total_exposure=ExposureLimit.percent(100),
            max_cluster_exposure=ExposureLimit.percent(100),
        ),
    )
    resting = _working(buy("BTC", "5", seq=20, order_type="limit", limit_price="150"))
    c = attrs.evolve(c, open_orders=(resting,))  # reserves 750, not 5 * mark = 500
    assert check_order(buy("ETH", "25"), c).ok  # 250 more: 1000 in all
    assert code(check_order(buy("ETH", "25.01"), c)) == reasons.RISK_INSUFFICIENT_CASH
