"""Dataset hashing throughput against ``hashlib`` over the same bytes.

quant's path: :func:`quant_data.read_dataset` — read ``bars.csv`` and ``dataset.json``, parse
the manifest, recompute the SHA-256 of the bars and compare it with the pinned hash (what every
consumer of a dataset does before using it). Baseline: ``hashlib.sha256`` of the same
``bars.csv`` bytes read from the same file. Also reported, not in the ratio: how fast
:meth:`Dataset.from_bars` builds the canonical bytes from bars.

Run: ``uv run python benchmarks/bench_dataset_hash.py [--quick] [--json]``
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from quant_core import Bar, Instrument, Timeframe
from quant_data import BARS_FILE, Dataset, read_dataset, write_dataset

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_seconds, run_cli, throughput_lines
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_seconds, run_cli, throughput_lines

H = Timeframe.H1.ns


def make_bars(n: int) -> list[Bar]:
    symbols = [Instrument(s, "USD") for s in ("BTC", "ETH", "SOL", "XRP")]
    out = []
    for i in range(n):
        p = Decimal(20_000 + (i * 7919) % 5000) / 7
        p = p.quantize(Decimal("0.00001"))
        out.append(
            Bar(symbols[i % 4], "1h", (i // 4) * H, p, p + 3, p - 3, p + 1, Decimal(i % 500) / 8)
        )
    return out


def run(n: int, repeats: int) -> dict[str, float]:
    bars = make_bars(n)
    build = best_seconds(lambda: Dataset.from_bars(bars), 1)
    dataset = Dataset.from_bars(bars)
    megabytes = len(dataset.csv_bytes) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ds"
        write_dataset(directory, dataset)
        ours = best_seconds(lambda: read_dataset(directory), repeats)
        base = best_seconds(
            lambda: hashlib.sha256((directory / BARS_FILE).read_bytes()).hexdigest(), repeats
        )
    return {
        "rows": float(n),
        "megabytes": megabytes,
        "quant_mb_per_s": megabytes / ours,
        "baseline_mb_per_s": megabytes / base,
        "build_mb_per_s": megabytes / build,
        "ratio": base / ours,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(4_000, 3),
        full=(400_000, 7),
        run=lambda sizes: run(*sizes),
        lines=lambda _, result: throughput_lines(
            f"read_dataset (verify hash) vs hashlib.sha256, {result['megabytes']:.1f} MB",
            result,
            "MB/s",
            ">10,.1f",
            notes=[f"  (building the canonical bytes: {result['build_mb_per_s']:,.1f} MB/s)"],
        ),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
