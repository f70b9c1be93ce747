"""The replay clock: a faster timeline over another clock, never backwards."""

from __future__ import annotations

import time
from typing import Any

import pytest

from quant_apps.runtime.clock import ReplayClock, WallClock
from quant_core import Clock, SimClock, reasons
from quant_core.errors import ValidationError


class SteppingClock:
    """A wall clock that can step back (as a system clock can)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def now_ns(self) -> int:
        return self.now


def test_replay_runs_speed_times_as_fast_from_its_start() -> None:
    wall = SimClock(1_000)
    clock = ReplayClock(start_ns=10**18, speed=600, wall=wall)
    assert isinstance(clock, Clock)
    assert clock.now_ns() == 10**18
    wall.advance_by(6 * 10**9)
    assert clock.now_ns() == 10**18 + 3_600 * 10**9
    assert repr(clock) == f"ReplayClock(start_ns={10**18}, speed=600)"


def test_real_time_and_fractional_speeds_are_exact() -> None:
    wall = SimClock(0)
    real, slow = ReplayClock(5, 1, wall), ReplayClock(5, 0.25, wall)
    wall.advance_by(7)
    assert (real.now_ns(), slow.now_ns()) == (12, 6)


def test_a_wall_clock_stepping_back_never_moves_the_replay_back() -> None:
    wall = SteppingClock(100)
    clock = ReplayClock(0, 2.0, wall)
    wall.now = 110
    assert clock.now_ns() == 20
    wall.now = 90
    assert clock.now_ns() == 20
    wall.now = 120
    assert clock.now_ns() == 40


def test_over_the_wall_clock_it_moves_forward() -> None:
    clock = ReplayClock(0, 1000.0, WallClock())
    first = clock.now_ns()
    time.sleep(0.001)
    assert clock.now_ns() >= first


@pytest.mark.parametrize(
    ("start", "speed"),
    [(-1, 1.0), (True, 1.0), (1.5, 1.0), (0, 0), (0, -2.0), (0, float("inf")),
     (0, float("nan")), (0, True), (0, "2")],
)  # fmt: skip
def test_bad_starts_and_speeds_are_refused(start: Any, speed: Any) -> None:
    with pytest.raises(ValidationError) as info:
        ReplayClock(start, speed, SimClock(0))
    assert info.value.reason_code == reasons.INVALID_INPUT
