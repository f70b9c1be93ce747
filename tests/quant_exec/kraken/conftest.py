"""The fake Kraken exchange over real HTTP on 127.0.0.1, and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quant_core import SimClock
from quant_core.settings import Secret
from quant_exec.venues.kraken import KrakenPrivateClient, NonceSource
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken
from quant_net import ReadPolicy, WritePolicy

START_NS = 1_700_000_000 * 10**9


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START_NS)


@pytest.fixture
def fake(clock: SimClock) -> FakeKraken:
    exchange = FakeKraken(clock)
    exchange.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    exchange.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2000"))
    exchange.book.balances["ZUSD"] = Decimal("100000")
    exchange.book.balances["XETH"] = Decimal("10")
    return exchange


@pytest.fixture
def server(fake: FakeKraken) -> Iterator[Any]:
    with serve_fake_kraken(fake, hang_s=5.0) as running:
        yield running


ClientFactory = Callable[..., KrakenPrivateClient]


@pytest.fixture
def make_client(server: Any, clock: SimClock, tmp_path: Path) -> Iterator[ClientFactory]:
    made: list[KrakenPrivateClient] = []

    def make(**overrides: Any) -> KrakenPrivateClient:
        options: dict[str, Any] = {
            "api_key": Secret(server.api_key),
            "secret": Secret(server.secret),
            "clock": clock,
            "seed": 11,
            "nonce": NonceSource(tmp_path / "kraken.nonce", clock),
            "read_policy": ReadPolicy(timeout_s=5.0, rate_per_s=100.0, burst=100, max_attempts=3),
            "write_policy": WritePolicy(timeout_s=0.5, rate_per_s=100.0, burst=100),
        }
        options.update(overrides)
        client = KrakenPrivateClient(server.base_url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> KrakenPrivateClient:
    return make_client()
