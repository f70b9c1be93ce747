"""Reason codes of the network edge: what a provider or an exchange answered, or did not.

Examples:
    >>> from quant_core.reasons import REGISTRY
    >>> REGISTRY.describe(WRITE_OUTCOME_UNKNOWN).startswith("A write")
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

PROVIDER_AUTH_FAILED = (
    "The provider refused the credentials (HTTP 401, or 403 not enough privileges); fatal, "
    "never retried."
)
PROVIDER_QUOTA_EXCEEDED = (
    "The provider's usage quota or credits are exhausted (CoinAPI 403 quota body); fatal until "
    "the plan or the rolling window changes."
)
PROVIDER_RATE_LIMITED = (
    "The provider throttled the calls (HTTP 429, Kraken 'EGeneral:Too many requests') and the "
    "retry budget ran out."
)
PROVIDER_UNAVAILABLE = (
    "The provider failed transiently (HTTP 5xx, timeout, connection error) and the retry "
    "budget ran out."
)
PROVIDER_RESPONSE_INVALID = (
    "A provider response could not be parsed (truncated or malformed body, missing field); "
    "retried, then reported."
)
PROVIDER_BAD_REQUEST = (
    "The provider rejected the request's parameters (HTTP 400, Kraken 'EGeneral:Invalid "
    "arguments'); fatal."
)
PROVIDER_SYMBOL_UNKNOWN = (
    "The provider does not know the instrument (Kraken 'EQuery:Unknown asset pair' or "
    "'EQuery:Invalid asset pair'); fatal."
)
PROVIDER_ERROR = "The provider reported an error this SDK does not classify more precisely; fatal."
WRITE_OUTCOME_UNKNOWN = (
    "A write may or may not have taken effect (timeout or connection lost after sending, "
    "HTTP 5xx, a service error, an unreadable answer); never retried blindly: the caller "
    "resolves it by querying (an order by its client order id) before sending anything again."
)
WRITE_NOT_SENT = (
    "A write was not sent (the connection could not be opened); nothing happened at the "
    "other end and it may be sent again."
)

declare_codes(globals())
