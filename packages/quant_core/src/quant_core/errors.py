"""The quant exception tree.

Every exception quant raises on purpose derives from one root, carries a stable
``reason_code`` (see :mod:`quant_core.reasons`) and maps to one process exit code, so the
``quant`` command and any embedding application can react without parsing messages::

    QuantError                                root; .reason_code, .exit_code
    ├── QuantUsageError                       the caller asked for something invalid        exit 2
    │   ├── ClockError                        a simulated clock asked to move backwards
    │   └── UniverseError                     an unknown universe, symbol or venue code
    └── QuantRuntimeError                     correct call, but the run failed              exit 1
        ├── RejectedError                     input rejected or verification failed         exit 3
        │   ├── ValidationError               a value breaks its schema, bounds or grid
        │   │   ├── CanonicalizationError     a value has no canonical JSON form
        │   │   ├── ProfileError              a governed profile change was refused
        │   │   └── SettingsError             an environment setting was refused
        │   └── IntegrityError                stored evidence failed verification
        │       └── AuditChainError           the audit log's hash chain is broken or torn
        └── StorageError                      reading or writing durable state failed

Each library adds its own branch under these classes (for example a data package's
``ProviderError`` under :class:`QuantRuntimeError`), never a new root, and declares each class
in one way: its default reason code (and, for a new branch, its exit code) as class keywords,
``class BundleMissingError(BundleRejectedError, reason=reasons.BUNDLE_MISSING)``. Business
outcomes such as a risk check rejecting an order are *values*, not exceptions.

Messages never contain secret values: :class:`~quant_core.settings.Secret` masks itself.
"""

from __future__ import annotations

from typing import Any

from quant_core import reasons

__all__ = [
    "AuditChainError",
    "CanonicalizationError",
    "ClockError",
    "IntegrityError",
    "ProfileError",
    "QuantError",
    "QuantRuntimeError",
    "QuantUsageError",
    "RejectedError",
    "SettingsError",
    "StorageError",
    "UniverseError",
    "ValidationError",
]


class QuantError(Exception):
    """Root of every error quant raises deliberately.

    A subclass names its default reason code and, where its branch differs, its exit code as
    class keywords: ``class ClockError(QuantUsageError, reason=reasons.CLOCK_BACKWARDS)``.

    Args:
        message: a human explanation (never containing secret values).
        reason_code: a code registered in :data:`quant_core.reasons.REGISTRY`; defaults to
            the class's :attr:`default_reason`.
    """

    exit_code: int = 1
    default_reason: str = reasons.INTERNAL_ERROR

    def __init_subclass__(
        cls, *, reason: str | None = None, exit_code: int | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if reason is not None:
            cls.default_reason = reason
        if exit_code is not None:
            cls.exit_code = exit_code

    def __init__(self, message: str, *, reason_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason_code = reason_code or self.default_reason
        if self.reason_code not in reasons.REGISTRY:
            raise ValueError(f"unregistered reason code {self.reason_code!r}")

    def to_dict(self) -> dict[str, str | int]:
        """The error as the JSON object every ``quant --json`` command prints on failure."""
        return {
            "ok": False,
            "error": type(self).__name__,
            "reason_code": self.reason_code,
            "message": self.message,
            "exit_code": self.exit_code,
        }

    def __str__(self) -> str:
        return f"[{self.reason_code}] {self.message}"


class QuantUsageError(QuantError, exit_code=2, reason=reasons.USAGE_ERROR):
    """The caller asked for something the API does not allow (exit code 2)."""


class ClockError(QuantUsageError, reason=reasons.CLOCK_BACKWARDS):
    """A simulated clock was asked to move backwards."""


class UniverseError(QuantUsageError, reason=reasons.SYMBOL_UNKNOWN):
    """An unknown universe version, symbol or venue code."""


class QuantRuntimeError(QuantError, exit_code=1):
    """A correctly made call failed while running (exit code 1)."""


class RejectedError(QuantRuntimeError, exit_code=3, reason=reasons.INVALID_INPUT):
    """Input was rejected or verification failed; nothing was changed (exit code 3)."""


class ValidationError(RejectedError):
    """A value breaks its schema, its bounds or its time grid."""


class CanonicalizationError(ValidationError, reason=reasons.NOT_CANONICAL):
    """A value has no canonical JSON form (NaN, infinity, non-string key, foreign type)."""


class ProfileError(ValidationError, reason=reasons.PROFILE_OUT_OF_BOUNDS):
    """A governed profile value or change was refused."""


class SettingsError(ValidationError, reason=reasons.SETTINGS_INVALID):
    """An environment setting was refused (the message names the variable, never a secret)."""


class IntegrityError(RejectedError, reason=reasons.AUDIT_CHAIN_BROKEN):
    """Stored evidence (a hash chain, a checksum) failed verification."""


class AuditChainError(IntegrityError):
    """The audit log is broken or torn.

    Attributes:
        line: the 1-based number of the first bad line.
    """

    def __init__(self, message: str, *, line: int, reason_code: str | None = None) -> None:
        super().__init__(f"line {line}: {message}", reason_code=reason_code)
        self.line = line


class StorageError(QuantRuntimeError, reason=reasons.IO_FAILURE):
    """Reading or writing durable state failed."""
