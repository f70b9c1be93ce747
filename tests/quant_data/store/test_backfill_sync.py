"""Backfill and sync over an in-memory provider: completeness, faults, resume, idempotency."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from quant_core import SimClock, Timeframe
from quant_core.errors import QuantUsageError
from quant_data import OhlcvProvider, SourceBar, reasons
from quant_data.backfill import (
    FULL_HISTORY_START_NS,
    Progress,
    backfill,
    minimum_requests,
    plan_gap_retries,
    plan_windows,
    retry_gaps,
)
from quant_data.store import MemoryProvider, SeriesKey, Store
from quant_data.sync import sync

H = Timeframe.H1.ns
MakeBar = Callable[..., SourceBar]
MISSING = {7, 8, 40}


def source_bars(
    make_bar: MakeBar, n: int = 60, symbols: tuple[str, ...] = ("BTC", "ETH")
) -> list[SourceBar]:
    return [make_bar(i, symbol=s) for s in symbols for i in range(n) if i not in MISSING]


def test_memory_provider_is_an_ohlcv_provider(make_bar: MakeBar) -> None:
    assert isinstance(MemoryProvider([make_bar(0)]), OhlcvProvider)


def test_full_backfill_is_complete_with_minimum_requests(store: Store, make_bar: MakeBar) -> None:
    bars = source_bars(make_bar)
    provider = MemoryProvider(bars, page_limit=16, duplicate_rows=True)
    seen: list[Progress] = []
    report = backfill(
        store,
        provider,
        symbols=["BTC", "ETH"],
        quote="USD",
        timeframe="1h",
        start_ns=0,
        end_ns=60 * H,
        progress=seen.append,
    )
    assert report.requests == 2 * minimum_requests(0, 60 * H, Timeframe.H1, 16) == 8
    for symbol in ("BTC", "ETH"):
        ds = store.materialize([symbol], "USD", "1h", 0, 60 * H)
        expected = sorted(b.open_time_ns for b in bars if b.symbol == symbol)
        assert [b.open_time_ns for b in ds.bars()] == expected
        assert [str(b.close) for b in ds.bars()] == [
            b.close for b in sorted(bars, key=lambda b: b.open_time_ns) if b.symbol == symbol
        ]
        assert store.gaps(SeriesKey("memory", symbol, "USD", "1h")) == sorted(
            i * H for i in MISSING
        )
    btc = [p for p in seen if p.symbol == "BTC"]
    assert [p.done_ns for p in btc] == sorted(p.done_ns for p in btc)
    assert btc[-1].done_ns == btc[-1].total_ns == 60 * H
    assert report.series[0].bars_new == 57
    assert store.verify().ok
    # Run again: the job is done, nothing is fetched, nothing changes.
    before = store.content_hash()
    steps: list[Progress] = []
    again = backfill(
        store,
        provider,
        symbols=["BTC", "ETH"],
        quote="USD",
        timeframe="1h",
        start_ns=0,
        end_ns=60 * H,
        progress=steps.append,
    )
    assert again.requests == 0
    assert store.content_hash() == before
    assert steps == [Progress("BTC", 60 * H, 60 * H, 0), Progress("ETH", 60 * H, 60 * H, 0)]


def test_full_history_by_default(store: Store, clock: SimClock, make_bar: MakeBar) -> None:
    clock.advance_to(FULL_HISTORY_START_NS + 10 * H + 5)
    start = FULL_HISTORY_START_NS
    bars = [
        SourceBar("memory", "BTC", "USD", "1h", start + i * H, "1", "1", "1", "1", "0")
        for i in range(12)
    ]
    report = backfill(
        store, MemoryProvider(bars, page_limit=100), symbols=["BTC"], quote="USD", timeframe="1h"
    )
    assert (report.series[0].start_ns, report.series[0].end_ns) == (start, start + 10 * H)
    assert report.series[0].bars_new == 10


def test_bad_requests_are_usage_errors(store: Store, make_bar: MakeBar) -> None:
    provider = MemoryProvider([make_bar(0)])
    for kwargs in ({"timeframe": "7h"}, {"start_ns": 5 * H, "end_ns": 5 * H}):
        args = {
            "symbols": ["BTC"],
            "quote": "USD",
            "timeframe": "1h",
            "start_ns": 0,
            "end_ns": H,
            **kwargs,
        }
        with pytest.raises(QuantUsageError) as err:
            backfill(store, provider, **args)  # type: ignore[arg-type]
        assert err.value.reason_code == reasons.STORE_REQUEST_INVALID
    with pytest.raises(QuantUsageError):
        sync(store, provider, symbols=["BTC"], quote="USD", timeframe="7h")
    with pytest.raises(QuantUsageError) as nodata:
        sync(store, provider, symbols=["BTC"], quote="USD", timeframe="1h")
    assert "backfill it first" in nodata.value.message
    with pytest.raises(QuantUsageError):
        retry_gaps(store, provider, symbols=["BTC"], quote="USD", timeframe="7h")


def test_plan_windows_and_gap_retry_plan(store: Store, make_bar: MakeBar) -> None:
    assert plan_windows(0, 10 * H, Timeframe.H1, 4) == [(0, 4 * H), (4 * H, 8 * H), (8 * H, 10 * H)]
    provider = MemoryProvider(
        [make_bar(i) for i in range(30) if i not in {2, 3, 5, 20}], page_limit=4
    )
    backfill(
        store, provider, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=0, end_ns=30 * H
    )
    # Slots 2, 3, 5 fit one 4-slot window; 20 needs its own.
    assert plan_gap_retries(store, provider, "BTC", "USD", "1h") == [
        (2 * H, 6 * H),
        (20 * H, 21 * H),
    ]


def test_retry_fills_late_arrivals_and_counts_attempts(store: Store, make_bar: MakeBar) -> None:
    provider = MemoryProvider(source_bars(make_bar, symbols=("BTC",)), page_limit=16)
    backfill(
        store, provider, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=0, end_ns=60 * H
    )
    provider.revise([make_bar(8)])  # slot 8 arrives late; 7 and 40 stay missing
    steps: list[Progress] = []
    report = retry_gaps(
        store, provider, symbols=["BTC"], quote="USD", timeframe="1h", progress=steps.append
    )
    assert report.series[0].gaps_filled == 1
    assert [(p.done_ns // H, p.total_ns // H) for p in steps] == [(2, 2), (1, 1)]
    ledger = {r["open_time_ns"] // H: (r["status"], r["attempts"]) for r in store.ledger()}
    assert ledger == {7: ("retried", 1), 8: ("filled", 0), 40: ("retried", 1)}
    # The same response again is a repeat page: only the attempt count moves.
    retry_gaps(store, provider, symbols=["BTC"], quote="USD", timeframe="1h")
    assert {r["open_time_ns"] // H: r["attempts"] for r in store.ledger()} == {7: 2, 8: 0, 40: 2}
    # A provider that confirms no-trade (here another source) settles the rest.
    confirming = MemoryProvider(
        [attrs.evolve(b, source="kraken") for b in source_bars(make_bar, symbols=("BTC",))],
        name="kraken",
        page_limit=16,
        confirms_no_trade=True,
    )
    backfill(
        store, confirming, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=0, end_ns=60 * H
    )
    statuses = {
        r["open_time_ns"] // H: (r["status"], r["confirmed_by"])
        for r in store.ledger()
        if r["source"] == "memory"
    }
    assert statuses == {
        7: ("confirmed_no_trade", "kraken"),
        8: ("filled", None),
        40: ("confirmed_no_trade", "kraken"),
    }
    kraken = {
        r["open_time_ns"] // H: r["status"] for r in store.ledger() if r["source"] == "kraken"
    }
    assert kraken == dict.fromkeys((7, 8, 40), "confirmed_no_trade")
    assert plan_gap_retries(store, provider, "BTC", "USD", "1h") == []
    assert store.verify().ok


def test_revised_backfill_records_corrections(
    store: Store, clock: SimClock, make_bar: MakeBar
) -> None:
    provider = MemoryProvider([make_bar(i) for i in range(10)], page_limit=4, clock=clock)
    backfill(
        store, provider, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=0, end_ns=10 * H
    )
    seq = store.latest_seq()
    old = store.materialize(["BTC"], "USD", "1h", 0, 10 * H)
    clock.advance_by(H)
    provider.revise([make_bar(3, close="103.75"), make_bar(9, volume="9")])
    report = backfill(
        store, provider, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=0, end_ns=10 * H + H
    )
    assert report.series[0].bars_corrected == 2
    assert [c["open_time_ns"] // H for c in store.corrections()] == [3, 9]
    assert store.materialize(["BTC"], "USD", "1h", 0, 10 * H, as_of=seq).manifest.dataset_hash == (
        old.manifest.dataset_hash
    )


def _sync_run(url: str, bars: list[SourceBar]) -> tuple[str, list[tuple[int, int, int]], list[int]]:
    clock = SimClock(10 * H)
    store = Store.open(url, clock=clock)
    provider = MemoryProvider(bars, page_limit=8, clock=clock)
    backfill(store, provider, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=0)
    requests = []
    for step in (3, 0, 5, 7):
        clock.advance_by(step * H)
        report = sync(store, provider, symbols=["BTC"], quote="USD", timeframe="1h")
        requests.append(report.requests)
    log = [(e["from_ns"] // H, e["to_ns"] // H, e["bars_new"]) for e in store.sync_log()]
    digest = store.content_hash()
    store.engine.dispose()
    return digest, log, requests


def test_sync_appends_incrementally_with_a_deterministic_log(
    backend_url: str, make_bar: MakeBar
) -> None:
    bars = [make_bar(i) for i in range(40)]
    digest, log, requests = _sync_run(backend_url, bars)
    assert log == [(10, 13, 3), (13, 18, 5), (18, 25, 7)]
    assert requests == [1, 0, 1, 1]
    # Another store (in memory) fed the same way holds byte-identical content and log.
    assert _sync_run("sqlite://", bars)[0] == digest


def test_sync_resumes_from_its_cursor_after_a_failure(backend_url: str, make_bar: MakeBar) -> None:
    store = Store.open(backend_url, clock=SimClock(20 * H))
    bars = [make_bar(i) for i in range(30)]

    def boom(page: int) -> None:
        if page == 2:
            raise RuntimeError("connection lost")

    flaky = MemoryProvider(bars, page_limit=4, on_page=boom)
    with pytest.raises(RuntimeError):
        sync(store, flaky, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=0)
    assert store.cursor("sync", SeriesKey("memory", "BTC", "USD", "1h")) == (8 * H, False)
    report = sync(
        store, MemoryProvider(bars, page_limit=4), symbols=["BTC"], quote="USD", timeframe="1h"
    )
    assert report.series[0].start_ns == 8 * H
    ds = store.materialize(["BTC"], "USD", "1h", 0, 20 * H)
    assert [b.open_time_ns // H for b in ds.bars()] == list(range(20))
    store.engine.dispose()


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from quant_core import SimClock, Timeframe
    from quant_data.backfill import backfill
    from quant_data import SourceBar
    from quant_data.store import MemoryProvider, Store

    H = Timeframe.H1.ns
    url, crash_at, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    bars = [SourceBar("memory", s, "USD", "1h", i * H, str(100 + i), str(103 + i), str(99 + i),
                      str(101 + i), "2") for s in ("BTC", "ETH") for i in range(50) if i % 17]
    def hook(page):
        if page == crash_at:
            os._exit(17)
    clock = SimClock(100 * H)
    store = Store.open(url, clock=clock)
    provider = MemoryProvider(bars, page_limit=6, on_page=hook, duplicate_rows=True)
    backfill(store, provider, symbols=["BTC", "ETH"], quote="USD", timeframe="1h",
             start_ns=0, end_ns=50 * H)
    ds = store.materialize(["BTC", "ETH"], "USD", "1h", 0, 50 * H)
    open(out, "w").write(store.content_hash() + " " + ds.manifest.dataset_hash)
    """
)


def _run(url: str, crash_at: int, out: Path, seed: str) -> int:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, url, str(crash_at), str(out)],
        env=env,
        check=False,
        timeout=120,
    ).returncode


def test_backfill_killed_mid_way_resumes_to_the_same_hash(tmp_path: Path) -> None:
    clean, crashed = tmp_path / "clean.db", tmp_path / "crashed.db"
    assert _run(f"sqlite:///{clean}", -1, tmp_path / "clean.txt", "1") == 0
    assert _run(f"sqlite:///{crashed}", 11, tmp_path / "crashed.txt", "2") == 17
    assert not (tmp_path / "crashed.txt").exists()
    assert _run(f"sqlite:///{crashed}", -1, tmp_path / "crashed.txt", "3") == 0
    assert (tmp_path / "crashed.txt").read_text() == (tmp_path / "clean.txt").read_text()
