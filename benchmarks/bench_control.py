"""Decision-log pages for the operator control plane: ``DecisionIndex.page`` against a scan.

A paper decision log of 1,000,000 decision lines (the shape a paper session writes: session
headers per run, decision lines for five coins — mostly ``none`` with ``NO_EDGE``, some
entries, exits and risk rejections — order lines after each order and a few risk lines) is
written through :class:`quant_exec.DecisionLog`. Then:

* build: ``DecisionIndex.refresh()`` on the whole log (one transaction), timed once; an
  append of 1,000 lines is then indexed by a second refresh (``append_ms``).
* quant: ``DecisionIndex.page(**filters)`` for a set of filters (none, coin, reason code,
  coin and reason code, action, a rare reason, a deep cursor), p99 and median per filter;
  and ``refresh()`` then ``page()`` (what the control plane does per request).
* baseline: what reading without an index costs — scan the JSONL file, ``json.loads`` every
  line, keep the matching decisions, newest first (fewer repeats: it is slow).

Printed: build time, each filter's p99 (the target is <= 5 ms at 1M lines), the baseline
median, and the ratio baseline median / quant p99 over the filters measured by both.
:func:`time_calls` times any callable, so an HTTP endpoint (``GET /api/v1/decisions``) can be
measured the same way on the same log (see :func:`measure_page`).

Run: ``uv run python benchmarks/bench_control.py [--quick] [--json]``
"""

from __future__ import annotations

import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quant_apps.runtime.operator.decisionindex import DecisionIndex
from quant_exec import DecisionLog

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
    from benchmarks._history import p99
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli
    from _history import p99

H = 3_600_000_000_000
COINS = ("BTC", "ETH", "SOL", "ADA", "XRP")
PROFILE = "strategy v1 / risk v1 / sha256:" + "ab" * 32
MODEL = "sha256:" + "cd" * 32
FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "coin": {"instrument": "ETH"},
    "reason": {"reason": "ENTRY"},
    "coin+reason": {"instrument": "SOL", "reason": "EXIT"},
    "action": {"action": "rejected"},
    "rare reason": {"reason": "DRAWDOWN_LIMIT"},
    "deep cursor": {"instrument": "BTC", "before": "deep"},
}
BASELINE_FILTERS = ("coin", "coin+reason", "deep cursor")


def _decision(i: int) -> tuple[str, tuple[str, ...], Decimal | None]:
    """Action, reason codes and quantity of the ``i``-th decision (a fixed pattern)."""
    if i % 997 == 0:
        return "rejected", ("ENTRY", "DRAWDOWN_LIMIT"), Decimal("0.5")
    if i % 53 == 0:
        return "buy", ("ENTRY",), Decimal("0.02404347")
    if i % 59 == 0:
        return "sell", ("EXIT",), Decimal("0.02404347")
    if i % 7 == 0:
        return "rejected", ("ENTRY", "MAX_TOTAL_EXPOSURE"), Decimal("0.1")
    return "none", ("NO_EDGE",), None


def write_log(path: Path, decisions: int, runs: int = 4) -> int:
    """Write a paper log of ``decisions`` decision lines over ``runs`` runs; its line count."""
    per_run = -(-decisions // runs)
    total = 0
    with path.open("wb") as fh:
        for run in range(1, runs + 1):
            log = DecisionLog({"paper": {"run": run}, "model_id": MODEL, "instruments": COINS})
            first = (run - 1) * per_run
            for i in range(first, min(decisions, first + per_run)):
                coin = COINS[i % len(COINS)]
                action, codes, quantity = _decision(i)
                inputs = {
                    "drop_pct": str(Decimal(i % 500) / 100),
                    "negative_streak": i % 4,
                    "p_down_near": round(0.2 + (i % 61) / 100, 5),
                    "p_up": {"1d": round(0.3 + (i % 41) / 100, 4), "4h": 0.6},
                    "position": "0",
                    "prediction_ts": (i // len(COINS)) * H,
                    "price": f"{100 + i % 1000}.25",
                }
                order = f"O-{i:020x}" if action in ("buy", "sell") else None
                log.add(
                    (i // len(COINS)) * H, "bar", f"{coin}/USD", action, codes, PROFILE,
                    inputs, quantity, order, MODEL,
                )  # fmt: skip
                if i % 10_000 == 5_000:
                    log.add_risk((i // len(COINS)) * H, "kill_switch", {"action": "engage"})
            data = log.to_bytes()
            fh.write(data)
            total += data.count(b"\n")
    return total


def scan_page(path: Path, filters: Mapping[str, Any], limit: int = 50) -> list[dict[str, Any]]:
    """The no-index baseline: parse every line, keep matching decisions, newest first."""
    found: list[dict[str, Any]] = []
    run = 0
    coin = filters.get("instrument")
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            row = json.loads(line)
            if row["kind"] == "session":
                run = row["paper"]["run"]
                continue
            if row["kind"] != "decision" or number >= filters.get("before", number + 1):
                continue
            if coin is not None and row["instrument"].split("/")[0] != coin:
                continue
            if "reason" in filters and filters["reason"] not in row["reason_codes"]:
                continue
            if "action" in filters and row["action"] != filters["action"]:
                continue
            found.append({**row, "run": run, "id": number})
    return found[::-1][:limit]


def time_calls(call: Callable[[], object], repeats: int) -> list[float]:
    """The seconds each of ``repeats`` calls of ``call`` took (for pages, endpoints, scans)."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def measure_page(
    page: Callable[..., object], filters: Mapping[str, Mapping[str, Any]], repeats: int
) -> dict[str, dict[str, float]]:
    """Median and p99 (ms) of ``page(**filters)`` per named filter set.

    ``page`` is :meth:`DecisionIndex.page` here; an HTTP client wrapper with the same keyword
    arguments measures the endpoint the same way.
    """
    out = {}
    for name, kwargs in filters.items():
        samples = time_calls(functools.partial(page, **kwargs), repeats)
        out[name] = {
            "median_ms": statistics.median(samples) * 1e3,
            "p99_ms": p99(samples) * 1e3,
        }
    return out


def run(decisions: int, repeats: int, baseline_repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "decisions.jsonl"
        started = time.perf_counter()
        lines = write_log(log_path, decisions)
        write_s = time.perf_counter() - started
        index = DecisionIndex(log_path, Path(tmp) / "decisions.index.sqlite")
        started = time.perf_counter()
        indexed = index.refresh()
        build_s = time.perf_counter() - started
        assert indexed == lines, (indexed, lines)
        filters = {
            name: {**f, "before": lines // 10} if f.get("before") == "deep" else f
            for name, f in FILTERS.items()
        }
        quant = measure_page(index.page, filters, repeats)

        def refreshed(**kwargs: Any) -> object:  # what the control plane does per request
            index.refresh()
            return index.page(**kwargs)

        quant.update(measure_page(refreshed, {"refresh+coin": filters["coin"]}, repeats))
        baseline: dict[str, float] = {}
        for name in BASELINE_FILTERS:
            expected = index.page(**filters[name])["items"]
            if scan_page(log_path, filters[name]) != expected:
                raise AssertionError(f"the index and the scan disagree on {name}")
            scan = functools.partial(scan_page, log_path, filters[name])
            samples = time_calls(scan, baseline_repeats)
            baseline[name] = statistics.median(samples) * 1e3
        extra = write_log(Path(tmp) / "more.jsonl", 1_000, runs=1)
        with log_path.open("ab") as fh:
            fh.write((Path(tmp) / "more.jsonl").read_bytes())
        started = time.perf_counter()
        appended = index.refresh()
        append_s = time.perf_counter() - started
        assert appended == extra, (appended, extra)
        index.close()
    worst = max(r["p99_ms"] for r in quant.values())
    ratios = [baseline[name] / quant[name]["p99_ms"] for name in BASELINE_FILTERS]
    return {
        "decisions": decisions,
        "lines": lines,
        "write_s": write_s,
        "build_s": build_s,
        "build_lines_per_s": lines / build_s,
        "append_ms": append_s * 1e3,
        "quant": quant,
        "quant_p99_ms_worst": worst,
        "baseline_ms_median": baseline,
        "ratio": min(ratios),
    }


def _lines(sizes: tuple[int, int, int], r: dict[str, Any]) -> list[str]:
    decisions, repeats, baseline_repeats = sizes
    out = [
        f"decision pages over a paper log of {decisions:,} decisions ({r['lines']:,} lines)",
        (
            f"  build   DecisionIndex.refresh (whole log) {r['build_s']:8.2f} s  "
            f"({r['build_lines_per_s']:,.0f} lines/s; writing the log took {r['write_s']:.1f} s)"
        ),
        f"  append  refresh after 1,000 more lines     {r['append_ms']:8.2f} ms",
        f"  quant   DecisionIndex.page, {repeats} calls per filter:",
    ]
    for name, q in r["quant"].items():
        out.append(f"    {name:12s} median {q['median_ms']:7.3f} ms  p99 {q['p99_ms']:7.3f} ms")
    out.append(f"  baseline scan + json.loads, {baseline_repeats} calls per filter:")
    for name, ms in r["baseline_ms_median"].items():
        out.append(f"    {name:12s} median {ms:10.1f} ms")
    out.append(f"  worst quant p99: {r['quant_p99_ms_worst']:.3f} ms (target <= 5 ms)")
    out.append(f"  ratio (baseline median / quant p99, smallest over filters): {r['ratio']:.0f}")
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(2_000, 20, 2),
        full=(1_000_000, 1_000, 3),
        run=lambda sizes: run(*sizes),
        lines=_lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
