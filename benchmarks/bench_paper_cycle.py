"""One paper/live cycle for one new bar: the runtime on ``StoreFeed`` against re-materializing.

A SQLite store holds a year of 1h history for the 30 Universe V1 coins. Two trading runtimes
(:class:`quant_apps.runtime.TradingRuntime`, each with the shipped bundle's predictor, the
default profiles, the paper broker and a decision log on disk) run side by side. Each cycle
one new bar per coin lands in the store (one page per coin, as a sync writes them), the clock
moves to the bar's close, and each runtime runs one whole cycle: hand the new bars over,
predict, decide, gate, fill, book, append and fsync the log lines, publish the read model.

* quant: the runtime as ``quant paper`` builds it, on :class:`quant_data.StoreFeed` (one
  indexed open-time query per cycle).
* baseline: the same runtime on the cycle before issue 14, which re-materialized a dataset
  (CSV bytes, hash, findings) over the window the session had not seen, every cycle.

Both runtimes must write byte-identical decision logs (checked after the run). Printed: the
per-cycle time of each (median and p99, in ms) and the ratio baseline / quant of the medians;
the goal is a quant p99 of at most 20 ms. Provider I/O (the sync itself) is left out: it is
the same for both and bounded by the network, not by the runtime.

Run: ``uv run python benchmarks/bench_paper_cycle.py [--quick] [--json]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from quant_apps.runtime import BarFeed, PaperLogWriter, TradingRuntime
from quant_apps.runtime.models.activation import activate_bundle
from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.errors import RejectedError
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE, get_universe
from quant_data import Store, StoreFeed
from quant_exec import BacktestConfig

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
    from benchmarks._history import PAGE, SOURCE, H, history_page, p99
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli
    from _history import PAGE, SOURCE, H, history_page, p99


class RematerializingFeed:
    """The baseline: the paper session's bar source before ``StoreFeed`` (issue 14).

    Every call materializes a dataset over the window not yet handed out and sorts its bars.
    """

    def __init__(self, store: Store, symbols: Sequence[str]) -> None:
        self.store, self.symbols = store, list(symbols)
        self._handed: dict[Instrument, int] = {}

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        return tuple(Instrument(s, "USD") for s in self.symbols)

    @property
    def timeframe(self) -> Timeframe:
        return Timeframe.H1

    def _window(self, start_ns: int, end_ns: int) -> list[Bar]:
        try:
            dataset = self.store.materialize(
                self.symbols, "USD", "1h", start_ns, end_ns, prefer=[SOURCE]
            )
        except RejectedError:  # pragma: no cover - the window always holds bars here
            return []
        bars = sorted(dataset.bars(), key=lambda b: (b.open_time_ns, b.instrument.base))
        for bar in bars:
            self._handed[bar.instrument] = bar.open_time_ns
        return bars

    def bars(self, start_ns: int, end_ns: int) -> Iterator[Bar]:
        return iter(self._window(start_ns, end_ns))

    def poll(self, until_ns: int) -> list[Bar]:
        end = Timeframe.H1.floor(until_ns)
        seen = dict(self._handed)
        fresh = self._window(min(seen.values()) + H, end)
        return [b for b in fresh if b.open_time_ns > seen.get(b.instrument, -1)]


def _runtime(feed: BarFeed, clock: SimClock, tmp: Path, name: str) -> TradingRuntime:
    active = activate_bundle(tmp / f"bundle-{name}", require=True, clock=clock)
    runtime = TradingRuntime(
        feed=feed,
        clock=clock,
        predictor=active.predictor,
        config=BacktestConfig.defaults(),
        writer=PaperLogWriter(tmp / f"{name}.jsonl"),
        header={"benchmark": "paper-cycle"},
    )
    runtime.start()
    return runtime


def run(coins: int, hours: int, cycles: int) -> dict[str, float]:
    symbols = sorted(get_universe(UNIVERSE_V1_TOP30_NON_STABLE.name).symbols)[:coins]
    clock = SimClock(hours * H + 1)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        store = Store.open(f"sqlite:///{tmp / 'quant.db'}", clock=clock)
        for symbol in symbols:
            for first in range(0, hours, PAGE):
                store.ingest_page(history_page(symbol, first, min(PAGE, hours - first)))
        ours_rt = _runtime(
            StoreFeed(store, symbols, "USD", Timeframe.H1, prefer=[SOURCE]), clock, tmp, "quant"
        )
        theirs_rt = _runtime(RematerializingFeed(store, symbols), clock, tmp, "baseline")
        ours: list[float] = []
        theirs: list[float] = []
        for hour in range(hours, hours + cycles):
            clock.advance_to((hour + 1) * H + 1)
            for symbol in symbols:
                store.ingest_page(history_page(symbol, hour, 1))
            started = time.perf_counter()
            theirs_rt.cycle()
            theirs.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = ours_rt.cycle()
            ours.append(time.perf_counter() - started)
            if report.bars != coins:
                raise AssertionError(f"cycle {report.cycle} saw {report.bars} bars, not {coins}")
        if (tmp / "quant.jsonl").read_bytes() != (tmp / "baseline.jsonl").read_bytes():
            raise AssertionError("the two runtimes wrote different decision logs")
        store.engine.dispose()
    quant_ms = statistics.median(ours) * 1e3
    baseline_ms = statistics.median(theirs) * 1e3
    return {
        "coins": float(coins),
        "history_bars": float(coins * hours),
        "cycles": float(cycles),
        "quant_ms_median": quant_ms,
        "quant_ms_p99": p99(ours) * 1e3,
        "baseline_ms_median": baseline_ms,
        "baseline_ms_p99": p99(theirs) * 1e3,
        "ratio": baseline_ms / quant_ms,
    }


def _lines(sizes: tuple[int, int, int], r: dict[str, float]) -> list[str]:
    coins, hours, cycles = sizes
    return [
        (
            f"one cycle per new bar, {coins} coins x {hours} h of 1h history in SQLite, "
            f"{cycles} cycles, shipped bundle predictor, decision log fsynced"
        ),
        (
            f"  quant    runtime on StoreFeed       median {r['quant_ms_median']:8.3f} ms  "
            f"p99 {r['quant_ms_p99']:8.3f} ms  (goal: p99 <= 20 ms)"
        ),
        (
            f"  baseline runtime re-materializing  median {r['baseline_ms_median']:8.3f} ms  "
            f"p99 {r['baseline_ms_p99']:8.3f} ms"
        ),
        f"  ratio (baseline time / quant time, medians): {r['ratio']:.1f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    return run_cli(
        argv,
        description=__doc__.splitlines()[0] if __doc__ else None,
        quick=(4, 400, 4),
        full=(30, 8760, 200),
        run=lambda sizes: run(*sizes),
        lines=_lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
