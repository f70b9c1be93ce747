"""RT-06: Kraken's REST call counter (tiers, decay, history calls cost 2) and its refusals.

Pass criterion: the client-side counter keeps the venue's counter under its maximum (0
rate-limit answers in steady state); after an injected ``EAPI:Rate limit exceeded`` no request
leaves before the counter decays, after ``EService:Throttled:<ts>`` none before ``<ts>``; the
sleep sequence is exact for a seed.
"""

from __future__ import annotations

import math
from decimal import Decimal
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
from quant_core.settings import Secret
from quant_exec.venues.kraken import PRO, CallCounter, KrakenPrivateClient, NonceSource
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken, serve_fake_kraken
from quant_net import ProviderError, UnknownOutcomeError


class RecordingSleep:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance_by(round(seconds * 10**9))


def _code(call: object) -> tuple[str, bool]:
    assert callable(call)
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value.reason_code, isinstance(caught.value, UnknownOutcomeError)


def test_rt_06_venue_rate_limit_fills_the_local_counter(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    fake.counter.add(15)  # another process used the key: the venue's counter is full
    before = clock.now_ns()
    assert client.balance()["ZUSD"] == Decimal(100000)
    # Refused once; the local counter was saturated, so the retry waited for its decay.
    assert fake.calls == ["Balance", "Balance"]
    assert clock.now_ns() - before >= int(10**9 / 0.33)
    assert client.counter.level() <= client.counter.tier.max_count


def test_rt_06_steady_state_stays_under_the_venue_limit(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    for _ in range(40):
        client.open_orders()
    client.trades_history()
    assert fake.calls == ["OpenOrders"] * 40 + ["TradesHistory"]  # no refusal, no retry


def test_rt_06_counter_never_exceeds_max_and_waits_exactly_for_decay() -> None:
    clock = SimClock(0)
    sleep = RecordingSleep(clock)
    counter = CallCounter(PRO, clock, sleep=sleep)
    for _ in range(20):
        assert counter.acquire("Balance") == 0.0
    assert counter.level() == 20
    assert counter.acquire("Balance") == 1.0  # one unit decays in 1 s on Pro
    assert counter.acquire("TradesHistory") == 2.0  # history calls cost 2
    assert sleep.waits == [1.0, 2.0]
    assert counter.level() <= PRO.max_count
    clock.advance_by(30 * 10**9)
    assert counter.level() == 0.0  # decays to zero, never below


def test_throttled_pauses_until_the_stated_time(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("OpenOrders", FakeFault.THROTTLED)
    assert _code(client.open_orders) == ("VENUE_THROTTLED", False)
    assert client.counter.paused_until_ns == clock.now_ns() + 60 * 10**9


def _sleeps_after_a_venue_rate_limit(tmp_path: Path, run: int) -> list[float]:
    clock = SimClock(1_700_000_000 * 10**9)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance_by(math.ceil(seconds * 10**9))

    fake = FakeKraken(clock)
    fake.counter.add(15)
    with serve_fake_kraken(fake) as running:
        client = KrakenPrivateClient(
            running.base_url,
            api_key=Secret(running.api_key),
            secret=Secret(running.secret),
            clock=clock,
            seed=5,
            nonce=NonceSource(tmp_path / f"n{run}", clock),
            sleep=sleep,
        )
        client.balance()
        client.close()
    return waits


def test_rt_06_exact_sleep_sequence_with_seeded_jitter(tmp_path: Path) -> None:
    first = _sleeps_after_a_venue_rate_limit(tmp_path, 1)
    assert first == _sleeps_after_a_venue_rate_limit(tmp_path, 2)  # the same, wait for wait
    backoff, counter_wait = first  # the read policy's jittered backoff, then the counter's decay
    assert 0.5 <= backoff <= 1.0
    assert backoff + counter_wait == pytest.approx(1 / 0.33, abs=1e-6)
