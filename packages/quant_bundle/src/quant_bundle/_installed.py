"""Reading an installed bundle: full re-verification and the read-only active-bundle loader.

Examples:
    >>> import tempfile, pathlib
    >>> from quant_bundle.keys import TrustStore, generate_key
    >>> trust = TrustStore.from_keys([generate_key(seed=bytes(32)).public])
    >>> verify_installed(pathlib.Path(tempfile.mkdtemp()) / "gone", trust)
    Traceback (most recent call last):
    ...
    quant_bundle._errors.BundleMissingError: [BUNDLE_MISSING] gone is not an installed bundle
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from quant_bundle import reasons
from quant_bundle._errors import BundleMissingError, BundleRejectedError
from quant_bundle._io import file_sha384, read_capped
from quant_bundle._manifest import (
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
    RuntimeVersions,
)
from quant_bundle._release import verify_manifest
from quant_bundle._state import BundleFallback, LoadedBundle
from quant_bundle.keys import TrustStore

__all__ = ["VERIFIED_SEAL", "load_active_bundle", "verify_installed"]

VERIFIED_SEAL: Final = ".verified"
"""The file in an installed bundle that holds the manifest digest it was verified against."""


def verify_installed(
    directory: Path, trust: TrustStore, runtime: RuntimeVersions | None = None
) -> Manifest:
    """Fully re-verify an installed bundle: signature, seal, and every file's size and hash.

    Raises:
        BundleRejectedError: a signature or compatibility reason, ``BUNDLE_MISSING`` when
            the directory or its manifest is gone, or ``ACTIVE_CORRUPT`` when files differ.
    """
    if not directory.is_dir():
        raise BundleMissingError(f"{directory.name} is not an installed bundle")
    manifest_bytes = read_capped(directory / MANIFEST_NAME, MANIFEST_MAX_BYTES)
    signature_bytes = read_capped(directory / SIGNATURE_NAME, 64 * 1024)
    manifest, _, _ = verify_manifest(manifest_bytes, signature_bytes, trust, runtime)
    corrupt = BundleRejectedError(
        f"installed bundle {directory.name} does not match its manifest",
        reason_code=reasons.ACTIVE_CORRUPT,
    )
    try:
        if (directory / VERIFIED_SEAL).read_text("utf-8") != manifest.digest:
            raise corrupt
        present = {
            p.relative_to(directory).as_posix()
            for p in (directory / "artifacts").rglob("*")
            if not p.is_dir()
        }
        if present != {a.path for a in manifest.artifacts}:
            raise corrupt
        for entry in manifest.artifacts:
            path = directory / entry.path
            if path.is_symlink() or file_sha384(path, entry.size) != (entry.sha384, entry.size):
                raise corrupt
    except OSError:
        raise corrupt from None
    return manifest


def load_active_bundle(
    root: Path | str,
    trust: TrustStore,
    *,
    require: bool,
    runtime: RuntimeVersions | None = None,
) -> LoadedBundle | BundleFallback:
    """Load the verified active bundle (read-only), falling back to ``previous`` if it fails.

    Args:
        root: the install root.
        trust: the trusted keys.
        require: when ``True`` (the apps set it from ``QUANT_REQUIRE_BUNDLE=1``), a missing or
            invalid bundle raises instead of returning a :class:`BundleFallback`.
        runtime: running versions to check compatibility against (``None``: not checked).

    Raises:
        BundleMissingError: ``require`` is set and no bundle verifies; the reason code is the
            active bundle's failure (``BUNDLE_MISSING`` when none is installed).

    Examples:
        >>> import tempfile, pathlib
        >>> from quant_bundle.keys import TrustStore, generate_key
        >>> trust = TrustStore.from_keys([generate_key(seed=bytes(32)).public])
        >>> load_active_bundle(pathlib.Path(tempfile.mkdtemp()), trust, require=False).reason_code
        'BUNDLE_MISSING'
    """
    base = Path(root)
    failures: list[BundleRejectedError] = []
    for link in ("current", "previous"):
        try:
            name = os.readlink(base / link)
        except OSError:
            if link == "current":
                failures.append(BundleMissingError("no bundle is installed"))
            continue
        target = base / name
        try:
            manifest = verify_installed(target, trust, runtime)
        except BundleRejectedError as exc:
            failures.append(exc)
            continue
        except OSError as exc:  # pragma: no cover - verify_installed maps OS errors
            failures.append(BundleMissingError(str(exc)))
            continue
        degraded = failures[0].reason_code if failures else None
        return LoadedBundle(target, manifest, degraded)
    first = failures[0]
    if require:
        raise BundleMissingError(
            f"no verified bundle (QUANT_REQUIRE_BUNDLE): {first.message}",
            reason_code=first.reason_code,
        )
    return BundleFallback(first.reason_code, first.message)
