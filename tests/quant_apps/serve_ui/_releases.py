"""Two signed releases of one tiny model set, trusted by one test key, and an update source.

``1.0.0`` is what the session starts on; ``1.1.0`` is offered by an update source (a release
directory with a signed ``latest`` pointer), so applying the update leaves ``1.0.0`` as the
rollback target.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.quant_apps._bundles import train_artifacts

from quant_bundle import BundleSpec, build_release, parse_manifest
from quant_bundle.keys import generate_key, write_keypair
from quant_bundle.update import write_pointer

POINTER_EXPIRES_NS = 4_102_444_800 * 10**9  # 2100-01-01: the pointer outlives the test


def two_releases(where: Path) -> tuple[Path, Path, Path]:
    """``(release 1.0.0, update source offering 1.1.0, trusted keys)`` under ``where``."""
    artifacts = train_artifacts(where / "artifacts")
    key = generate_key()
    keys = where / "keys"
    write_keypair(key, keys, "test", private=False)
    meta = json.loads((artifacts / "metadata.json").read_bytes())
    run = json.loads((artifacts / "run.json").read_bytes())
    lineage = {k: run[k] for k in ("run_id", "model_id", "dataset_hash", "config_hash", "seed")}
    out = []
    for version in ("1.0.0", "1.1.0"):
        spec = BundleSpec(
            bundle_version=version,
            feature_schema_hash=meta["feature_schema_hash"],
            training_lineage_metadata=lineage,
        )
        release = where / f"release-{version}"
        build_release(artifacts, spec, [key], release)
        out.append(release)
    manifest = parse_manifest((out[1] / "manifest.json").read_bytes())
    write_pointer(out[1], manifest, [key], expires_ns=POINTER_EXPIRES_NS, pointer_version=1)
    return out[0], out[1], keys
