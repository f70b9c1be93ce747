"""The nautilus_trader part of ``bench_backtest.py``: skipped, unavailable, differing, measured.

The real peer runs in its own downloaded environment (full runs only, seconds to minutes), so
these tests stand in for the subprocess; they check what the benchmark does with each answer.
"""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCHMARKS_DIR))
        return runpy.run_path(str(BENCHMARKS_DIR / "bench_backtest.py"))


@pytest.fixture(scope="module")
def bars(bench: dict[str, Any]) -> list[Any]:
    return list(bench["make_bars"](200))


@pytest.fixture(scope="module")
def ours(bench: dict[str, Any], bars: list[Any]) -> list[Any]:
    return list(bench["quant_trades"](bars))


def fake_peer(
    monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any] | None, returncode: int = 0
) -> list[dict[str, Any]]:
    """Replace the ``uv run`` subprocess: record each spec, write ``answer`` as the output."""
    specs: list[dict[str, Any]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        specs.append(json.loads(Path(command[-2]).read_text(encoding="utf-8")))
        assert "VIRTUAL_ENV" not in kwargs["env"]
        if answer is not None:
            Path(command[-1]).write_text(json.dumps(answer), encoding="utf-8")
        return subprocess.CompletedProcess(command, returncode, "", "boom\nno network here\n")

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/uv")
    monkeypatch.setattr(subprocess, "run", run)
    return specs


def timed(trades: list[Any]) -> dict[str, Any]:
    return {
        "version": "1.221.0",
        "trades": [list(t) for t in trades],
        "run_s": [0.5, 0.25, 0.4],
        "loop_s": [0.4, 0.2, 0.3],
        "setup_s": [0.02, 0.01, 0.03],
    }


def test_quick_skips_nautilus(
    bench: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("--quick must not start nautilus")

    monkeypatch.setattr(subprocess, "run", forbidden)
    result = bench["main"](["--quick"])
    assert result["nautilus_trader"] == "measured in full runs only"
    assert "nautilus_trader: measured in full runs only" in capsys.readouterr().out


def test_no_uv_is_reported_as_unavailable(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert bench["nautilus"](bars, ours, 3) == {
        "nautilus_trader": "unavailable (uv not found on PATH)"
    }


def test_a_failed_environment_is_reported_with_its_last_line(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_peer(monkeypatch, None, returncode=2)
    assert bench["nautilus"](bars, ours, 3) == {
        "nautilus_trader": "unavailable (exit 2: no network here)"
    }


def test_a_timeout_is_reported(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(command: list[str], **kwargs: Any) -> None:
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/uv")
    monkeypatch.setattr(subprocess, "run", slow)
    result = bench["nautilus"](bars, ours, 3)
    assert result["nautilus_trader"].startswith("unavailable (no answer in ")


def test_differing_trades_are_shown_and_not_timed(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(ours) >= 2
    theirs = [list(t) for t in ours]
    theirs[1][2] += 0.01  # a fill a cent away
    specs = fake_peer(monkeypatch, timed(theirs))
    result = bench["nautilus"](bars, ours, 3)
    assert result == {
        "nautilus_trader": "trade lists differ, not timed: trade 1: quant "
        f"{tuple(ours[1])} vs nautilus {tuple(theirs[1])}"
    }
    assert [s["repeats"] for s in specs] == [0]  # the timed run never started


def test_a_missing_trade_is_shown(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_peer(monkeypatch, timed(ours[:-1]))
    result = bench["nautilus"](bars, ours, 3)
    assert result["nautilus_trader"].endswith(
        f"quant has {len(ours)} trades, nautilus {len(ours) - 1}"
    )


def test_identical_trades_are_timed_best_of_runs(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = fake_peer(monkeypatch, timed(ours))
    result = bench["nautilus"](bars, ours, 3)
    assert [s["repeats"] for s in specs] == [0, 3]  # checked first, then timed
    spec = specs[0]
    assert len(spec["bars"]) == len(bars)
    first = bars[0]
    assert spec["bars"][0] == [
        first.open_time_ns,
        str(first.open),
        str(first.high),
        str(first.low),
        str(first.close),
        str(first.volume),
    ]
    assert (spec["fast"], spec["slow"], spec["size_pct"], spec["cash"]) == (10, 30, 30, 10_000)
    assert (spec["lot_decimals"], spec["price_decimals"], spec["bar_ns"]) == (8, 2, 3_600 * 10**9)
    assert result == {
        "nautilus_trader": "1.221.0",
        "nautilus_events_per_s": pytest.approx(len(bars) / 0.25),
        "nautilus_us_per_bar": pytest.approx(0.25 / len(bars) * 1e6),
        "nautilus_loop_us_per_bar": pytest.approx(0.2 / len(bars) * 1e6),
        "nautilus_setup_s": 0.01,
    }


def test_timed_runs_with_other_trades_are_not_reported(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([timed(ours), timed(ours[:-1])])
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/uv")

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        Path(command[-1]).write_text(json.dumps(next(answers)), encoding="utf-8")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    assert bench["nautilus"](bars, ours, 3) == {
        "nautilus_trader": "trade lists differ in the timed runs, not reported"
    }


def test_a_full_run_prints_all_three_engines_and_both_ratios(
    bench: dict[str, Any], bars: list[Any], ours: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_peer(monkeypatch, timed(ours))
    result = bench["run"](200, 1, True)
    assert result["quant_over_nautilus"] == pytest.approx(
        result["quant_events_per_s"] / result["nautilus_events_per_s"]
    )
    assert result["nautilus_over_backtrader"] == pytest.approx(
        result["nautilus_events_per_s"] / result["backtrader_events_per_s"]
    )
    text = "\n".join(bench["lines"]((200, 1, True), result))
    assert "nautilus_trader 1.221.0 in an isolated environment" in text
    assert "ratio quant / nautilus: " in text
    assert "ratio nautilus / backtrader: " in text


def test_an_unavailable_nautilus_still_reports_the_rest(
    bench: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = bench["run"](200, 1, True)
    assert result["ratio"] > 0
    text = "\n".join(bench["lines"]((200, 1, True), result))
    assert "nautilus_trader: unavailable (uv not found on PATH)" in text
    assert "quant_over_nautilus" not in result
