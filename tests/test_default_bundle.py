"""The committed default bundle: signed, verifiable with the committed key, small, traceable.

Fast and offline: no training. ``scripts/build_default_bundle.py --check`` is the slow proof
that the recipe reproduces these artifact hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from quant_bundle import BundleRejectedError, extract_archive, verify_release
from quant_bundle.keys import TrustStore
from quant_models import load_model_set
from quant_models.training import load_config

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "bundles" / "default"
KEYS = ROOT / "bundles" / "keys"
CONFIG = ROOT / "bundles" / "default-train.toml"
FILES = ("manifest.json", "manifest.sig", "bundle.tar.zst")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The release verified through quant_bundle with the committed keys, then extracted."""
    release = verify_release(RELEASE, TrustStore.load(KEYS))
    out = tmp_path_factory.mktemp("default-bundle")
    extract_archive(RELEASE / "bundle.tar.zst", out, release.manifest)
    return release, out / "artifacts"


def test_release_holds_exactly_the_three_files_and_is_small() -> None:
    assert sorted(p.name for p in RELEASE.iterdir()) == sorted(FILES)
    assert sum((RELEASE / f).stat().st_size for f in FILES) < 20 * 1024 * 1024


def test_no_private_key_in_the_repository() -> None:
    for path in (ROOT / "bundles").rglob("*"):
        assert path.suffix != ".key"
        if path.is_file() and path.stat().st_size < 100_000:
            assert b"private_key" not in path.read_bytes(), path


def test_committed_bundle_verifies_with_the_committed_key(extracted: tuple[Any, Path]) -> None:
    release, artifacts = extracted
    assert release.checks == ("signature", "manifest", "archive_digest")
    pinned = {a.path: a.sha384 for a in release.manifest.artifacts}
    on_disk = {
        "artifacts/" + p.relative_to(artifacts).as_posix(): hashlib.sha384(
            p.read_bytes()
        ).hexdigest()
        for p in artifacts.rglob("*")
        if p.is_file()
    }
    assert on_disk == pinned


def test_a_tampered_copy_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "release"
    shutil.copytree(RELEASE, copy)
    archive = copy / "bundle.tar.zst"
    os.chmod(archive, stat.S_IWUSR | stat.S_IRUSR)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(BundleRejectedError) as caught:
        verify_release(copy, TrustStore.load(KEYS))
    assert caught.value.reason_code == "ARCHIVE_DIGEST_MISMATCH"


def test_run_record_names_dataset_config_and_seed(extracted: tuple[Any, Path]) -> None:
    release, artifacts = extracted
    run = json.loads((artifacts / "run.json").read_bytes())
    config = load_config(CONFIG)
    # The config hash is recomputed from the committed config file, not read back.
    assert run["config_hash"] == config.config_hash
    assert run["seed"] == config.seed
    assert run["dataset_hash"].startswith("sha256:")
    assert len(run["dataset_hash"]) == 71
    lineage = release.manifest.training_lineage_metadata
    for key in ("dataset_hash", "config_hash", "seed", "run_id", "model_id"):
        assert lineage[key] == run[key]
    decision = json.loads((artifacts / "decision.json").read_bytes())
    assert decision["promote"] is True
    model_set = load_model_set(artifacts)
    assert model_set.model_id == run["model_id"]
    assert model_set.dataset_hash == run["dataset_hash"]
    assert release.manifest.feature_schema_hash == model_set.schema.schema_hash
    assert sorted(h.bars for h in model_set.horizons) == sorted(h.bars for h in config.horizons)


def test_coverage_lists_every_universe_coin_once(extracted: tuple[Any, Path]) -> None:
    from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE

    _, artifacts = extracted
    coverage = json.loads((artifacts / "coverage.json").read_bytes())
    trained, missing = coverage["coins_trained"], list(coverage["coins_not_trained"])
    assert trained
    assert missing
    assert sorted(trained + missing) == sorted(UNIVERSE_V1_TOP30_NON_STABLE.symbols)
    run = json.loads((artifacts / "run.json").read_bytes())
    assert run["window"]["symbols"] == sorted(trained)
    assert coverage["dataset_hash"] == run["dataset_hash"]
    assert all(f["sha256"].startswith("sha256:") for f in coverage["source_files"])
    assert all(coverage["coins_not_trained"].values())  # every untrained coin says why


def test_training_config_keeps_the_governed_gate_thresholds() -> None:
    from quant_models import GateConfig

    assert load_config(CONFIG).gates == GateConfig()


def test_usdt_trained_models_predict_usd_bars_by_base_asset(extracted: tuple[Any, Path]) -> None:
    """Models trained on USDT bars serve USD instruments: keyed by base, quote passed through."""
    import numpy as np

    from quant_core import Bar, Instrument, Timeframe
    from quant_models import ModelSetPredictor

    _, artifacts = extracted
    model_set = load_model_set(artifacts)
    assert model_set.quote == "USDT"
    predictor = ModelSetPredictor(model_set)
    step = Timeframe.H1.ns
    rng = np.random.default_rng(7)
    history: dict[Instrument, list[Bar]] = {}
    n = model_set.feature_config.warmup + 50
    for base in ("BTC", "ETH", "XLM"):  # XLM: never seen in training, served by the global model
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        inst = Instrument(base, "USD")
        history[inst] = [
            Bar(
                inst,
                "1h",
                i * step,
                f"{c:.6f}",
                f"{c * 1.01:.6f}",
                f"{c * 0.99:.6f}",
                f"{c:.6f}",
                "10",
            )
            for i, c in enumerate(close)
        ]
    as_of = n * step
    predictions = predictor.predict(as_of, history)
    assert [str(p.instrument) for p in predictions] == ["BTC/USD", "ETH/USD", "XLM/USD"]
    for p in predictions:
        assert p.model_id == model_set.model_id
        assert [f.horizon_ns for f in p.forecasts] == [h.bars * step for h in model_set.horizons]
        assert all(0.0 < f.p_up < 1.0 for f in p.forecasts)
