"""``quant card RUN``: a training run's model card, as text, Markdown file and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.quant_apps._bundles import TINY_CONFIG
from tests.quant_models.helpers import dataset_from_frame, synthetic_frame
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_data import write_dataset
from quant_models.evaluation import model_card, read_oof

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("card")
    write_dataset(root / "ds", dataset_from_frame(synthetic_frame(("BTC", "ETH"), n=400)))
    config = {**{k: v for k, v in TINY_CONFIG.items() if k != "gates"}, "gates": {}}
    (root / "train.json").write_text(json.dumps(config))
    args = ["train", "--config", str(root / "train.json"), "--dataset", str(root / "ds")]
    runner.invoke(app, [*args, "--out", str(root / "run")])
    assert (root / "run" / "oof.csv").is_file()
    return root / "run"


def test_the_card_prints_and_writes_markdown(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "card.md"
    result = runner.invoke(app, ["card", str(run_dir), "--draws", "100", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout == target.read_text()
    assert result.stdout.startswith("# Model card: run\n")


def test_json_is_the_library_card(run_dir: Path) -> None:
    args = ["card", str(run_dir), "--json", "--coins", "ETH", "--block-days", "2"]
    result = runner.invoke(app, [*args, "--draws", "100", "--seed", "4"])
    assert result.exit_code == 0, result.output
    table = read_oof((run_dir / "oof.csv").read_bytes())
    card = model_card(table, coins=["ETH"], block_ns=2 * 86_400 * 10**9, draws=100, seed=4)
    assert json.loads(result.stdout) == json.loads(card.to_json())


def test_a_directory_without_oof_and_an_unknown_coin_are_usage_errors(
    run_dir: Path, tmp_path: Path
) -> None:
    missing = runner.invoke(app, ["card", str(tmp_path)])
    assert missing.exit_code != 0
    assert "no oof.csv" in missing.output
    unknown = runner.invoke(app, ["card", str(run_dir), "--coins", "DOGE", "--json"])
    assert unknown.exit_code != 0
    assert "DOGE" in unknown.output
