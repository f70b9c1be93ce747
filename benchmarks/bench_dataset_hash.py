"""Dataset hashing throughput against ``hashlib`` over the same bytes.

quant's path: :func:`quant_data.read_dataset` — read ``bars.csv`` and ``dataset.json``, parse
the manifest, recompute the SHA-256 of the bars and compare it with the pinned hash (what every
consumer of a dataset does before using it). Baseline: ``hashlib.sha256`` of the same
``bars.csv`` bytes read from the same file. Also reported, not in the ratio: how fast
:meth:`Dataset.from_bars` builds the canonical bytes from bars.

Run: ``uv run python benchmarks/bench_dataset_hash.py [--quick] [--json]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from quant_core import Bar, Instrument, Timeframe
from quant_data import Dataset, read_dataset, write_dataset
from quant_data.dataset import BARS_FILE

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


def best(fn: Callable[[], object], repeats: int) -> float:
    fastest = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def run(n: int, repeats: int) -> dict[str, float]:
    bars = make_bars(n)
    build = best(lambda: Dataset.from_bars(bars), 1)
    dataset = Dataset.from_bars(bars)
    megabytes = len(dataset.csv_bytes) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ds"
        write_dataset(directory, dataset)
        ours = best(lambda: read_dataset(directory), repeats)
        base = best(
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    n, repeats = (4_000, 3) if args.quick else (400_000, 7)
    result = run(n, repeats)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"read_dataset (verify hash) vs hashlib.sha256, {result['megabytes']:.1f} MB")
        print(f"  quant    {result['quant_mb_per_s']:>10,.1f} MB/s")
        print(f"  baseline {result['baseline_mb_per_s']:>10,.1f} MB/s")
        print(f"  (building the canonical bytes: {result['build_mb_per_s']:,.1f} MB/s)")
        print(f"  ratio (quant throughput / baseline throughput): {result['ratio']:.3f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
