"""RT-12: clock skew.

Pass criterion: nonces stay strictly increasing across clock jumps (-5 min, +10 min) and a
restart behind the persisted high-water mark; a skew against Kraken's ``/0/public/Time``
beyond the threshold refuses trading with ``CLOCK_SKEW`` (threshold - 1 s, threshold,
threshold + 1 s, both signs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.quant_exec.kraken._harness import (  # noqa: F401  # the live fixtures
    fixture_client,
    fixture_clock,
    fixture_fake,
    fixture_make_client,
    fixture_server,
)

from quant_core import SimClock
from quant_core.errors import RejectedError
from quant_exec.venues.kraken import KrakenPrivateClient, NonceSource
from quant_exec.venues.kraken.fake import FakeKraken


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


def test_server_time_is_kraken_s_answer_to_the_second(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    sample = json.loads(
        (
            Path(os.environ.get("QUANT_SHARED_DATA", "/work/shared/data"))
            / "api-samples/kraken/nautilus__http_server_time.json"
        ).read_text()
    )["result"]
    clock.advance_to(sample["unixtime"] * 10**9 + 999_999_999)
    found = client.server_time()
    assert (found.unixtime, found.rfc1123) == (sample["unixtime"], sample["rfc1123"])
    assert fake.calls == []  # public: no key, no nonce, no private counter


@pytest.mark.parametrize(
    ("skew_s", "verdict"),
    [
        (4.0, 4.0),
        (5.0, 5.0),
        (6.0, None),  # Kraken ahead: threshold - 1, at, + 1
        (-5.0, -4.0),
        (-6.0, -5.0),
        (-7.0, None),  # behind (one-second resolution)
        (0.5, 0.0),
    ],
)
def test_rt_12_skew_beyond_the_threshold_refuses_trading(
    client: KrakenPrivateClient, fake: FakeKraken, skew_s: float, verdict: float | None
) -> None:
    fake.skew_s = skew_s
    if verdict is not None:
        assert client.check_clock_skew(max_skew_s=5.0) == verdict
        return
    with pytest.raises(RejectedError) as caught:
        client.check_clock_skew(max_skew_s=5.0)
    assert caught.value.reason_code == "CLOCK_SKEW"
    assert caught.value.skew_s == skew_s + (1 if skew_s < 0 else 0)  # type: ignore[attr-defined]
    side = "behind" if skew_s > 0 else "ahead of"
    assert f"{abs(skew_s + (1 if skew_s < 0 else 0)):g}s {side} Kraken's" in str(caught.value)
