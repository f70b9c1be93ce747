"""Importer throughput: a Kraken OHLCVT archive file against ``pandas.read_csv``.

Baseline: ``pandas.read_csv(path, header=None)`` of the same file — what a notebook would do.
It parses floats and stops there. quant's ``import_file`` detects the format, maps the symbol,
keeps every value as the file's exact decimal text in a ``SourceBar``, notes unmappable rows
and keeps the raw bytes for the ingest record; this measures what that costs.

Run: ``uv run python benchmarks/bench_importers.py [--quick] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from quant_core import SimClock, Timeframe, iso_to_ns
from quant_data.importers import import_file
from quant_data.synthetic import SyntheticMarket


def write_archive(folder: Path, hours: int) -> Path:
    """A Kraken OHLCVT-style file (no header, unix seconds) from the synthetic market."""
    start = iso_to_ns("2020-01-01T00:00:00Z")
    market = SyntheticMarket(
        seed=5, symbols=["BTC"], start_ns=start, end_ns=start + hours * Timeframe.H1.ns
    )
    lines = [
        f"{b.open_time_ns // 10**9},{b.open},{b.high},{b.low},{b.close},{b.volume},{b.trades}\n"
        for b in market.bars("BTC")
    ]
    path = folder / "XBTUSD_60.csv"
    path.write_text("".join(lines))
    return path


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(hours: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_archive(Path(tmp), hours)
        rows = len(import_file(path, clock=SimClock(0)).bars)
        ours = best_seconds(lambda: import_file(path, clock=SimClock(0)), repeats)
        base = best_seconds(lambda: pd.read_csv(path, header=None), repeats)
    return {
        "rows": float(rows),
        "quant_rows_per_s": rows / ours,
        "baseline_rows_per_s": rows / base,
        "ratio": base / ours,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    hours, repeats = (500, 2) if args.quick else (50_000, 3)
    result = run(hours, repeats)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"import_file (Kraken OHLCVT) vs pandas.read_csv, {result['rows']:.0f} rows")
        print(f"  quant    {result['quant_rows_per_s']:>12,.0f} rows/s")
        print(f"  baseline {result['baseline_rows_per_s']:>12,.0f} rows/s")
        print(f"  ratio (quant throughput / baseline throughput): {result['ratio']:.3f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
