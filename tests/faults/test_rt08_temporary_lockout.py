"""RT-08: ``EGeneral:Temporary lockout``.

Pass criterion: every private call stops for the configured lockout (default 15 minutes of
virtual time; nothing is sent meanwhile) with the reason ``VENUE_LOCKOUT`` /
``KRAKEN_PAUSED`` for the operator; public data (``/0/public/Time``) continues.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
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
    STARTER,
    CallCounter,
    KrakenPrivateClient,
    OrderAck,
    PausedError,
)
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import ProviderError, UnknownOutcomeError, kraken


def _post(server: Any, method: str, body: str, nonce: int) -> httpx.Response:
    path = f"/0/private/{method}"
    sign = kraken.sign(path, nonce, body, server.secret)
    return httpx.post(
        server.base_url + path, content=body, headers={"API-Key": server.api_key, "API-Sign": sign}
    )


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


def test_rt_08_a_pause_stops_every_private_call_until_its_time() -> None:
    clock = SimClock(0)
    counter = CallCounter(STARTER, clock)
    counter.pause_until(900 * 10**9)
    counter.pause_until(10 * 10**9)  # an earlier time never shortens the pause
    assert counter.paused_until_ns == 900 * 10**9
    with pytest.raises(PausedError) as caught:
        counter.acquire("Balance")
    assert caught.value.wait_s == 900.0
    assert caught.value.reason_code == "KRAKEN_PAUSED"
    clock.advance_to(900 * 10**9)
    assert counter.acquire("Balance") == 0.0


def test_rt_08_lockout_pauses_every_private_call(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("Balance", FakeFault.LOCKOUT)
    assert _code(client.balance) == ("VENUE_LOCKOUT", False)  # not retried
    with pytest.raises(PausedError) as paused:
        _buy(client)
    assert paused.value.wait_s == 900.0
    assert paused.value.reason_code == "KRAKEN_PAUSED"  # what the operator is shown
    with pytest.raises(PausedError):
        client.cancel_all()
    assert client.server_time().unixtime == clock.now_ns() // 10**9  # public data continues
    assert fake.calls == ["Balance"]  # nothing private sent while paused
    clock.advance_by(900 * 10**9)
    assert client.balance()["ZUSD"] == Decimal(100000)


def test_a_lockout_in_force_refuses_every_caller(
    server: Any, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("Balance", FakeFault.LOCKOUT)
    assert _post(server, "Balance", "nonce=1", 1).json()["error"] == ["EGeneral:Temporary lockout"]
    assert _post(server, "OpenOrders", "nonce=2", 2).json()["error"] == [
        "EGeneral:Temporary lockout"
    ]
    clock.advance_by(fake.lockout_s * 10**9)
    assert _post(server, "OpenOrders", "nonce=3", 3).json() == {"error": [], "result": {"open": {}}}
