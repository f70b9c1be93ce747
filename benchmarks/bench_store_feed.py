"""New bars for a trading session: ``StoreFeed.poll`` against re-materializing each cycle.

A SQLite store holds a year of 1h history for the 30 Universe V1 coins. Each cycle one new
bar per coin lands (one page per coin, as a sync writes them), then both paths hand the
session the bars it has not seen:

* quant: ``StoreFeed.poll(now)`` — one indexed query on open time, no dataset.
* baseline: today's paper-session path, ``store.materialize(symbols, …, first, floor(now),
  prefer=[source])`` over the window the session has not seen, then ``dataset.bars()`` sorted
  (CSV bytes, hash and the findings summary on every cycle).

Both run on the same store and must return equal bars. Printed: the per-cycle time of each
(median and p99, in ms), the time per new bar, and the ratio baseline / quant of the medians.
The store's open-time index (decision 0065) also speeds the baseline up; a last run of
cycles times the baseline with that index dropped, as stores were before it
(``ratio_before_index``).

Run: ``uv run python benchmarks/bench_store_feed.py [--quick] [--json]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from quant_core import SimClock, Timeframe
from quant_core.events import bar_sort_key
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE, get_universe
from quant_data import Store, StoreFeed

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
    from benchmarks._history import PAGE, SOURCE, H, history_page, p99
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli
    from _history import PAGE, SOURCE, H, history_page, p99


def run(coins: int, hours: int, cycles: int) -> dict[str, float]:
    symbols = sorted(get_universe(UNIVERSE_V1_TOP30_NON_STABLE.name).symbols)[:coins]
    clock = SimClock((hours + 2 * cycles + 2) * H)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'quant.db'}", clock=clock)
        for symbol in symbols:
            for first in range(0, hours, PAGE):
                store.ingest_page(history_page(symbol, first, min(PAGE, hours - first)))
        feed = StoreFeed(store, symbols, "USD", Timeframe.H1, prefer=[SOURCE])
        history = list(feed.bars(0, hours * H))
        seen = {b.instrument.base: b.open_time_ns for b in history}
        ours: list[float] = []
        theirs: list[float] = []
        for hour in range(hours, hours + cycles):
            for symbol in symbols:
                store.ingest_page(history_page(symbol, hour, 1))
            now = (hour + 1) * H
            started = time.perf_counter()
            dataset = store.materialize(
                symbols, "USD", "1h", min(seen.values()) + H, now, prefer=[SOURCE]
            )
            expected = sorted(dataset.bars(), key=bar_sort_key)
            theirs.append(time.perf_counter() - started)
            started = time.perf_counter()
            fresh = feed.poll(now)
            ours.append(time.perf_counter() - started)
            if fresh != expected:
                raise AssertionError(f"the feed and materialize disagree at hour {hour}")
            seen.update((b.instrument.base, b.open_time_ns) for b in fresh)
        with store.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_qd_bar_open_time"))
        before: list[float] = []
        for hour in range(hours + cycles, hours + cycles + max(cycles // 4, 2)):
            for symbol in symbols:
                store.ingest_page(history_page(symbol, hour, 1))
            started = time.perf_counter()
            dataset = store.materialize(
                symbols, "USD", "1h", hour * H, (hour + 1) * H, prefer=[SOURCE]
            )
            sorted(dataset.bars(), key=bar_sort_key)
            before.append(time.perf_counter() - started)
        store.engine.dispose()
    quant_ms = statistics.median(ours) * 1e3
    baseline_ms = statistics.median(theirs) * 1e3
    return {
        "coins": float(coins),
        "history_bars": float(coins * hours),
        "cycles": float(cycles),
        "quant_ms_median": quant_ms,
        "quant_ms_p99": p99(ours) * 1e3,
        "quant_us_per_new_bar": quant_ms * 1e3 / coins,
        "baseline_ms_median": baseline_ms,
        "baseline_ms_p99": p99(theirs) * 1e3,
        "baseline_us_per_new_bar": baseline_ms * 1e3 / coins,
        "before_index_ms_median": statistics.median(before) * 1e3,
        "ratio": baseline_ms / quant_ms,
        "ratio_before_index": statistics.median(before) * 1e3 / quant_ms,
    }


def _lines(sizes: tuple[int, int, int], r: dict[str, float]) -> list[str]:
    coins, hours, cycles = sizes
    return [
        f"new bars per cycle, {coins} coins x {hours} h of 1h history in SQLite, {cycles} cycles",
        (
            f"  quant    StoreFeed.poll     median {r['quant_ms_median']:8.3f} ms  "
            f"p99 {r['quant_ms_p99']:8.3f} ms  {r['quant_us_per_new_bar']:8.1f} us/new bar"
        ),
        (
            f"  baseline materialize+bars() median {r['baseline_ms_median']:8.3f} ms  "
            f"p99 {r['baseline_ms_p99']:8.3f} ms  {r['baseline_us_per_new_bar']:8.1f} us/new bar"
        ),
        (
            f"  baseline without the open-time index (stores before it) median "
            f"{r['before_index_ms_median']:8.3f} ms"
        ),
        f"  ratio (baseline time / quant time, medians): {r['ratio']:.1f}",
        f"  ratio against the baseline before the index: {r['ratio_before_index']:.1f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(3, 100, 5),
        full=(30, 8760, 200),
        run=lambda sizes: run(*sizes),
        lines=_lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
