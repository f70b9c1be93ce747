"""Kraken's rate limits, modelled on the client's side so that Kraken never has to refuse.

- **The call counter** (per key): each private call adds its cost, the counter decays at the
  tier's rate, and a call that would take it above the tier's maximum is refused by Kraken
  (``EAPI:Rate limit exceeded``). :class:`CallCounter` keeps the same counter on the injected
  clock and, before a call that would exceed, waits until it has decayed enough (or refuses
  with :class:`~quant_exec.venues.kraken.CallBudgetError` when waiting is off or the wait is
  longer than ``max_wait_s``). History queries (``TradesHistory``, ``QueryTrades``,
  ``Ledgers``, ``QueryLedgers``) cost 2; order placement and cancellation cost nothing here
  (they fall under the per-pair trading limit). After a lockout or a throttle answer,
  :meth:`CallCounter.pause_until` stops every private call until the stated time (RT-06, RT-08).
- **The per-pair order rate** (``EOrder:Rate limit exceeded``): each pair has its own counter;
  an order adds 1 and a cancel adds a penalty that shrinks with the order's age
  (:func:`cancel_cost`). :class:`OrderRateLimiter` backs off one pair without touching the
  others (RT-07).

Examples:
    >>> from quant_core import SimClock
    >>> clock = SimClock(0)
    >>> counter = CallCounter(STARTER, clock)
    >>> [counter.acquire("Balance") for _ in range(15)][-1]
    0.0
    >>> round(counter.acquire("Balance"), 3)  # full: waits for 1 / 0.33 s of decay
    3.03
    >>> call_cost("TradesHistory"), call_cost("AddOrder"), call_cost("Balance")
    (2, 0, 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

import attrs

from quant_core import NS_PER_SECOND, Clock
from quant_exec.venues.kraken._errors import CallBudgetError, PausedError
from quant_net import default_sleep

__all__ = [
    "CALL_COSTS",
    "INTERMEDIATE",
    "INTERMEDIATE_ORDERS",
    "PRO",
    "PRO_ORDERS",
    "STARTER",
    "STARTER_ORDERS",
    "CallCounter",
    "CounterTier",
    "OrderRateLimiter",
    "call_cost",
    "cancel_cost",
]


@attrs.frozen
class CounterTier:
    """One verification tier's counter: its maximum and its decay per second.

    Examples:
        >>> STARTER.max_count, STARTER.decay_per_s, PRO.decay_per_s
        (15.0, 0.33, 1.0)
    """

    name: str
    max_count: float
    decay_per_s: float

    def __attrs_post_init__(self) -> None:
        if self.max_count <= 0 or self.decay_per_s <= 0:
            raise ValueError("max_count and decay_per_s must be > 0")


STARTER: Final = CounterTier("starter", 15.0, 0.33)
"""Starter tier: maximum 15, decays 0.33 per second."""
INTERMEDIATE: Final = CounterTier("intermediate", 20.0, 0.5)
"""Intermediate tier: maximum 20, decays 0.5 per second."""
PRO: Final = CounterTier("pro", 20.0, 1.0)
"""Pro tier: maximum 20, decays 1 per second."""

STARTER_ORDERS: Final = CounterTier("starter", 60.0, 1.0)
"""Per-pair trading counter, Starter tier (Kraken's published threshold and decay)."""
INTERMEDIATE_ORDERS: Final = CounterTier("intermediate", 125.0, 2.34)
"""Per-pair trading counter, Intermediate tier."""
PRO_ORDERS: Final = CounterTier("pro", 180.0, 3.75)
"""Per-pair trading counter, Pro tier."""

CALL_COSTS: Final[Mapping[str, int]] = {
    "TradesHistory": 2,
    "QueryTrades": 2,
    "Ledgers": 2,
    "QueryLedgers": 2,
    "AddOrder": 0,
    "CancelOrder": 0,
    "EditOrder": 0,
    "CancelAll": 0,
    "CancelAllOrdersAfter": 0,
}
"""What a private method adds to the call counter when it is not 1."""

_CANCEL_PENALTIES: Final = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))


def call_cost(method: str) -> int:
    """What ``method`` adds to the call counter (see :data:`CALL_COSTS`; 1 otherwise)."""
    return CALL_COSTS.get(method, 1)


def cancel_cost(age_s: float) -> int:
    """The per-pair penalty of cancelling an order ``age_s`` seconds after it was placed.

    Examples:
        >>> [cancel_cost(a) for a in (0, 5, 12, 30, 60, 200, 301)]
        [8, 6, 5, 4, 2, 1, 0]
    """
    for below, cost in _CANCEL_PENALTIES:
        if age_s < below:
            return cost
    return 0


class _Bucket:
    """A counter that decays linearly on a clock, never below 0."""

    def __init__(self, tier: CounterTier, clock: Clock) -> None:
        self.tier = tier
        self._clock = clock
        self._level = 0.0
        self._stamp = clock.now_ns()

    def level(self) -> float:
        now = self._clock.now_ns()
        if now > self._stamp:
            decayed = (now - self._stamp) * self.tier.decay_per_s / NS_PER_SECOND
            self._level = max(0.0, self._level - decayed)
            self._stamp = now
        return self._level

    def wait_s(self, cost: float) -> float:
        excess = self.level() + cost - self.tier.max_count
        return max(0.0, excess / self.tier.decay_per_s)

    def add(self, cost: float) -> None:
        self._level = self.level() + cost

    def saturate(self) -> None:
        self._level = max(self.level(), self.tier.max_count)


class _Waiter:
    """The wait-or-refuse policy both limiters share."""

    def __init__(
        self, clock: Clock, sleep: Callable[[float], None] | None, wait: bool, max_wait_s: float
    ) -> None:
        self.clock = clock
        self.sleep = sleep or default_sleep(clock)
        self.wait = wait
        self.max_wait_s = max_wait_s

    def take(self, bucket: _Bucket, cost: float, what: str) -> float:
        waited = 0.0
        need = bucket.wait_s(cost)
        while need > 0:
            if not self.wait or waited + need > self.max_wait_s:
                raise CallBudgetError(
                    f"kraken: {what} would exceed the {bucket.tier.name} counter "
                    f"(max {bucket.tier.max_count:g}); room in {need:.3f}s",
                    wait_s=need,
                )
            # Round up to the clock's nanosecond so the decay really covers the cost.
            need = math.ceil(need * NS_PER_SECOND) / NS_PER_SECOND
            self.sleep(need)
            waited += need
            need = bucket.wait_s(cost)
        bucket.add(cost)
        return waited


class CallCounter:
    """One API key's call counter, kept on the injected clock.

    Args:
        tier: the key's :class:`CounterTier` (:data:`STARTER`, :data:`INTERMEDIATE`,
            :data:`PRO`).
        clock: where "now" comes from.
        sleep: how to wait (default :func:`quant_net.default_sleep` of ``clock``).
        wait: wait for room (``True``) or refuse at once (``False``).
        max_wait_s: the longest wait accepted; a longer one refuses.
    """

    def __init__(
        self,
        tier: CounterTier,
        clock: Clock,
        *,
        sleep: Callable[[float], None] | None = None,
        wait: bool = True,
        max_wait_s: float = 60.0,
    ) -> None:
        self.tier = tier
        self._bucket = _Bucket(tier, clock)
        self._waiter = _Waiter(clock, sleep, wait, max_wait_s)
        self._paused_until = 0

    def __repr__(self) -> str:
        return f"CallCounter({self.tier.name}, level={self.level():.3f})"

    def level(self) -> float:
        """The counter now (after decay)."""
        return self._bucket.level()

    def acquire(self, method: str) -> float:
        """Take room for one call to ``method``; returns the seconds waited.

        Raises:
            PausedError: private calls are paused (:meth:`pause_until`); nothing is sent.
            CallBudgetError: the call does not fit and waiting is off or too long.
        """
        now = self._waiter.clock.now_ns()
        if self._paused_until > now:
            wait_s = (self._paused_until - now) / NS_PER_SECOND
            raise PausedError(
                f"kraken: private calls paused for {wait_s:.3f}s more; {method} not sent",
                wait_s=wait_s,
            )
        return self._waiter.take(self._bucket, call_cost(method), method)

    def saturate(self) -> None:
        """Kraken said ``EAPI:Rate limit exceeded``: treat the counter as full."""
        self._bucket.saturate()

    def pause_until(self, ts_ns: int) -> None:
        """Send no private call before ``ts_ns`` (a lockout, ``EService:Throttled:<ts>``)."""
        self._paused_until = max(self._paused_until, ts_ns)

    @property
    def paused_until_ns(self) -> int:
        """The instant before which no private call is sent (0 when not paused)."""
        return self._paused_until


class OrderRateLimiter:
    """Per-pair order-rate counters: one pair backing off leaves the others alone.

    Args:
        tier: the per-pair :class:`CounterTier` (:data:`STARTER_ORDERS`, ...).
        clock: as for :class:`CallCounter`.
        sleep: as for :class:`CallCounter`.
        wait: as for :class:`CallCounter`.
        max_wait_s: as for :class:`CallCounter`.

    Examples:
        >>> from quant_core import SimClock
        >>> limiter = OrderRateLimiter(STARTER_ORDERS, SimClock(0), wait=False)
        >>> limiter.saturate("XBTUSD")
        >>> limiter.acquire("ETHUSD")
        0.0
        >>> limiter.acquire("XBTUSD")
        Traceback (most recent call last):
        ...
        quant_exec.venues.kraken._errors.CallBudgetError: [KRAKEN_CALL_BUDGET] kraken: order on XBTUSD would exceed the starter counter (max 60); room in 1.000s
    """  # noqa: E501

    def __init__(
        self,
        tier: CounterTier,
        clock: Clock,
        *,
        sleep: Callable[[float], None] | None = None,
        wait: bool = True,
        max_wait_s: float = 60.0,
    ) -> None:
        self.tier = tier
        self._clock = clock
        self._pairs: dict[str, _Bucket] = {}
        self._waiter = _Waiter(clock, sleep, wait, max_wait_s)

    def _bucket(self, pair: str) -> _Bucket:
        if pair not in self._pairs:
            self._pairs[pair] = _Bucket(self.tier, self._clock)
        return self._pairs[pair]

    def level(self, pair: str) -> float:
        """``pair``'s counter now (after decay)."""
        return self._bucket(pair).level()

    def acquire(self, pair: str, cost: int = 1) -> float:
        """Take room for an order (cost 1) or a cancel (:func:`cancel_cost`) on ``pair``.

        Raises:
            CallBudgetError: it does not fit and waiting is off or too long.
        """
        return self._waiter.take(self._bucket(pair), cost, f"order on {pair}")

    def saturate(self, pair: str) -> None:
        """Kraken said ``EOrder:Rate limit exceeded`` for ``pair``: treat its counter as full."""
        self._bucket(pair).saturate()
