"""``quant paper`` as a real process on 1h bars: a halt file made mid-bar engages at once.

The session runs on the wall clock against the provider emulator (also on the wall clock).
After its first cycle the process waits for the next hourly close; the test then creates the
halt file and reads the process's stderr until the engage is reported, then ends the session
with Ctrl-C. Nothing here measures time: had the engage waited for the bar close, the
process would have printed its next cycle line first (an hour later), and the checks on the
log below (one risk line, no bar decision after the first cycle) would fail.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_apps.runtime.clock import WallClock
from quant_core import Timeframe
from quant_core.audit import read_audit_log
from quant_data import SyntheticMarket
from quant_data.emulator import Emulator, start_emulator
from quant_exec import read_log

H = Timeframe.H1.ns
GUARD_S = 120  # how long a line may take before the test gives up (a hang, not a timing)


@pytest.fixture
def live_emulator() -> Iterator[Emulator]:
    clock = WallClock()
    close = Timeframe.H1.floor(clock.now_ns())
    market = SyntheticMarket(
        seed=3, symbols=("BTC",), start_ns=close - 48 * H, end_ns=close + 3 * H
    )
    emulator = start_emulator(market, clock=clock)
    yield emulator
    emulator.stop()


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line.rstrip("\n"))
    into.put("")  # end of stream


def _until(lines: queue.Queue[str], prefix: str, seen: list[str]) -> str:
    while True:
        line = lines.get(timeout=GUARD_S)
        seen.append(line)
        assert line, f"the process ended before printing {prefix!r}: {seen}"
        if line.startswith(prefix):
            return line


def test_a_halt_file_made_mid_bar_engages_before_the_next_bar(
    live_emulator: Emulator, tmp_path: Path
) -> None:
    keys = tmp_path / "no-keys"  # no trusted key: no model (require off), a quick start
    keys.mkdir()
    out = tmp_path / "paper"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "KRAKEN_"))}
    env |= {
        "KRAKEN_PUBLIC_BASE_URL": live_emulator.base_url("kraken"),
        "QUANT_DATA_DIR": str(tmp_path / "data"),
        "QUANT_REQUIRE_BUNDLE": "0",
    }
    args = ["paper", "--provider", "kraken", "--symbols", "BTC", "--timeframe", "1h"]
    seen: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "quant_apps", *args, "--out", str(out), "--keys", str(keys)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as process:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(process.stderr, lines), daemon=True)
        reader.start()
        try:
            _until(lines, "cycle 1 ", seen)
            (out / "HALT").write_text("drill\n", encoding="utf-8")
            engaged = _until(lines, "kill switch", seen)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=GUARD_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(timeout=GUARD_S)
    assert engaged == "kill switch engaged: drill"
    assert not any(line.startswith("cycle 2 ") for line in seen)
    (run,) = read_log(out / "decisions.jsonl")
    (line,) = run.risk
    assert (line["kill_switch"]["action"], line["kill_switch"]["reason"]) == ("engage", "drill")
    assert [d["trigger"] for d in run.decisions if d["seq"] > line["seq"]] == ["risk"]
    audit = read_audit_log(out / "audit.jsonl")
    assert [r.kind for r in audit] == ["kill_switch.engage"]
