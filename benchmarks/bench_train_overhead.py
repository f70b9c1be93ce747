"""Training through quant's model wrappers against raw LightGBM and XGBoost on one matrix.

Baseline: ``lightgbm.train`` / ``xgboost.train`` called directly with the same parameters on
the same float64 matrix. quant's wrappers add parameter mapping, seed derivation and the
fixed-thread, deterministic settings; the goal is at most 5% overhead (ratio >= 0.95).
Runs alternate between the two paths and keep the best time of each.

Run: ``uv run python benchmarks/bench_train_overhead.py [--quick] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import xgboost as xgb

from quant_core.rng import generator
from quant_models.models import get_family


def matrix(rows: int, cols: int = 24, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = generator(seed, "benchmarks", "train")
    x = rng.normal(size=(rows, cols))
    y = (x[:, 0] * 0.2 + rng.normal(size=rows) > 0).astype(np.float64)
    return x, y


def best_pair(
    a: Callable[[], object], b: Callable[[], object], repeats: int
) -> tuple[float, float]:
    best_a = best_b = float("inf")
    for _ in range(repeats):
        for fn, slot in ((a, 0), (b, 1)):
            start = time.perf_counter()
            fn()
            took = time.perf_counter() - start
            if slot == 0:
                best_a = min(best_a, took)
            else:
                best_b = min(best_b, took)
    return best_a, best_b


def run(rows: int, rounds: int, repeats: int) -> dict[str, Any]:
    x, y = matrix(rows)
    result: dict[str, Any] = {"rows": rows, "rounds": rounds}
    totals = [0.0, 0.0]
    for name in ("lightgbm", "xgboost"):
        family = get_family(name)
        params = {"n_estimators": rounds}
        probe = family.build(params, seed=1, threads=1)
        raw_params: dict[str, Any] = dict(probe.params)  # type: ignore[attr-defined]

        def ours(family: Any = family, params: dict[str, Any] = params) -> None:
            family.build(params, seed=1, threads=1).fit(x, y)

        if name == "lightgbm":

            def raw(p: dict[str, Any] = raw_params) -> None:
                lgb.train(p, lgb.Dataset(x, label=y, params={"verbosity": -1}), rounds)

        else:

            def raw(p: dict[str, Any] = raw_params) -> None:
                xgb.train(p, xgb.DMatrix(x, label=y), rounds)

        ours()  # warm both paths up (library initialisation, page faults)
        raw()
        t_ours, t_raw = best_pair(ours, raw, repeats)
        result[f"{name}_ours_seconds"] = t_ours
        result[f"{name}_raw_seconds"] = t_raw
        result[f"{name}_ratio"] = t_raw / t_ours
        totals[0] += t_ours
        totals[1] += t_raw
    result["ratio"] = totals[1] / totals[0]
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    rows, rounds, repeats = (2_000, 10, 2) if args.quick else (50_000, 50, 3)
    result = run(rows, rounds, repeats)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"training overhead, {rows} rows x 24 features, {rounds} rounds, 1 thread")
        for name in ("lightgbm", "xgboost"):
            print(
                f"  {name:<9} wrapper {result[f'{name}_ours_seconds']:.4f} s"
                f"  raw {result[f'{name}_raw_seconds']:.4f} s"
                f"  ratio {result[f'{name}_ratio']:.3f}"
            )
        print(f"  ratio (raw time / wrapper time, both libraries): {result['ratio']:.3f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
