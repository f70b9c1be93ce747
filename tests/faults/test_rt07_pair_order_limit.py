"""RT-07: ``EOrder:Rate limit exceeded`` on one pair.

Pass criterion: only that pair's order flow backs off; other pairs continue.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.quant_exec.kraken._harness import (  # noqa: F401  # the live fixtures
    fixture_client,
    fixture_clock,
    fixture_fake,
    fixture_make_client,
    fixture_server,
)

from quant_core import SimClock
from quant_exec.venues.kraken import (
    STARTER_ORDERS,
    KrakenPrivateClient,
    OrderAck,
    OrderRateLimiter,
    cancel_cost,
)
from quant_exec.venues.kraken.fake import FakeKraken
from quant_net import ProviderError, UnknownOutcomeError


class RecordingSleep:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance_by(round(seconds * 10**9))


BTC = "XBTUSD"


def _buy(client: KrakenPrivateClient, cl: str = "c1", volume: str = "0.5") -> OrderAck:
    return client.add_order(
        pair=BTC, side="buy", order_type="market", volume=Decimal(volume), cl_ord_id=cl
    )


def _code(call: object) -> tuple[str, bool]:
    assert callable(call)
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value.reason_code, isinstance(caught.value, UnknownOutcomeError)


def test_rt_07_one_pair_backs_off_the_others_continue() -> None:
    clock = SimClock(0)
    sleep = RecordingSleep(clock)
    limiter = OrderRateLimiter(STARTER_ORDERS, clock, sleep=sleep)
    limiter.saturate("XBTUSD")
    assert limiter.acquire("ETHUSD") == 0.0
    assert limiter.level("ETHUSD") == 1
    assert limiter.acquire("XBTUSD") == 1.0
    assert sleep.waits == [1.0]
    assert limiter.acquire("XBTUSD", cancel_cost(2)) == 8.0  # a cancel within 5 s costs 8


def test_rt_07_order_rate_limit_is_per_pair(client: KrakenPrivateClient, fake: FakeKraken) -> None:
    fake._order_counter(BTC).saturate()
    assert _code(lambda: _buy(client)) == ("VENUE_ORDER_RATE_LIMITED", False)
    assert client.order_limiter.level(BTC) >= client.order_limiter.tier.max_count
    client.add_order(pair="ETHUSD", side="sell", order_type="market", volume=Decimal(1))
    assert client.order_limiter.level("ETHUSD") == 1
