"""quant_net: the network edge. Every request to a provider or an exchange goes through it.

- :class:`ReadClient` sends idempotent requests under a :class:`ReadPolicy`: rate limited,
  retried with seeded backoff that honours ``Retry-After``.
- :class:`WriteClient` sends writes under a :class:`WritePolicy`: once, never retried; a
  failure after the request may have been sent raises :class:`UnknownOutcomeError`
  (``WRITE_OUTCOME_UNKNOWN``) for the caller to resolve by querying.
- :mod:`quant_net.kraken` is the one place that knows Kraken's wire format.

It imports :mod:`quant_core` and httpx only; ``quant_data`` and ``quant_exec`` build on it.

Examples:
    >>> from quant_net import ReadPolicy, WritePolicy
    >>> ReadPolicy().max_attempts, WritePolicy().timeout_s
    (5, 10.0)
"""

from quant_net._channel import SENSITIVE_HEADERS, Response, redact_headers, status_error
from quant_net._errors import ProviderError, UnknownOutcomeError, WriteNotSentError
from quant_net._policy import (
    RateLimiter,
    ReadPolicy,
    WritePolicy,
    default_sleep,
    parse_reset_time,
    parse_retry_after,
    sim_sleep,
)
from quant_net._read import ReadClient
from quant_net._reasons import (
    PROVIDER_AUTH_FAILED,
    PROVIDER_BAD_REQUEST,
    PROVIDER_ERROR,
    PROVIDER_QUOTA_EXCEEDED,
    PROVIDER_RATE_LIMITED,
    PROVIDER_RESPONSE_INVALID,
    PROVIDER_SYMBOL_UNKNOWN,
    PROVIDER_UNAVAILABLE,
    WRITE_NOT_SENT,
    WRITE_OUTCOME_UNKNOWN,
)
from quant_net._write import WriteClient

__version__ = "0.1.0"
__all__ = [
    "PROVIDER_AUTH_FAILED",
    "PROVIDER_BAD_REQUEST",
    "PROVIDER_ERROR",
    "PROVIDER_QUOTA_EXCEEDED",
    "PROVIDER_RATE_LIMITED",
    "PROVIDER_RESPONSE_INVALID",
    "PROVIDER_SYMBOL_UNKNOWN",
    "PROVIDER_UNAVAILABLE",
    "SENSITIVE_HEADERS",
    "WRITE_NOT_SENT",
    "WRITE_OUTCOME_UNKNOWN",
    "ProviderError",
    "RateLimiter",
    "ReadClient",
    "ReadPolicy",
    "Response",
    "UnknownOutcomeError",
    "WriteClient",
    "WriteNotSentError",
    "WritePolicy",
    "__version__",
    "default_sleep",
    "parse_reset_time",
    "parse_retry_after",
    "redact_headers",
    "sim_sleep",
    "status_error",
]
