"""Bundle verification throughput against the raw primitives.

Baseline: read the same ``bundle.tar.zst`` and ``manifest.json`` from disk, compute
``hashlib.sha384`` over the archive and one PyNaCl ``VerifyKey.verify`` over the manifest —
the least any verifier must do. quant's ``verify_release`` additionally enforces size caps,
strict canonical manifest parsing and schema, signature-file parsing and trust/threshold
rules, compatibility ranges and the pinned archive length. Goal: ratio ≥ 0.8.

Run: ``uv run python benchmarks/bench_bundle_verify.py [--quick] [--json]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import nacl.signing

from quant_bundle import BundleSpec, TrustStore, build_release, generate_key, verify_release
from quant_core.rng import generator


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


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    megabytes, repeats = (4, 3) if args.quick else (64, 7)
    result = run(megabytes, repeats)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(
            f"verify_release vs sha384 + nacl verify, {result['archive_megabytes']:.1f} MB archive"
        )
        print(f"  quant    {result['quant_mb_per_s']:>10,.1f} MB/s")
        print(f"  baseline {result['baseline_mb_per_s']:>10,.1f} MB/s")
        print(f"  ratio (quant throughput / baseline throughput): {result['ratio']:.3f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
