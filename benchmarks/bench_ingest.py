"""Canonical-bar ingest throughput of the store against raw ``sqlite3.executemany``.

Baseline: ``sqlite3`` ``executemany`` of the same rows into a table of the same shape (one
transaction per page) — the least a store can do. quant's path additionally validates every
row (decimal parsing, OHLC consistency, grid, clock), deduplicates, looks up the latest
versions, records the raw page and maintains the gap ledger, all through SQLAlchemy Core.

Run: ``uv run python benchmarks/bench_ingest.py [--quick] [--json]``
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from quant_core import SimClock, Timeframe
from quant_data import FetchedPage, RawPage, SourceBar
from quant_data.store import Store

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli, throughput_lines
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli, throughput_lines

H = Timeframe.H1.ns
PAGE = 1000


def pages(n: int) -> list[FetchedPage]:
    out = []
    for start in range(0, n, PAGE):
        bars = tuple(
            SourceBar(
                "bench",
                "BTC",
                "USD",
                "1h",
                i * H,
                f"{100 + i % 50}.25",
                f"{102 + i % 50}.5",
                f"{99 + i % 50}.125",
                f"{101 + i % 50}.75",
                f"{i % 97}.0625",
                i % 13,
            )
            for i in range(start, min(start + PAGE, n))
        )
        raw = RawPage("bench", f"GET /bench?start={start}", 0, 200, str(start).encode())
        out.append(FetchedPage(raw, bars, start * H, (start + len(bars)) * H, None))
    return out


def ours(batch: list[FetchedPage], directory: Path) -> float:
    store = Store.open(f"sqlite:///{directory / 'ours.db'}", clock=SimClock(10**9 * H))
    started = time.perf_counter()
    for page in batch:
        store.ingest_page(page)
    elapsed = time.perf_counter() - started
    store.engine.dispose()
    return elapsed


def baseline(batch: list[FetchedPage], directory: Path) -> float:
    conn = sqlite3.connect(directory / "base.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE bar (source TEXT, symbol TEXT, quote TEXT, timeframe TEXT, "
        "open_time_ns INTEGER, version INTEGER, open TEXT, high TEXT, low TEXT, close TEXT, "
        "volume TEXT, trades INTEGER, ingest_seq INTEGER, PRIMARY KEY (source, symbol, quote, "
        "timeframe, open_time_ns, version))"
    )
    started = time.perf_counter()
    for seq, page in enumerate(batch, 1):
        rows = [
            (
                b.source,
                b.symbol,
                b.quote,
                b.timeframe,
                b.open_time_ns,
                1,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.trades,
                seq,
            )
            for b in page.bars
        ]
        with conn:
            conn.executemany("INSERT INTO bar VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def run(n: int, repeats: int) -> dict[str, float]:
    batch = pages(n)
    best_ours = best_base = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            best_ours = min(best_ours, ours(batch, Path(tmp)))
            best_base = min(best_base, baseline(batch, Path(tmp)))
    return {
        "rows": float(n),
        "quant_rows_per_s": n / best_ours,
        "baseline_rows_per_s": n / best_base,
        "ratio": best_base / best_ours,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(2_000, 1),
        full=(50_000, 3),
        run=lambda sizes: run(*sizes),
        lines=lambda sizes, result: throughput_lines(
            f"store ingest vs sqlite3.executemany, {sizes[0]} canonical bars",
            result,
            "rows/s",
            ">12,.0f",
        ),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
