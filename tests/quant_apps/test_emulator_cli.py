"""``quant emulator serve``: a real subprocess on a free port, and the in-process paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.cli import emulator as emulator_cli

runner = CliRunner()
SMALL = ["--symbols", "BTC,ETH", "--start", "2024-01-01T00:00:00Z", "--end", "2024-01-10T00:00:00Z"]


def _read_json_document(proc: subprocess.Popen[str], deadline_s: float = 60) -> dict[str, Any]:
    """Read stdout lines until they form one JSON document (the readiness signal)."""
    assert proc.stdout is not None
    text = ""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"emulator exited early: {proc.poll()}")
        text += line
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            continue
        assert isinstance(document, dict)
        return document
    raise AssertionError("emulator did not report readiness")


def test_serve_as_a_real_process(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"rules": [{"kind": "rate_limit", "dialect": "coinapi"}]}))
    cmd = [sys.executable, "-m", "quant_apps", "emulator", "serve", "--source", "synthetic",
           "--port", "0", "--seed", "3", *SMALL, "--now", "2024-01-09T12:30:00Z",
           "--faults", str(faults), "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        doc = _read_json_document(proc)
        assert doc["ok"] is True
        assert doc["now"] == "2024-01-09T12:30:00Z"
        assert doc["pairs"] == ["BTC/USD", "ETH/USD"]
        assert doc["faults"] == 1
        base = doc["base_urls"]
        assert base["kraken"] == doc["url"] + "/kraken"
        ohlc = httpx.get(base["kraken"] + "/0/public/OHLC",
                         params={"pair": "XBTUSD", "interval": 60}, timeout=10).json()  # fmt: skip
        rows = ohlc["result"]["XXBTZUSD"]
        assert rows[-1][0] == 1704803400 // 3600 * 3600  # the candle forming at "now"
        coinapi = base["coinapi"] + "/v1/ohlcv/KRAKEN_SPOT_ETH_USD/history"
        params: dict[str, Any] = {
            "period_id": "1HRS",
            "time_start": "2024-01-02T00:00:00Z",
            "limit": 3,
        }
        first = httpx.get(coinapi, params=params, headers={"X-CoinAPI-Key": "k"}, timeout=10)
        second = httpx.get(coinapi, params=params, headers={"X-CoinAPI-Key": "k"}, timeout=10)
        assert (first.status_code, second.status_code) == (429, 200)
        assert len(second.json()) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def _stop_when_serving(
    monkeypatch: pytest.MonkeyPatch, sig: int = signal.SIGTERM
) -> threading.Thread:
    """Send ``sig`` to this process shortly after the command has started its emulator."""
    started = threading.Event()
    real_start = getattr(emulator_cli, "start_emulator")  # noqa: B009 - not re-exported

    def start(*args: Any, **kwargs: Any) -> Any:
        emulator = real_start(*args, **kwargs)
        started.set()
        return emulator

    monkeypatch.setattr(emulator_cli, "start_emulator", start)

    def fire() -> None:
        if started.wait(60):
            time.sleep(0.3)  # let the command install its handler and print
            os.kill(os.getpid(), sig)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_in_process_human_output_stops_on_signals(
    sig: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "XBTUSD_60.csv").write_text("1700000000,1,2,0.5,1.5,10,3\n")
    timer = _stop_when_serving(monkeypatch, sig)
    args = ["emulator", "serve", "--source", str(tmp_path), "--kraken-last-as-string",
            "--kraken-min-interval", "1", "--coinapi-key", "s3cret"]  # fmt: skip
    result = runner.invoke(app, args)
    timer.join()
    assert result.exit_code == 0, result.output
    assert "provider emulator on http://127.0.0.1:" in result.output
    assert "BTC/USD" in result.output
    assert "s3cret" not in result.output


def test_wall_clock_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    timer = _stop_when_serving(monkeypatch)
    result = runner.invoke(app, ["emulator", "serve", "--source", "synthetic", "--symbols", "all",
                                 "--start", "2024-01-01T00:00:00Z", "--end", "2024-01-02T00:00:00Z",
                                 "--timeframe", "4h", "--wall-clock", "--json"])  # fmt: skip
    timer.join()
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["pairs"]) == 30
    assert doc["now"] > "2025-"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--source", "synthetic", "--source", "x.csv"], "cannot be combined"),
        (["--source", "missing.csv"], "no such file"),
        (["--source", "synthetic", "--timeframe", "2h"], "unknown timeframe"),
        (["--source", "synthetic", "--now", "2024-01-01T00:00:00Z", "--wall-clock"], "exclude"),
    ],
)
def test_usage_errors_exit_2(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["emulator", "serve", *args, "--json"])
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    assert doc["reason_code"] == "EMULATOR_INVALID"
    assert fragment in doc["message"]


def test_bad_faults_file_is_rejected(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text('{"rules": [{"kind": "meteor"}]}')
    result = runner.invoke(app, ["emulator", "serve", "--source", "synthetic", *SMALL,
                                 "--faults", str(faults), "--json"])  # fmt: skip
    assert result.exit_code == 3
    assert json.loads(result.stdout)["reason_code"] == "EMULATOR_INVALID"
