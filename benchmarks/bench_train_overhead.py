"""Training through quant's model wrappers against raw LightGBM and XGBoost on one matrix.

Baseline: ``lightgbm.train`` / ``xgboost.train`` called directly with the same parameters on
the same float64 matrix. quant's wrappers add parameter mapping, seed derivation and the
fixed-thread, deterministic settings; the goal is at most 5% overhead (ratio >= 0.95).
Runs alternate between the two paths and keep the best time of each.

Run: ``uv run python benchmarks/bench_train_overhead.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import xgboost as xgb

from quant_core import generator
from quant_models.families import get_family

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_pair, run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_pair, run_cli


def matrix(rows: int, cols: int = 24, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = generator(seed, "benchmarks", "train")
    x = rng.normal(size=(rows, cols))
    y = (x[:, 0] * 0.2 + rng.normal(size=rows) > 0).astype(np.float64)
    return x, y


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


def lines(sizes: tuple[int, int, int], result: dict[str, Any]) -> list[str]:
    rows, rounds, _ = sizes
    out = [f"training overhead, {rows} rows x 24 features, {rounds} rounds, 1 thread"]
    out.extend(
        f"  {name:<9} wrapper {result[f'{name}_ours_seconds']:.4f} s"
        f"  raw {result[f'{name}_raw_seconds']:.4f} s"
        f"  ratio {result[f'{name}_ratio']:.3f}"
        for name in ("lightgbm", "xgboost")
    )
    out.append(f"  ratio (raw time / wrapper time, both libraries): {result['ratio']:.3f}")
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(2_000, 10, 2),
        full=(50_000, 50, 3),
        run=lambda sizes: run(*sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
