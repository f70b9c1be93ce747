"""The Kraken client's own errors (Kraken's own answers are :class:`~quant_net.ProviderError`).

::

    QuantRuntimeError
    ├── StorageError
    │   └── NonceStoreError      the nonce high-water mark cannot be read or written
    └── ProviderError (quant_net)
        ├── CallBudgetError      the client-side counter refuses; nothing was sent
        ├── PausedError          private calls are paused (lockout, throttle); nothing sent
        └── PagingError          a paged history query did not settle in its page budget
    RejectedError
    ├── KeyScopeError            the API key's permissions are wrong for trading
    └── ClockSkewError           the local clock is too far from Kraken's (``CLOCK_SKEW``)
"""

from __future__ import annotations

from quant_core.errors import RejectedError, StorageError
from quant_exec import reasons
from quant_exec.venues.kraken import _rest_reasons
from quant_net import ProviderError

__all__ = [
    "CallBudgetError",
    "ClockSkewError",
    "KeyScopeError",
    "NonceStoreError",
    "PagingError",
    "PausedError",
]


class NonceStoreError(StorageError, reason=reasons.KRAKEN_NONCE_STORE_INVALID):
    """The nonce high-water-mark file is unreadable or cannot be written."""


class CallBudgetError(ProviderError, reason=reasons.KRAKEN_CALL_BUDGET):
    """A call would take a Kraken counter above its maximum; it was not sent.

    Attributes:
        wait_s: how long until the counter has room for the call.
    """

    def __init__(self, message: str, *, wait_s: float) -> None:
        super().__init__(message, provider="kraken", retry_after_s=wait_s)
        self.wait_s = wait_s


class PausedError(ProviderError, reason=reasons.KRAKEN_PAUSED):
    """Private calls are paused (after a lockout or throttle answer); nothing was sent."""

    def __init__(self, message: str, *, wait_s: float) -> None:
        super().__init__(message, provider="kraken", retry_after_s=wait_s)
        self.wait_s = wait_s


class KeyScopeError(RejectedError, reason=reasons.KRAKEN_KEY_SCOPE):
    """The API key may withdraw, or lacks a permission trading needs.

    Attributes:
        missing: the needed permissions the key lacks.
        forbidden: the permissions it has but must not (``withdraw_funds``).
    """

    def __init__(
        self, message: str, *, missing: tuple[str, ...], forbidden: tuple[str, ...]
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.forbidden = forbidden


class PagingError(ProviderError, reason=_rest_reasons.KRAKEN_PAGES_UNSETTLED):
    """A paged history query did not settle within its page budget (nothing is returned)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, provider="kraken")


class ClockSkewError(RejectedError, reason=_rest_reasons.CLOCK_SKEW):
    """The local clock is further from Kraken's server time than allowed; do not trade.

    Attributes:
        skew_s: how far Kraken's clock is ahead of ours (negative: behind), at the least.
        max_skew_s: the allowed skew.
    """

    def __init__(self, message: str, *, skew_s: float, max_skew_s: float) -> None:
        super().__init__(message)
        self.skew_s = skew_s
        self.max_skew_s = max_skew_s
