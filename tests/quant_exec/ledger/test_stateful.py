"""Stateful property tests: order lifecycle, and risk + broker + ledger under any event sequence.

Invariants (checked after every step, against independent reference computations):

* cash never goes negative and every position is long (no leverage, margin, borrowing, short);
* every buy the risk gate approves keeps total and cluster exposure (held + pending + new, at
  the marks of the moment) within the profile's caps, and none is approved while the kill
  switch is engaged;
* fills delivered duplicated and reordered are booked exactly once: the ledger's positions
  equal the sum of unique fills per asset, and cash equals deposits minus buys plus sells;
* ``PV - net deposits == realised + unrealised PnL``;
* an order's filled quantity never exceeds its quantity and equals the sum of its unique fills.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.profiles import ExposureLimit, ProfileHistory, RiskProfile
from quant_exec.errors import InvalidTransitionError, OrderError
from quant_exec.ledger import Ledger
from quant_exec.orders import (
    EventKind,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    Side,
    apply,
    new_state,
)
from quant_exec.risk import Approved, ClusterMap, KillSwitch, RiskContext, check_order
from quant_exec.venues import KRAKEN_SPOT_RULES, PaperBroker, SlippageModel

D = Decimal
H = 3_600 * 10**9
BASES = ("BTC", "ETH", "SOL")
CLUSTERS = ClusterMap({"BTC": "sov", "ETH": "l1", "SOL": "l1"})
SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- the order lifecycle alone -------------------------------------------------------------

BTC = Instrument("BTC", "USD")
ORDER = Order.create(BTC, Side.BUY, "1", ts_init=0, sequence=1)
CID = ORDER.client_order_id
SIMPLE: dict[EventKind, OrderEvent] = {
    EventKind.DENY: OrderDenied(CID, ts_event=1, ts_init=1),
    EventKind.SUBMIT: OrderSubmitted(CID, ts_event=1, ts_init=1),
    EventKind.ACCEPT: OrderAccepted(CID, ts_event=1, ts_init=1),
    EventKind.REJECT: OrderRejected(CID, ts_event=1, ts_init=1),
    EventKind.CANCEL_REQUEST: OrderCancelRequested(CID, ts_event=1, ts_init=1),
    EventKind.CANCEL_REJECT: OrderCancelRejected(CID, ts_event=1, ts_init=1),
    EventKind.CANCEL: OrderCanceled(CID, ts_event=1, ts_init=1),
    EventKind.EXPIRE: OrderExpired(CID, ts_event=1, ts_init=1),
}


class LifecycleMachine(RuleBasedStateMachine):
    """Random event streams against one order, with duplicated trade ids."""

    def __init__(self) -> None:
        super().__init__()
        self.state = new_state(ORDER)
        self.fills: dict[str, Decimal] = {}

    @rule(kind=st.sampled_from(sorted(SIMPLE, key=lambda k: k.value)))
    def event(self, kind: EventKind) -> None:
        before = self.state
        try:
            self.state = apply(before, SIMPLE[kind])
        except InvalidTransitionError:
            assert self.state is before

    @rule(trade=st.sampled_from(["t1", "t2", "t3", "t4"]), eighths=st.integers(1, 8))
    def fill(self, trade: str, eighths: int) -> None:
        qty = D(eighths) / 8
        event = OrderFilled(CID, BTC, "buy", trade, "100", qty, "0.01", ts_event=2, ts_init=2)
        before = self.state
        try:
            self.state = apply(before, event)
        except OrderError:
            assert self.state is before
            assert trade not in self.fills
            return
        if trade in self.fills:
            assert self.state is before  # deduplicated
        else:
            self.fills[trade] = qty

    @invariant()
    def quantities_add_up(self) -> None:
        assert self.state.filled_qty == sum(self.fills.values(), D(0))
        assert 0 <= self.state.filled_qty <= ORDER.quantity
        assert (self.state.status is OrderStatus.FILLED) == (self.state.leaves_qty == 0)
        assert set(self.state.trade_ids) == set(self.fills)


TestLifecycle = LifecycleMachine.TestCase
TestLifecycle.settings = SETTINGS


# --- risk + broker + ledger --------------------------------------------------------------


class TradingMachine(RuleBasedStateMachine):
    """A paper session driven by random decisions, bars, cancels and kill-switch actions."""

    @initialize(
        cash=st.sampled_from(["1000", "5000", "25000"]),
        percent_mode=st.booleans(),
        max_positions=st.integers(1, 3),
    )
    def start(self, cash: str, percent_mode: bool, max_positions: int) -> None:
        self.clock = SimClock(H)
        self.ledger = Ledger("USD", D(cash))
        self.deposits = D(cash)
        self.broker = PaperBroker(
            self.clock,
            slippage=SlippageModel(base_bps=D(5), impact_bps=D(100)),
            max_volume_share="0.5",
            seed=11,
        )
        self.switch = KillSwitch(self.clock)
        if percent_mode:
            total, cluster = ExposureLimit.percent(60), ExposureLimit.percent(35)
        else:
            total = ExposureLimit.absolute(D(cash) * D("0.7"))
            cluster = ExposureLimit.absolute(D(cash) * D("0.4"))
        risk = RiskProfile(
            max_concurrent_positions=max_positions,
            max_total_exposure=total,
            max_cluster_exposure=cluster,
            drawdown_limit_pct=D(20),
        )
        self.profile = ProfileHistory.create(risk, author="t", reason="t", clock=self.clock).active
        self.prices = {"BTC": D(1000), "ETH": D(100), "SOL": D(10)}
        self.ledger.mark(self.prices)
        self.seq = 0
        self.bar_start = H
        self.unique_fills: dict[str, OrderFilled] = {}

    def context(self) -> RiskContext:
        return RiskContext(
            profile=self.profile,
            portfolio=self.ledger.snapshot(),
            marks=self.prices,
            kill_switch=self.switch.state,
            clusters=CLUSTERS,
            open_orders=self.broker.open_orders(),
        )

    def _exposures(self, extra_base: str, extra: Decimal) -> tuple[Decimal, Decimal, Decimal]:
        """Independent reference: (pv, total exposure, cluster exposure) incl. one new buy."""
        snap = self.ledger.snapshot()
        by_base = {b: p.quantity * self.prices[b] for b, p in snap.positions.items()}
        for s in self.broker.open_orders():
            if s.order.side is Side.BUY:
                base = s.order.instrument.base
                price = s.order.limit_price or self.prices[base]  # a limit buy pays its limit
                by_base[base] = by_base.get(base, D(0)) + s.leaves_qty * price
        by_base[extra_base] = by_base.get(extra_base, D(0)) + extra
        pv = snap.cash + sum((p.quantity * self.prices[b] for b, p in snap.positions.items()), D(0))
        cluster = CLUSTERS.cluster_of(extra_base)
        in_cluster = sum((v for b, v in by_base.items() if CLUSTERS.cluster_of(b) == cluster), D(0))
        return pv, sum(by_base.values(), D(0)), in_cluster

    @rule(
        base=st.sampled_from(BASES),
        units=st.integers(1, 40),
        below_pct=st.none() | st.integers(0, 10),
    )
    def decide_buy(self, base: str, units: int, below_pct: int | None) -> None:
        """A market buy, or a limit buy ``below_pct`` under the mark."""
        qty = D(units) / {"BTC": 100, "ETH": 10, "SOL": 1}[base]
        instrument = Instrument(base, "USD")
        limit = None
        if below_pct is not None:
            rules = KRAKEN_SPOT_RULES.for_instrument(instrument)
            assert rules is not None
            limit = rules.round_price(self.prices[base] * (100 - below_pct) / 100, up=False)
        self.seq += 1
        order = Order.create(
            instrument,
            Side.BUY,
            qty,
            ts_init=self.clock.now_ns(),
            sequence=self.seq,
            order_type="market" if limit is None else "limit",
            limit_price=limit,
        )
        decision = check_order(order, self.context())
        if isinstance(decision, Approved):
            assert not self.switch.engaged
            price = limit if limit is not None else self.prices[base]
            pv, total, cluster = self._exposures(base, qty * price)
            assert total <= self.profile.profile.max_total_exposure.cap(pv)
            assert cluster <= self.profile.profile.max_cluster_exposure.cap(pv)
            assert decision.notional + decision.fee <= self.ledger.cash
            self.broker.submit(order)

    @rule(base=st.sampled_from(BASES), fraction=st.sampled_from(["0.25", "0.5", "1"]))
    def decide_sell(self, base: str, fraction: str) -> None:
        held = self.ledger.positions.get(base)
        if held is None:
            return
        qty = (held.quantity * D(fraction)).quantize(D("0.00000001"), rounding=ROUND_DOWN)
        if qty <= 0:
            return
        self.seq += 1
        order = Order.create(
            Instrument(base, "USD"), Side.SELL, qty, ts_init=self.clock.now_ns(), sequence=self.seq
        )
        if check_order(order, self.context()).ok:
            self.broker.submit(order)

    @precondition(lambda self: bool(self.broker.open_orders()))
    @rule(pick=st.integers(0, 10))
    def cancel(self, pick: int) -> None:
        working = self.broker.open_orders()
        self.broker.cancel(working[pick % len(working)].client_order_id)

    @rule(engage=st.booleans())
    def kill_switch(self, engage: bool) -> None:
        if engage:
            self.switch.engage("property drill", actor="hypothesis")
        else:
            self.switch.release("property drill over", actor="hypothesis")

    @rule(
        moves=st.tuples(*[st.integers(-15, 15) for _ in BASES]),
        volume=st.sampled_from(["0.5", "5", "500"]),
        data=st.data(),
    )
    def bars(self, moves: tuple[int, ...], volume: str, data: st.DataObject) -> None:
        """One bar per asset; fills arrive shuffled, partly duplicated, with stale re-sends."""
        start = self.bar_start
        self.bar_start += H
        self.clock.advance_to(self.bar_start)
        events: list[OrderEvent] = []
        budget = self.ledger.cash  # the events are folded only after every bar
        for base, move in zip(BASES, moves, strict=True):
            price = self.prices[base]
            new = max(price * (1 + D(move) / 100), D("0.01")).quantize(D("0.01"))
            low, high = min(price, new), max(price, new)
            bar = Bar(Instrument(base, "USD"), Timeframe.H1, start, price, high, low, new, volume)
            batch = self.broker.on_bar(bar, cash_available=budget)
            budget -= sum(
                (
                    e.notional + e.fee
                    for e in batch
                    if isinstance(e, OrderFilled) and e.side is Side.BUY
                ),
                D(0),
            )
            events += batch
            self.prices[base] = new
        fills = [e for e in events if isinstance(e, OrderFilled)]
        duplicates = data.draw(st.lists(st.sampled_from(fills), max_size=3)) if fills else []
        past = list(self.unique_fills.values())
        stale = data.draw(st.lists(st.sampled_from(past), max_size=2)) if past else []
        delivered = data.draw(st.permutations(fills + duplicates + stale))
        # Sells never depend on a buy in the same batch (risk checks held quantity), and the
        # broker kept buys within cash, so any order of delivery must be accepted.
        for fill in delivered:
            self.ledger.apply(fill)
            self.unique_fills.setdefault(fill.trade_id, fill)
        self.ledger.mark(self.prices)

    @invariant()
    def no_leverage_no_short(self) -> None:
        assert self.ledger.cash >= 0
        assert all(p.quantity > 0 for p in self.ledger.positions.values())

    @invariant()
    def ledger_matches_unique_fills(self) -> None:
        held: dict[str, Decimal] = {}
        cash = self.deposits
        for fill in self.unique_fills.values():
            sign = 1 if fill.side is Side.BUY else -1
            held[fill.instrument.base] = held.get(fill.instrument.base, D(0)) + sign * fill.quantity
            cash -= sign * fill.notional + fill.fee
        assert {b: q for b, q in held.items() if q} == {
            b: p.quantity for b, p in self.ledger.positions.items()
        }
        assert cash == self.ledger.cash
        # broker view agrees: every order's filled quantity is the sum of its unique fills
        for key, state in self.broker.states.items():
            mine = sum(
                (f.quantity for f in self.unique_fills.values() if f.client_order_id == key), D(0)
            )
            assert state.filled_qty == mine <= state.order.quantity

    @invariant()
    def pnl_identity(self) -> None:
        snap = self.ledger.snapshot()
        lhs = snap.portfolio_value - snap.net_deposits
        assert lhs == snap.realized_pnl + snap.unrealized_pnl


TestTrading = TradingMachine.TestCase
TestTrading.settings = SETTINGS
