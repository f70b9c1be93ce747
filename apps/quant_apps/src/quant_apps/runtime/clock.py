"""The wall clock. Only applications read real time; libraries are handed a clock."""

from __future__ import annotations

import time

__all__ = ["WallClock"]


class WallClock:
    """The system's UTC clock, as a :class:`quant_core.Clock`."""

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch, from the operating system."""
        return time.time_ns()
