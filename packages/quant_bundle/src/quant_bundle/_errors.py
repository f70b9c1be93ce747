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


class BundleRejectedError(RejectedError, reason=reasons.SIG_INVALID):
    """A bundle, release, key or rotation statement was refused; nothing was changed."""


class BundleMissingError(BundleRejectedError, reason=reasons.BUNDLE_MISSING):
    """No verified bundle is available where one is required (``require=True``)."""


class BundleStorageError(StorageError, reason=reasons.BUNDLE_IO_FAILED):
    """The installer could not read or write its directory; nothing was activated."""


class UpdateInProgressError(BundleStorageError, reason=reasons.UPDATE_IN_PROGRESS):
    """Another process holds the installer lock."""
