"""Bundle verification throughput against the raw primitives.

Baseline: read the same ``bundle.tar.zst`` and ``manifest.json`` from disk, compute
``hashlib.sha384`` over the archive and one PyNaCl ``VerifyKey.verify`` over the manifest —
the least any verifier must do. quant's ``verify_release`` additionally enforces size caps,
strict canonical manifest parsing and schema, signature-file parsing and trust/threshold
rules, compatibility ranges and the pinned archive length. Goal: ratio ≥ 0.8.

Run: ``uv run python benchmarks/bench_bundle_verify.py [--quick] [--json]``
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import nacl.signing

from quant_bundle import BundleSpec, build_release, verify_release
from quant_bundle.keys import TrustStore, generate_key
from quant_core import generator

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_seconds, run_cli, throughput_lines
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_seconds, run_cli, throughput_lines


def make_release(tmp: Path, megabytes: int) -> tuple[Path, TrustStore, bytes]:
    rng = generator(11, "benchmarks", "bundle")
    src = tmp / "src"
    src.mkdir()
    for i in range(4):
        (src / f"part{i}.bin").write_bytes(rng.bytes(megabytes * (1 << 20) // 4))
    key = generate_key(seed=bytes(32))
    out = tmp / "release"
    build_release(
        src, BundleSpec(bundle_version="1.0.0", feature_schema_hash="sha256:00"), [key], out
    )
    return out, TrustStore.from_keys([key.public]), key.public.raw


def run(megabytes: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        release, trust, public = make_release(Path(tmp), megabytes)
        manifest = release / "manifest.json"
        signature = bytes.fromhex(
            json.loads((release / "manifest.sig").read_bytes())["signatures"][0]["signature"]
        )
        archive = release / "bundle.tar.zst"
        size = archive.stat().st_size
        verify_key = nacl.signing.VerifyKey(public)

        def baseline() -> None:
            nacl.signing.VerifyKey(public)
            verify_key.verify(manifest.read_bytes(), signature)
            digest = hashlib.sha384()
            with open(archive, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            digest.hexdigest()

        ours = best_seconds(lambda: verify_release(release, trust), repeats)
        base = best_seconds(baseline, repeats)
    return {
        "archive_megabytes": size / 1e6,
        "quant_mb_per_s": size / 1e6 / ours,
        "baseline_mb_per_s": size / 1e6 / base,
        "ratio": base / ours,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(4, 3),
        full=(64, 7),
        run=lambda sizes: run(*sizes),
        lines=lambda _, result: throughput_lines(
            f"verify_release vs sha384 + nacl verify, {result['archive_megabytes']:.1f} MB archive",
            result,
            "MB/s",
            ">10,.1f",
        ),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
