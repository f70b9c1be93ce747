"""Reason codes of quant_bundle: why a bundle was refused, rolled back or not loaded.

Every code is registered once in the project-wide registry (:mod:`quant_core.reasons`). The
names follow the threat catalogue (``BND-*``) and the fault-injection list (``ATM-*``).

Examples:
    >>> from quant_bundle import reasons
    >>> from quant_core.reasons import REGISTRY
    >>> reasons.SIG_INVALID in REGISTRY
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

BUNDLE_MISSING = "No verified model bundle is installed (or a release asset is missing)."
SIG_INVALID = "A bundle signature does not verify over the exact signed bytes."
KEY_UNTRUSTED = "A bundle is signed by a key that is not trusted."
KEY_REVOKED = "A bundle is signed by a key revoked by a rotation."
THRESHOLD_NOT_MET = "Fewer distinct trusted keys signed than the threshold requires."
KEY_ROTATION_INVALID = (
    "A key rotation statement is malformed, out of sequence or not signed by a trusted key."
)
KEYCHAIN_UNAVAILABLE = (
    "The OS keychain cannot store or read a signing key; nothing falls back to a plain file."
)
KEY_FILE_INVALID = "A key file is malformed or has the wrong kind."
ARCHIVE_DIGEST_MISMATCH = (
    "The archive's SHA-384 or length differs from what the signed manifest pins."
)
FILE_DIGEST_MISMATCH = "An artifact file's SHA-384 or size differs from the manifest."
ROLLBACK = "The offered bundle is older than the persisted version floor (anti-rollback)."
VERSION_REUSED = "The offered bundle reuses the floor version with different content."
ALREADY_INSTALLED = "The offered bundle's version is already at the version floor."
POINTER_EXPIRED = "The signed 'latest' pointer has expired: the update channel is stale."
POINTER_ROLLBACK = "The signed 'latest' pointer is older than the one already seen."
POINTER_MISMATCH = "The signed 'latest' pointer does not name the offered manifest."
INCOMPATIBLE_APP = "The bundle's compatibility range excludes the running app version."
INCOMPATIBLE_BACKEND = "The bundle's compatibility range excludes the running backend version."
INCOMPATIBLE_MODEL = (
    "The bundle's compatibility range excludes the installed model package version."
)
INCOMPATIBLE_FEATURE_SCHEMA = (
    "The bundle was trained on a feature schema other than the running one."
)
UNLISTED_MEMBER = "The archive holds a member the signed manifest does not list."
MISSING_MEMBER = "A file the signed manifest lists is missing from the archive."
DUPLICATE_MEMBER = "The archive holds the same member twice."
MEMBER_TYPE_FORBIDDEN = (
    "The archive holds a link, device, FIFO, sparse or other non-regular member."
)
ARCHIVE_TRUNCATED = "The archive's compressed stream or tar data ends early."
ARCHIVE_MALFORMED = "The archive is not a well-formed zstd-compressed tar within limits."
LENGTH_EXCEEDED = "A download, a manifest or the decompressed archive exceeded its cap."
SLOW_RETRIEVAL = "A download did not finish within its deadline or timed out."
MANIFEST_MALFORMED = (
    "The manifest (or pointer) is not strict canonical JSON of the expected schema."
)
MANIFEST_BAD_PATH = (
    "A manifest file name is unsafe: traversal, absolute, odd characters or a collision."
)
SMOKE_TEST_FAILED = "The pre-activation smoke check of a new bundle failed."
ROLLED_BACK = "A new bundle failed after activation and the last known good bundle was restored."
ACTIVE_CORRUPT = "The active bundle's files no longer match its verified manifest."
NO_ROLLBACK_TARGET = "There is no retained previous known-good bundle to roll back to."
DISK_FULL = "The bundle store ran out of space; nothing was activated."
STORAGE_READONLY = "The bundle directory is not writable; nothing was changed."
BUNDLE_IO_FAILED = "A file operation of the bundle installer failed; nothing was activated."
POST_COMMIT_FAILED = (
    "The new bundle is active, but a step after the commit point (directory sync, retention,"
    " audit) failed; the result is 'installed' with a warning."
)
FLOOR_UNRECOVERABLE = (
    "state.json is missing and the audit trail cannot be read: the version floor cannot be"
    " rebuilt, so nothing is installed."
)
UPDATE_IN_PROGRESS = "Another process holds the bundle installer lock."
UPDATE_SOURCE_UNAVAILABLE = "The update source cannot be read or answered with an error."

declare_codes(globals())
