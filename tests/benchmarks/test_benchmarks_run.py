"""Every benchmark still runs (a quick pass; timings are not asserted)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_runs_and_reports_a_ratio(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = runpy.run_path(str(path))
    result = module["main"](["--quick"])
    assert result["ratio"] > 0
    assert "ratio" in capsys.readouterr().out


def test_there_is_a_benchmark() -> None:
    assert BENCHMARKS
