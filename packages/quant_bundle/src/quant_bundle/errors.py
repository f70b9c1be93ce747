"""quant_bundle's branch of the quant exception tree.

::

    RejectedError (quant_core)                 exit 3
    └── BundleRejectedError                     a bundle, key or release was refused
        └── BundleMissingError                  no verified bundle where one is required
    StorageError (quant_core)                  exit 1
    └── BundleStorageError                      the installer could not read or write
        └── UpdateInProgressError               another process holds the installer lock

Every error carries a reason code from :mod:`quant_bundle.reasons`; messages never carry
private key material.
"""

from __future__ import annotations

from quant_bundle import reasons
from quant_core.errors import RejectedError, StorageError

__all__ = [
    "BundleMissingError",
    "BundleRejectedError",
    "BundleStorageError",
    "UpdateInProgressError",
]


class BundleRejectedError(RejectedError):
    """A bundle, release, key or rotation statement was refused; nothing was changed."""

    default_reason = reasons.SIG_INVALID


class BundleMissingError(BundleRejectedError):
    """No verified bundle is available where one is required (``require=True``)."""

    default_reason = reasons.BUNDLE_MISSING


class BundleStorageError(StorageError):
    """The installer could not read or write its directory; nothing was activated."""

    default_reason = reasons.BUNDLE_IO_FAILED


class UpdateInProgressError(BundleStorageError):
    """Another process holds the installer lock."""

    default_reason = reasons.UPDATE_IN_PROGRESS
