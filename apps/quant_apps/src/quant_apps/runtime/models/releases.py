"""Signing keys and signed releases behind ``quant bundle keygen`` and ``quant bundle build``.

A private signing key lives in a file (mode 0600) or in the OS keychain (service
:data:`KEYRING_SERVICE`, spec ``keyring:NAME``); keychain failures become
``KEYCHAIN_UNAVAILABLE``, and a keychain key is stored before anything is written, so a
failure never leaves a plain private key file behind. :func:`build_signed_release` packs a
``quant train --out`` directory, signs it, and writes the ``latest`` update pointer.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from quant_bundle import (
    BundleRejectedError,
    BundleSpec,
    BundleStorageError,
    Manifest,
    VerifiedRelease,
    build_release,
    extract_archive,
    reasons,
    verify_release,
)
from quant_bundle.keys import (
    PrivateKey,
    TrustStore,
    generate_key,
    load_private_key,
    private_key_from_hex,
    write_keypair,
)
from quant_bundle.update import write_pointer
from quant_core import NS_PER_SECOND, Clock

__all__ = [
    "KEYRING_SERVICE",
    "build_signed_release",
    "keychain",
    "new_signing_key",
    "signing_key",
    "validate_release",
]

KEYRING_SERVICE = "quant-bundle-signing"
"""The OS keychain service under which ``keygen --keyring`` stores private keys."""
_NO_SCHEMA = "sha256:" + "0" * 64
_LINEAGE_KEYS = ("run_id", "model_id", "dataset_hash", "config_hash", "seed")


@contextmanager
def keychain() -> Iterator[ModuleType]:
    """The ``keyring`` module, imported late; its failures become ``KEYCHAIN_UNAVAILABLE``."""
    import keyring
    import keyring.errors

    try:
        yield keyring
    except keyring.errors.KeyringError as exc:
        raise BundleStorageError(
            f"the OS keychain is unavailable: {type(exc).__name__}",
            reason_code=reasons.KEYCHAIN_UNAVAILABLE,
        ) from None


def new_signing_key(
    out: Path, name: str, *, use_keyring: bool
) -> tuple[PrivateKey, dict[str, str]]:
    """Generate a key: the public file in ``out``, the private one there or in the keychain.

    Returns:
        the key and the files written (``public``, ``private``: a path or ``keyring:NAME``).
    """
    key = generate_key()
    if use_keyring:  # the keychain first: on failure nothing is written, never a plain file
        with keychain() as keyring:
            keyring.set_password(KEYRING_SERVICE, name, key.seed_hex())
    written = write_keypair(key, out, name, private=not use_keyring)
    if use_keyring:
        written["private"] = f"keyring:{name}"
    return key, written


def signing_key(spec: str) -> PrivateKey:
    """The private key a ``--sign-key`` names: a key file, or ``keyring:NAME``.

    Raises:
        BundleRejectedError: ``KEY_FILE_INVALID`` for a bad file or an unknown keychain name.
        BundleStorageError: ``KEYCHAIN_UNAVAILABLE``.
    """
    if spec.startswith("keyring:"):
        with keychain() as keyring:
            secret = keyring.get_password(KEYRING_SERVICE, spec.removeprefix("keyring:"))
        if secret is None:
            raise BundleRejectedError(
                f"no key named {spec.removeprefix('keyring:')!r} in the OS keychain",
                reason_code=reasons.KEY_FILE_INVALID,
            )
        return private_key_from_hex(secret)
    return load_private_key(Path(spec))


def _train_defaults(artifact_dir: Path) -> tuple[str, dict[str, Any]]:
    """Feature schema hash and lineage of a ``quant train --out`` directory, if it is one."""
    try:
        meta = json.loads((artifact_dir / "metadata.json").read_bytes())
        run = json.loads((artifact_dir / "run.json").read_bytes())
        return str(meta["feature_schema_hash"]), {k: run[k] for k in _LINEAGE_KEYS}
    except (OSError, ValueError, KeyError, TypeError):
        return _NO_SCHEMA, {}


def build_signed_release(
    artifact_dir: Path,
    version: str,
    key: PrivateKey,
    out: Path,
    *,
    clock: Clock,
    extra: Mapping[str, Any] | None = None,
    feature_schema_hash: str | None = None,
    pointer_days: float = 30.0,
    pointer_version: int | None = None,
) -> Manifest:
    """Build and sign a release of ``artifact_dir`` into ``out``, with its update pointer.

    The feature schema hash and training lineage default to those of a ``quant train
    --out`` directory (decision 0054).

    Args:
        artifact_dir: the artifact files.
        version: the bundle version ``X.Y.Z``.
        key: the signing key.
        out: the release directory.
        clock: stamps the pointer (its expiry and default version).
        extra: further manifest fields (``model_family_versions``, ...).
        feature_schema_hash: overrides the artifacts' own.
        pointer_days: days until the pointer expires.
        pointer_version: the pointer's version (default: now in seconds).
    """
    fields = dict(extra or {})
    schema, lineage = _train_defaults(artifact_dir)
    fields.setdefault("training_lineage_metadata", lineage)
    spec = BundleSpec(
        bundle_version=version, feature_schema_hash=feature_schema_hash or schema, **fields
    )
    manifest = build_release(artifact_dir, spec, [key], out)
    now = clock.now_ns()
    write_pointer(
        out,
        manifest,
        [key],
        expires_ns=now + int(pointer_days * 86_400 * NS_PER_SECOND),
        pointer_version=pointer_version if pointer_version is not None else now // NS_PER_SECOND,
    )
    return manifest


def validate_release(out: Path, trust: TrustStore) -> VerifiedRelease:
    """Verify the release in ``out`` and unpack its archive into a throw-away directory.

    Raises:
        BundleRejectedError: the reason code of the first failed check.
    """
    release = verify_release(out, trust)
    with tempfile.TemporaryDirectory() as tmp:
        extract_archive(out / "bundle.tar.zst", Path(tmp), release.manifest)
    return release
