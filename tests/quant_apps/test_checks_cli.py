"""``quant train --checks`` and ``quant checks RUN``: the run record's checks (decision 0124)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.quant_apps._bundles import TINY_CONFIG
from tests.quant_models.helpers import dataset_from_frame, synthetic_frame
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_core import Timeframe
from quant_data import write_dataset

runner = CliRunner()
H = Timeframe.H1.ns


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of 400 bars, the same cut 2 bars earlier, and a run trained on the cut."""
    root = tmp_path_factory.mktemp("checks")
    frame = synthetic_frame(("BTC", "ETH"), n=400, seed=2)
    write_dataset(root / "full", dataset_from_frame(frame))
    write_dataset(root / "cut", dataset_from_frame(frame[frame.open_time_ns < 398 * H]))
    (root / "train.json").write_text(json.dumps(TINY_CONFIG))
    return root


def _train(root: Path, dataset: str, out: str, *extra: str) -> str:
    args = ["train", "--config", str(root / "train.json"), "--dataset", str(root / dataset)]
    result = runner.invoke(app, [*args, "--out", str(root / out), *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_records_the_checks_and_checks_scores_them(root: Path) -> None:
    text = _train(root, "cut", "run", "--checks")
    assert "  hindcast h1: BSS " in text
    record = json.loads((root / "run" / "run.json").read_bytes())
    checks = record["metrics"]["checks"]
    assert checks["hindcast"]["status"] == "scored"
    assert {r["status"] for r in checks["forward"]["forecasts"]} == {"pending"}
    # against the training data itself every forecast is still pending
    same = runner.invoke(app, ["checks", str(root / "run"), "--dataset", str(root / "cut")])
    assert same.exit_code == 0, same.output
    assert "  1h: realised 0 pending 2 Brier -\n" in same.stdout
    # two newer bars realise the 1h forecasts, not the 4h ones
    args = ["checks", str(root / "run"), "--dataset", str(root / "full")]
    newer = runner.invoke(app, [*args, "--json"])
    assert newer.exit_code == 0, newer.output
    doc = json.loads(newer.stdout)
    assert doc["summary"]["1h"]["realised"] == 2
    assert doc["summary"]["4h"] == {"realised": 0, "pending": 2, "brier": None}
    assert doc["model_id"] == record["model_id"]
    human = runner.invoke(app, args)
    brier = doc["summary"]["1h"]["brier"]
    assert f"  1h: realised 2 pending 0 Brier {brier:.4f}\n" in human.stdout


def test_checks_needs_a_run_trained_with_checks(root: Path) -> None:
    text = _train(root, "cut", "plain")
    assert "hindcast" not in text
    for run in ("plain", "missing"):
        result = runner.invoke(app, ["checks", str(root / run), "--dataset", str(root / "full")])
        assert result.exit_code == 2, result.output


def test_a_short_dataset_records_the_hindcast_unavailable(tmp_path: Path) -> None:
    write_dataset(tmp_path / "short", dataset_from_frame(synthetic_frame(("BTC", "ETH"), n=300)))
    (tmp_path / "train.json").write_text(json.dumps(TINY_CONFIG))
    text = _train(tmp_path, "short", "run", "--checks")
    assert "  hindcast: unavailable INSUFFICIENT_DATA\n" in text


def test_train_json_carries_the_recorded_checks(root: Path) -> None:
    doc = json.loads(_train(root, "cut", "json-run", "--checks", "--json"))
    record = json.loads((root / "json-run" / "run.json").read_bytes())
    assert doc["checks"] == record["metrics"]["checks"]
    plain = json.loads(_train(root, "cut", "json-plain", "--json"))
    assert "checks" not in plain
