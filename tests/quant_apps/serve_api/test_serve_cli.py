"""``quant serve``: a real process on a free port, driven over HTTP, stopped by SIGTERM.

The session is the default one (paper mode on the shipped bundle over the provider
emulator's replay of a small synthetic market); the checks are what an operator relies on:
the token file is owner-only, the token works and is never printed, a kill switch engaged
over the API lands in the decision log with the operator's name, and SIGTERM stops the
session cleanly (exit 0, the log ends in a complete line).
"""

from __future__ import annotations

import json
import os
import signal
import stat
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
from quant_apps.serve import Server

runner = CliRunner()
SMALL = ["--symbols", "BTC,ETH", "--speed", "3600"]


def _first_line(proc: subprocess.Popen[str], deadline_s: float = 240) -> dict[str, Any]:
    """The JSON line ``quant serve --json`` prints once it listens (the readiness signal)."""
    assert proc.stdout is not None
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(deadline_s)
    if not box or not box[0]:
        proc.kill()
        _out, err = proc.communicate(timeout=30)
        raise AssertionError(f"quant serve did not report readiness: {err[-3000:]}")
    document: dict[str, Any] = json.loads(box[0])
    return document


REAL = "real/kraken_cryptodatadownload__loveulin-bitcapitalca"
HOW_TO = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "drive-the-control-api.md"


def _doc_example() -> Any:
    """``look_and_halt`` from the how-to page's Python example (the page is the source)."""
    text = HOW_TO.read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(HOW_TO), "exec"), namespace)
    return namespace["look_and_halt"]


@pytest.mark.parametrize("market", ["synthetic", "real"])
def test_quant_serve_as_a_real_process(
    market: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "QUANT_DATA_DIR": str(tmp_path / "data")}
    source = []
    if market == "real":
        source = ["--source", str(request.getfixturevalue("shared_data") / REAL)]
    cmd = [sys.executable, "-m", "quant_apps", "serve", "--out", str(out), "--port", "0",
           "--operator", "alice", "--json", *SMALL, *source]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    token = ""
    try:
        doc = _first_line(proc)
        assert doc["ok"] is True
        assert doc["url"] == f"http://127.0.0.1:{doc['port']}/"
        assert doc["operator"] == "alice"
        assert doc["out"] == str(out)
        token_file = Path(doc["token_file"])
        assert token_file == out / "serve.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = json.loads(token_file.read_text())["token"]
        assert token not in json.dumps(doc)
        base = doc["url"].rstrip("/")
        bearer = {"Authorization": f"Bearer {token}"}
        if market == "synthetic":  # the how-to's example, run as written, against it
            done = _doc_example()(base, token_file)
            assert done["refused"] == (409, "PROFILE_OUT_OF_BOUNDS")
            assert done["halted_by"] == "alice"
            assert done["heard"] is True
            assert all(isinstance(codes, list) and codes for codes in done["why"])
            released = httpx.post(
                f"{base}/api/v1/killswitch/release", json={"reason": "after the how-to"},
                headers=bearer, timeout=60,
            )  # fmt: skip
            assert released.json()["ok"] is True
        with httpx.Client(base_url=base, timeout=60) as client:
            assert client.get("/api/v1/status").status_code == 401
            assert client.get("/api/v1/health", headers=bearer).json()["ok"] is True
            engaged = client.post(
                "/api/v1/killswitch/engage", json={"reason": "e2e drill"}, headers=bearer
            )
            assert engaged.json()["actor"] == "alice", engaged.text
            status = client.get("/api/v1/status", headers=bearer).json()
            assert status["kill_switch"]["engaged"] is True
            # The printed one-time code logs a browser in once.
            code = doc["login_url"].split("code=", 1)[1]
            login = client.post("/api/v1/login", json={"code": code})
            assert login.json()["operator"] == "alice"
            assert client.get("/api/v1/session").json()["operator"] == "alice"
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    assert token
    assert token not in stdout
    assert token not in stderr
    log = (out / "decisions.jsonl").read_bytes()
    assert log.endswith(b"\n")
    lines = [json.loads(line) for line in log.splitlines()]
    switches = [line["kill_switch"] for line in lines if line.get("kind") == "risk"]
    assert ("engage", "alice", "e2e drill") in [
        (s["action"], s["actor"], s["reason"]) for s in switches
    ]
    audit = (out / "audit.jsonl").read_text()
    assert "alice" in audit


def _stop_when_serving(monkeypatch: pytest.MonkeyPatch, sig: int) -> threading.Thread:
    """Send ``sig`` to this process once the command's server has started."""
    started = threading.Event()
    real = Server.run

    def run(self: Any) -> None:
        started.set()
        real(self)

    monkeypatch.setattr(Server, "run", run)

    def fire() -> None:
        if started.wait(240):
            time.sleep(0.5)  # let uvicorn install its handlers
            os.kill(os.getpid(), sig)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_quant_serve_in_process_prints_for_humans_and_stops_on_signals(
    sig: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    timer = _stop_when_serving(monkeypatch, sig)
    token_file = tmp_path / "token.json"
    args = ["serve", "--out", str(tmp_path / "out"), "--port", "0", "--token-file",
            str(token_file), *SMALL]  # fmt: skip
    result = runner.invoke(app, args)
    timer.join()
    assert result.exit_code == 0, result.output
    assert "quant serve on http://127.0.0.1:" in result.stdout
    assert "/login?code=" in result.stdout
    assert str(token_file) in result.stdout
    assert json.loads(token_file.read_text())["token"] not in result.output


def test_usage_errors(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "out")]
    remote = runner.invoke(app, ["serve", *out, "--host", "0.0.0.0", "--json"])
    assert remote.exit_code == 2
    assert json.loads(remote.stdout)["reason_code"] == "REMOTE_BIND_REFUSED"
    provider = runner.invoke(app, ["serve", *out, "--provider", "nope", "--json"])
    assert json.loads(provider.stdout)["reason_code"] == "USAGE_ERROR"
    timeframe = runner.invoke(app, ["serve", *out, "--timeframe", "7m", "--json"])
    assert json.loads(timeframe.stdout)["reason_code"] == "USAGE_ERROR"
    assert not (tmp_path / "out").exists()  # refused before anything was created


def test_sigterm_while_starting_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quant_apps.runtime.operator.service import Service

    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    real = Service.start

    def start(self: Service) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the history loads
        real(self)  # pragma: no cover - the signal interrupts first

    monkeypatch.setattr(Service, "start", start)
    before = signal.getsignal(signal.SIGTERM)
    result = runner.invoke(app, ["serve", "--out", str(tmp_path / "out"), "--port", "0", *SMALL])
    assert result.exit_code == 0, result.output
    assert "stopped:" in result.stderr
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_session_that_cannot_open_leaves_nothing_running(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-data")
    args = ["serve", "--out", str(tmp_path / "out"), "--port", "0", "--source", missing, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert json.loads(result.stdout)["reason_code"] == "USAGE_ERROR"
