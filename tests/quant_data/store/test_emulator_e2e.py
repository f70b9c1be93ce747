"""End to end over real HTTP: the provider emulator (with faults) → adapters → backfill → store.

Completeness is checked against the emulator's source bars, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quant_core import SimClock, Timeframe, iso_to_ns
from quant_core.settings import Secret
from quant_data import SyntheticMarket
from quant_data.backfill import backfill, retry_gaps
from quant_data.emulator import FaultKind, FaultPlan, FaultRule, LateCandle, Revision
from quant_data.providers import CoinApiProvider, KrakenPublicProvider
from quant_data.store import SeriesKey, Store

H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")
END = iso_to_ns("2024-01-04T00:00:00Z")
NOW = END + H // 2
SYMBOLS = ("BTC", "ETH")


def market() -> SyntheticMarket:
    return SyntheticMarket(
        seed=11, symbols=SYMBOLS, start_ns=START, end_ns=END, timeframe=Timeframe.H1
    )


def test_coinapi_backfill_with_faults_is_complete_and_reconciles(
    backend_url: str, emulator_factory: Callable[..., Any]
) -> None:
    store = Store.open(backend_url, clock=SimClock(NOW))
    m = market()
    late_slot, revised_slot = START + 10 * H, START + 20 * H
    emulator_clock = SimClock(NOW)
    faults = FaultPlan(
        rules=[
            FaultRule(FaultKind.SERVER_ERROR, count=2),
            FaultRule(FaultKind.RATE_LIMIT, first=2, count=1, retry_after_s=1),
            FaultRule(FaultKind.DUPLICATE, first=3, count=1, rows=2),
            FaultRule(FaultKind.OUT_OF_ORDER, first=4, count=2),
        ],
        late=[LateCandle("BTC", late_slot, NOW + H)],
        revisions=[Revision("ETH", revised_slot, NOW + H, close=None, volume="123.5")],
        seed=5,
    )
    emu = emulator_factory(m, faults=faults, clock=emulator_clock)
    provider = CoinApiProvider(
        emu.base_url("coinapi"), Secret("test-key"), clock=SimClock(NOW), seed=3, page_limit=25
    )
    report = backfill(
        store,
        provider,
        symbols=list(SYMBOLS),
        quote="USD",
        timeframe="1h",
        start_ns=START,
        end_ns=END,
    )
    traded = {s: {b.open_time_ns: b for b in m.bars(s)} for s in SYMBOLS}
    expected_btc = set(traded["BTC"]) - {late_slot}
    ds = store.materialize(list(SYMBOLS), "USD", "1h", START, END)
    got: dict[str, set[int]] = {s: set() for s in SYMBOLS}
    for bar in ds.bars():
        got[bar.instrument.base].add(bar.open_time_ns)
        assert bar.close == traded[bar.instrument.base][bar.open_time_ns].close
    assert got["BTC"] == expected_btc
    assert got["ETH"] == set(traded["ETH"])
    assert sum(s.quarantined for s in report.series) == 0
    # Every slot is either a bar or a ledger entry: nothing vanished, nothing invented.
    for s in SYMBOLS:
        series = SeriesKey("coinapi", s, "USD", "1h")
        slots = set(range(START, END, H))
        assert set(store.gaps(series, statuses=("open", "confirmed_no_trade"))) == slots - got[s]
    # The late candle shows up and the revision takes effect: retry and reconcile.
    emulator_clock.advance_to(NOW + 2 * H)
    retried = retry_gaps(store, provider, symbols=["BTC"], quote="USD", timeframe="1h")
    assert retried.series[0].gaps_filled == 1
    backfill(
        store,
        provider,
        symbols=["ETH"],
        quote="USD",
        timeframe="1h",
        start_ns=revised_slot,
        end_ns=revised_slot + H,
    )
    (correction,) = store.corrections()
    assert (correction["symbol"], correction["open_time_ns"]) == ("ETH", revised_slot)
    assert '"volume":"123.5"' in correction["new_values"]
    assert store.verify().ok
    store.engine.dispose()


def test_kraken_backfill_matches_the_source_including_no_trade_candles(
    backend_url: str, emulator_factory: Callable[..., Any]
) -> None:
    store = Store.open(backend_url, clock=SimClock(NOW))
    m = market()
    emu = emulator_factory(m, clock=SimClock(NOW))
    provider = KrakenPublicProvider(emu.base_url("kraken"), clock=SimClock(NOW), seed=1)
    backfill(
        store,
        provider,
        symbols=list(SYMBOLS),
        quote="USD",
        timeframe="1h",
        start_ns=START,
        end_ns=END,
    )
    ds = store.materialize(list(SYMBOLS), "USD", "1h", START, END)
    expected = sorted(
        (b.symbol, b.open_time_ns, b.close) for s in SYMBOLS for b in m.source_bars(s)
    )
    got = sorted((b.instrument.base, b.open_time_ns, str(b.close)) for b in ds.bars())
    assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in expected]
    from decimal import Decimal

    assert all(Decimal(a[2]) == Decimal(b[2]) for a, b in zip(got, expected, strict=True))
    store.engine.dispose()


READ_SCRIPT = """
import sys
from quant_core import SimClock
from quant_data.store import Store
store = Store.open(sys.argv[1], clock=SimClock(0))
ds = store.materialize(["BTC", "ETH"], "USD", "1h", int(sys.argv[2]), int(sys.argv[3]))
print(store.content_hash(), ds.manifest.dataset_hash)
"""


def test_hashes_equal_across_backends_and_processes(
    tmp_path: Path, pg_url: str, emulator_factory: Callable[..., Any]
) -> None:
    m = market()
    faults = FaultPlan(
        rules=[
            FaultRule(FaultKind.DUPLICATE, count=2, rows=3),
            FaultRule(FaultKind.OUT_OF_ORDER, first=2, count=3),
        ],
        seed=9,
    )
    emu = emulator_factory(m, faults=faults, clock=SimClock(NOW))
    provider = CoinApiProvider(
        emu.base_url("coinapi"), Secret("test-key"), clock=SimClock(NOW), seed=3, page_limit=30
    )
    pages = [
        (s, p) for s in SYMBOLS for p in provider.fetch_ohlcv(s, "USD", Timeframe.H1, START, END)
    ]
    sqlite_url = f"sqlite:///{tmp_path / 'quant.db'}"
    results = []
    for url in (sqlite_url, pg_url):
        store = Store.open(url, clock=SimClock(NOW))
        for symbol, page in pages:
            store.ingest_page(page, series=SeriesKey("coinapi", symbol, "USD", "1h"))
        ds = store.materialize(list(SYMBOLS), "USD", "1h", START, END)
        results.append(f"{store.content_hash()} {ds.manifest.dataset_hash}")
        store.engine.dispose()
    assert results[0] == results[1]
    for url, seed in ((sqlite_url, "101"), (pg_url, "202")):
        out = subprocess.run(
            [sys.executable, "-c", READ_SCRIPT, url, str(START), str(END)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        assert out == results[0]
