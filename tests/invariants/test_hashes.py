"""Recorded hashes that a restructuring must keep equal (issue 14, ARCHITECTURE-NEXT.md).

These are golden values on purpose: each was recorded from the code before the runtime
restructure, and a change to any of them is a behaviour change that needs its own reason
(and a new recorded value with that reason in the commit). Every command runs as a real
``quant`` process, the way a user runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DEMO_DATASET_HASH = "sha256:007edd3987cd67c21fc0fb1ebe579042ec42f5e3a7f09d53e5cd7fbafd33f867"
DEMO_REPLAY_HASH = "sha256:4b1b0289f7f0eaadc1f081437a677b76f4c81a2ec86f802780c04ec39692a1b0"
BUNDLE_HASH = (
    "sha384:c57f60d8e8dd8d6a49acd0e65bdd5cbf5def070d6ce97d4adf6a597f9473ed97"
    "9d63184dbd40b9f83bede5a14dd240c1"
)
EXAMPLE_LOG_HASH = "sha256:66adafd94b071b67929e3f6cfa0c907662ed23d9ca23a2e51e59b4d0975bcb37"
SHIPPED_FILES = {
    "bundle.tar.zst": "e106178ec37596d09d2458200b001dde92e55658226c8f1845f24e40a549c992",
    "manifest.json": "85aa2e228bfddaff19c20fd6ac07e350861d2b96206d9089ed1e788cb167ed06",
    "manifest.sig": "997d16e3b61c90e87f9e985b06f26388ab69f3d44c38806d094df812dd1e3585",
}
TRAIN_MODEL_ID = "sha256:8c9a30aa14b62186f1650a016e2f976bdce33ee88ac29acf0dfc8b5d7b1f16d3"
TRAIN_RUN_ID = "sha256:1050c81fe1d8ec511cc36d33257caa41d5198becaef60bf21c18bea2a93f3e6e"
TRAIN_ARTIFACTS = {
    "decision.json": "2f293ed5e8966677e18370b586546a8ff319efacac980033a979abb86e1e1d4b",
    "evidence.json": "e7d5f17663cec7203cbf693ff583f00fc31dc096d0c826729b81560ee183cb5b",
    "metadata.json": "a5148fa15bea06e608c33309b163322aee8a76d2ab85e39606e889ff649a9ab7",
    "models/h1/lightgbm-global-all.txt": (
        "c12bf75aaa4c32e5fedc94bae32f5c0b7079c27c84df5486b4d048f5a641d29d"
    ),
    "models/h4/lightgbm-global-all.txt": (
        "2f1e6e9cde523f353b698177f464c0ae77f97b0a16d19ccd56182e09b33b6034"
    ),
    "oof.csv": "a5ca740f50456f8bdfedca7a41becf0e20e998e255da200a3d9e438644f2edfd",
    "run.json": "601b823b326523c5d7ccbfbe14812bf3876839504d673f0302db37f9b0d4ef61",
}
TRAIN_CONFIG = {
    "horizons": [{"bars": 1, "bucket_edges": [-0.005, 0.0, 0.005]}, {"bars": 4}],
    "features": {
        "return_windows": [1, 4, 12],
        "vol_windows": [12],
        "range_windows": [12],
        "volume_windows": [12],
        "trend_windows": [12],
        "cross_windows": [1, 12],
    },
    "families": ["lightgbm"],
    "scopes": ["global"],
    "params": {"lightgbm": {"n_estimators": 8, "min_data_in_leaf": 20}},
    "folds": {"n_folds": 2, "test_size": 60, "embargo": 4, "min_train": 150},
    "gates": {"min_samples": 10, "min_bss": -1.0, "max_ece": 1.0},
    "seed": 3,
}


def _quant(cwd: Path, *args: str) -> dict[str, object]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HIST_", "KRAKEN_", "UNIVERSE_", "QUANT_", "TRAINING_", "ENABLE_"))
    }
    env["QUANT_DATA_DIR"] = str(cwd / "data")
    env["PYTHONHASHSEED"] = "7"
    done = subprocess.run(
        [sys.executable, "-m", "quant_apps", *args, "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    cwd = tmp_path_factory.mktemp("demo")
    return cwd, _quant(cwd, "demo")


def test_the_demo_keeps_its_dataset_replay_and_bundle_hashes(
    demo: tuple[Path, dict[str, object]],
) -> None:
    _, doc = demo
    assert doc["dataset"]["hash"] == DEMO_DATASET_HASH  # type: ignore[index]
    assert doc["replay_hash"] == DEMO_REPLAY_HASH
    assert doc["bundle"]["bundle_hash"] == BUNDLE_HASH  # type: ignore[index]


def test_materialize_from_the_demo_store_keeps_its_dataset_hash(
    demo: tuple[Path, dict[str, object]],
) -> None:
    cwd, _ = demo
    doc = _quant(
        cwd,
        "data",
        "materialize",
        "--symbols",
        "BTC,ETH,SOL",
        "--start",
        "2024-01-01T00:00:00Z",
        "--end",
        "2024-03-01T00:00:00Z",
        "--prefer",
        "coinapi",
        "--out",
        "materialized",
        "--database-url",
        f"sqlite:///{cwd / 'quant-demo' / 'store.sqlite'}",
    )
    assert doc["dataset_hash"] == DEMO_DATASET_HASH
    assert (cwd / "materialized" / "bars.csv").read_bytes() == (
        cwd / "quant-demo" / "dataset" / "bars.csv"
    ).read_bytes()


def test_training_a_fixed_config_keeps_every_artifact_hash(
    demo: tuple[Path, dict[str, object]],
) -> None:
    cwd, _ = demo
    (cwd / "train.json").write_text(json.dumps(TRAIN_CONFIG))
    doc = _quant(
        cwd, "train", "--config", "train.json", "--dataset", "quant-demo/dataset", "--out", "run"
    )
    assert (doc["model_id"], doc["run_id"]) == (TRAIN_MODEL_ID, TRAIN_RUN_ID)
    found = {
        p.relative_to(cwd / "run").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (cwd / "run").rglob("*")
        if p.is_file()
    }
    assert found == TRAIN_ARTIFACTS


def test_the_example_backtest_keeps_its_log_hash(tmp_path: Path) -> None:
    doc = _quant(tmp_path, "backtest", "--example", "--out", "bt")
    assert doc["log_hash"] == EXAMPLE_LOG_HASH


def test_the_shipped_bundle_is_unchanged_and_verifies(tmp_path: Path) -> None:
    for name, digest in SHIPPED_FILES.items():
        assert hashlib.sha256((ROOT / "bundles" / "default" / name).read_bytes()).hexdigest() == (
            digest
        )
    doc = _quant(tmp_path, "doctor")
    assert doc["ok"] is True
