"""Time: UTC nanosecond instants and the :class:`Clock` every component is handed.

quant never reads the wall clock in library code. A component that needs "now" receives a
:class:`Clock`; backtests and tests pass a :class:`SimClock`, applications pass a wall clock
(which lives in the apps layer, not here). Instants are plain ``int`` nanoseconds since the
Unix epoch, UTC — the representation every event, bar and record uses.

Examples:
    >>> from quant_core import SimClock, iso_to_ns, ns_to_iso
    >>> clock = SimClock(iso_to_ns("2024-01-01T00:00:00Z"))
    >>> clock.advance_by(3_600 * NS_PER_SECOND)
    >>> ns_to_iso(clock.now_ns())
    '2024-01-01T01:00:00Z'
"""

from __future__ import annotations

import datetime as _dt
from typing import Protocol, runtime_checkable

from quant_core import reasons
from quant_core.errors import ClockError, ValidationError

__all__ = [
    "NS_PER_MILLISECOND",
    "NS_PER_SECOND",
    "Clock",
    "SimClock",
    "datetime_to_ns",
    "iso_to_ns",
    "ns_to_datetime",
    "ns_to_iso",
]

NS_PER_SECOND = 1_000_000_000
NS_PER_MILLISECOND = 1_000_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current UTC time in integer nanoseconds."""

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch, UTC."""
        ...


class SimClock:
    """A simulated clock that only moves when told to, and never backwards.

    Args:
        start_ns: the initial instant (nanoseconds since the epoch, >= 0).

    Raises:
        ClockError: on a negative start or any attempt to move to an earlier instant.
    """

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0) -> None:
        if start_ns < 0:
            raise ClockError(f"clock cannot start before the epoch ({start_ns} ns)")
        self._now = start_ns

    def now_ns(self) -> int:
        """The current simulated instant."""
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        """Move to ``ts_ns``; staying put is allowed, moving back raises :class:`ClockError`."""
        if ts_ns < self._now:
            raise ClockError(f"clock cannot move backwards from {self._now} ns to {ts_ns} ns")
        self._now = ts_ns

    def advance_by(self, delta_ns: int) -> None:
        """Move forward by ``delta_ns`` (which must be >= 0)."""
        self.advance_to(self._now + delta_ns)

    def __repr__(self) -> str:
        return f"SimClock(now={ns_to_iso(self._now)})"


def datetime_to_ns(value: _dt.datetime) -> int:
    """Convert an aware :class:`datetime.datetime` to UTC nanoseconds.

    Raises:
        ValidationError: the datetime is naive (its zone would be a guess).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"naive datetime {value.isoformat()} has no time zone",
            reason_code=reasons.TIMESTAMP_INVALID,
        )
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000


def ns_to_datetime(ts_ns: int) -> _dt.datetime:
    """Convert UTC nanoseconds to an aware UTC datetime (sub-microsecond digits truncated)."""
    return _EPOCH + _dt.timedelta(microseconds=ts_ns // 1_000)


def iso_to_ns(text: str) -> int:
    """Parse an ISO-8601 instant with an explicit offset (``Z`` allowed) to UTC nanoseconds.

    Up to nine fractional digits are honoured exactly.

    Raises:
        ValidationError: the text is not an ISO-8601 instant with a zone.
    """
    raw = text.strip()
    frac_ns = 0
    try:
        head, sep, rest = raw.partition(".")
        if sep:
            digits = ""
            while rest and rest[0].isdigit():
                digits, rest = digits + rest[0], rest[1:]
            if not digits or len(digits) > 9:
                raise ValueError("bad fraction")
            frac_ns = int(digits.ljust(9, "0"))
            raw = head + rest
        parsed = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(
            f"not an ISO-8601 instant: {text!r}", reason_code=reasons.TIMESTAMP_INVALID
        ) from exc
    return datetime_to_ns(parsed) + frac_ns


def ns_to_iso(ts_ns: int) -> str:
    """Format UTC nanoseconds as ISO-8601 with ``Z``; fractional digits only when non-zero."""
    seconds, frac = divmod(ts_ns, NS_PER_SECOND)
    base = (_EPOCH + _dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"
