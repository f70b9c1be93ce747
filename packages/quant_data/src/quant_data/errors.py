"""The quant_data branch of the quant error tree.

Every class derives from a :mod:`quant_core.errors` class, so the exit-code convention holds;
each section belongs to one part of the package.

Examples:
    >>> from quant_data.errors import StoreError
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


class StoreError(StorageError):
    """The market-data store could not be opened, read or written (exit code 1)."""

    default_reason = reasons.STORE_ERROR


class StoreIntegrityError(IntegrityError):
    """The store's contents failed verification (exit code 3)."""

    default_reason = reasons.STORE_VERSIONS_BROKEN


# --- providers


class ProviderUsageError(QuantUsageError):
    """A provider was asked for something it cannot serve (a timeframe, a symbol; exit 2)."""

    default_reason = reasons.PROVIDER_TIMEFRAME_UNSUPPORTED


# --- emulator and importers


class EmulatorUsageError(QuantUsageError):
    """The emulator was started with unusable options (exit code 2)."""

    default_reason = reasons.EMULATOR_INVALID
