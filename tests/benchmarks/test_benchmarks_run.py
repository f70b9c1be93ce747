"""Every benchmark still runs (a quick pass; timings are not asserted)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
# ``bench_*.py`` only: the shared ``_harness.py`` beside them is not a benchmark.
BENCHMARKS = sorted(BENCHMARKS_DIR.glob("bench_*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_runs_and_reports_a_ratio(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when a benchmark runs as a script: its folder is on sys.path, for ``import _harness``.
    monkeypatch.syspath_prepend(str(BENCHMARKS_DIR))
    module = runpy.run_path(str(path))
    result = module["main"](["--quick"])
    assert result["ratio"] > 0
    assert "ratio" in capsys.readouterr().out


def test_there_is_a_benchmark() -> None:
    assert BENCHMARKS
