"""Every OHLCV provider counts its requests, and backfill/sync report exactly that count.

The oracle is the emulator's own log of the requests it served (the other end of the wire),
so retries and Kraken's extra ``Trades`` calls are counted without trusting the adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from quant_core import SimClock, Timeframe, iso_to_ns
from quant_core.settings import Secret
from quant_data import OhlcvProvider, SourceBar, SyntheticMarket
from quant_data.backfill import backfill
from quant_data.emulator import FaultKind, FaultPlan, FaultRule
from quant_data.providers import CoinApiProvider, KrakenPublicProvider
from quant_data.store import MemoryProvider, Store
from quant_data.sync import sync

H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")
END = iso_to_ns("2024-01-03T00:00:00Z")
NOW = END + H // 2


def _market() -> SyntheticMarket:
    return SyntheticMarket(
        seed=4, symbols=("BTC", "ETH"), start_ns=START, end_ns=END, timeframe=Timeframe.H1
    )


def _served(emu: Any, dialect: str) -> int:
    return sum(1 for r in emu.requests if r.dialect == dialect)


def test_coinapi_counts_retries_in_backfill_and_sync(
    emulator_factory: Callable[..., Any],
) -> None:
    clock = SimClock(NOW - 10 * H)
    emu = emulator_factory(
        _market(),
        clock=clock,
        faults=FaultPlan(rules=[FaultRule(FaultKind.SERVER_ERROR, first=1, count=2)], seed=2),
    )
    provider = CoinApiProvider(
        emu.base_url("coinapi"), Secret("k"), clock=clock, seed=1, page_limit=10
    )
    assert isinstance(provider, OhlcvProvider)
    assert provider.requests == 0
    store = Store.open("sqlite://", clock=clock)
    report = backfill(
        store, provider, symbols=["BTC", "ETH"], quote="USD", timeframe="1h", start_ns=START
    )
    pages = sum(s.pages for s in report.series)
    # Two failed attempts were retried: two requests more than pages.
    assert report.requests == _served(emu, "coinapi") == provider.requests == pages + 2
    again = backfill(
        store, provider, symbols=["BTC", "ETH"], quote="USD", timeframe="1h", start_ns=START
    )
    assert again.requests == 0
    before = _served(emu, "coinapi")
    assert emu.clock is clock  # one clock: the provider's and the emulator's now move together
    clock.advance_by(10 * H)
    synced = sync(store, provider, symbols=["BTC", "ETH"], quote="USD", timeframe="1h")
    assert synced.requests == _served(emu, "coinapi") - before > 0
    assert sum(s.bars_new for s in synced.series) == 20
    provider.close()


def test_kraken_counts_every_http_request_not_pages(emulator_factory: Callable[..., Any]) -> None:
    emu = emulator_factory(_market(), clock=SimClock(NOW))
    provider = KrakenPublicProvider(emu.base_url("kraken"), clock=SimClock(NOW), seed=1)
    assert isinstance(provider, OhlcvProvider)
    store = Store.open("sqlite://", clock=SimClock(NOW))
    report = backfill(
        store, provider, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=START, end_ns=END
    )
    assert report.requests == _served(emu, "kraken") == provider.requests > 0
    provider.close()


def test_memory_provider_counts_one_request_per_page() -> None:
    bars = [
        SourceBar("memory", "BTC", "USD", "1h", i * H, "1", "1", "1", "1", "0") for i in range(7)
    ]
    provider = MemoryProvider(bars, page_limit=3)
    assert isinstance(provider, OhlcvProvider)
    pages = list(provider.fetch_ohlcv("BTC", "USD", Timeframe.H1, 0, 7 * H))
    assert (len(pages), provider.requests) == (3, 3)
    with pytest.raises(AttributeError):
        provider.requests = 0  # type: ignore[misc]


def test_a_provider_without_a_request_counter_is_not_an_ohlcv_provider() -> None:
    class NoCounter:
        name = "x"
        page_limit = 1
        confirms_no_trade = False

        def fetch_ohlcv(self, *args: Any) -> Any:
            return iter(())

    assert not isinstance(NoCounter(), OhlcvProvider)
