"""``quant data …`` end to end: emulator over HTTP → backfill → status/verify/materialize."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_core import SimClock, Timeframe, iso_to_ns
from quant_data import SyntheticMarket, read_dataset
from quant_data.emulator import Emulator, FaultKind, FaultPlan, FaultRule, start_emulator

runner = CliRunner()
H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")
END = iso_to_ns("2024-01-03T00:00:00Z")


pytestmark = pytest.mark.usefixtures("isolated_env")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    market = SyntheticMarket(
        seed=5, symbols=("BTC", "ETH"), start_ns=START, end_ns=END, timeframe=Timeframe.H1
    )
    faults = FaultPlan(rules=[FaultRule(FaultKind.SERVER_ERROR, count=1)])
    emu = start_emulator(market, faults=faults, clock=SimClock(END + H // 2))
    yield emu
    emu.stop()


def _json(args: list[str], code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_backfill_status_verify_materialize(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KRAKEN_PUBLIC_BASE_URL", emulator.base_url("kraken"))
    window = ["--start", "2024-01-01", "--end", "2024-01-03T00:00:00Z"]
    report = _json(["data", "backfill", "--provider", "kraken", "--symbols", "BTC,ETH", *window])
    assert report["ok"] is True
    new = {
        s["symbol"]: s["bars_new"] + s["gaps_confirmed"] + s["gaps_opened"]
        for s in report["series"]
    }
    assert new == {"BTC": 48, "ETH": 48}
    again = _json(["data", "backfill", "--provider", "kraken", "--symbols", "BTC,ETH", *window])
    assert [s["pages"] for s in again["series"]] == [0, 0]
    status = _json(["data", "status"])
    by_symbol = {s["symbol"]: s for s in status["series"]}
    assert by_symbol["BTC"]["bars"] == report["series"][0]["bars_new"]
    assert by_symbol["BTC"]["first_open_ns"] == START
    assert status["database"].endswith("quant.db")
    assert _json(["data", "verify"])["ok"] is True
    out = tmp_path / "ds"
    made = _json(["data", "materialize", "--symbols", "BTC,ETH", *window, "--out", str(out)])
    dataset = read_dataset(out)
    assert made["dataset_hash"] == dataset.manifest.dataset_hash
    assert made["rows"] == by_symbol["BTC"]["bars"] + by_symbol["ETH"]["bars"]
    assert set(made["summary"]["symbols"]) == {"BTC", "ETH"}
    # Human output goes to stdout and says the same things.
    for args in (
        ["data", "status"],
        ["data", "verify"],
        ["data", "materialize", "--symbols", "BTC", *window, "--out", str(out)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    human = runner.invoke(
        app,
        [
            "data",
            "backfill",
            "--provider",
            "kraken",
            "--symbols",
            "BTC",
            "--start",
            "2024-01-02",
            "--end",
            "2024-01-03",
        ],
    )
    assert human.exit_code == 0
    assert "kraken USD 1h" in human.stdout


def test_coinapi_backfill_with_gap_retry(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIST_MARKET_DATA_BASE_URL", emulator.base_url("coinapi"))
    monkeypatch.setenv("HIST_MARKET_DATA_API_KEY", "test-key-123")
    args = [
        "data",
        "backfill",
        "--symbols",
        "BTC",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-03",
        "--retry-gaps",
    ]
    report = _json(args)
    assert report["source"] == "coinapi"
    assert report["retry"]["series"][0]["symbol"] == "BTC"
    human = runner.invoke(app, args)
    assert human.exit_code == 0
    assert "test-key-123" not in human.output


def test_sync_follow_appends_new_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    from quant_apps.runtime.clock import WallClock

    now = WallClock().now_ns()
    end = Timeframe.H1.floor(now)
    market = SyntheticMarket(
        seed=2, symbols=("BTC",), start_ns=end - 30 * H, end_ns=end, timeframe=Timeframe.H1
    )
    emu = start_emulator(market, clock=SimClock(end + H // 4))
    try:
        monkeypatch.setenv("KRAKEN_PUBLIC_BASE_URL", emu.base_url("kraken"))
        first = _json(["data", "sync", "--provider", "kraken", "--symbols", "BTC"], code=2)
        assert first["reason_code"] == "STORE_REQUEST_INVALID"
        sleeps: list[float] = []
        monkeypatch.setattr("quant_apps.cli.data.time.sleep", sleeps.append)
        start = str(end - 24 * H)
        from quant_core import ns_to_iso

        result = runner.invoke(
            app,
            [
                "data",
                "sync",
                "--provider",
                "kraken",
                "--symbols",
                "BTC",
                "--start",
                ns_to_iso(int(start)),
                "--follow",
                "--cycles",
                "2",
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        assert len(sleeps) == 1
        assert 0 < sleeps[0] <= 3601
        human = runner.invoke(app, ["data", "sync", "--provider", "kraken", "--symbols", "BTC"])
        assert human.exit_code == 0
    finally:
        emu.stop()


def test_import_real_files(shared_data: Path) -> None:
    near = shared_data / "real/kraken_ohlcvt__templar-yield-model/NEARUSD_1440.csv.gz"
    ton = shared_data / "real/binance_spot_freqtrade__harthor-marketlab/LINK_USDT-1d.feather"
    doc = _json(["data", "import", str(near), str(ton)])
    files = {Path(f["path"]).name: f for f in doc["files"]}
    assert files[near.name]["format"] == "kraken_ohlcvt"
    assert files[near.name]["bars_new"] > 500
    kraken = files[near.name]
    assert kraken["rows"] >= kraken["bars_new"] + kraken["quarantined"]
    usdt = files[ton.name]
    assert usdt["rows"] > 100
    # USDT is a supported data quote (decision record 0047): a clean USDT file lands whole.
    assert usdt["quarantine_reasons"] == {}
    assert usdt["bars_new"] == usdt["rows"]
    again = _json(["data", "import", str(near)])
    assert again["files"][0]["bars_new"] == 0
    human = runner.invoke(app, ["data", "import", str(near)])
    assert human.exit_code == 0
    assert "kraken_ohlcvt" in human.stdout


def test_verify_failure_exits_3_with_reason(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRAKEN_PUBLIC_BASE_URL", emulator.base_url("kraken"))
    db = tmp_path / "v.db"
    url = ["--database-url", f"sqlite:///{db}"]
    _json(
        [
            "data",
            "backfill",
            "--provider",
            "kraken",
            "--symbols",
            "BTC",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
            *url,
        ]
    )
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE qd_bar SET version = 5 WHERE rowid = 1")
    report = _json(["data", "verify", *url], code=3)
    assert (report["ok"], report["reason_code"]) == (False, "STORE_VERSIONS_BROKEN")
    human = runner.invoke(app, ["data", "verify", *url])
    assert human.exit_code == 3
    assert "STORE_VERSIONS_BROKEN" in human.stdout


def test_usage_and_rejection_exit_codes(tmp_path: Path) -> None:
    bad = _json(["data", "backfill", "--provider", "nope", "--symbols", "BTC"], code=2)
    assert bad["reason_code"] == "USAGE_ERROR"
    empty = _json(["data", "backfill", "--provider", "kraken", "--symbols", " , "], code=2)
    assert empty["reason_code"] == "STORE_REQUEST_INVALID"
    nodata = _json(
        [
            "data",
            "materialize",
            "--symbols",
            "BTC",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
            "--out",
            str(tmp_path / "x"),
        ],
        code=3,
    )
    assert nodata["reason_code"] == "STORE_NO_DATA"


def test_data_status_as_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_")}
    env["QUANT_DATA_DIR"] = str(tmp_path / "d")
    result = subprocess.run(
        [sys.executable, "-m", "quant_apps", "data", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["series"] == []
    assert doc["latest_seq"] == 0


def test_open_store_accepts_memory_and_creates_sqlite_dirs(tmp_path: Path) -> None:
    from quant_apps.runtime.config import load_settings
    from quant_apps.runtime.jobs.stores import open_store

    settings = load_settings({})
    assert open_store("sqlite://", settings, SimClock(0)).latest_seq() == 0
    nested = tmp_path / "a" / "b" / "q.db"
    open_store(f"sqlite:///{nested}", settings, SimClock(0))
    assert nested.exists()


def test_import_reports_quarantine_reasons_per_file(tmp_path: Path) -> None:
    # A Kraken OHLCVT export (headerless time,open,high,low,close,volume,trades) whose second
    # row has its high below its low: one bar lands, one is quarantined with its reason.
    path = tmp_path / "XBTUSD_60.csv"
    path.write_text("1704067200,100,110,90,105,1.5,7\n1704070800,105,95,100,101,2.0,9\n")
    report = _json(["data", "import", str(path)])
    (entry,) = report["files"]
    assert (entry["rows"], entry["bars_new"], entry["quarantined"]) == (2, 1, 1)
    (reason,) = entry["quarantine_reasons"]
    assert entry["quarantine_reasons"][reason] == 1
    assert reason.startswith("STORE_")
