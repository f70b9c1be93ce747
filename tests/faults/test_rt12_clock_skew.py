"""RT-12: clock skew.

Pass criterion: nonces stay strictly increasing across clock jumps (-5 min, +10 min) and a
restart behind the persisted high-water mark; a skew against Kraken's ``/0/public/Time``
beyond the threshold refuses trading with ``CLOCK_SKEW`` (threshold - 1 s, threshold,
threshold + 1 s, both signs).
"""

from __future__ import annotations

from pathlib import Path

from tests.quant_exec.kraken._harness import (  # noqa: F401  # the live fixtures
    fixture_client,
    fixture_clock,
    fixture_fake,
    fixture_make_client,
    fixture_server,
)

from quant_exec.venues.kraken import NonceSource


class JumpingClock:
    """A wall clock stand-in that can jump backwards and forwards (RT-12)."""

    def __init__(self, now_ns: int) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now


def test_rt_12_nonce_strictly_increasing_across_clock_jumps_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "n"
    clock = JumpingClock(1_000_000_000_000)
    source = NonceSource(path, clock)
    seen = [source.next()]
    clock.now -= 5 * 60 * 10**9  # -5 min
    seen += [source.next(), source.next()]
    clock.now += 15 * 60 * 10**9  # +10 min from the start
    seen.append(source.next())
    clock.now = 0  # a restart with the clock far behind the persisted mark
    seen.append(NonceSource(path, clock).next())
    assert seen == sorted(set(seen))
    assert seen[1] == seen[0] + 1
    assert seen[3] == (1_000_000_000_000 + 10 * 60 * 10**9) // 1000  # the clock again
    assert NonceSource(path, clock).last() == seen[-1]
