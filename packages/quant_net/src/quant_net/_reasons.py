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

# --- Kraken private endpoints (quant_net.kraken.PRIVATE_ERRORS maps Kraken's text to these) ---

VENUE_INVALID_NONCE = (
    "Kraken refused the nonce ('EAPI:Invalid nonce'): not above the key's last one; nothing "
    "happened, a fresh nonce may be sent."
)
VENUE_AUTH_INVALID = (
    "Kraken refused the key or the signature ('EAPI:Invalid key', 'EAPI:Invalid signature', "
    "'EAPI:Bad request'); fatal, never retried."
)
VENUE_PERMISSION_DENIED = (
    "The API key lacks a permission the call needs ('EGeneral:Permission denied'); fatal."
)
VENUE_INSUFFICIENT_FUNDS = (
    "Kraken refused the order: not enough funds ('EOrder:Insufficient funds'); definitive."
)
VENUE_ORDER_MINIMUM = (
    "Kraken refused the order: below the pair's minimum ('EOrder:Order minimum not met', "
    "'EOrder:Cost minimum not met'); definitive."
)
VENUE_UNKNOWN_ORDER = "Kraken knows no such order ('EOrder:Unknown order'); definitive."
VENUE_RATE_LIMITED = (
    "Kraken's per-key call counter is full ('EAPI:Rate limit exceeded'); nothing happened, "
    "wait for the counter to decay."
)
VENUE_ORDER_RATE_LIMITED = (
    "Kraken's per-pair order rate limit is reached ('EOrder:Rate limit exceeded'); nothing "
    "happened, only that pair's order flow backs off."
)
VENUE_LOCKOUT = (
    "Kraken locked the key out ('EGeneral:Temporary lockout'); stop every private call for the "
    "lockout period."
)
VENUE_THROTTLED = (
    "Kraken throttled the key until a given time ('EService:Throttled:<ts>'); nothing happened."
)
VENUE_BUSY = (
    "Kraken is busy or unavailable ('EService:Busy', 'EService:Unavailable', 'EGeneral:Internal "
    "error'); a read may be retried, a write's outcome is unknown."
)
VENUE_REJECTED = (
    "Kraken refused the call with an error this SDK does not classify more precisely "
    "(arguments, order, query); definitive."
)

declare_codes(globals())
