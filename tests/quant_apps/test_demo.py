"""``quant demo``: emulator → backfill → dataset → bundle → backtest → report, offline.

The in-process tests (CliRunner) use a small synthetic window and a tiny signed bundle from
``_bundles.make_release``; the end-to-end test runs ``uv run quant demo --json`` twice as
separate processes on real files from the shared data and compares the replay hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime.jobs import demo
from quant_apps.runtime.models import bundles
from quant_bundle import reasons as bundle_reasons
from quant_core import Timeframe, iso_to_ns
from quant_data import SyntheticMarket
from quant_exec import read_decision_log
from quant_exec.decisions import log_hash

from ._bundles import flip_byte, make_release

runner = CliRunner()
BARS = 240
REAL_SOURCE = "real/kraken_cryptodatadownload__loveulin-bitcapitalca"


@pytest.fixture(autouse=True)
def _no_shipped_bundle(isolated_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Runs without --bundle see no shipped bundle, whatever the checkout holds; they run under
    # the development opt-out (decision 0083) unless a test requires the bundle again.
    monkeypatch.setenv("QUANT_BUNDLE_SOURCE", str(tmp_path / "no-shipped-bundle"))
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny trained, promoted and signed bundle release and its keys directory."""
    return make_release(tmp_path_factory.mktemp("demo-bundle"))


def _copy_release(release: tuple[Path, Path], where: Path) -> tuple[Path, Path]:
    shutil.copytree(release[0], where / "release")
    shutil.copytree(release[1], where / "keys")
    return where / "release", where / "keys"


def _demo(out: Path, release: tuple[Path, Path] | None, *extra: str) -> Any:
    args = ["demo", "--out", str(out), "--bars", str(BARS), *extra]
    if release is not None:
        args += ["--bundle", str(release[0]), "--keys", str(release[1])]
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def first_run(
    release: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """One synthetic demo run with the tiny bundle, JSON on stdout."""
    out = tmp_path_factory.mktemp("demo-run") / "a"
    result = _demo(out, release, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def _check_structure(doc: dict[str, Any]) -> None:
    assert doc["ok"] is True
    assert set(doc) >= {"source", "data", "dataset", "bundle", "backtest", "replay_hash", "files"}
    assert doc["replay_hash"].startswith("sha256:")
    assert doc["dataset"]["hash"].startswith("sha256:")
    metrics = doc["backtest"]["metrics"]
    assert metrics["bars"] == doc["dataset"]["rows"]
    assert metrics["decisions"] == sum(doc["backtest"]["reason_counts"].values())
    assert set(doc["data"]["series"]) == set(doc["source"]["symbols"])
    for series in doc["data"]["series"].values():
        assert set(series["gaps"]) >= {"open", "filled", "confirmed_no_trade"}
    # The file list points at what was written, and the summary file is the printed summary.
    files = {k: Path(v) for k, v in doc["files"].items()}
    assert json.loads(files["summary"].read_text()) == doc
    assert doc["replay_hash"] == log_hash(files["decisions"].read_bytes())
    bars_csv = (files["dataset"] / "bars.csv").read_bytes()
    assert doc["dataset"]["hash"] == "sha256:" + hashlib.sha256(bars_csv).hexdigest()
    html = files["report"].read_text()
    for needle in (doc["replay_hash"], doc["dataset"]["hash"], "buy and hold"):
        assert needle in html
    if doc["bundle"]["active"]:
        assert doc["bundle"]["bundle_hash"] in html


def test_synthetic_demo_backfills_every_slot_and_runs_the_bundle(
    first_run: tuple[Path, dict[str, Any]],
) -> None:
    out, doc = first_run
    _check_structure(doc)
    assert doc["source"]["kind"] == "synthetic"
    assert doc["source"]["symbols"] == ["BTC", "ETH", "SOL"]
    # Independently: the same seeded market, counted bar by bar. The CoinAPI dialect omits
    # no-trade and missing slots, so every other slot of the window is a gap in the ledger.
    start = iso_to_ns(demo.SYNTHETIC_START)
    market = SyntheticMarket(
        seed=0,
        symbols=("BTC", "ETH", "SOL"),
        start_ns=start,
        end_ns=start + BARS * Timeframe.H1.ns,
    )
    for symbol, series in doc["data"]["series"].items():
        traded = len(market.bars(symbol))
        assert series["bars"] == traded
        assert sum(series["gaps"].values()) == BARS - traded
        assert series["gaps"]["filled"] == 0  # nothing is invented
    assert doc["dataset"]["rows"] == sum(len(market.bars(s)) for s in ("BTC", "ETH", "SOL"))
    # The bundle was verified and activated; its hash is the model the decision log names.
    bundle = doc["bundle"]
    assert bundle["active"] is True
    assert bundle["bundle_hash"].startswith("sha384:")
    session, records = read_decision_log(out / "decisions.jsonl")
    assert session["model_id"] == bundle["bundle_hash"] == doc["backtest"]["model_id"]
    assert session["dataset_hash"] == doc["dataset"]["hash"]
    assert len(records) == doc["backtest"]["metrics"]["decisions"]
    assert (out / demo.MARKER).is_file()
    assert (out / "bundle-state").is_dir()
    assert (out / "store.sqlite").is_file()


def test_a_second_run_elsewhere_gives_the_same_hashes(
    first_run: tuple[Path, dict[str, Any]], release: tuple[Path, Path], tmp_path: Path
) -> None:
    _, doc = first_run
    result = _demo(tmp_path / "elsewhere" / "b", release, "--json")
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["replay_hash"] == doc["replay_hash"]
    assert again["dataset"]["hash"] == doc["dataset"]["hash"]
    assert again["backtest"] == doc["backtest"]
    # A rerun into the same directory replaces the demo's own files.
    result = _demo(tmp_path / "elsewhere" / "b", release, "--json", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dataset"]["hash"] != doc["dataset"]["hash"]


def test_human_output_shows_progress_and_a_short_summary(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    result = _demo(tmp_path / "h", release)
    assert result.exit_code == 0, result.output
    err = result.stderr  # progress on stderr, the summary on stdout
    for step in ("1/6", "2/6", "3/6", "4/6", "5/6", "6/6"):
        assert step in err
    for label in ("dataset hash", "replay hash", "buy and hold", "report", "max drawdown"):
        assert label in result.stdout
    summary = json.loads((tmp_path / "h" / "summary.json").read_text())
    assert summary["replay_hash"] in result.stdout
    assert summary["replay_hash"] not in err
    assert summary["bundle"]["bundle_hash"] in result.stdout


def test_without_a_bundle_the_demo_runs_with_no_model_and_says_why(tmp_path: Path) -> None:
    # The repository's shipped bundle is replaced by a directory that has none.
    empty = tmp_path / "empty-keys"
    empty.mkdir()
    result = _demo(tmp_path / "o", (tmp_path / "nothing", empty), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    _check_structure(doc)
    assert doc["bundle"]["active"] is False
    assert doc["bundle"]["reason_code"] == bundle_reasons.BUNDLE_MISSING
    assert set(doc["backtest"]["reason_counts"]) == {"NO_PREDICTION"}
    assert doc["backtest"]["metrics"]["fills"] == 0
    human = _demo(tmp_path / "o", (tmp_path / "nothing", empty))
    assert "NONE [BUNDLE_MISSING]" in human.stdout


def test_a_missing_release_with_good_keys_is_missing(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    result = _demo(tmp_path / "o", (tmp_path / "nothing", release[1]), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bundle"]["reason_code"] == bundle_reasons.BUNDLE_MISSING


def test_required_bundle_missing_stops_with_exit_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    empty = tmp_path / "empty-keys"
    empty.mkdir()
    result = _demo(tmp_path / "o", (tmp_path / "nothing", empty), "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["reason_code"] == bundle_reasons.BUNDLE_MISSING
    # With keys but no release: the same stop, the same reason.
    keys = tmp_path / "k"
    shutil.copytree(_bundle_keys(tmp_path), keys)
    result = _demo(tmp_path / "o2", (tmp_path / "nothing", keys), "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["reason_code"] == bundle_reasons.BUNDLE_MISSING


def _bundle_keys(tmp_path: Path) -> Path:
    from quant_bundle.keys import generate_key, write_keypair

    keys = tmp_path / "fresh-keys"
    write_keypair(generate_key(), keys, "fresh", private=False)
    return keys


@pytest.mark.parametrize("member", ["bundle.tar.zst", "manifest.json"])
def test_a_tampered_bundle_stops_when_required_and_is_reported_otherwise(
    member: str, release: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = _copy_release(release, tmp_path)
    flip_byte(tampered[0] / member, offset=len((tampered[0] / member).read_bytes()) // 2)
    relaxed = _demo(tmp_path / "relaxed", tampered, "--json")
    assert relaxed.exit_code == 0, relaxed.output
    bundle = json.loads(relaxed.stdout)["bundle"]
    assert bundle["active"] is False
    assert bundle["reason_code"] != bundle_reasons.BUNDLE_MISSING
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    strict = _demo(tmp_path / "strict", tampered, "--json")
    assert strict.exit_code == 3
    doc = json.loads(strict.stdout)
    assert doc["reason_code"] == bundle["reason_code"]
    assert not (tmp_path / "strict" / "decisions.jsonl").exists()
    # The bundle is checked first: no store was opened, no data fetched, no dataset written.
    assert not (tmp_path / "strict" / "store.sqlite").exists()
    assert not (tmp_path / "strict" / "dataset").exists()


def test_a_bad_require_flag_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "maybe")
    assert _demo(tmp_path / "o", None, "--json").exit_code == 2


def test_it_refuses_to_write_into_a_directory_it_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    result = _demo(mine, None, "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["reason_code"] == "USAGE_ERROR"
    assert (mine / "thesis.txt").read_text() == "precious"
    assert _demo(mine / "thesis.txt", None, "--json").exit_code == 2


@pytest.mark.parametrize(
    "extra",
    [
        ["--bars", "1"],
        ["--symbols", " , "],
        ["--data", "no/such/dir"],
    ],
)
def test_bad_options_are_usage_errors(extra: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "o"), "--json", *extra])
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["ok"] is False


def _small_csv(path: Path, symbol: str, rows: int = 60) -> None:
    """A CryptoDataDownload-style hourly file (newest first, 12-hour clock)."""
    lines = [
        "Timestamps are UTC timezone,https://www.CryptoDataDownload.com",
        f"Date,Symbol,Open,High,Low,Close,Volume {symbol},Volume USD",
    ]
    for i in reversed(range(rows)):
        day, hour = divmod(i, 24)
        clock = f"{(hour % 12) or 12:02d}-{'AM' if hour < 12 else 'PM'}"
        price = 100 + i
        lines.append(
            f"2024-01-{day + 1:02d} {clock},{symbol}USD,{price},{price + 1},{price - 1},{price},"
            f"1,{price}"
        )
    path.write_text("\n".join(lines) + "\n")


def test_data_files_without_the_wanted_coins_are_refused(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _small_csv(files / "Kraken_LTCUSD_1h.csv", "LTC")
    result = runner.invoke(
        app, ["demo", "--out", str(tmp_path / "o"), "--json", "--data", str(files)]
    )
    assert result.exit_code == 2, result.output
    ok = runner.invoke(
        app,
        [
            "demo",
            "--out",
            str(tmp_path / "o"),
            "--json",
            "--data",
            str(files),
            "--symbols",
            "LTC,BTC",
            "--bars",
            "24",
        ],
    )
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["source"]["symbols"] == ["LTC"]
    assert doc["source"]["skipped_symbols"] == ["BTC"]
    assert doc["dataset"]["rows"] == 24
    # The window is the latest 24 hourly bars of the file.
    assert doc["source"]["end"] == "2024-01-03T12:00:00Z"


def test_human_output_names_the_coins_missing_from_the_data(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _small_csv(files / "Kraken_LTCUSD_1h.csv", "LTC")
    args = ["demo", "--out", str(tmp_path / "o"), "--data", str(files), "--symbols", "LTC,BTC"]
    result = runner.invoke(app, [*args, "--bars", "24"])
    assert result.exit_code == 0, result.output
    assert "not in the data" in result.stdout


def test_daily_only_files_have_no_hourly_bars_to_trade(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    day = 86_400
    start = iso_to_ns("2024-01-01T00:00:00Z") // 10**9
    rows = [f"{start + i * day},{100 + i},{101 + i},{99 + i},{100 + i},5,3" for i in range(30)]
    (files / "XBTUSD_1440.csv").write_text("\n".join(rows) + "\n")
    result = runner.invoke(
        app, ["demo", "--out", str(tmp_path / "o"), "--json", "--data", str(files)]
    )
    assert result.exit_code == 2, result.output
    assert "no hourly bars" in json.loads(result.stdout)["message"]


def test_run_demo_refuses_an_empty_coin_list(tmp_path: Path) -> None:
    from quant_core.errors import QuantUsageError

    with pytest.raises(QuantUsageError):
        demo.run_demo(demo.DemoOptions(out=tmp_path / "o", symbols=()))


def test_quote_choice_prefers_coverage_then_usd() -> None:
    pick = demo._pick_quote
    assert pick([("BTC", "USDT"), ("ETH", "USDT"), ("BTC", "USD")], ["BTC", "ETH"]) == "USDT"
    assert pick([("BTC", "USDT"), ("BTC", "USD"), ("BTC", "CAD")], ["BTC"]) == "USD"
    assert pick([("BTC", "CAD"), ("BTC", "GBP")], ["BTC"]) == "CAD"


def test_steps_without_progress_bars_are_silent() -> None:
    steps = demo.Steps()
    steps.start("a", "x", 3)
    steps.update("a", 1)
    steps.done("a", "y")  # nothing to show, nothing raised


def test_the_no_model_stand_in_predicts_nothing() -> None:
    stand_in = bundles.NoModel("BUNDLE_MISSING")
    assert stand_in.model_id == "none:BUNDLE_MISSING"
    assert stand_in.horizons_ns == ()
    assert stand_in.predict(0, {}) == ()


# --- end to end: two real processes on real data ---------------------------------------------


def _quant() -> list[str]:
    uv = shutil.which("uv")
    return [uv, "run", "--no-sync", "quant"] if uv else [sys.executable, "-m", "quant_apps"]


def test_end_to_end_twice_on_real_data_gives_one_replay_hash(
    shared_data: Path, release: tuple[Path, Path], tmp_path: Path
) -> None:
    source = shared_data / REAL_SOURCE
    runs = []
    for run, hash_seed in (("one", "1"), ("two", "977")):  # two processes side by side
        runs.append(
            subprocess.Popen(
                [
                    *_quant(),
                    "demo",
                    "--json",
                    "--data",
                    str(source),
                    "--bars",
                    "300",
                    "--out",
                    str(tmp_path / run),
                    "--bundle",
                    str(release[0]),
                    "--keys",
                    str(release[1]),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONHASHSEED": hash_seed},
                cwd=Path(__file__).resolve().parents[2],
            )
        )
    docs = []
    for process in runs:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        docs.append(json.loads(stdout))
    one, two = docs
    for doc in docs:
        _check_structure(doc)
        assert doc["source"]["kind"] == "files"
        assert doc["bundle"]["active"] is True
        assert doc["dataset"]["rows"] == sum(s["bars"] for s in doc["data"]["series"].values())
        assert doc["dataset"]["rows"] <= 300 * len(doc["source"]["symbols"])
    assert one["replay_hash"] == two["replay_hash"]
    assert one["dataset"]["hash"] == two["dataset"]["hash"]
    assert one["backtest"] == two["backtest"]
    assert one["files"]["report"] != two["files"]["report"]
