"""Finding 18: every user mistake gets its reason code, not ``INTERNAL_ERROR``.

A missing ``--predictions`` file or ``--replay`` log is refused like a missing ``--data``
(exit 3 with the file's reason code); a ``postgres://`` URL (the form hosting providers print)
opens with the installed driver; an unknown coin is refused before the demo does any work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime.jobs.demo import DemoOptions, run_demo
from quant_core import SimClock
from quant_core.errors import UniverseError
from quant_data import Dataset, Store, write_dataset
from quant_exec.session import example_bars

runner = CliRunner()


def _dataset(tmp_path: Path) -> Path:
    data = tmp_path / "dataset"
    write_dataset(data, Dataset.from_bars(example_bars(n_bars=24)))
    return data


@pytest.mark.parametrize("missing", ["absent.jsonl", "a-directory"])
def test_an_unreadable_predictions_file_is_predictions_invalid(
    tmp_path: Path, missing: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    args = ["backtest", "--data", str(_dataset(tmp_path)), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--predictions", str(tmp_path / missing), "--json"])
    doc = json.loads(result.stdout)
    assert (result.exit_code, doc["reason_code"]) == (3, "PREDICTIONS_INVALID")
    assert "cannot read the predictions" in doc["message"]


def test_a_missing_replay_log_is_decision_log_invalid(tmp_path: Path) -> None:
    args = ["backtest", "--example", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--replay", str(tmp_path / "nope.jsonl"), "--json"])
    doc = json.loads(result.stdout)
    assert (result.exit_code, doc["reason_code"]) == (3, "DECISION_LOG_INVALID")
    assert "cannot read the decision log" in doc["message"]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_a_postgres_url_opens_with_psycopg(monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    opened: list[str] = []

    def fake_create_engine(url: str) -> object:
        opened.append(url)
        raise ValueError("stop here")  # what matters is the URL the engine was asked for

    monkeypatch.setattr("quant_data.store._db.create_engine", fake_create_engine)
    with pytest.raises(Exception, match="cannot open the store"):
        Store.open(f"{scheme}://quant:SECRET@127.0.0.1:1/quant", clock=SimClock(0))
    assert opened == ["postgresql+psycopg://quant:SECRET@127.0.0.1:1/quant"]


def test_an_unknown_coin_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    with pytest.raises(UniverseError, match="DOGEX not in") as caught:
        run_demo(DemoOptions(out=out, symbols=("BTC", "DOGEX"), bars=24))
    assert caught.value.reason_code == "SYMBOL_UNKNOWN"
    assert not out.exists()  # no output directory, no emulator, no backfill


def test_the_demo_command_names_the_unknown_coin(tmp_path: Path) -> None:
    args = ["demo", "--out", str(tmp_path / "demo"), "--symbols", "dogex", "--json"]
    result = runner.invoke(app, args)
    doc = json.loads(result.stdout)
    assert (result.exit_code, doc["reason_code"]) == (2, "SYMBOL_UNKNOWN")
    assert not (tmp_path / "demo").exists()
