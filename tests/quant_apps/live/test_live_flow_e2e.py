"""Paper → connect → confirm → live, from the CLI as a new user would, against the fake exchange.

Every step is a real ``quant`` process: the provider emulator serves the bars (wall clock),
``quant kraken fake-exchange --provider kraken`` serves the fake Kraken trading on those same
bars (the planted key chosen through its environment, so it is never printed), ``quant paper``
makes the paper evidence, ``quant kraken connect`` checks the key and stores it in the Secret
Service, ``quant trade --live`` refuses a wrong confirmation and then runs a cycle with the
halt file present (the kill-switch drill: engaged at once, no order left at the venue). At the
end the account equals the session's ledger, and a market order sent through the private API
fills at the served bar's close: the price the live session decided on. Finally every file the
flow wrote and every line it printed is searched for the planted key and secret (RT-18): none.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.trading.credentials import KrakenCredentials
from quant_apps.runtime.trading.onboarding import open_client
from quant_core import Timeframe
from quant_core.audit import read_audit_log
from quant_data import SyntheticMarket
from quant_data.emulator import Emulator, start_emulator
from quant_exec import read_log

H = Timeframe.H1.ns
VOLUME = Decimal("0.001")
GUARD_S = 180  # how long a step may take before the test gives up (a hang, not a timing)


@pytest.fixture
def bars() -> Iterator[Emulator]:
    clock = WallClock()
    close = Timeframe.H1.floor(clock.now_ns())
    # two coins: the shipped bundle needs market context beyond one coin (decision 0116)
    market = SyntheticMarket(
        seed=5, symbols=("BTC", "ETH"), start_ns=close - 400 * H, end_ns=close + H
    )
    emulator = start_emulator(market, clock=clock)
    yield emulator
    emulator.stop()


def _quant(args: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> Any:
    return subprocess.run(
        [sys.executable, "-m", "quant_apps", *args],
        input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=GUARD_S,
        check=False,
    )  # fmt: skip


def _json_document(stream: Any) -> dict[str, Any]:
    """Read one pretty-printed JSON document (it ends with a ``}`` line) from ``stream``."""
    lines: list[str] = []
    while True:
        line = stream.readline()
        assert line, f"the process ended first: {lines}"
        lines.append(line)
        if line.rstrip() == "}":
            return dict(json.loads("".join(lines)))


def test_paper_validate_confirm_live_from_the_cli(
    bars: Emulator, tmp_path: Path, planted: tuple[str, str], secret_service: KeyringBackend
) -> None:
    del secret_service  # only needed running: the processes reach it through D-Bus
    key, secret = planted
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "KRAKEN_"))}
    env |= {
        "KRAKEN_PUBLIC_BASE_URL": bars.base_url("kraken"),
        "QUANT_DATA_DIR": str(tmp_path / "data"),
        "QUANT_REQUIRE_BUNDLE": "1",
        "QUANT_FAKE_KRAKEN_API_KEY": key,
        "QUANT_FAKE_KRAKEN_SECRET": secret,
    }
    printed: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "quant_apps", "kraken", "fake-exchange", "--json",
         "--prices", "BTC=40000,ETH=2300", "--cash", "5000", "--provider", "kraken",
         "--poll-s", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    ) as exchange:  # fmt: skip
        try:
            served = _json_document(exchange.stdout)
            url = served["url"]
            assert "api_key" not in served  # a chosen key is never printed
            market = ["--provider", "kraken", "--symbols", "BTC,ETH", "--timeframe", "1h"]

            paper = _quant(["paper", *market, "--out", "paper", "--cycles", "1"], env, tmp_path)
            printed += [paper.stdout, paper.stderr]
            assert paper.returncode == 0, paper.stderr

            connect = _quant(
                ["kraken", "connect", "--url", url, "--json"], env, tmp_path, f"{key}\n{secret}\n"
            )
            printed += [connect.stdout, connect.stderr]
            assert connect.returncode == 0, connect.stdout + connect.stderr
            report = json.loads(connect.stdout)
            assert report["ok"] is True
            assert report["stored_in"] == "keyring.backends.SecretService.Keyring"
            fingerprint = report["fingerprint"]
            assert "Leave every Funds permission other than Query OFF" in connect.stderr

            live = [
                "trade", "--live", *market, "--exchange-url", url, "--ws-url", served["ws_url"],
                "--paper-out", "paper",
                "--out", "live", "--min-paper-cycles", "1", "--cycles", "1", "--json",
            ]  # fmt: skip
            refused = _quant([*live, "--confirm", "LIVE kraken:0000"], env, tmp_path)
            printed += [refused.stdout, refused.stderr]
            assert refused.returncode == 3
            assert json.loads(refused.stdout)["reason_code"] == "LIVE_NOT_CONFIRMED"
            assert not (tmp_path / "live" / "decisions.jsonl").exists()

            (tmp_path / "live").mkdir(exist_ok=True)
            (tmp_path / "live" / "HALT").write_text("drill\n", encoding="utf-8")
            hour = Timeframe.H1.floor(WallClock().now_ns())
            traded = _quant(live, env, tmp_path, f"LIVE {fingerprint}\n")
            printed += [traded.stdout, traded.stderr]
            assert traded.returncode == 0, traded.stderr
            summary = json.loads(traded.stdout)
            assert [r["action"] for r in summary["kill_switch"]] == ["engage"]

            (live_run,) = read_log(tmp_path / "live" / "decisions.jsonl")
            (seen,) = {
                d["inputs"]["price"]
                for d in live_run.decisions
                if "price" in d["inputs"] and d["instrument"] == "BTC/USD"
            }

            creds = KrakenCredentials.parse(key, secret)
            client = open_client(creds, url, clock=WallClock(), state_dir=tmp_path / "probe")
            try:
                # The session's ledger equals the account: nothing working, no fill, its cash.
                assert client.open_orders().count == 0
                assert client.all_trades(start=0).trades == ()
                assert client.balance()["ZUSD"] == Decimal(live_run.session["initial_cash"])
                # The fake trades on the market the session saw: a market order through the
                # private API fills at the served bar's close, the price the session decided on.
                client.add_order(pair="XBTUSD", side="buy", order_type="market", volume=VOLUME)
                (fill,) = client.all_trades(start=0).trades
                assert fill.price != 40000  # not the --prices listing price
                if Timeframe.H1.floor(WallClock().now_ns()) == hour:  # no bar closed meanwhile
                    assert fill.price == Decimal(seen)
            finally:
                client.close()
            forget = _quant(["kraken", "forget", "--url", url, "--json"], env, tmp_path)
            assert json.loads(forget.stdout)["removed"] is True
        finally:
            exchange.send_signal(signal.SIGTERM)
            out, err = exchange.communicate(timeout=GUARD_S)
            printed += [out, err]
    assert exchange.returncode == 0

    (paper_run,) = read_log(tmp_path / "paper" / "decisions.jsonl")
    bundle_hash = paper_run.session["paper"]["bundle"]["bundle_hash"]
    assert live_run.session["paper"]["bundle"]["bundle_hash"] == bundle_hash
    assert live_run.session["live"] == {"exchange": url, "fingerprint": fingerprint}
    assert live_run.session["initial_cash"] == "5000"
    audit = read_audit_log(tmp_path / "live" / "audit.jsonl")
    assert [r.kind for r in audit] == ["live.refused", "live.confirmed", "kill_switch.engage"]
    confirmed = audit[1].data
    assert confirmed["fingerprint"] == fingerprint
    assert confirmed["bundle_hash"] == bundle_hash
    assert confirmed["paper"]["cycles"] >= 1

    # RT-18: the planted key and secret are nowhere the flow wrote or printed.
    needles = [key, secret, base64.b64decode(secret).decode()]
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in data, f"{needle[:6]}… found in {path}"
    for text in printed:
        for needle in needles:
            assert needle not in text
