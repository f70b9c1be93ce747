"""quant_bundle: signed model bundles — build, verify, atomic install, rollback and audit.

A bundle is a set of opaque artifact files plus a canonical ``manifest.json`` that pins every
file's SHA-384 and the archive's SHA-384 and length, signed (Ed25519, detached
``manifest.sig``) by a trusted key. Nothing in the archive is parsed before the signature and
the archive digest check out; installs are staged, extracted under an allow-list, swapped in
atomically, guarded by a persisted version floor, and recorded in a hash-chained audit log.

Examples:
    >>> import quant_bundle
    >>> "BundleStore" in quant_bundle.__all__
    True
"""

from quant_bundle import reasons
from quant_bundle.archive import build_archive, extract_archive
from quant_bundle.errors import (
    BundleMissingError,
    BundleRejectedError,
    BundleStorageError,
    UpdateInProgressError,
)
from quant_bundle.install import (
    CHECKPOINTS,
    BundleFallback,
    BundleState,
    BundleStore,
    InstallResult,
    LoadedBundle,
    load_active_bundle,
    verify_installed,
)
from quant_bundle.keys import (
    PrivateKey,
    PublicKey,
    TrustStore,
    generate_key,
    load_private_key,
    load_public_key,
    make_rotation,
    private_key_from_hex,
    sign_document,
    verify_signatures,
    write_keypair,
)
from quant_bundle.manifest import (
    ArtifactEntry,
    Manifest,
    RuntimeVersions,
    check_compatibility,
    parse_manifest,
)
from quant_bundle.release import BundleSpec, VerifiedRelease, build_release, verify_release
from quant_bundle.update import (
    DirectorySource,
    HttpSource,
    Pointer,
    UpdateCheck,
    apply_update,
    check_update,
    open_source,
    verify_pointer,
    write_pointer,
)

__version__ = "0.1.0"
__all__ = [
    "CHECKPOINTS",
    "ArtifactEntry",
    "BundleFallback",
    "BundleMissingError",
    "BundleRejectedError",
    "BundleSpec",
    "BundleState",
    "BundleStorageError",
    "BundleStore",
    "DirectorySource",
    "HttpSource",
    "InstallResult",
    "LoadedBundle",
    "Manifest",
    "Pointer",
    "PrivateKey",
    "PublicKey",
    "RuntimeVersions",
    "TrustStore",
    "UpdateCheck",
    "UpdateInProgressError",
    "VerifiedRelease",
    "__version__",
    "apply_update",
    "build_archive",
    "build_release",
    "check_compatibility",
    "check_update",
    "extract_archive",
    "generate_key",
    "load_active_bundle",
    "load_private_key",
    "load_public_key",
    "make_rotation",
    "open_source",
    "parse_manifest",
    "private_key_from_hex",
    "reasons",
    "sign_document",
    "verify_installed",
    "verify_pointer",
    "verify_release",
    "verify_signatures",
    "write_keypair",
    "write_pointer",
]
