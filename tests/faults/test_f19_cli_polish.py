"""Finding 19: CLI polish a new user runs into.

``backtest --replay LOG`` of the built-in example needs nothing else; a report shows one
``model_id``; help text has no ``<bool>`` column, RST markup or cut option names; ``data
materialize`` prints a readable summary; ``doctor``'s keyring warning says how to fix it.
Every command prints its human-readable result on stdout (so it can be piped) and keeps
progress, warnings and errors on stderr.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime import doctor
from quant_apps.runtime.jobs.runs import bundle_rows
from quant_core import SimClock, Timeframe, iso_to_ns
from quant_data import Dataset, SyntheticMarket, write_dataset
from quant_data.emulator import start_emulator
from quant_exec.session import example_bars

runner = CliRunner()


def test_replay_of_the_example_needs_no_input_source(tmp_path: Path) -> None:
    first = runner.invoke(app, ["backtest", "--example", "--out", str(tmp_path / "a"), "--json"])
    assert first.exit_code == 0, first.output
    log = tmp_path / "a" / "decisions.jsonl"
    again = runner.invoke(
        app, ["backtest", "--replay", str(log), "--out", str(tmp_path / "b"), "--json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["replay"]["identical"] is True


def test_replay_of_a_dataset_run_names_the_dataset_it_needs(tmp_path: Path) -> None:
    data = tmp_path / "dataset"
    dataset = Dataset.from_bars(example_bars(n_bars=24))
    write_dataset(data, dataset)
    log = tmp_path / "decisions.jsonl"
    header = {"kind": "session", "model_id": "m", "dataset_hash": dataset.manifest.dataset_hash}
    log.write_text(json.dumps(header) + "\n", encoding="utf-8")
    result = runner.invoke(
        app, ["backtest", "--replay", str(log), "--out", str(tmp_path / "o"), "--json"]
    )
    doc = json.loads(result.stdout)
    assert (result.exit_code, doc["reason_code"]) == (2, "USAGE_ERROR")
    assert dataset.manifest.dataset_hash in doc["message"]


def test_a_report_names_one_model_id() -> None:
    rows = bundle_rows({"bundle_hash": "sha384:b", "model_id": "sha256:m", "seed": 0})
    assert rows == {"bundle_hash": "sha384:b", "model_set_id": "sha256:m", "seed": 0}


def test_the_demo_report_has_one_model_id_row(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--bars", "48", "--json"])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "d" / "report.html").read_text(encoding="utf-8")
    assert html.count(">model_id<") == 1
    assert html.count(">model_set_id<") == 1


COMMANDS = [
    [],
    ["backtest"],
    ["demo"],
    ["paper"],
    ["doctor"],
    ["train"],
    ["data", "materialize"],
    ["bundle"],
    ["bundle", "build"],
    ["bundle", "install"],
    ["audit", "verify"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "quant")
def test_help_is_plain(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "<bool>" not in text
    assert not re.search(r"``|:(func|class|mod|meth):", text)
    assert "…" not in text  # no option name or text cut to fit a panel


def test_materialize_prints_a_readable_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = {
        "as_of_seq": 3,
        "symbols": {
            "BTC": {
                "rows": 24,
                "missing_slots": 1,
                "corrections": 0,
                "quarantined": 2,
                "gap_ledger": {"open": 1, "retried": 0},
            }
        },
    }
    dataset = Dataset.from_bars(example_bars(n_bars=24), summary=summary)

    class _Store:
        def materialize(self, *args: Any, **kwargs: Any) -> Dataset:
            return dataset

    monkeypatch.setattr("quant_apps.cli.data._settings_store", lambda url: _Store())
    args = ["data", "materialize", "--symbols", "BTC", "--start", "2024-01-01"]
    result = runner.invoke(app, [*args, "--end", "2024-01-02", "--out", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert (
        "  BTC: 24 bars, 1 missing slots, 0 corrections, 2 quarantined, gap ledger: open 1"
        in result.output
    )
    assert "{" not in result.output


def test_the_keyring_warning_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())  # type: ignore[no-untyped-call]
    report = doctor.keyring_report()
    assert report["usable"] is False
    assert report["fix"] == doctor.KEYRING_FIX
    assert "PYTHON_KEYRING_BACKEND" in doctor.KEYRING_FIX
    (check,) = [c for c in doctor.doctor_report({})["checks"] if c["name"] == "keyring"]
    assert check["status"] == "warn"
    assert doctor.KEYRING_FIX in check["detail"]

    def broken() -> object:
        raise RuntimeError("no backend")

    monkeypatch.setattr(keyring, "get_keyring", broken)
    assert doctor.keyring_report()["fix"] == doctor.KEYRING_FIX


def test_results_go_to_stdout_and_diagnostics_to_stderr(tmp_path: Path) -> None:
    done = runner.invoke(app, ["backtest", "--example", "--out", str(tmp_path / "o")])
    assert done.exit_code == 0, done.output
    assert "replay hash: sha256:" in done.stdout
    assert done.stderr == ""
    failed = runner.invoke(app, ["backtest", "--replay", str(tmp_path / "nope"), "--out", "x"])
    assert failed.exit_code == 3
    assert failed.stdout == ""
    assert "error [DECISION_LOG_INVALID]" in failed.stderr
    doctor_out = runner.invoke(app, ["doctor"])
    assert "quant doctor" in doctor_out.stdout


REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "bundles" / "default"
H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")
T0 = START + 300 * H  # the emulator's (and paper's) clock: exactly a bar close


class _Waiter:
    """``quant paper``'s waiter on a simulated clock: each wait moves it by the timeout."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock

    def wait(self, timeout_s: float) -> None:
        self.clock.advance_by(max(1, round(timeout_s * 1e9)))

    def wake(self) -> None:
        """Nothing waits for real."""


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty data dir in ``tmp_path`` and a Kraken emulator at ``T0`` (the app's clock too)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("HIST_", "KRAKEN_", "UNIVERSE_", "QUANT_", "TRAINING_", "ENABLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")
    # ETH too: the shipped bundle needs market context beyond one coin (decision 0116)
    market = SyntheticMarket(seed=5, symbols=("BTC", "ETH"), start_ns=START, end_ns=START + 400 * H)
    clock = SimClock(T0)
    emu = start_emulator(market, clock=clock)
    monkeypatch.setenv("KRAKEN_PUBLIC_BASE_URL", emu.base_url("kraken"))
    monkeypatch.setattr("quant_apps.cli.paper.WallClock", lambda: clock)
    monkeypatch.setattr("quant_apps.cli.paper.EventWaiter", lambda: _Waiter(clock))
    (tmp_path / "XBTUSD_60.csv").write_text("1704067200,100,110,90,105,1.5,7\n")
    yield tmp_path
    emu.stop()


def _serve(_: Path) -> tuple[str, str]:
    """``quant emulator serve`` as a process: its first stdout line, then SIGTERM."""
    cmd = [sys.executable, "-m", "quant_apps", "emulator", "serve", "--source", "synthetic",
           "--port", "0", "--symbols", "BTC", "--start", "2024-01-01T00:00:00Z",
           "--end", "2024-01-02T00:00:00Z"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    with selectors.DefaultSelector() as ready:
        ready.register(proc.stdout, selectors.EVENT_READ)
        ready.select(timeout=60)  # the banner, or (a regression) nothing: stop it either way
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out, err


def _cli(*args: str) -> Callable[[Path], tuple[str, str]]:
    def invoke(where: Path) -> tuple[str, str]:
        result = runner.invoke(app, [a.replace("{tmp}", str(where)) for a in args])
        assert result.exit_code == 0, result.output
        return result.stdout, result.stderr

    return invoke


KRAKEN_BTC = ("--provider", "kraken", "--symbols", "BTC")
KRAKEN_BTC_ETH = ("--provider", "kraken", "--symbols", "BTC,ETH")
BUNDLE_ROOT = ("--root", "{tmp}/bundles")
RESULTS = {
    "data status": (_cli("data", "status"), "ingest sequence 0"),
    "data verify": (_cli("data", "verify"), ": ok ("),
    "data import": (_cli("data", "import", "{tmp}/XBTUSD_60.csv"), "kraken_ohlcvt BTC/USD"),
    "data backfill": (
        _cli("data", "backfill", *KRAKEN_BTC, "--start", "2024-01-01", "--end", "2024-01-02"),
        "kraken USD 1h: ",
    ),
    "data sync": (_cli("data", "sync", *KRAKEN_BTC, "--start", "2024-01-12"), "kraken USD 1h: "),
    "bundle keygen": (_cli("bundle", "keygen", "--out", "{tmp}/keys"), ": public "),
    "bundle verify": (_cli("bundle", "verify", str(SHIPPED)), "verified ("),
    "bundle status": (_cli("bundle", "status", *BUNDLE_ROOT), "active none, previous none"),
    "bundle check": (_cli("bundle", "check", *BUNDLE_ROOT), "running in fallback mode"),
    "bundle install": (_cli("bundle", "install", str(SHIPPED), *BUNDLE_ROOT), "installed bundle"),
    "bundle activate": (_cli("bundle", "activate", *BUNDLE_ROOT), " active: models "),
    "paper": (
        _cli("paper", *KRAKEN_BTC_ETH, "--out", "{tmp}/paper", "--cycles", "1"),
        "log hash",
    ),
    "emulator serve": (_serve, "provider emulator on http://127.0.0.1:"),
}


@pytest.mark.parametrize("command", sorted(RESULTS))
def test_a_commands_result_is_on_stdout_not_stderr(command: str, world: Path) -> None:
    run, fragment = RESULTS[command]
    stdout, stderr = run(world)
    assert fragment in stdout
    assert fragment not in stderr


def test_a_bundle_warning_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from quant_apps.cli import bundle

    bundle._out({}, False, "installed bundle 1.1.0", "BUNDLE_IO_FAILED: no fsync")
    out = capsys.readouterr()
    assert out.out == "installed bundle 1.1.0\n"
    assert out.err == "warning: BUNDLE_IO_FAILED: no fsync\n"
