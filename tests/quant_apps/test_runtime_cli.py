"""The command-line path end to end: ``quant train`` → ``quant bundle build`` → backtest."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_data import write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")

runner = CliRunner()


def test_train_build_and_backtest_a_bundle_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "dataset"
    write_dataset(data, _bundles.make_dataset(bars=400, seed=11))
    config = tmp_path / "train.json"
    config.write_text(json.dumps(_bundles.TINY_CONFIG))
    run = tmp_path / "run"
    trained = runner.invoke(
        app, ["train", "--dataset", str(data), "--config", str(config), "--out", str(run)]
    )
    assert trained.exit_code == 0, trained.output
    keys = tmp_path / "keys"
    made = runner.invoke(app, ["bundle", "keygen", "--out", str(keys), "--name", "rel"])
    assert made.exit_code == 0, made.output
    private = keys / "rel.key"
    signing = tmp_path / "signing"  # the private key never sits in the trust directory
    signing.mkdir()
    private.rename(signing / "rel.key")
    release = tmp_path / "release"
    built = runner.invoke(
        app,
        [
            *("bundle", "build", str(run), "--version", "1.2.3"),
            *("--sign-key", str(signing / "rel.key"), "--out", str(release), "--json"),
        ],
    )
    assert built.exit_code == 0, built.output
    manifest = json.loads((release / "manifest.json").read_bytes())
    meta = json.loads((run / "metadata.json").read_bytes())
    record = json.loads((run / "run.json").read_bytes())
    # build took the schema hash and lineage from the quant train files
    assert manifest["feature_schema_hash"] == meta["feature_schema_hash"]
    assert manifest["training_lineage_metadata"] == {
        k: record[k] for k in ("run_id", "model_id", "dataset_hash", "config_hash", "seed")
    }
    fresh = tmp_path / "fresh"
    write_dataset(fresh, _bundles.make_dataset(bars=150, seed=77))
    result = runner.invoke(
        app,
        [
            *("backtest", "--data", str(fresh), "--bundle", str(release), "--keys", str(keys)),
            *("--out", str(tmp_path / "out"), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["bundle"]["bundle_version"] == "1.2.3"
    assert doc["bundle"]["model_id"] == record["model_id"] == meta["model_id"]


def test_build_from_a_plain_directory_keeps_the_placeholder_schema(tmp_path: Path) -> None:
    art = tmp_path / "art"
    art.mkdir()
    (art / "model.bin").write_bytes(b"opaque")
    keys = tmp_path / "keys"
    runner.invoke(app, ["bundle", "keygen", "--out", str(keys), "--name", "k"])
    result = runner.invoke(
        app,
        [
            *("bundle", "build", str(art), "--version", "0.1.0", "--sign-key", str(keys / "k.key")),
            *("--out", str(tmp_path / "rel"), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "rel" / "manifest.json").read_bytes())
    assert manifest["feature_schema_hash"] == "sha256:" + "0" * 64
    assert manifest["training_lineage_metadata"] == {}


def test_bundle_activate_installs_once_and_reports_the_lineage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUANT_REQUIRE_BUNDLE", raising=False)
    release, keys = _bundles.make_release(tmp_path)
    root = tmp_path / "root"
    args = ["bundle", "activate", str(release), "--trusted-keys", str(keys), "--root", str(root)]
    first = runner.invoke(app, [*args, "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    record = json.loads((tmp_path / "release-artifacts" / "run.json").read_bytes())
    assert doc["loaded"] is True
    assert (doc["model_id"], doc["training_dataset_hash"], doc["seed"]) == (
        record["model_id"],
        record["dataset_hash"],
        record["seed"],
    )
    assert Path(doc["path"]) == (root / "current").resolve()
    audit = (root / "audit.jsonl").read_bytes()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "bundle 1.0.0 active" in again.stdout
    assert (root / "audit.jsonl").read_bytes() == audit  # already active: nothing installed


def test_bundle_activate_defaults_to_the_configured_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, keys = _bundles.make_release(tmp_path)
    monkeypatch.setenv("QUANT_BUNDLE_SOURCE", str(release))
    monkeypatch.setenv("QUANT_BUNDLE_KEYS", str(keys))
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    result = runner.invoke(app, ["bundle", "activate", "--root", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bundle_version"] == "1.0.0"


def test_bundle_activate_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release, keys = _bundles.make_release(tmp_path)
    _bundles.flip_byte(release / "bundle.tar.zst", 200)
    args = ["bundle", "activate", str(release), "--trusted-keys", str(keys)]
    args += ["--root", str(tmp_path / "r"), "--json"]
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    required = runner.invoke(app, args)
    assert required.exit_code == 3
    assert json.loads(required.stdout)["reason_code"] == "ARCHIVE_DIGEST_MISMATCH"
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")
    fallback = runner.invoke(app, args)
    assert fallback.exit_code == 0
    doc = json.loads(fallback.stdout)
    assert (doc["loaded"], doc["reason_code"]) == (False, "ARCHIVE_DIGEST_MISMATCH")
    human = runner.invoke(app, args[:-1])
    assert "fallback mode [ARCHIVE_DIGEST_MISMATCH]" in human.stdout
