"""Kraken's call counter and per-pair order counter on a simulated clock (RT-06, RT-07)."""

from __future__ import annotations

import pytest

from quant_core import SimClock
from quant_exec.venues.kraken import (
    INTERMEDIATE,
    PRO,
    STARTER,
    CallBudgetError,
    CallCounter,
    CounterTier,
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
