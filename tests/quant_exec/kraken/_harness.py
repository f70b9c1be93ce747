"""The fake Kraken exchange over real HTTP on 127.0.0.1 and clients pointed at it.

The fixtures are shared by this folder (``conftest.py`` imports them) and the RT files in
``tests/faults``: import ``fixture_<name>`` and ask for ``<name>``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from quant_core import SimClock
from quant_core.settings import Secret
from quant_exec.venues.kraken import KrakenPrivateClient, NonceSource
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken
from quant_net import ReadPolicy, WritePolicy

START_NS = 1_700_000_000 * 10**9


def make_fake(clock: SimClock) -> FakeKraken:
    """Two pairs, 100,000 USD and 10 ETH."""
    exchange = FakeKraken(clock)
    exchange.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    exchange.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2000"))
    exchange.book.balances["ZUSD"] = Decimal("100000")
    exchange.book.balances["XETH"] = Decimal("10")
    return exchange


def open_client(
    server: Any, clock: SimClock, tmp_path: Path, **overrides: Any
) -> KrakenPrivateClient:
    """A client of ``server`` with short test timeouts (``overrides`` replace any option)."""
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
    return KrakenPrivateClient(server.base_url, **options)


@attrs.frozen
class Live:
    """A served fake and a client of it, on one simulated clock."""

    clock: SimClock
    fake: FakeKraken
    server: Any
    client: KrakenPrivateClient


@contextlib.contextmanager
def live(tmp_path: Path, **overrides: Any) -> Iterator[Live]:
    """Serve :func:`make_fake` and open a client for the ``with`` block."""
    clock = SimClock(START_NS)
    fake = make_fake(clock)
    with serve_fake_kraken(fake, hang_s=5.0) as server:
        client = open_client(server, clock, tmp_path, **overrides)
        try:
            yield Live(clock, fake, server, client)
        finally:
            client.close()


ClientFactory = Callable[..., KrakenPrivateClient]


@pytest.fixture(name="clock")
def fixture_clock() -> SimClock:
    return SimClock(START_NS)


@pytest.fixture(name="fake")
def fixture_fake(clock: SimClock) -> FakeKraken:
    return make_fake(clock)


@pytest.fixture(name="server")
def fixture_server(fake: FakeKraken) -> Iterator[Any]:
    with serve_fake_kraken(fake, hang_s=5.0) as running:
        yield running


@pytest.fixture(name="make_client")
def fixture_make_client(server: Any, clock: SimClock, tmp_path: Path) -> Iterator[ClientFactory]:
    made: list[KrakenPrivateClient] = []

    def make(**overrides: Any) -> KrakenPrivateClient:
        client = open_client(server, clock, tmp_path, **overrides)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(name="client")
def fixture_client(make_client: ClientFactory) -> KrakenPrivateClient:
    return make_client()
