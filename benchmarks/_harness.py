"""Shared scaffolding of the benchmarks: the timing loop and the command line.

Every ``bench_*.py`` imports this as ``_harness`` (its folder is on ``sys.path`` when it is run
as a script, and the benchmark test puts it there too).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

Sizes = TypeVar("Sizes")
Result = TypeVar("Result", bound=Mapping[str, Any])


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def best_pair(
    a: Callable[[], object], b: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """The fastest time of each of ``a`` and ``b``, the two run alternately."""
    best_a = best_b = float("inf")
    for _ in range(repeats):
        best_a = min(best_a, best_seconds(a, 1))
        best_b = min(best_b, best_seconds(b, 1))
    return best_a, best_b


def throughput_lines(
    title: str,
    result: Mapping[str, Any],
    unit: str,
    spec: str,
    notes: Sequence[str] = (),
) -> list[str]:
    """The table of a quant-vs-baseline throughput benchmark.

    ``result`` holds ``quant_<unit>`` and ``baseline_<unit>`` with ``unit`` spelt as a key
    (``"MB/s"`` is ``mb_per_s``), and ``ratio``; ``notes`` go just before the ratio line.
    """
    key = unit.lower().replace("/s", "_per_s")
    return [
        title,
        f"  quant    {result[f'quant_{key}']:{spec}} {unit}",
        f"  baseline {result[f'baseline_{key}']:{spec}} {unit}",
        *notes,
        f"  ratio (quant throughput / baseline throughput): {result['ratio']:.3f}",
    ]


def run_cli(
    argv: Sequence[str] | None,
    *,
    description: str | None,
    quick: Sizes,
    full: Sizes,
    run: Callable[[Sizes], Result],
    lines: Callable[[Sizes, Result], Iterable[str]],
) -> Result:
    """Parse ``--quick``/``--json``, run at the chosen sizes, print JSON or the table."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    sizes = quick if args.quick else full
    result = run(sizes)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for line in lines(sizes, result):
            print(line)
    return result
