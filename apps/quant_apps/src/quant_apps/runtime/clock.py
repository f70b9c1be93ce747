"""Clocks for applications: the wall clock, and a replay clock that runs a market faster.

Only applications read real time; libraries are handed a :class:`quant_core.Clock`.
:class:`ReplayClock` maps another clock (the wall clock in ``quant serve``; a
:class:`~quant_core.SimClock` in tests) onto a replayed timeline: it starts at ``start_ns`` and
moves ``speed`` times as fast as the clock under it (``speed`` 600 turns a 1h bar into 6
seconds), never backwards.

Examples:
    >>> from quant_core import SimClock
    >>> wall = SimClock(1_000)
    >>> replay = ReplayClock(start_ns=5_000_000_000, speed=600, wall=wall)
    >>> replay.now_ns()
    5000000000
    >>> wall.advance_by(6_000_000_000)  # six seconds of wall time …
    >>> (replay.now_ns() - 5_000_000_000) // 3_600_000_000_000  # … are one hour replayed
    1
"""

from __future__ import annotations

import math
import threading
import time
from fractions import Fraction

from quant_core import Clock, reasons
from quant_core.errors import ValidationError

__all__ = ["ReplayClock", "WallClock"]


class WallClock:
    """The system's UTC clock, as a :class:`quant_core.Clock`."""

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch, from the operating system."""
        return time.time_ns()


class ReplayClock:
    """A clock on a replayed timeline: ``start_ns + (wall.now - wall0) * speed``.

    ``wall0`` is ``wall``'s time when the replay clock is made. The product is exact (the
    speed's binary fraction, integer arithmetic) and rounded down; a ``wall`` that steps back
    leaves the replay clock where it was (it is monotonic non-decreasing). Thread-safe.

    Args:
        start_ns: the replayed instant at creation (UTC ns, >= 0).
        speed: replayed time per unit of wall time (> 0, finite; 1 is real time).
        wall: the clock the replay follows.

    Raises:
        ValidationError: ``INVALID_INPUT`` on a negative start or a speed that is not a
            positive finite number.

    Examples:
        >>> from quant_core import SimClock
        >>> wall = SimClock(10)
        >>> clock = ReplayClock(0, 1.5, wall)
        >>> wall.advance_by(3)
        >>> clock.now_ns(), clock.speed
        (4, 1.5)
    """

    def __init__(self, start_ns: int, speed: float, wall: Clock) -> None:
        """Start the replay now on ``wall`` (see the class docs)."""
        if isinstance(start_ns, bool) or not isinstance(start_ns, int) or start_ns < 0:
            raise ValidationError(
                f"a replay starts at an instant >= 0 ns, not {start_ns!r}",
                reason_code=reasons.INVALID_INPUT,
            )
        if (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not math.isfinite(speed)
            or speed <= 0
        ):
            raise ValidationError(
                f"a replay speed is a positive finite number, not {speed!r}",
                reason_code=reasons.INVALID_INPUT,
            )
        self.start_ns = start_ns
        self.speed = speed
        self._ratio = Fraction(speed)
        self._wall = wall
        self._wall0 = wall.now_ns()
        self._last = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        """The replayed instant now (never earlier than the last one read)."""
        elapsed = self._wall.now_ns() - self._wall0
        now = self.start_ns + elapsed * self._ratio.numerator // self._ratio.denominator
        with self._lock:
            if now > self._last:
                self._last = now
            return self._last

    def __repr__(self) -> str:
        return f"ReplayClock(start_ns={self.start_ns}, speed={self.speed})"
