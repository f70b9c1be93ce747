"""The quant_data branch of the quant error tree.

Every class derives from a :mod:`quant_core.errors` class, so the exit-code convention holds;
each section belongs to one part of the package.

Examples:
    >>> from quant_data import StoreError
    >>> StoreError("disk full").exit_code
    1
"""

from __future__ import annotations

from quant_core.errors import IntegrityError, QuantRuntimeError, QuantUsageError, StorageError
from quant_data import reasons

__all__ = [
    # --- emulator and importers
    "EmulatorUsageError",
    # --- providers
    "ProviderError",
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


class ProviderError(QuantRuntimeError):
    """A market-data provider call failed (exit code 1).

    The message names the provider, the request (never a credential) and the provider's own
    error text. ``retryable`` tells the HTTP policy whether trying again can help.

    Attributes:
        provider: the provider name (``"coinapi"``, ``"kraken"``, ``"coingecko"``).
        status: the HTTP status, or ``None`` when no response arrived.
        retryable: whether the failure is transient (429, 5xx, timeout, truncated body).
        retry_after_s: the wait the provider asked for (``Retry-After``), if any.

    Examples:
        >>> from quant_data import ProviderError
        >>> err = ProviderError("HTTP 429", provider="coinapi", status=429, retryable=True,
        ...                     reason_code="PROVIDER_RATE_LIMITED")
        >>> err.reason_code, err.retryable, err.exit_code
        ('PROVIDER_RATE_LIMITED', True, 1)
    """

    default_reason = reasons.PROVIDER_ERROR

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
        reason_code: str | None = None,
    ) -> None:
        super().__init__(message, reason_code=reason_code)
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class ProviderUsageError(QuantUsageError):
    """A provider was asked for something it cannot serve (a timeframe, a symbol; exit 2)."""

    default_reason = reasons.PROVIDER_TIMEFRAME_UNSUPPORTED


# --- emulator and importers


class EmulatorUsageError(QuantUsageError):
    """The emulator was started with unusable options (exit code 2)."""

    default_reason = reasons.EMULATOR_INVALID
