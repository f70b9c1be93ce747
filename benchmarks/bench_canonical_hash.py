"""Canonical hashing throughput against the obvious baseline.

Baseline: ``hashlib.sha256(json.dumps(obj, sort_keys=True).encode())`` over the same objects
— what a project without a canonical form would write. quant's ``content_hash`` additionally
refuses NaN/Infinity, writes UTF-8 unescaped, folds -0.0 and handles Decimal, enums and attrs
classes; this measures what that costs.

Run: ``uv run python benchmarks/bench_canonical_hash.py [--quick] [--json]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from quant_core.canonical import content_hash
from quant_core.rng import generator


def corpus(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Records shaped like what quant hashes: bars, decisions with nested inputs, configs."""
    rng = generator(seed, "benchmarks", "canonical")
    records: list[dict[str, Any]] = []
    for i in range(n):
        price = float(rng.lognormal(8, 1))
        records.append(
            {
                "kind": "decision",
                "seq": i,
                "ts_ns": 1_700_000_000_000_000_000 + i * 3_600_000_000_000,
                "symbol": ["BTC", "ETH", "SOL", "XRP"][i % 4],
                "bar": {
                    "open": price,
                    "high": price * 1.01,
                    "low": price * 0.99,
                    "close": price * float(rng.normal(1, 0.005)),
                    "volume": float(rng.exponential(100)),
                },
                "predictions": {f"p_up_{h}": float(rng.uniform()) for h in ("1h", "4h", "24h")},
                "reasons": ["ENTRY_GATED", "NO_ACTION"][: 1 + i % 2],
                "profile": {"version": 3, "sensitivity": "0.5", "persistence": 3},
                "note": "résumé ₿" if i % 10 == 0 else "",
            }
        )
    return records


def baseline(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def best_seconds(fn: Callable[[Any], object], objects: Sequence[Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for obj in objects:
            fn(obj)
        best = min(best, time.perf_counter() - start)
    return best


def run(n: int, repeats: int) -> dict[str, float]:
    objects = corpus(n)
    size_mb = sum(len(json.dumps(o).encode()) for o in objects) / 1e6
    ours = best_seconds(content_hash, objects, repeats)
    base = best_seconds(baseline, objects, repeats)
    return {
        "objects": float(n),
        "megabytes": size_mb,
        "quant_objects_per_s": n / ours,
        "baseline_objects_per_s": n / base,
        "ratio": base / ours,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    n, repeats = (200, 2) if args.quick else (20_000, 5)
    result = run(n, repeats)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"canonical content_hash vs sha256(json.dumps(sort_keys=True)), {n} objects")
        print(f"  quant    {result['quant_objects_per_s']:>12,.0f} objects/s")
        print(f"  baseline {result['baseline_objects_per_s']:>12,.0f} objects/s")
        print(f"  ratio (quant throughput / baseline throughput): {result['ratio']:.3f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
