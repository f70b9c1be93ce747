"""Release directories: build, validate and verify ``manifest.json`` + ``manifest.sig`` + archive.

A release directory (what ``quant bundle build`` writes and a GitHub release carries) holds::

    manifest.json     canonical JSON (see quant_bundle.Manifest)
    manifest.sig      detached Ed25519 signature(s) over the exact manifest bytes
    bundle.tar.zst    the artifact archive, pinned by SHA-384 and length in the manifest
    latest.json/.sig  optional signed, expiring "latest" pointer (see quant_bundle.pointer)

Verification order (nothing in the archive is parsed before the first three pass): size caps →
signature over the raw manifest bytes → strict manifest parse → compatibility → archive length
and SHA-384, streamed.

Examples:
    >>> import tempfile, pathlib
    >>> from quant_bundle import BundleSpec, build_release, verify_release
    >>> from quant_bundle.keys import TrustStore, generate_key
    >>> src = pathlib.Path(tempfile.mkdtemp())
    >>> (src / "model.json").write_bytes(b"{}")
    2
    >>> key = generate_key(seed=bytes(32))
    >>> spec = BundleSpec(bundle_version="1.0.0", feature_schema_hash="sha256:00")
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> manifest = build_release(src, spec, [key], out)
    >>> verify_release(out, TrustStore.from_keys([key.public])).manifest.bundle_version
    '1.0.0'
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from quant_bundle import reasons
from quant_bundle._archive import build_archive
from quant_bundle._errors import BundleRejectedError, BundleStorageError
from quant_bundle._io import file_sha384, read_capped, reading
from quant_bundle._manifest import (
    ARCHIVE_NAME,
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    ArtifactEntry,
    Manifest,
    RuntimeVersions,
    check_collisions,
    check_compatibility,
    parse_manifest,
    safe_path,
)
from quant_bundle.keys import PrivateKey, TrustStore, sign_document, verify_signatures
from quant_core.files import write_file_atomic

__all__ = [
    "BundleSpec",
    "VerifiedRelease",
    "build_release",
    "verify_manifest",
    "verify_release",
]

_DEFAULT_RANGE: Final = {"min": "0.1.0", "max": "1.0.0"}


@attrs.frozen
class BundleSpec:
    """What a release says about its models, besides the artifact files themselves."""

    bundle_version: str
    feature_schema_hash: str
    model_family_versions: Mapping[str, str] = attrs.field(factory=lambda: {"default": "1.0.0"})
    training_lineage_metadata: Mapping[str, Any] = attrs.field(factory=dict)
    compatibility_range: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=lambda: {"app": _DEFAULT_RANGE, "backend": _DEFAULT_RANGE, "model": _DEFAULT_RANGE}
    )
    inference_contract: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class VerifiedRelease:
    """A release whose signature, manifest, compatibility and archive digest all checked out."""

    directory: Path
    manifest: Manifest
    manifest_bytes: bytes = attrs.field(repr=False)
    signature_bytes: bytes = attrs.field(repr=False)
    signers: tuple[str, ...]
    checks: tuple[str, ...]


def _collect(artifact_dir: Path) -> dict[str, bytes]:
    if not artifact_dir.is_dir():
        raise BundleRejectedError(
            f"{artifact_dir} is not a directory", reason_code=reasons.BUNDLE_MISSING
        )
    files: dict[str, bytes] = {}
    for path in sorted(artifact_dir.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BundleRejectedError(
                f"{path} is not a regular file", reason_code=reasons.MEMBER_TYPE_FORBIDDEN
            )
        if path.is_file():
            rel = "artifacts/" + path.relative_to(artifact_dir).as_posix()
            files[safe_path(rel)] = path.read_bytes()
    if not files:
        raise BundleRejectedError(
            f"{artifact_dir} holds no artifact files", reason_code=reasons.BUNDLE_MISSING
        )
    check_collisions(sorted(files))
    return files


def build_release(
    artifact_dir: Path | str,
    spec: BundleSpec,
    signers: Sequence[PrivateKey],
    out_dir: Path | str,
) -> Manifest:
    """Build ``bundle.tar.zst``, ``manifest.json`` and ``manifest.sig`` into ``out_dir``.

    Building twice from the same inputs writes identical bytes.

    Raises:
        BundleRejectedError: bad artifact names or types, or a malformed spec.
        BundleStorageError: the output cannot be written.
    """
    if not signers:
        raise BundleRejectedError(
            "at least one signing key is needed", reason_code=reasons.SIG_INVALID
        )
    files = _collect(Path(artifact_dir))
    archive = build_archive(files)
    manifest = Manifest(
        bundle_version=spec.bundle_version,
        model_family_versions=dict(spec.model_family_versions),
        feature_schema_hash=spec.feature_schema_hash,
        training_lineage_metadata=dict(spec.training_lineage_metadata),
        compatibility_range={k: dict(v) for k, v in spec.compatibility_range.items()},
        inference_contract=dict(spec.inference_contract),
        artifacts=tuple(
            ArtifactEntry(p, hashlib.sha384(b).hexdigest(), len(b))
            for p, b in sorted(files.items())
        ),
        archive_sha384=hashlib.sha384(archive).hexdigest(),
        archive_size=len(archive),
        key_id=signers[0].key_id,
    )
    data = manifest.to_bytes()
    parse_manifest(data)  # the builder refuses what the verifier would refuse
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_file_atomic(out / ARCHIVE_NAME, archive)
        write_file_atomic(out / MANIFEST_NAME, data)
        write_file_atomic(out / SIGNATURE_NAME, sign_document(data, signers))
    except OSError as exc:
        raise BundleStorageError(f"cannot write the release to {out}: {exc.strerror}") from None
    return manifest


def verify_manifest(
    manifest_bytes: bytes,
    signature_bytes: bytes,
    trust: TrustStore,
    runtime: RuntimeVersions | None = None,
) -> tuple[Manifest, list[str], list[str]]:
    """Verify signature → parse → compatibility; return (manifest, signers, checks passed).

    Raises:
        BundleRejectedError: the first failing check's reason.
    """
    signers = verify_signatures(manifest_bytes, signature_bytes, trust)
    checks = ["signature"]
    manifest = parse_manifest(manifest_bytes)
    checks.append("manifest")
    if manifest.key_id not in signers:
        raise BundleRejectedError(
            "the manifest names a signing key that did not sign it",
            reason_code=reasons.SIG_INVALID,
        )
    if runtime is not None:
        checks.extend(check_compatibility(manifest, runtime))
    return manifest, signers, checks


def verify_release(
    directory: Path | str,
    trust: TrustStore,
    runtime: RuntimeVersions | None = None,
) -> VerifiedRelease:
    """Verify a release directory without extracting anything.

    Raises:
        BundleRejectedError: ``BUNDLE_MISSING``, ``LENGTH_EXCEEDED``, a signature reason,
            ``MANIFEST_*``, ``INCOMPATIBLE_*`` or ``ARCHIVE_DIGEST_MISMATCH``.
    """
    root = Path(directory)
    manifest_bytes = read_capped(root / MANIFEST_NAME, MANIFEST_MAX_BYTES)
    signature_bytes = read_capped(root / SIGNATURE_NAME, 64 * 1024)
    manifest, signers, checks = verify_manifest(manifest_bytes, signature_bytes, trust, runtime)
    with reading(ARCHIVE_NAME):
        digest, size = file_sha384(root / ARCHIVE_NAME, manifest.archive_size)
    if size != manifest.archive_size or digest != manifest.archive_sha384:
        raise BundleRejectedError(
            f"archive is {size} bytes / sha384 {digest[:16]}…, the manifest pins "
            f"{manifest.archive_size} / {manifest.archive_sha384[:16]}…",
            reason_code=reasons.ARCHIVE_DIGEST_MISMATCH,
        )
    checks.append("archive_digest")
    return VerifiedRelease(
        root, manifest, manifest_bytes, signature_bytes, tuple(signers), tuple(checks)
    )
