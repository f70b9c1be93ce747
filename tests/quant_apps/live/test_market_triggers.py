"""Market data on the live stream: a decision trigger, and a stale book suppresses new risk.

Real WebSocket on 127.0.0.1 (W's fake, :mod:`quant_exec.venues.kraken.fake`), a real trading
runtime over the engine's example market (its oracle trades) on a :class:`SimClock` the test
moves; the runner's one waiter (:class:`KeepAliveWaiter`) pumps the stream. Nothing is timed:
each step waits for the state it needs (decision 0113).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quant_apps.runtime import EventWaiter, PaperLogWriter, ProviderSync, TradingRuntime
from quant_apps.runtime.trading.live import KeepAliveWaiter
from quant_apps.runtime.trading.session import MARKET_MIN_S
from quant_core import Instrument, SimClock, Timeframe
from quant_data import MemoryProvider, SourceBar, Store, StoreFeed
from quant_exec import BacktestConfig, RecordedPredictor
from quant_exec.session import example_bars, example_predictions
from quant_exec.venues.kraken import KrakenStream
from quant_exec.venues.kraken.fake import FakeKrakenWs, FakeWsFault, serve_fake_kraken_ws

H = Timeframe.H1.ns
BTC, ETH = Instrument("BTC", "USD"), Instrument("ETH", "USD")
MARKETS = {"BTC/USD": BTC, "ETH/USD": ETH}
NO_CLIENT: Any = None  # dead_man_s=0: the switch is never armed, no call is made
BIDS, ASKS = [("40000.0", "1.5"), ("39999.0", "2")], [("40001.0", "1"), ("40002.0", "3")]


def _runtime(out: Path, url: str) -> tuple[TradingRuntime, KeepAliveWaiter, SimClock]:
    """A runtime over the example market whose waiter pumps the stream at ``url``."""
    bars = example_bars(n_bars=40)
    rows = [
        SourceBar("memory", b.instrument.base, b.instrument.quote.value, "1h", b.open_time_ns,
                  str(b.open), str(b.high), str(b.low), str(b.close), str(b.volume))
        for b in bars
    ]  # fmt: skip
    first = min(b.open_time_ns for b in bars)
    clock = SimClock(first + 2 * H + 2 * 10**9)  # two bars closed: the history to warm
    store = Store.open(f"sqlite:///{out / 'store.sqlite'}", clock=clock)
    waiter = _waiter(url, clock)
    symbols = ["BTC", "ETH"]
    runtime = TradingRuntime(
        feed=StoreFeed(store, symbols, "USD", Timeframe.H1, prefer=["memory"]),
        sync=ProviderSync(store, MemoryProvider(rows), symbols, "USD", Timeframe.H1),
        clock=clock,
        predictor=RecordedPredictor(example_predictions(bars)),
        config=BacktestConfig.defaults(),
        writer=PaperLogWriter(out / "decisions.jsonl"),
        header={"paper": {"run": 1}},
        waiter=waiter,
    )
    waiter.on_market = runtime.on_market
    return runtime, waiter, clock


@pytest.fixture
def ws() -> Iterator[tuple[FakeKrakenWs, str]]:
    fake = FakeKrakenWs(SimClock(0))
    with serve_fake_kraken_ws(fake) as server:
        yield fake, server.url


def _waiter(url: str, clock: SimClock) -> KeepAliveWaiter:
    stream = KrakenStream(
        url, clock=clock, seed=1, symbols=list(MARKETS), ticker=True, book_depth=10,
        ohlc_interval=60,
    )  # fmt: skip
    return KeepAliveWaiter(
        EventWaiter(), NO_CLIENT, clock, dead_man_s=0, refresh_s=20, stream=stream,
        markets=MARKETS,
    )  # fmt: skip


def _until(waiter: KeepAliveWaiter, done: Callable[[], bool]) -> None:
    while not done():
        waiter.wait(1.0)  # any frame ends the wait


def _eth(runtime: TradingRuntime) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (str(r.action), r.reason_codes)
        for r in runtime.engine.log.records
        if r.instrument == "ETH/USD" and str(r.action) != "none"
    ]


def test_a_stale_pair_gets_no_new_entry_while_stale_and_trades_after_recovery(
    tmp_path: Path, ws: tuple[FakeKrakenWs, str]
) -> None:
    fake, url = ws
    runtime, waiter, clock = _runtime(tmp_path, url)
    runtime.start()
    assert waiter.stream is not None
    stream = waiter.stream
    fake.set_book("ETH/USD", BIDS, ASKS)
    _until(waiter, lambda: stream.book("ETH/USD") is not None)
    assert not runtime.engine.stale  # a valid book: nothing marked, nothing logged
    fake.inject(FakeWsFault.BAD_CHECKSUM)
    fake.update_book("ETH/USD", bids=[("40000.0", "1")])
    fake.idle()  # the resubscription's snapshot never comes: the pair stays stale
    _until(waiter, lambda: ETH in runtime.engine.stale)
    assert stream.stale("ETH/USD")
    assert set(runtime.engine.stale) == {ETH}  # BTC's book never came: it is not marked
    clock.advance_by(H)
    runtime.cycle()
    assert _eth(runtime) == [("rejected", ("ENTRY", "MARKET_DATA_STALE"))]
    fake.wake()
    fake.set_book("ETH/USD", BIDS, ASKS)  # a snapshot whose checksum matches
    _until(waiter, lambda: ETH not in runtime.engine.stale)
    clock.advance_by(H)
    runtime.cycle()
    assert _eth(runtime)[-1][0] == "buy"
    risk = [(r["instrument"], r["stale"], r["reason_code"]) for r in runtime.engine.log.risk]
    assert risk == [("ETH/USD", True, "MARKET_DATA_STALE"), ("ETH/USD", False, "MARKET_DATA_VALID")]
    stream.close()


def test_a_market_update_wakes_the_runner_at_most_once_per_bound(
    tmp_path: Path, ws: tuple[FakeKrakenWs, str]
) -> None:
    fake, url = ws
    runtime, waiter, clock = _runtime(tmp_path, url)
    woke: list[tuple[int, bool]] = []  # (updates, whether they brought a cycle forward)
    waiter.on_market = lambda n, stale: woke.append((n, runtime.on_market(n, stale)))
    runtime.start()
    waiter.wait(0.0)  # connects and subscribes
    fake.publish_ticker({"symbol": "BTC/USD", "bid": 40000, "ask": 40001, "last": 40000})
    runner = threading.Thread(target=runtime.wait_for_next_cycle, daemon=True)
    runner.start()  # the clock stands still: only the ticker can end this wait
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert [hit for hit in woke if hit[0]] == [(1, True)]
    woke.clear()
    fake.publish_ohlc({"symbol": "BTC/USD", "open": 1, "high": 1, "low": 1, "close": 1})
    _until(waiter, lambda: any(n for n, _ in woke))
    assert [hit for hit in woke if hit[0]] == [(1, False)]  # within the bound: held back
    woke.clear()
    clock.advance_by(int(MARKET_MIN_S * 10**9))
    fake.publish_ohlc({"symbol": "BTC/USD", "open": 1, "high": 1, "low": 1, "close": 2})
    _until(waiter, lambda: any(n for n, _ in woke))
    assert [hit for hit in woke if hit[0]] == [(1, True)]
    assert not runtime.on_market(0, {})  # no update, no trigger
    assert waiter.stream is not None
    waiter.stream.close()
