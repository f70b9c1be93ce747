"""RT-10: read-path failures (5xx, busy, timeouts, truncated answers).

Pass criterion: retried with capped exponential backoff and seeded jitter on the injected
clock; after N attempts a typed error with a reason code; a write is never retried.
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

from quant_exec.venues.kraken import KrakenPrivateClient, OrderAck
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import ProviderError, UnknownOutcomeError

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


def test_rt_10_read_service_failures_are_retried(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    fake.inject("Balance", FakeFault.SERVICE_BUSY, FakeFault.HTTP_500)
    assert client.balance()["ZUSD"] == Decimal(100000)
    assert fake.calls == ["Balance"] * 3
    fake.inject("Balance", *[FakeFault.SERVICE_UNAVAILABLE] * 3)
    assert _code(client.balance) == ("VENUE_BUSY", False)  # gives up after 3 attempts
