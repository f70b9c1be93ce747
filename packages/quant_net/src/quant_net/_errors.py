"""The network edge's branch of the quant error tree.

::

    QuantRuntimeError
    └── ProviderError             a provider or exchange call failed            exit 1
        ├── WriteNotSentError     a write never left this process (safe to send again)
        └── UnknownOutcomeError   a write may or may not have taken effect (query first)

Examples:
    >>> err = UnknownOutcomeError("POST /0/private/AddOrder", provider="kraken",
    ...                           cause="PROVIDER_UNAVAILABLE")
    >>> err.reason_code, err.retryable, err.cause, err.exit_code
    ('WRITE_OUTCOME_UNKNOWN', False, 'PROVIDER_UNAVAILABLE', 1)
"""

from __future__ import annotations

from quant_core.errors import QuantRuntimeError
from quant_net import _reasons as reasons

__all__ = ["ProviderError", "UnknownOutcomeError", "WriteNotSentError"]


class ProviderError(QuantRuntimeError, reason=reasons.PROVIDER_ERROR):
    """A call to a market-data provider or an exchange failed (exit code 1).

    The message names the provider, the request (never a credential) and the provider's own
    error text. ``retryable`` tells the read policy whether trying again can help.

    Attributes:
        provider: the provider name (``"coinapi"``, ``"kraken"``, ``"coingecko"``).
        status: the HTTP status, or ``None`` when no response arrived.
        retryable: whether the failure is transient (429, 5xx, timeout, truncated body).
        retry_after_s: the wait the provider asked for (``Retry-After``), if any.

    Examples:
        >>> err = ProviderError("HTTP 429", provider="coinapi", status=429, retryable=True,
        ...                     reason_code="PROVIDER_RATE_LIMITED")
        >>> err.reason_code, err.retryable, err.exit_code
        ('PROVIDER_RATE_LIMITED', True, 1)
    """

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


class WriteNotSentError(ProviderError, reason=reasons.WRITE_NOT_SENT):
    """A write was not sent: the connection could not be opened (``WRITE_NOT_SENT``).

    Nothing reached the other end, so sending the same write again is safe.
    """

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, provider=provider, retryable=True)


class UnknownOutcomeError(ProviderError, reason=reasons.WRITE_OUTCOME_UNKNOWN):
    """A write may or may not have taken effect (``WRITE_OUTCOME_UNKNOWN``).

    Raised for a timeout or a connection lost after the request may have been sent, an HTTP
    5xx, a service error the exchange reports for a write, or an answer that cannot be read.
    It is never retried: the caller must find out what happened (an order by its client order
    id) before it sends anything again.

    Attributes:
        cause: the reason code the same failure has on a read (``PROVIDER_UNAVAILABLE``,
            ``PROVIDER_RESPONSE_INVALID``).
    """

    def __init__(
        self, message: str, *, provider: str = "", status: int | None = None, cause: str = ""
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.cause = cause
