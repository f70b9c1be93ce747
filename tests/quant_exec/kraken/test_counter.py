"""Kraken's call counter and per-pair order counter on a simulated clock (RT-06, RT-07)."""

from __future__ import annotations

import pytest

from quant_core import SimClock
from quant_exec.venues.kraken import (
    INTERMEDIATE,
    PRO,
    STARTER,
    STARTER_ORDERS,
    CallBudgetError,
    CallCounter,
    CounterTier,
    OrderRateLimiter,
    PausedError,
    call_cost,
    cancel_cost,
)


class RecordingSleep:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance_by(round(seconds * 10**9))


@pytest.mark.parametrize(
    ("tier", "maximum", "decay"), [(STARTER, 15, 0.33), (INTERMEDIATE, 20, 0.5), (PRO, 20, 1.0)]
)
def test_tiers_are_kraken_published_numbers(tier: CounterTier, maximum: int, decay: float) -> None:
    assert (tier.max_count, tier.decay_per_s) == (maximum, decay)


def test_rt_06_counter_never_exceeds_max_and_waits_exactly_for_decay() -> None:
    clock = SimClock(0)
    sleep = RecordingSleep(clock)
    counter = CallCounter(PRO, clock, sleep=sleep)
    for _ in range(20):
        assert counter.acquire("Balance") == 0.0
    assert counter.level() == 20
    assert counter.acquire("Balance") == 1.0  # one unit decays in 1 s on Pro
    assert counter.acquire("TradesHistory") == 2.0  # history calls cost 2
    assert sleep.waits == [1.0, 2.0]
    assert counter.level() <= PRO.max_count
    clock.advance_by(30 * 10**9)
    assert counter.level() == 0.0  # decays to zero, never below


def test_counter_decays_on_the_clock_between_calls() -> None:
    clock = SimClock(0)
    counter = CallCounter(STARTER, clock)
    for _ in range(10):
        counter.acquire("OpenOrders")
    clock.advance_by(10 * 10**9)
    assert counter.level() == pytest.approx(10 - 3.3)
    assert "starter" in repr(counter)


def test_refuses_instead_of_waiting_when_told_or_when_the_wait_is_too_long() -> None:
    clock = SimClock(0)
    counter = CallCounter(PRO, clock, wait=False)
    counter.saturate()
    with pytest.raises(CallBudgetError) as caught:
        counter.acquire("Balance")
    assert caught.value.reason_code == "KRAKEN_CALL_BUDGET"
    assert caught.value.wait_s == 1.0
    assert not caught.value.retryable
    patient = CallCounter(PRO, clock, max_wait_s=1.5)
    patient.saturate()
    with pytest.raises(CallBudgetError):
        patient.acquire("TradesHistory")  # needs 2 s
    assert clock.now_ns() == 0  # refused without waiting


def test_orders_cost_nothing_on_the_call_counter() -> None:
    assert (call_cost("AddOrder"), call_cost("CancelOrder"), call_cost("Ledgers")) == (0, 0, 2)


def test_rt_08_a_pause_stops_every_private_call_until_its_time() -> None:
    clock = SimClock(0)
    counter = CallCounter(STARTER, clock)
    counter.pause_until(900 * 10**9)
    counter.pause_until(10 * 10**9)  # an earlier time never shortens the pause
    assert counter.paused_until_ns == 900 * 10**9
    with pytest.raises(PausedError) as caught:
        counter.acquire("Balance")
    assert caught.value.wait_s == 900.0
    assert caught.value.reason_code == "KRAKEN_PAUSED"
    clock.advance_to(900 * 10**9)
    assert counter.acquire("Balance") == 0.0


def test_rt_07_one_pair_backs_off_the_others_continue() -> None:
    clock = SimClock(0)
    sleep = RecordingSleep(clock)
    limiter = OrderRateLimiter(STARTER_ORDERS, clock, sleep=sleep)
    limiter.saturate("XBTUSD")
    assert limiter.acquire("ETHUSD") == 0.0
    assert limiter.level("ETHUSD") == 1
    assert limiter.acquire("XBTUSD") == 1.0
    assert sleep.waits == [1.0]
    assert limiter.acquire("XBTUSD", cancel_cost(2)) == 8.0  # a cancel within 5 s costs 8


def test_rt_21_cancel_penalty_at_each_age_boundary() -> None:
    eps = 1e-6
    for edge, before, after in [
        (5, 8, 6),
        (10, 6, 5),
        (15, 5, 4),
        (45, 4, 2),
        (90, 2, 1),
        (300, 1, 0),
    ]:
        assert (cancel_cost(edge - eps), cancel_cost(edge), cancel_cost(edge + eps)) == (
            before,
            after,
            after,
        )


def test_a_tier_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        CounterTier("bad", 0, 1)
