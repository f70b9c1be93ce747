"""Paper broker: latency, no look-ahead, partial fills, limits, expiry, cash guard, determinism."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from decimal import ROUND_UP, Decimal
from pathlib import Path

import pytest

from quant_core import Bar, Instrument, SimClock, Timeframe, canonical_json
from quant_exec import reasons
from quant_exec.errors import OrderError, UnknownOrderError
from quant_exec.ledger import Ledger
from quant_exec.orders import (
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderState,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
)
from quant_exec.venues import (
    FeeSchedule,
    FeeTier,
    PaperBroker,
    SlippageModel,
    VenueRulebook,
    VenueRules,
)

H = 3_600 * 10**9
D = Decimal
BTC = Instrument("BTC", "USD")
ETH = Instrument("ETH", "USD")
FLAT_FEES = FeeSchedule((FeeTier(0, "0.1", "0.2"),), fee_quantum="0.01")
NO_SLIP = SlippageModel(base_bps=D(0), impact_bps=D(0))
RULES = VenueRulebook({}, default=VenueRules(lot_size="0.01", tick_size="0.1"))


def known(broker: PaperBroker, client_order_id: str) -> OrderState:
    """The broker's state of an order it has (queried by client order id)."""
    state = broker.query(client_order_id)
    assert state is not None
    return state


def bar(
    start: int, o: str, h: str, low: str, c: str, v: str = "100", inst: Instrument = BTC
) -> Bar:
    return Bar(inst, Timeframe.H1, start, o, h, low, c, v)


def make(clock: SimClock, **kw: object) -> PaperBroker:
    kw.setdefault("fees", FLAT_FEES)
    kw.setdefault("slippage", NO_SLIP)
    kw.setdefault("venue", RULES)
    return PaperBroker(clock, **kw)  # type: ignore[arg-type]


def market(side: Side, qty: str, seq: int, ts: int, **kw: object) -> Order:
    return Order.create(BTC, side, qty, ts_init=ts, sequence=seq, **kw)  # type: ignore[arg-type]


def kinds(events: list[OrderEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_market_order_fills_on_the_next_bar_at_its_open_with_taker_fee() -> None:
    clock = SimClock(H)
    broker = make(clock)
    order = market(Side.BUY, "2", 1, H)
    assert kinds(broker.submit(order)) == ["OrderSubmitted"]
    # the bar that *closed* at the decision time is not eligible (no look-ahead)
    assert broker.on_bar(bar(0, "90", "90", "90", "90")) == [
        OrderAccepted(
            order.client_order_id, ts_event=H, ts_init=H, venue_order_id=order.client_order_id
        )
    ]
    clock.advance_to(2 * H)
    events = broker.on_bar(bar(H, "100", "120", "80", "110"))
    assert kinds(events) == ["OrderFilled"]
    fill = events[0]
    assert isinstance(fill, OrderFilled)
    assert (fill.price, fill.quantity, fill.fee, fill.liquidity) == (
        D(100),
        D(2),
        D("0.40"),  # 200 * 0.2%
        Liquidity.TAKER,
    )
    assert fill.ts_event == H
    assert fill.ts_init == 2 * H
    assert known(broker, order.client_order_id).status is OrderStatus.FILLED
    assert broker.open_orders() == ()


def test_orders_of_other_instruments_are_left_alone() -> None:
    clock = SimClock(0)
    broker = make(clock)
    broker.submit(market(Side.BUY, "1", 1, 0))
    assert broker.on_bar(bar(0, "10", "10", "10", "10", inst=ETH)) == []
    assert len(broker.open_orders(BTC)) == 1
    assert broker.open_orders(ETH) == ()


def test_latency_delays_the_ack_and_the_first_tradable_bar() -> None:
    clock = SimClock(0)
    broker = make(clock, latency_ns=H + 1)
    order = market(Side.BUY, "1", 1, 0)
    broker.submit(order)
    assert broker.poll() == []
    # the first bar closes at H, before the order reaches the venue at H+1: no ack, no fill
    assert broker.on_bar(bar(0, "100", "100", "100", "100")) == []
    clock.advance_to(H + 1)
    acks = broker.poll()
    assert kinds(acks) == ["OrderAccepted"]
    assert acks[0].ts_event == H + 1
    events = broker.on_bar(bar(H, "101", "101", "101", "101"))
    assert kinds(events) == ["OrderFilled"]
    assert events[0].ts_event == H + 1  # it reached the venue after the bar opened


def test_partial_fills_are_limited_by_bar_volume_share_shared_across_orders() -> None:
    clock = SimClock(0)
    broker = make(clock, max_volume_share="0.1")
    first = market(Side.BUY, "15", 1, 0)
    second = market(Side.BUY, "5", 2, 0)
    broker.submit(first)
    broker.submit(second)
    events = broker.on_bar(bar(0, "10", "10", "10", "10", v="100"))  # 10 units available
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [(f.client_order_id, f.quantity) for f in fills] == [(first.client_order_id, D(10))]
    assert known(broker, first.client_order_id).status is OrderStatus.PARTIALLY_FILLED
    events = broker.on_bar(bar(H, "11", "11", "11", "11", v="60"))  # 6 more
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [f.quantity for f in fills] == [D(5), D(1)]
    assert known(broker, first.client_order_id).status is OrderStatus.FILLED
    assert known(broker, second.client_order_id).filled_qty == 1
    # fractions are rounded down to the lot; an empty bar fills nothing
    assert broker.on_bar(bar(2 * H, "11", "11", "11", "11", v="0")) == []
    events = broker.on_bar(bar(3 * H, "11", "11", "11", "11", v="0.259"))
    assert [e.quantity for e in events if isinstance(e, OrderFilled)] == [D("0.02")]


def test_slippage_and_tick_rounding_move_against_the_trader() -> None:
    clock = SimClock(0)
    slip = SlippageModel(base_bps=D(10), impact_bps=D(0))
    broker = make(clock, slippage=slip)
    buy = market(Side.BUY, "1", 1, 0)
    sell = market(Side.SELL, "1", 2, 0)
    broker.submit(buy)
    broker.submit(sell)
    events = broker.on_bar(bar(0, "100.05", "101", "99", "100"))
    prices = {e.side: e.price for e in events if isinstance(e, OrderFilled)}
    # 100.05 * 1.001 = 100.15005 -> up to 100.2; 100.05 * 0.999 = 99.94995 -> down to 99.9
    assert prices == {Side.BUY: D("100.2"), Side.SELL: D("99.9")}


@pytest.mark.parametrize(
    ("side", "limit", "bar_prices", "expected"),
    [
        (Side.BUY, "95", ("100", "101", "96", "99"), None),  # never traded down to 95
        (Side.BUY, "95", ("100", "101", "90", "99"), ("95", Liquidity.MAKER)),
        (Side.BUY, "105", ("100", "101", "90", "99"), ("100", Liquidity.TAKER)),
        (Side.SELL, "105", ("100", "104", "90", "99"), None),
        (Side.SELL, "105", ("100", "110", "90", "99"), ("105", Liquidity.MAKER)),
        (Side.SELL, "95", ("100", "110", "90", "99"), ("100", Liquidity.TAKER)),
    ],
)
def test_limit_orders(
    side: Side,
    limit: str,
    bar_prices: tuple[str, str, str, str],
    expected: tuple[str, Liquidity] | None,
) -> None:
    clock = SimClock(0)
    broker = make(clock)
    order = market(side, "1", 1, 0, order_type=OrderType.LIMIT, limit_price=limit)
    broker.submit(order)
    fills = [e for e in broker.on_bar(bar(0, *bar_prices)) if isinstance(e, OrderFilled)]
    if expected is None:
        assert fills == []
        assert known(broker, order.client_order_id).is_open
    else:
        assert [(f.price, f.liquidity) for f in fills] == [(D(expected[0]), expected[1])]
        maker = expected[1] is Liquidity.MAKER
        rate = D("0.001" if maker else "0.002")
        assert fills[0].fee == (D(expected[0]) * rate).quantize(D("0.01"), rounding=ROUND_UP)


def test_marketable_limit_never_fills_beyond_its_limit() -> None:
    clock = SimClock(0)
    broker = make(clock, slippage=SlippageModel(base_bps=D(100), impact_bps=D(0)))
    order = market(Side.BUY, "1", 1, 0, order_type="limit", limit_price="100.5")
    broker.submit(order)
    fills = [
        e for e in broker.on_bar(bar(0, "100", "101", "99", "100")) if isinstance(e, OrderFilled)
    ]
    assert fills[0].price == D("100.5")  # the open slipped to 101 but the limit caps it


def test_fill_after_cancel_request_then_cancel() -> None:
    clock = SimClock(0)
    broker = make(clock, latency_ns=10)
    order = market(Side.BUY, "20", 1, 0)
    broker.submit(order)
    clock.advance_to(H)
    broker.cancel(order.client_order_id)  # effective at H + 10, inside the next bar
    events = broker.on_bar(bar(H, "10", "10", "10", "10", v="100"))
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderCanceled"]
    filled, canceled = events[1], events[2]
    assert isinstance(filled, OrderFilled)
    assert filled.quantity == 10  # volume share, then the rest is canceled
    assert canceled.ts_event == H + 10
    state = known(broker, order.client_order_id)
    assert (state.status, state.filled_qty) == (OrderStatus.CANCELED, D(10))
    assert broker.cancel(order.client_order_id) == []  # closed already


def test_cancel_before_the_bar_opens_and_poll() -> None:
    clock = SimClock(0)
    broker = make(clock)
    order = market(Side.BUY, "1", 1, 0)
    broker.submit(order)
    broker.cancel_all()
    events = broker.poll()
    assert kinds(events) == ["OrderAccepted", "OrderCanceled"]
    assert broker.on_bar(bar(0, "10", "10", "10", "10")) == []
    second = market(Side.SELL, "1", 2, 0)
    broker.submit(second)
    clock.advance_to(H)
    broker.cancel_all(side=Side.BUY)  # nothing: the only open order is a sell
    broker.cancel(second.client_order_id)
    clock.advance_to(2 * H)
    events = broker.on_bar(bar(2 * H, "10", "10", "10", "10"))
    assert kinds(events) == ["OrderAccepted", "OrderCanceled"]
    assert isinstance(events[1], OrderCanceled)
    assert events[1].ts_event == H


def test_expiry() -> None:
    clock = SimClock(0)
    broker = make(clock)
    order = market(Side.BUY, "1", 1, 0, order_type="limit", limit_price="5", expire_ns=H)
    broker.submit(order)
    assert [
        e for e in broker.on_bar(bar(0, "10", "10", "10", "10")) if isinstance(e, OrderFilled)
    ] == []
    events = broker.on_bar(bar(H, "1", "1", "1", "1"))
    assert kinds(events) == ["OrderExpired"]
    assert isinstance(events[0], OrderExpired)
    assert events[0].ts_event == H
    assert known(broker, order.client_order_id).status is OrderStatus.EXPIRED


def test_cash_guard_cuts_buys_and_cancels_the_rest() -> None:
    clock = SimClock(0)
    broker = make(clock)
    ledger = Ledger("USD", D("250"))
    first = market(Side.BUY, "2", 1, 0)
    second = market(Side.BUY, "1", 2, 0)
    broker.submit(first)
    broker.submit(second)
    events = broker.on_bar(bar(0, "100", "100", "100", "100"), cash_available=ledger.cash)
    for event in events:
        ledger.apply(event)  # never raises: the broker kept within cash
    fills = [e for e in events if isinstance(e, OrderFilled)]
    # 2 @ 100 + 0.40 fee = 200.40; then 49.60 left buys 0.49 (49 + 0.10 fee)
    assert [(f.client_order_id, f.quantity) for f in fills] == [
        (first.client_order_id, D(2)),
        (second.client_order_id, D("0.49")),
    ]
    assert ledger.cash == D("250") - D("200.40") - D("49.10")
    assert ledger.cash >= 0
    state = known(broker, second.client_order_id)
    assert (state.status, state.reason_code) == (
        OrderStatus.CANCELED,
        reasons.ORDER_INSUFFICIENT_FUNDS,
    )
    third = market(Side.BUY, "1", 3, 0)
    broker.submit(third)
    events = broker.on_bar(bar(H, "100", "100", "100", "100"), cash_available=D("0.5"))
    assert kinds(events) == ["OrderAccepted", "OrderCanceled"]  # nothing affordable at all


def test_cash_guard_without_venue_rules_uses_satoshi_steps() -> None:
    clock = SimClock(0)
    broker = PaperBroker(clock, fees=FLAT_FEES, slippage=NO_SLIP, venue=None)
    order = market(Side.BUY, "1", 1, 0)
    broker.submit(order)
    events = broker.on_bar(bar(0, "3", "3", "3", "3", v="1000"), cash_available=D("1"))
    fill = next(e for e in events if isinstance(e, OrderFilled))
    assert fill.quantity * fill.price + fill.fee <= 1
    assert fill.quantity * fill.price + fill.fee > D("0.99")


def test_errors() -> None:
    clock = SimClock(0)
    broker = make(clock)
    order = market(Side.BUY, "1", 1, 0)
    broker.submit(order)
    with pytest.raises(OrderError) as err:
        broker.submit(order)
    assert err.value.reason_code == reasons.ORDER_DUPLICATE
    with pytest.raises(UnknownOrderError):
        broker.cancel("O-nope")
    assert broker.query("O-nope") is None
    for bad in ({"latency_ns": -1}, {"max_volume_share": "0"}, {"max_volume_share": "1.5"}):
        with pytest.raises(OrderError):
            make(clock, **bad)
    assert "PaperBroker(orders=1" in repr(broker)
    assert list(broker.states) == [order.client_order_id]


def _session(seed: int, jitter: int) -> bytes:
    """A small multi-bar session; returns the canonical bytes of every event."""
    clock = SimClock(0)
    broker = PaperBroker(clock, seed=seed, latency_ns=1_000, latency_jitter_ns=jitter)
    ledger = Ledger("USD", D(50_000))
    out: list[OrderEvent] = []
    price = D(40_000)
    for i in range(12):
        start = i * H
        clock.advance_to(start)
        side = Side.BUY if i % 3 != 2 else Side.SELL
        held = ledger.positions.get("BTC")
        if side is Side.BUY or (held is not None and held.quantity >= D("0.02")):
            order = Order.create(BTC, side, "0.02", ts_init=start, sequence=i)
            out += broker.submit(order)
        clock.advance_to(start + H)
        price += D(150) if i % 2 else D(-90)
        b = Bar(BTC, Timeframe.H1, start, price, price + 50, price - 50, price + 10, "0.5")
        events = broker.on_bar(b, cash_available=ledger.cash)
        for event in events:
            ledger.apply(event)
        out += events
    return canonical_json([e.to_record() for e in out])


def test_same_inputs_and_seed_give_the_same_events() -> None:
    assert _session(7, 500) == _session(7, 500)
    assert _session(7, 0) != _session(8, 0)  # trade ids derive from the seed


def test_events_are_identical_in_another_process_with_another_hash_seed(tmp_path: Path) -> None:
    here = hashlib.sha256(_session(3, 777)).hexdigest()
    script = (
        "import hashlib, importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('t', {str(Path(__file__))!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(hashlib.sha256(m._session(3, 777)).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == here


def test_submitted_event_carries_clock_time() -> None:
    clock = SimClock(42)
    broker = make(clock)
    order = market(Side.BUY, "1", 1, 42)
    assert broker.submit(order) == [OrderSubmitted(order.client_order_id, ts_event=42, ts_init=42)]
    clock.advance_to(50)
    assert broker.cancel(order.client_order_id) == [
        OrderCancelRequested(order.client_order_id, ts_event=50, ts_init=50)
    ]
