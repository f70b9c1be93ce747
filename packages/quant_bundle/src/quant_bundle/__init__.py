"""quant_bundle: signed model bundles — build, verify, atomic install, rollback and audit.

A bundle is a set of opaque artifact files plus a canonical ``manifest.json`` that pins every
file's SHA-384 and the archive's SHA-384 and length, signed (Ed25519, detached
``manifest.sig``) by a trusted key. Nothing in the archive is parsed before the signature and
the archive digest check out; installs are staged, extracted under an allow-list, swapped in
atomically, guarded by a persisted version floor, and recorded in a hash-chained audit log.

The package has one door and two public rooms beside it:

* ``quant_bundle`` (below): manifests, releases, archives, the bundle store and its errors;
* :mod:`quant_bundle.keys`: signing keys, signatures, the trust store and key rotation;
* :mod:`quant_bundle.update`: the signed ``latest`` pointer, release sources and updates;
* :mod:`quant_bundle.reasons`: the package's reason codes.

Examples:
    >>> import quant_bundle
    >>> "BundleStore" in quant_bundle.__all__
    True
"""

from quant_bundle import reasons
from quant_bundle._archive import build_archive, extract_archive
from quant_bundle._errors import (
    BundleMissingError,
    BundleRejectedError,
    BundleStorageError,
    UpdateInProgressError,
)
from quant_bundle._installed import load_active_bundle, verify_installed
from quant_bundle._manifest import (
    ARCHIVE_NAME,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    ArtifactEntry,
    Manifest,
    RuntimeVersions,
    check_compatibility,
    parse_manifest,
)
from quant_bundle._release import BundleSpec, VerifiedRelease, build_release, verify_release
from quant_bundle._state import (
    CHECKPOINTS,
    BundleFallback,
    BundleState,
    InstallOutcome,
    InstallResult,
    LoadedBundle,
)
from quant_bundle._store import BundleStore, audit_refusal

__version__ = "0.1.0"
__all__ = [
    "ARCHIVE_NAME",
    "CHECKPOINTS",
    "MANIFEST_NAME",
    "SIGNATURE_NAME",
    "ArtifactEntry",
    "BundleFallback",
    "BundleMissingError",
    "BundleRejectedError",
    "BundleSpec",
    "BundleState",
    "BundleStorageError",
    "BundleStore",
    "InstallOutcome",
    "InstallResult",
    "LoadedBundle",
    "Manifest",
    "RuntimeVersions",
    "UpdateInProgressError",
    "VerifiedRelease",
    "__version__",
    "audit_refusal",
    "build_archive",
    "build_release",
    "check_compatibility",
    "extract_archive",
    "load_active_bundle",
    "parse_manifest",
    "reasons",
    "verify_installed",
    "verify_release",
]
