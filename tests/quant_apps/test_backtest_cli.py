"""``quant backtest``: example run, dataset + predictions run, profiles, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime.trading.profiles import load_profiles
from quant_core import Bar, Instrument, reasons
from quant_core.errors import ProfileError
from quant_core.events import HorizonForecast, Prediction
from quant_data import Dataset, write_dataset
from quant_exec import read_decision_log, write_predictions
from quant_exec.decisions import log_hash
from quant_exec.session import example_bars, example_predictions

runner = CliRunner()


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    bars = example_bars(n_bars=60)
    data = tmp_path / "dataset"
    write_dataset(data, Dataset.from_bars(bars))
    preds = tmp_path / "predictions.jsonl"
    write_predictions(preds, example_predictions(bars))
    return data, preds


def test_example_run_writes_log_report_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["backtest", "--example", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert doc["model_id"] == "example:oracle-with-noise/1"
    log_bytes = (out / "decisions.jsonl").read_bytes()
    assert doc["log_hash"] == log_hash(log_bytes)
    _session, records = read_decision_log(out / "decisions.jsonl")
    assert len(records) == doc["metrics"]["decisions"]
    assert json.loads((out / "summary.json").read_text())["log_hash"] == doc["log_hash"]
    html = (out / "report.html").read_text()
    assert doc["log_hash"] in html
    assert "<script" not in html


def test_human_output_prints_metrics_and_the_replay_hash(tmp_path: Path) -> None:
    result = runner.invoke(app, ["backtest", "--example", "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stderr == ""  # the result goes to stdout, so it can be piped
    assert "replay hash: sha256:" in result.stdout
    assert "return_pct" in result.stdout


def test_dataset_and_predictions_run_records_the_dataset_hash(tmp_path: Path) -> None:
    data, preds = _dataset(tmp_path)
    profile = tmp_path / "profile.toml"
    profile.write_text(
        "[strategy]\nsensitivity = 0.8\npersistence = 2\n[risk]\nmax_concurrent_positions = 1\n"
    )
    args = ["backtest", "--data", str(data), "--predictions", str(preds), "--profile", str(profile)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    manifest = json.loads((data / "dataset.json").read_text())
    assert doc["dataset_hash"] == manifest["dataset_hash"]
    session, _ = read_decision_log(tmp_path / "o" / "decisions.jsonl")
    assert session["strategy_profile"]["values"]["persistence"] == 2
    assert session["risk_profile"]["values"]["max_concurrent_positions"] == 1
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "o2"), "--json"])
    assert json.loads(again.stdout)["log_hash"] == doc["log_hash"]


def test_profiles_load_from_json_and_toml(tmp_path: Path) -> None:
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"strategy": {"take_profit_fraction": 0.5}}))
    strategy, risk = load_profiles(j)
    assert strategy.take_profit_fraction == Decimal("0.5")
    assert risk.max_concurrent_positions == 5  # governed default
    t = tmp_path / "p.toml"
    t.write_text('[risk.max_total_exposure]\nmode = "absolute"\nvalue = "5000"\n')
    assert str(load_profiles(t)[1].max_total_exposure.value) == "5000"


@pytest.mark.parametrize(
    ("content", "suffix", "code"),
    [
        ('{"strategy": {"sensitivity": 2}}', ".json", reasons.PROFILE_OUT_OF_BOUNDS),
        ('{"strategy": {"colour": 1}}', ".json", reasons.PROFILE_UNKNOWN_PARAMETER),
        ('{"other": {}}', ".json", reasons.PROFILE_UNKNOWN_PARAMETER),
        ('{"risk": {"max_concurrent_positions": "x"}}', ".json", reasons.INVALID_INPUT),
        ("not = [valid", ".toml", reasons.INVALID_INPUT),
    ],
)
def test_bad_profiles_are_refused(tmp_path: Path, content: str, suffix: str, code: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_text(content)
    with pytest.raises(ProfileError) as info:
        load_profiles(path)
    assert info.value.reason_code == code
    result = runner.invoke(
        app, ["backtest", "--example", "--profile", str(path), "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 3
    assert json.loads(result.stdout)["reason_code"] == code


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--example", "--data", "x"],
        ["--data", "x"],
        ["--predictions", "x"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["backtest", *args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["reason_code"] == reasons.USAGE_ERROR


def test_a_missing_dataset_is_rejected(tmp_path: Path) -> None:
    _, preds = _dataset(tmp_path)
    result = runner.invoke(
        app,
        [
            "backtest",
            "--data",
            str(tmp_path / "nope"),
            "--predictions",
            str(preds),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert result.exit_code == 3
    assert json.loads(result.stdout)["reason_code"] == "DATASET_INVALID"


def test_the_real_command_runs_in_a_subprocess(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "quant_apps",
            "backtest",
            "--example",
            "--out",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(done.stdout)
    assert doc["log_hash"] == log_hash((tmp_path / "decisions.jsonl").read_bytes())


def _kraken_bars(path: Path, base: str, rows: int) -> list[Bar]:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()[-rows:]
    out = []
    for line in lines:
        t, o, h, low, c, v, _trades = line.split(",")
        out.append(Bar(Instrument(base, "USD"), "1h", int(t) * 10**9, o, h, low, c, v))
    return out


def _momentum(bars: list[Bar]) -> list[Prediction]:
    """A causal toy model: p_up from the last 4 closes' return (no look-ahead)."""
    out = []
    for i in range(4, len(bars)):
        change = float(bars[i].close / bars[i - 4].close) - 1
        p = round(min(0.95, max(0.05, 0.5 + 10 * change)), 4)
        ts = bars[i].close_time_ns
        forecasts = (HorizonForecast(4 * 3_600 * 10**9, p), HorizonForecast(86_400 * 10**9, p))
        out.append(Prediction(bars[i].instrument, ts, ts, forecasts, "sha256:momentum-toy"))
    return out


def test_backtest_on_real_kraken_bars(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "real" / "kraken_ohlcvt__aironav-bitcoin"
    btc = _kraken_bars(folder / "XBTUSD_60.csv.gz", "BTC", 300)
    eth = _kraken_bars(folder / "ETHUSD_60.csv.gz", "ETH", 300)
    write_dataset(tmp_path / "ds", Dataset.from_bars(btc + eth))
    write_predictions(tmp_path / "p.jsonl", _momentum(btc) + _momentum(eth))
    args = ["backtest", "--data", str(tmp_path / "ds"), "--predictions", str(tmp_path / "p.jsonl")]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a"), "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["metrics"]["bars"] == doc["metrics"]["decisions"] == 600  # real gaps included
    assert doc["model_id"] == "sha256:momentum-toy"
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--json"])
    assert json.loads(second.stdout)["log_hash"] == doc["log_hash"]


def test_replay_parity_reruns_a_log_under_its_recorded_configuration(tmp_path: Path) -> None:
    data, preds = _dataset(tmp_path)
    profile = tmp_path / "profile.toml"
    profile.write_text("[strategy]\npersistence = 2\n[risk]\nmax_concurrent_positions = 1\n")
    source = ["--data", str(data), "--predictions", str(preds)]
    first = runner.invoke(
        app, ["backtest", *source, "--profile", str(profile), "--out", str(tmp_path / "a")]
    )
    assert first.exit_code == 0, first.output
    recorded = tmp_path / "a" / "decisions.jsonl"
    # No --profile: the profiles (and cash, fees, latency, ...) come from the log itself.
    args = ["backtest", *source, "--replay", str(recorded), "--out", str(tmp_path / "b")]
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert doc["replay"] == {
        "log": str(recorded),
        "recorded_hash": log_hash(recorded.read_bytes()),
        "identical": True,
        "difference": None,
    }
    assert (tmp_path / "b" / "decisions.jsonl").read_bytes() == recorded.read_bytes()
    human = runner.invoke(app, args)
    assert human.exit_code == 0
    assert f"replay parity: identical to {recorded}" in human.stdout


def test_a_replay_that_differs_exits_3_and_says_where(tmp_path: Path) -> None:
    out = tmp_path / "a"
    assert runner.invoke(app, ["backtest", "--example", "--out", str(out)]).exit_code == 0
    recorded = out / "decisions.jsonl"
    lines = recorded.read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if i > 3 and b'"trigger":"bar"' in line)
    lines[index] = lines[index].replace(b'"trigger":"bar"', b'"trigger":"fill"')
    recorded.write_bytes(b"".join(lines))
    args = ["backtest", "--example", "--replay", str(recorded), "--out", str(tmp_path / "b")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    assert doc["reason_code"] == "REPLAY_MISMATCH"
    where = f"line {index + 1} (seq {index}, a decision line) is the first that differs"
    assert where in doc["message"]
    # The replay's own outputs are written for inspection.
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["replay"]["identical"] is False
    assert summary["replay"]["difference"] in doc["message"]


def test_replay_refuses_profiles_paper_logs_and_headers_without_execution(tmp_path: Path) -> None:
    from quant_exec import DecisionLog

    out = tmp_path / "a"
    assert runner.invoke(app, ["backtest", "--example", "--out", str(out)]).exit_code == 0
    profile = tmp_path / "p.json"
    profile.write_text("{}")
    base = ["backtest", "--example", "--out", str(tmp_path / "b"), "--json"]
    both = runner.invoke(
        app, [*base, "--replay", str(out / "decisions.jsonl"), "--profile", str(profile)]
    )
    assert both.exit_code == 2
    assert json.loads(both.stdout)["reason_code"] == "USAGE_ERROR"
    paper = tmp_path / "paper.jsonl"
    DecisionLog({"paper": {"run": 1}}).write(paper)
    refused = runner.invoke(app, [*base, "--replay", str(paper)])
    assert refused.exit_code == 2
    assert "paper session" in json.loads(refused.stdout)["message"]
    old = tmp_path / "old.jsonl"
    DecisionLog({"engine": "quant_exec.engine/1"}).write(old)
    unreplayable = runner.invoke(app, [*base, "--replay", str(old)])
    assert unreplayable.exit_code == 3
    assert json.loads(unreplayable.stdout)["reason_code"] == "ENGINE_INPUT_INVALID"


def test_strategy_checks_are_written_and_printed(tmp_path: Path) -> None:
    args = ["backtest", "--example", "--strategy-checks", "--draws", "50", "--seed", "4"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "a"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    checks = doc["strategy_checks"]
    assert checks["draws"] == 50
    assert checks["seed"] == 4
    assert set(checks["goals"]) >= {"beats_random_entries", "positive_in_both_halves"}
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["strategy_checks"] == checks
    human = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert human.exit_code == 0, human.output
    assert f"random entry p: {checks['random_entry_p']:.4f}" in human.stdout
    assert "round trips: " in human.stdout
    met = "met" if checks["goals"]["in_market_enough"] else "MISSED"
    assert f"{met}: in_market_enough" in human.stdout
    plain = runner.invoke(app, ["backtest", "--example", "--out", str(tmp_path / "c"), "--json"])
    assert "strategy_checks" not in json.loads(plain.stdout)
