"""RT-15: a book checksum mismatch drops the book, resubscribes it, and marks the pair stale.

A real KrakenStream subscribes the fake WebSocket's book on 127.0.0.1; the fake corrupts one
message's CRC32 (``FakeWsFault.BAD_CHECKSUM``). No book update may reach a decision while
the pair is stale; a snapshot whose checksum matches makes it fresh again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from quant_core import SimClock
from quant_exec.venues.kraken import KrakenStream, MarketUpdate
from quant_exec.venues.kraken.fake import FakeKrakenWs, FakeWsFault, serve_fake_kraken_ws

SYMBOL = "BTC/USD"
BIDS = [("45283.5", "0.10000000"), ("45283.4", "1.54582015")]
ASKS = [("45285.2", "0.00100000"), ("45286.4", "1.54571953")]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(1_700_000_000 * 10**9)


@pytest.fixture
def fake(clock: SimClock) -> FakeKrakenWs:
    ws = FakeKrakenWs(clock)
    ws.set_book(SYMBOL, BIDS, ASKS)
    ws.set_book("ETH/USD", [("2000.00", "1.0")], [("2000.10", "2.0")])
    return ws


@pytest.fixture
def stream(fake: FakeKrakenWs, clock: SimClock) -> Iterator[KrakenStream]:
    with serve_fake_kraken_ws(fake) as server:
        seen: list[MarketUpdate] = []
        running = KrakenStream(
            server.url,
            clock=clock,
            seed=1,
            symbols=[SYMBOL, "ETH/USD"],
            book_depth=10,
            on_market=seen.append,
            open_timeout_s=5.0,
        )
        running.open()
        _until(running, lambda: not running.stale(SYMBOL) and not running.stale("ETH/USD"))
        yield running
        running.close()


def _until(stream: KrakenStream, done: Callable[[], bool]) -> None:
    for _ in range(200):
        if done():
            return
        stream.pump(0.05)
    raise AssertionError("never happened")


def _book_requests(fake: FakeKrakenWs) -> list[tuple[str, tuple[str, ...]]]:
    return [(m, s) for _, m, c, s in fake.requests if c == "book"]


def test_a_mismatch_drops_resubscribes_and_marks_stale_until_it_matches(
    stream: KrakenStream, fake: FakeKrakenWs
) -> None:
    stream.drain_market()
    fake.inject(FakeWsFault.BAD_CHECKSUM)
    fake.update_book(SYMBOL, bids=[("45283.6", "0.50000000")])
    fake.idle()  # hold the resubscription's snapshot back so the stale state can be seen
    _until(stream, lambda: len(_book_requests(fake)) == 3)
    assert stream.events == ["KRAKEN_WS_BOOK_CHECKSUM"]
    assert _book_requests(fake) == [
        ("subscribe", (SYMBOL, "ETH/USD")),
        ("unsubscribe", (SYMBOL,)),
        ("subscribe", (SYMBOL,)),
    ]
    assert stream.stale(SYMBOL)
    assert stream.book(SYMBOL) is None
    assert stream.stale("ETH/USD") is False  # the other pair is untouched
    assert stream.drain_market() == []  # the corrupted update never became a trigger
    fake.wake()
    fake.set_book(SYMBOL, [*BIDS, ("45283.6", "0.50000000")], ASKS)  # a snapshot that matches
    _until(stream, lambda: not stream.stale(SYMBOL))
    book = stream.book(SYMBOL)
    assert book is not None
    assert str(book.best_bid()) == "45283.6"
    delivered = stream.drain_market()
    assert [(u.symbol, u.data["checksum"]) for u in delivered] == [(SYMBOL, book.checksum())]
    assert stream.connections == 1
    assert stream.events == ["KRAKEN_WS_BOOK_CHECKSUM"]


def test_updates_for_a_dropped_book_are_ignored_until_its_snapshot(
    stream: KrakenStream, fake: FakeKrakenWs
) -> None:
    stream.drain_market()
    fake.inject(FakeWsFault.BAD_CHECKSUM)
    fake.update_book(SYMBOL, asks=[("45285.2", "0")])
    fake.update_book(SYMBOL, asks=[("45285.3", "0.20000000")])  # valid, but for a dropped book
    fake.idle()
    _until(stream, lambda: len(_book_requests(fake)) == 3)
    stream.pump(0.05)
    assert stream.stale(SYMBOL)
    assert stream.drain_market() == []
    fake.wake()
    fake.set_book(SYMBOL, BIDS, [("45285.3", "0.20000000"), ASKS[1]])
    _until(stream, lambda: not stream.stale(SYMBOL))
    book = stream.book(SYMBOL)
    assert book is not None
    assert str(book.best_ask()) == "45285.3"
    assert stream.events == ["KRAKEN_WS_BOOK_CHECKSUM"]
    assert [u.data["checksum"] for u in stream.drain_market()] == [book.checksum()]
