"""Canonical hashing throughput against the obvious baseline.

Baseline: ``hashlib.sha256(json.dumps(obj, sort_keys=True).encode())`` over the same objects
— what a project without a canonical form would write. quant's ``content_hash`` additionally
refuses NaN/Infinity, writes UTF-8 unescaped, folds -0.0 and handles Decimal, enums and attrs
classes; this measures what that costs.

Run: ``uv run python benchmarks/bench_canonical_hash.py [--quick] [--json]``
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from quant_core import content_hash, generator

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_seconds, run_cli, throughput_lines
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_seconds, run_cli, throughput_lines


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


def run(n: int, repeats: int) -> dict[str, float]:
    objects = corpus(n)
    size_mb = sum(len(json.dumps(o).encode()) for o in objects) / 1e6

    def ours_pass() -> None:
        for obj in objects:
            content_hash(obj)

    def base_pass() -> None:
        for obj in objects:
            baseline(obj)

    ours = best_seconds(ours_pass, repeats)
    base = best_seconds(base_pass, repeats)
    return {
        "objects": float(n),
        "megabytes": size_mb,
        "quant_objects_per_s": n / ours,
        "baseline_objects_per_s": n / base,
        "ratio": base / ours,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(200, 2),
        full=(20_000, 5),
        run=lambda sizes: run(*sizes),
        lines=lambda sizes, result: throughput_lines(
            f"canonical content_hash vs sha256(json.dumps(sort_keys=True)), {sizes[0]} objects",
            result,
            "objects/s",
            ">12,.0f",
        ),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
