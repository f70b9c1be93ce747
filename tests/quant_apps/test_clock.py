"""The application's wall clock."""

from __future__ import annotations

import time

from quant_apps.runtime.clock import WallClock
from quant_core import Clock


def test_wall_clock_reads_the_system_clock() -> None:
    clock = WallClock()
    assert isinstance(clock, Clock)
    before = time.time_ns()
    now = clock.now_ns()
    after = time.time_ns()
    assert before <= now <= after
