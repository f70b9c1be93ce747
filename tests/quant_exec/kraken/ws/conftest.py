"""The fake Kraken WebSocket on 127.0.0.1 and streams pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from quant_core import SimClock
from quant_core.settings import Secret
from quant_exec.venues.kraken import KrakenStream
from quant_exec.venues.kraken.fake import FakeKrakenWs, serve_fake_kraken_ws

SYMBOL = "BTC/USD"


@pytest.fixture
def ws_fake(clock: SimClock) -> FakeKrakenWs:
    return FakeKrakenWs(clock)


@pytest.fixture
def ws_url(ws_fake: FakeKrakenWs) -> Iterator[str]:
    with serve_fake_kraken_ws(ws_fake) as running:
        yield running.url


@pytest.fixture
def make_stream(
    ws_fake: FakeKrakenWs, ws_url: str, clock: SimClock
) -> Iterator[Callable[..., KrakenStream]]:
    made: list[KrakenStream] = []

    def make(**options: Any) -> KrakenStream:
        options.setdefault("token", lambda: Secret(ws_fake.issue_token()))
        stream = KrakenStream(ws_url, clock=clock, seed=7, open_timeout_s=5.0, **options)
        made.append(stream)
        return stream

    yield make
    for stream in made:
        stream.close()


def pump_until(stream: KrakenStream, done: Callable[[], bool], *, tries: int = 200) -> None:
    """Pump (each wait bounded) until ``done()``; fail if it never becomes true."""
    for _ in range(tries):
        if done():
            return
        stream.pump(0.05)
    raise AssertionError("the stream never reached the expected state")


def collect(drain: Callable[[], list[Any]], stream: KrakenStream, count: int) -> list[Any]:
    """Drain until ``count`` items arrived (pumping with bounded waits)."""
    items: list[Any] = []

    def enough() -> bool:
        items.extend(drain())
        return len(items) >= count

    pump_until(stream, enough)
    return items
