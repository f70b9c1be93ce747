"""How the edge waits: read and write policies, the rate limiter, sleeps and wait headers."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable

import attrs

from quant_core import NS_PER_SECOND, Clock, SimClock, iso_to_ns
from quant_core.errors import QuantError

__all__ = [
    "RateLimiter",
    "ReadPolicy",
    "WritePolicy",
    "default_sleep",
    "parse_reset_time",
    "parse_retry_after",
    "sim_sleep",
]


def sim_sleep(clock: SimClock) -> Callable[[float], None]:
    """A ``sleep`` that advances a simulated clock instead of waiting.

    Examples:
        >>> from quant_core import SimClock
        >>> clock = SimClock(0)
        >>> sim_sleep(clock)(1.5)
        >>> clock.now_ns()
        1500000000
    """

    def sleep(seconds: float) -> None:
        clock.advance_by(max(0, math.ceil(seconds * NS_PER_SECOND)))

    return sleep


def default_sleep(clock: Clock) -> Callable[[float], None]:
    """:func:`sim_sleep` for a :class:`SimClock`, the process's real sleep otherwise."""
    if isinstance(clock, SimClock):
        return sim_sleep(clock)
    return time.sleep


def _check_rate(timeout_s: float, rate_per_s: float, burst: int) -> None:
    if rate_per_s <= 0 or burst < 1:
        raise ValueError("rate_per_s must be > 0 and burst >= 1")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be > 0")


@attrs.frozen
class ReadPolicy:
    """How idempotent requests to one provider are made: timeout, retries, backoff and rate.

    Attributes:
        timeout_s: per-request timeout (connect, read, write and pool), seconds.
        max_attempts: attempts per request, the first included (>= 1).
        backoff_base_s: delay before the second attempt, doubling after each failure.
        backoff_max_s: ceiling of the exponential delay.
        jitter: fraction of the delay that is randomized (0 = none, 1 = "full jitter").
        rate_per_s: sustained request rate of the token bucket.
        burst: bucket size (requests allowed back to back).
        max_wait_s: the longest single wait the client accepts (``Retry-After``, a quota
            reset); a longer one fails the request instead of stalling the process.

    Examples:
        >>> ReadPolicy().max_attempts
        5
        >>> ReadPolicy(max_attempts=0)
        Traceback (most recent call last):
        ...
        ValueError: max_attempts must be >= 1
    """

    timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter: float = 0.5
    rate_per_s: float = 1.0
    burst: int = 1
    max_wait_s: float = 300.0

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")
        _check_rate(self.timeout_s, self.rate_per_s, self.burst)
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff delays must be >= 0")

    def backoff_s(self, attempt: int, unit: float) -> float:
        """The delay after failed attempt number ``attempt`` (1-based), given ``unit`` in [0, 1).

        ``delay = min(max, base * 2**(attempt-1)) * (1 - jitter + jitter * unit)``.

        Examples:
            >>> ReadPolicy(backoff_base_s=1, jitter=0).backoff_s(3, 0.9)
            4.0
            >>> ReadPolicy(backoff_base_s=1, jitter=1).backoff_s(1, 0.25)
            0.25
        """
        exp = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return exp * (1.0 - self.jitter + self.jitter * unit)


@attrs.frozen
class WritePolicy:
    """How writes to one exchange are made: one attempt each, a timeout and a rate.

    There is no retry budget on purpose: a write is sent once, and a failure after it may
    have been sent is an :class:`~quant_net.UnknownOutcomeError` for the caller to resolve.

    Attributes:
        timeout_s: per-request timeout (connect, read, write and pool), seconds.
        rate_per_s: sustained request rate of the token bucket.
        burst: bucket size (requests allowed back to back).

    Examples:
        >>> WritePolicy().timeout_s
        10.0
        >>> WritePolicy(burst=0)
        Traceback (most recent call last):
        ...
        ValueError: rate_per_s must be > 0 and burst >= 1
    """

    timeout_s: float = 10.0
    rate_per_s: float = 1.0
    burst: int = 1

    def __attrs_post_init__(self) -> None:
        _check_rate(self.timeout_s, self.rate_per_s, self.burst)


class RateLimiter:
    """A token bucket on an injected clock, plus provider-requested pauses.

    Args:
        rate_per_s: tokens added per second.
        burst: bucket capacity (the bucket starts full).
        clock: where "now" comes from.
        sleep: how to wait (see :func:`sim_sleep`).

    Examples:
        >>> from quant_core import SimClock
        >>> clock = SimClock(0)
        >>> limiter = RateLimiter(2.0, 1, clock, sim_sleep(clock))
        >>> [limiter.acquire() for _ in range(3)]
        [0.0, 0.5, 0.5]
        >>> clock.now_ns()
        1000000000
    """

    def __init__(
        self, rate_per_s: float, burst: int, clock: Clock, sleep: Callable[[float], None]
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock.now_ns()
        self._paused_until = 0

    def _refill(self) -> None:
        now = self._clock.now_ns()
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate / 1e9)
            self._stamp = now

    def pause_until(self, ts_ns: int) -> None:
        """Send nothing before ``ts_ns`` (a provider's reset time or ``Retry-After``)."""
        self._paused_until = max(self._paused_until, ts_ns)

    @property
    def paused_until_ns(self) -> int:
        """The instant before which no request is sent (0 when not paused)."""
        return self._paused_until

    def acquire(self) -> float:
        """Wait until a request may be sent and take its token; returns seconds waited."""
        waited = 0.0
        now = self._clock.now_ns()
        if self._paused_until > now:
            pause = (self._paused_until - now) / NS_PER_SECOND
            self._sleep(pause)
            waited += pause
        self._refill()
        if self._tokens < 1.0:
            need = (1.0 - self._tokens) / self._rate
            self._sleep(need)
            waited += need
            self._refill()
            self._tokens = max(self._tokens, 1.0)
        self._tokens -= 1.0
        return waited


def parse_retry_after(value: str | None, now_ns: int) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    Examples:
        >>> parse_retry_after("7", 0), parse_retry_after(None, 0), parse_retry_after("soon", 0)
        (7.0, None, None)
        >>> parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 4_000_000_000)
        6.0
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now_ns / NS_PER_SECOND
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def parse_reset_time(value: str | None) -> int | None:
    """UTC ns of an ISO-8601 reset-time header (CoinAPI ``X-RateLimit-Reset``), or ``None``.

    Examples:
        >>> parse_reset_time("1970-01-01T00:00:01.5000000Z"), parse_reset_time("x")
        (1500000000, None)
    """
    if not value:
        return None
    try:
        return iso_to_ns(value)
    except QuantError:
        return None
