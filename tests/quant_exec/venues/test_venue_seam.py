"""The venue seam: throttle arithmetic, the paper broker's reads, reconciliation on start."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.events import HorizonForecast
from quant_core.profiles import StrategyProfile
from quant_exec.errors import EngineInputError, ExecConfigError
from quant_exec.orders import Order, OrderStatus, Side
from quant_exec.session import (
    BacktestConfig,
    RecordedPredictor,
    TradingSession,
    example_bars,
    example_inputs,
    example_predictions,
    run_backtest,
)
from quant_exec.strategy import StrategyMemo
from quant_exec.venues import ExecutionVenue, PaperBroker, RateLimit, Throttle, TokenBucket

H = Timeframe.H1.ns
BTC = Instrument("BTC", "USD")


def bar(open_ns: int, price: str = "100") -> Bar:
    return Bar(BTC, Timeframe.H1, open_ns, price, price, price, price, "1000")


# --- the token bucket -------------------------------------------------------------------------


@pytest.mark.parametrize(("burst", "refill"), [(0, 1), (1, 0), (-1, 5)])
def test_a_rate_limit_needs_a_burst_and_a_refill_period(burst: int, refill: int) -> None:
    with pytest.raises(ExecConfigError):
        RateLimit(burst, refill)


@given(
    st.integers(1, 5),
    st.integers(1, 1_000),
    st.lists(st.tuples(st.integers(0, 3_000), st.integers(1, 3)), max_size=12),
)
def test_requests_never_go_faster_than_the_limit(
    burst: int, refill: int, steps: list[tuple[int, int]]
) -> None:
    """Each request goes when its tokens are back; over any run, no more than the budget."""
    limit = RateLimit(burst, refill)
    bucket, now, sent = TokenBucket.full(limit, 0), 0, 0
    for gap, cost in steps:
        now += gap
        wait = bucket.wait_ns(now, cost)
        assert wait >= 0
        bucket = bucket.take(now, cost)
        sent += cost
        go = now + wait
        assert sent <= burst + go // refill  # what the budget allows by the time it goes
        assert bucket.wait_ns(go, 0) == 0


def test_a_bucket_refills_in_whole_tokens_and_carries_the_rest() -> None:
    bucket = TokenBucket.full(RateLimit(burst=4, refill_ns=10), 0).take(0, 4)
    assert bucket.at(9) is bucket  # no whole token yet
    assert bucket.at(25) == TokenBucket(bucket.limit, 2, 20)
    assert bucket.at(1_000) == TokenBucket(bucket.limit, 4, 1_000)  # full: stops counting
    assert bucket.wait_ns(0, 2) == 20
    assert bucket.at(25).wait_ns(25, 3) == 5


def test_a_throttle_without_a_limit_never_waits() -> None:
    throttle = Throttle(SimClock(0))
    assert throttle.bucket is None
    assert [throttle.acquire() for _ in range(3)] == [0, 0, 0]
    assert throttle.wait_ns(10) == 0


def test_a_throttle_reads_its_clock() -> None:
    clock = SimClock(0)
    throttle = Throttle(clock, RateLimit(burst=1, refill_ns=100))
    assert throttle.wait_ns() == 0
    assert throttle.acquire() == 0
    assert throttle.wait_ns() == 100
    clock.advance_to(60)
    assert throttle.acquire() == 40  # queued behind the budget
    assert throttle.bucket == TokenBucket(RateLimit(1, 100), -1, 0)
    clock.advance_to(200)
    assert throttle.bucket == TokenBucket(RateLimit(1, 100), 1, 200)


# --- the paper broker behind the seam -----------------------------------------------------------


def test_a_throttled_broker_queues_submits_and_cancels() -> None:
    clock = SimClock(0)
    broker = PaperBroker(clock, latency_ns=5, rate_limit=RateLimit(burst=1, refill_ns=H))
    first = Order.create(BTC, Side.BUY, "0.1", ts_init=0, sequence=1)
    second = Order.create(BTC, Side.BUY, "0.1", ts_init=0, sequence=2)
    broker.submit(first)
    broker.submit(second)  # waits one refill: it cannot trade on the bar opening at 0
    clock.advance_to(H)
    events = broker.on_bar(bar(0), cash_available=Decimal(10_000))
    filled = {e.client_order_id for e in events if type(e).__name__ == "OrderFilled"}
    assert filled == {first.client_order_id}
    assert broker.throttle.wait_ns() == H  # the second's token is spent too
    cancel = broker.cancel(second.client_order_id)
    assert [type(e).__name__ for e in cancel] == ["OrderCancelRequested"]
    clock.advance_to(2 * H + 4)  # the cancel is queued until 2h; its latency counts from then
    assert [type(e).__name__ for e in broker.poll()] == ["OrderAccepted"]
    clock.advance_to(2 * H + 5)
    assert [(type(e).__name__, e.ts_event) for e in broker.poll()] == [("OrderCanceled", 2 * H + 5)]


def test_the_broker_answers_queries_open_orders_and_balances() -> None:
    clock = SimClock(0)
    broker = PaperBroker(clock, balances={"USD": "1000"})
    venue: ExecutionVenue = broker  # the paper broker is an ExecutionVenue
    assert venue.query("O-nope") is None
    buy = Order.create(BTC, Side.BUY, "2", ts_init=0, sequence=1)
    venue.submit(buy)
    state = venue.query(buy.client_order_id)
    assert state is not None
    assert state.status is OrderStatus.SUBMITTED
    assert [s.order for s in venue.open_orders()] == [buy]
    clock.advance_to(H)
    venue.on_bar(bar(0), cash_available=Decimal(1_000))
    fill_state = venue.query(buy.client_order_id)
    assert fill_state is not None
    assert fill_state.status is OrderStatus.FILLED
    assert venue.open_orders() == ()
    sell = Order.create(BTC, Side.SELL, "1", ts_init=H, sequence=2)
    venue.submit(sell)
    clock.advance_to(2 * H)
    venue.on_bar(bar(H, "110"), cash_available=Decimal(1_000))
    balances = venue.balances()
    assert list(balances) == ["BTC", "USD"]
    assert balances["BTC"] == Decimal(1)
    assert Decimal(800) < balances["USD"] < Decimal(1_000) - Decimal(200) + Decimal(110)


def test_after_a_backtest_the_venue_and_the_ledger_agree() -> None:
    """Reconciliation on start: the venue's balances and open orders are the session's books."""
    feed, predictor = example_inputs(n_bars=96)
    session = TradingSession(
        feed.instruments, feed.timeframe, predictor, BacktestConfig.defaults(latency_ns=10**9)
    )
    times = sorted({b.open_time_ns for b in feed.bars(0, 2**62)})
    for ts in times:
        session.on_bars(list(feed.bars(ts, ts + 1)))
    venue, ledger = session.venue, session.ledger
    assert ledger.positions
    balances = venue.balances()
    assert balances["USD"] == ledger.cash
    held = {base: qty for base, qty in balances.items() if base != "USD" and qty}
    assert held == {base: p.quantity for base, p in ledger.positions.items()}
    assert {s.order.client_order_id for s in venue.open_orders()} == set(session.orders)


# --- the session's refusals -------------------------------------------------------------------


def test_a_session_refuses_a_header_key_it_writes_and_bad_warm_ups() -> None:
    bars = example_bars(n_bars=30)
    instruments = sorted({b.instrument for b in bars})
    predictor = RecordedPredictor(example_predictions(bars))
    config = BacktestConfig.defaults()
    with pytest.raises(EngineInputError):
        TradingSession(instruments, Timeframe.H1, predictor, config, header={"profile": "x"})
    session = TradingSession(instruments, Timeframe.H1, predictor, config, header={"run": 1})
    assert session.session["run"] == 1
    with pytest.raises(EngineInputError):
        session.warm([Bar(Instrument("DOGE", "USD"), Timeframe.H1, 0, 1, 1, 1, 1, 1)])
    with pytest.raises(EngineInputError):
        session.warm([bars[0], bars[0]])
    first = [b for b in bars if b.open_time_ns == bars[0].open_time_ns]
    session.on_bars(first)
    with pytest.raises(EngineInputError):
        session.warm(bars)
    assert run_backtest(*example_inputs(n_bars=30), config).metrics["bars"] == 60


# --- the strategy's memo ------------------------------------------------------------------------


def test_the_strategy_memo_stops_growing_at_its_bound() -> None:
    memo = StrategyMemo()
    for n in range(300):
        forecast = HorizonForecast((n + 1) * H, 0.5)
        assert memo.label(forecast) == forecast.label
    assert len(memo.labels) == 256
    profile = StrategyProfile()
    assert memo.thresholds(profile) is memo.thresholds(profile)
    assert memo.thresholds(StrategyProfile()) is not memo.thresholds(profile)
