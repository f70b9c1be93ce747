"""The quant_data branch of the quant error tree.

Every class derives from a :mod:`quant_core.errors` class, so the exit-code convention holds;
each section belongs to one part of the package.

Examples:
    >>> from quant_data._errors import StoreError
    >>> StoreError("disk full").exit_code
    1
"""

from __future__ import annotations

from quant_core.errors import IntegrityError, QuantUsageError, StorageError
from quant_data import reasons

__all__ = [
    # --- emulator and importers
    "EmulatorUsageError",
    # --- providers
    "ProviderUsageError",
    # --- store
    "StoreError",
    "StoreIntegrityError",
]

# --- store


class StoreError(StorageError, reason=reasons.STORE_ERROR):
    """The market-data store could not be opened, read or written (exit code 1)."""


class StoreIntegrityError(IntegrityError, reason=reasons.STORE_VERSIONS_BROKEN):
    """The store's contents failed verification (exit code 3)."""


# --- providers


class ProviderUsageError(QuantUsageError, reason=reasons.PROVIDER_TIMEFRAME_UNSUPPORTED):
    """A provider was asked for something it cannot serve (a timeframe, a symbol; exit 2)."""


# --- emulator and importers


class EmulatorUsageError(QuantUsageError, reason=reasons.EMULATOR_INVALID):
    """The emulator was started with unusable options (exit code 2)."""
