"""Test helper: a tiny trained, promoted, signed model bundle release on synthetic bars.

``make_release(tmp_path)`` trains a very small model set (LightGBM, a few trees, two horizons)
with ``quant_models.pipeline.train`` on a seeded :class:`quant_data.SyntheticMarket`, writes
exactly what ``quant train --out`` writes, builds and signs a release with a fresh test key,
and returns ``(release_dir, keys_dir)``. Trained artifact directories are cached per process
(training takes a couple of seconds), every call gets its own copies.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from quant_bundle import BundleSpec, build_release
from quant_bundle.keys import generate_key, write_keypair
from quant_core import Timeframe
from quant_data import Dataset, SyntheticMarket, write_dataset

__all__ = [
    "TINY_CONFIG",
    "flip_byte",
    "make_dataset",
    "make_release",
    "release_from_artifacts",
    "train_artifacts",
]

START_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z

TINY_CONFIG: dict[str, Any] = {
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
"""A training config small enough for tests, with gates every run passes."""

_CACHE: dict[tuple[Any, ...], Path] = {}


def make_dataset(
    symbols: tuple[str, ...] = ("BTC", "ETH"),
    *,
    quote: str = "USD",
    bars: int = 400,
    seed: int = 11,
    start_ns: int = START_NS,
) -> Dataset:
    """A dataset of ``bars`` hourly synthetic candles per symbol (deterministic in ``seed``)."""
    market = SyntheticMarket(
        seed=seed,
        symbols=symbols,
        start_ns=start_ns,
        end_ns=start_ns + bars * Timeframe.H1.ns,
        quote=quote,
    )
    return Dataset.from_bars(b for s in symbols for b in market.bars(s))


def train_artifacts(
    out: Path,
    *,
    symbols: tuple[str, ...] = ("BTC", "ETH"),
    quote: str = "USD",
    bars: int = 400,
    seed: int = 11,
    config: dict[str, Any] | None = None,
    dataset: Dataset | None = None,
) -> Path:
    """Write what ``quant train --out OUT`` writes for a tiny model set; return ``out``.

    The model set is trained on ``dataset`` when given, else on a synthetic market of
    ``symbols`` quoted in ``quote`` (``bars`` hourly bars, seeded with ``seed``).
    """
    from quant_models import load_config, train

    cfg_doc = TINY_CONFIG if config is None else config
    if dataset is None:
        dataset = make_dataset(symbols, quote=quote, bars=bars, seed=seed)
    key = (dataset.manifest.dataset_hash, json.dumps(cfg_doc, sort_keys=True))
    if key not in _CACHE:
        scratch = Path(tempfile.mkdtemp(prefix="quant-test-bundle-"))
        (scratch / "train.json").write_text(json.dumps(cfg_doc), encoding="utf-8")
        write_dataset(scratch / "dataset", dataset)
        train(dataset, load_config(scratch / "train.json"), out=scratch / "run")
        _CACHE[key] = scratch / "run"
    shutil.copytree(_CACHE[key], out)
    return out


def release_from_artifacts(
    artifacts: Path, release: Path, keys: Path, *, version: str = "1.0.0", key_name: str = "test"
) -> tuple[Path, Path]:
    """Sign ``artifacts`` (a ``quant train --out`` directory) into ``release`` with a new key.

    The public key is written to ``keys`` as ``<key_name>.pub`` (the directory is created if
    needed; the file must not exist yet). Returns ``(release, keys)``.
    """
    key = generate_key()
    write_keypair(key, keys, key_name, private=False)
    meta = json.loads((artifacts / "metadata.json").read_bytes())
    run = json.loads((artifacts / "run.json").read_bytes())
    spec = BundleSpec(
        bundle_version=version,
        feature_schema_hash=meta["feature_schema_hash"],
        training_lineage_metadata={
            k: run[k] for k in ("run_id", "model_id", "dataset_hash", "config_hash", "seed")
        },
    )
    build_release(artifacts, spec, [key], release)
    return release, keys


def make_release(
    tmp_path: Path,
    *,
    symbols: tuple[str, ...] = ("BTC", "ETH"),
    quote: str = "USD",
    version: str = "1.0.0",
    bars: int = 400,
    seed: int = 11,
    config: dict[str, Any] | None = None,
    name: str = "release",
    dataset: Dataset | None = None,
) -> tuple[Path, Path]:
    """Train a tiny model set, build and sign a release; return ``(release_dir, keys_dir)``.

    The model set is trained on ``dataset`` when given (e.g. real bars), else on synthetic
    bars (see :func:`train_artifacts`). Files land in ``tmp_path / name`` (the release),
    ``tmp_path / f"{name}-keys"`` (the public key) and ``tmp_path / f"{name}-artifacts"``
    (the ``quant train --out`` files).
    """
    artifacts = train_artifacts(
        tmp_path / f"{name}-artifacts",
        symbols=symbols,
        quote=quote,
        bars=bars,
        seed=seed,
        config=config,
        dataset=dataset,
    )
    return release_from_artifacts(
        artifacts, tmp_path / name, tmp_path / f"{name}-keys", version=version
    )


def flip_byte(path: Path, offset: int = -1) -> None:
    """Flip every bit of one byte of ``path`` (default: the last byte)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def small_release(tmp_path: Path, key: Any, version: str, now_ns: int) -> Path:
    """A signed release ``version`` of one small artifact (``pointer_version``: its major)."""
    from quant_apps.runtime.models.releases import build_signed_release
    from quant_core import SimClock

    art = tmp_path / f"art-{version}"
    art.mkdir()
    (art / "model.json").write_text(json.dumps({"v": version}))
    out = tmp_path / f"rel-{version}"
    build_signed_release(
        art, version, key, out, clock=SimClock(now_ns), pointer_version=int(version[0])
    )
    return out
