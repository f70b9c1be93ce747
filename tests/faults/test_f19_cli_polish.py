"""Finding 19: CLI polish a new user runs into.

``backtest --replay LOG`` of the built-in example needs nothing else; a report shows one
``model_id``; help text has no ``<bool>`` column, RST markup or cut option names; ``data
materialize`` prints a readable summary; ``doctor``'s keyring warning says how to fix it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime import doctor
from quant_apps.runtime.runs import bundle_rows
from quant_data import Dataset, write_dataset
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
