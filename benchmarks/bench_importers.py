"""Importer throughput: a Kraken OHLCVT archive file against ``pandas.read_csv``.

Baseline: ``pandas.read_csv(path, header=None)`` of the same file — what a notebook would do.
It parses floats and stops there. quant's ``import_file`` detects the format, maps the symbol,
keeps every value as the file's exact decimal text in a ``SourceBar``, notes unmappable rows
and keeps the raw bytes for the ingest record; this measures what that costs.

Run: ``uv run python benchmarks/bench_importers.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from quant_core import SimClock, Timeframe, iso_to_ns
from quant_data import SyntheticMarket, import_file

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_seconds, run_cli, throughput_lines
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_seconds, run_cli, throughput_lines


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
    return run_cli(
        argv,
        description=__doc__,
        quick=(500, 2),
        full=(50_000, 3),
        run=lambda sizes: run(*sizes),
        lines=lambda _, result: throughput_lines(
            f"import_file (Kraken OHLCVT) vs pandas.read_csv, {result['rows']:.0f} rows",
            result,
            "rows/s",
            ">12,.0f",
        ),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
