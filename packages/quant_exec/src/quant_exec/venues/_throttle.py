"""A venue's request budget: a token bucket on the injected clock, in whole tokens and ns.

:class:`RateLimit` is the venue's published limit (a burst and a refill period per token);
:class:`TokenBucket` is the budget at one instant, a value: refilling it or taking from it
gives a new bucket. :class:`Throttle` holds one venue's current bucket and reads the time from
the :class:`~quant_core.Clock` it is given, never from the wall clock, so the same calls at
the same clock times always get the same answers.

Examples:
    >>> from quant_core import SimClock
    >>> clock = SimClock(0)
    >>> throttle = Throttle(clock, RateLimit(burst=2, refill_ns=1_000))
    >>> throttle.acquire(), throttle.acquire(), throttle.acquire()  # the third waits 1 us
    (0, 0, 1000)
    >>> clock.advance_to(1_000)
    >>> throttle.acquire()  # the token the third request waited for is spent already
    1000
"""

from __future__ import annotations

import attrs

from quant_core import Clock
from quant_exec import reasons
from quant_exec.errors import ExecConfigError


@attrs.frozen
class RateLimit:
    """At most ``burst`` requests at once, and one more every ``refill_ns``.

    Attributes:
        burst: the bucket's capacity in tokens (one request costs one token unless it says
            otherwise).
        refill_ns: the time one token takes to come back.

    Raises:
        ExecConfigError: ``VENUE_RULES_INVALID`` for a burst or refill period under 1.
    """

    burst: int
    refill_ns: int

    def __attrs_post_init__(self) -> None:
        if self.burst < 1 or self.refill_ns < 1:
            raise ExecConfigError(
                f"a rate limit needs burst >= 1 and refill_ns >= 1, got {self.burst} and "
                f"{self.refill_ns}",
                reason_code=reasons.VENUE_RULES_INVALID,
            )


@attrs.frozen
class TokenBucket:
    """A venue's request budget at ``stamp_ns``: ``tokens`` whole tokens are free.

    Tokens come back one per ``limit.refill_ns`` after ``stamp_ns``; time short of a whole
    token is carried over, never rounded away, so the budget does not depend on how often it
    is looked at.

    Attributes:
        limit: the rate limit.
        tokens: free tokens at ``stamp_ns`` (may be negative: requests already queued).
        stamp_ns: when ``tokens`` was counted.

    Examples:
        >>> bucket = TokenBucket.full(RateLimit(burst=3, refill_ns=10), now_ns=0)
        >>> bucket = bucket.take(0).take(0).take(0)
        >>> bucket.tokens, bucket.wait_ns(0), bucket.wait_ns(25)
        (0, 10, 0)
        >>> bucket.at(25)  # two tokens back; 5 ns carried toward the third
        TokenBucket(limit=RateLimit(burst=3, refill_ns=10), tokens=2, stamp_ns=20)
    """

    limit: RateLimit
    tokens: int
    stamp_ns: int

    @classmethod
    def full(cls, limit: RateLimit, now_ns: int) -> TokenBucket:
        """A bucket holding its whole burst at ``now_ns``."""
        return cls(limit, limit.burst, now_ns)

    def at(self, now_ns: int) -> TokenBucket:
        """The bucket refilled up to ``now_ns`` (itself when no whole token came back).

        A full bucket stops counting: it is stamped ``now_ns``.
        """
        back = max(now_ns - self.stamp_ns, 0) // self.limit.refill_ns
        if back == 0:
            return self
        if self.tokens + back >= self.limit.burst:
            return TokenBucket(self.limit, self.limit.burst, now_ns)
        return TokenBucket(
            self.limit, self.tokens + back, self.stamp_ns + back * self.limit.refill_ns
        )

    def wait_ns(self, now_ns: int, cost: int = 1) -> int:
        """How long from ``now_ns`` until ``cost`` tokens are free (0: now)."""
        bucket = self.at(now_ns)
        short = cost - bucket.tokens
        if short <= 0:
            return 0
        return bucket.stamp_ns + short * self.limit.refill_ns - now_ns

    def take(self, now_ns: int, cost: int = 1) -> TokenBucket:
        """The bucket after a request of ``cost`` tokens at ``now_ns``.

        Taking more than is free leaves the count negative: the request is queued, and
        :meth:`wait_ns` of the result says when the next one can go.
        """
        bucket = self.at(now_ns)
        return TokenBucket(self.limit, bucket.tokens - cost, bucket.stamp_ns)


class Throttle:
    """One venue's request budget on ``clock``; ``limit=None`` never waits.

    Args:
        clock: the session's clock (the only source of time).
        limit: the venue's rate limit, or ``None`` for a venue without one (a backtest).
    """

    def __init__(self, clock: Clock, limit: RateLimit | None = None) -> None:
        self._clock = clock
        self.limit = limit
        self._bucket = TokenBucket.full(limit, clock.now_ns()) if limit is not None else None

    @property
    def bucket(self) -> TokenBucket | None:
        """The budget as of the clock's time now (``None`` without a limit)."""
        return None if self._bucket is None else self._bucket.at(self._clock.now_ns())

    def wait_ns(self, cost: int = 1) -> int:
        """How long until a request of ``cost`` tokens may go, without taking them."""
        now = self._clock.now_ns()
        return 0 if self._bucket is None else self._bucket.wait_ns(now, cost)

    def acquire(self, cost: int = 1) -> int:
        """Take ``cost`` tokens for a request now; return how long it must wait first (ns).

        ``0`` means the request goes at once; otherwise it is queued behind the budget and
        may go that many ns from now (the tokens are taken either way).
        """
        if self._bucket is None:
            return 0
        now = self._clock.now_ns()
        delay = self._bucket.wait_ns(now, cost)
        self._bucket = self._bucket.take(now, cost)
        return delay
