"""Kraken's private-endpoint wire facts: the request signature and the private error strings.

Re-exported by :mod:`quant_net.kraken`, the one place that knows Kraken's wire format.

- **Signature** (Kraken "Spot REST Authentication"): ``API-Sign`` = base64( HMAC-SHA512(
  key = base64decode(secret), msg = uri_path + SHA256(nonce + post_data) ) ), where
  ``uri_path`` starts at ``/0/private/`` and ``post_data`` is the exact form-encoded body
  (which itself carries ``nonce=...``).
- **Errors.** Each private error string maps to a stable reason code and an
  :class:`Outcome`: ``REFUSED`` (definitive, never retried), ``WAIT`` (nothing happened;
  send again only after a wait: rate limits, lockout, a stale nonce) or ``UNKNOWN``
  (the service failed: a read may be retried, a write's outcome is unknown and must be
  resolved by querying).

Examples:
    >>> secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    >>> body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    >>> sign("/0/private/AddOrder", 1616492376594, body, secret)
    '4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=='
    >>> classify_private(["EOrder:Insufficient funds"])
    PrivateError(prefix='EOrder:Insufficient funds', reason_code='VENUE_INSUFFICIENT_FUNDS', outcome=<Outcome.REFUSED: 'refused'>)
"""  # noqa: E501

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, Final

import attrs

from quant_core.settings import Secret
from quant_net import _reasons as reasons

__all__ = [
    "PRIVATE_ERRORS",
    "Outcome",
    "PrivateError",
    "RequestSigner",
    "classify_private",
    "sign",
]


def _key(secret: str | bytes | Secret) -> bytes:
    """The HMAC key: the base64-decoded secret (``bytes`` are taken as already decoded)."""
    if isinstance(secret, bytes):
        return secret
    text = secret.reveal() if isinstance(secret, Secret) else secret
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the API secret is not valid base64") from None


def _message(uri_path: str, nonce: str | int, post_data: str | bytes) -> bytes:
    data = post_data.encode() if isinstance(post_data, str) else post_data
    return uri_path.encode() + hashlib.sha256(str(nonce).encode() + data).digest()


def sign(
    uri_path: str, nonce: str | int, post_data: str | bytes, secret: str | bytes | Secret
) -> str:
    """The ``API-Sign`` header value for one private request, exactly as Kraken documents.

    Args:
        uri_path: the path from ``/0/private/`` on (``/0/private/AddOrder``).
        nonce: the request's nonce, as sent in the body.
        post_data: the exact form-encoded body (it includes ``nonce=...``).
        secret: the private key as Kraken shows it (base64 text, or a
            :class:`~quant_core.settings.Secret` holding it), or its decoded bytes.

    Raises:
        ValueError: the secret is not base64 (the message never contains it).

    Examples:
        >>> sign("/0/private/Balance", 1, "nonce=1", "c2VjcmV0")[:12]
        'nY4IAKuG38Vp'
        >>> sign("/0/private/Balance", 1, "nonce=1", "not base64!")
        Traceback (most recent call last):
        ...
        ValueError: the API secret is not valid base64
    """
    digest = hmac.new(_key(secret), _message(uri_path, nonce, post_data), hashlib.sha512)
    return base64.b64encode(digest.digest()).decode("ascii")


class RequestSigner:
    """Signs many requests with one key: the secret is decoded once, the HMAC keyed once.

    Holds the secret only as a prepared HMAC state; its ``repr`` shows no key material.

    Args:
        secret: the private key (a :class:`~quant_core.settings.Secret` of the base64 text).

    Examples:
        >>> signer = RequestSigner(Secret("c2VjcmV0"))
        >>> signer("/0/private/Balance", 1, b"nonce=1") == sign(
        ...     "/0/private/Balance", 1, "nonce=1", "c2VjcmV0")
        True
        >>> signer
        RequestSigner(***)
    """

    __slots__ = ("_hmac",)

    def __init__(self, secret: Secret) -> None:
        self._hmac = hmac.new(_key(secret), digestmod=hashlib.sha512)

    def __repr__(self) -> str:
        return "RequestSigner(***)"

    def __call__(self, uri_path: str, nonce: str | int, post_data: bytes) -> str:
        """The ``API-Sign`` value (as :func:`sign`)."""
        mac = self._hmac.copy()
        mac.update(_message(uri_path, nonce, post_data))
        return base64.b64encode(mac.digest()).decode("ascii")


class Outcome(enum.Enum):
    """What a private error means for the call that got it."""

    REFUSED = "refused"
    """Definitive: nothing happened and sending the same call again cannot help."""
    WAIT = "wait"
    """Nothing happened; the call may be sent again after a wait (rate limit, lockout)."""
    UNKNOWN = "unknown"
    """The service failed: a read may be retried; a write may or may not have taken effect."""


@attrs.frozen
class PrivateError:
    """One private error string's meaning.

    Attributes:
        prefix: the error text it matches (Kraken's error strings start with it).
        reason_code: the stable reason code.
        outcome: the :class:`Outcome` class.
    """

    prefix: str
    reason_code: str
    outcome: Outcome


_R, _W, _U = Outcome.REFUSED, Outcome.WAIT, Outcome.UNKNOWN

PRIVATE_ERRORS: Final[tuple[PrivateError, ...]] = (
    PrivateError("EAPI:Invalid nonce", reasons.VENUE_INVALID_NONCE, _W),
    PrivateError("EAPI:Invalid key", reasons.VENUE_AUTH_INVALID, _R),
    PrivateError("EAPI:Invalid signature", reasons.VENUE_AUTH_INVALID, _R),
    PrivateError("EAPI:Bad request", reasons.VENUE_AUTH_INVALID, _R),
    PrivateError("EGeneral:Permission denied", reasons.VENUE_PERMISSION_DENIED, _R),
    PrivateError("EOrder:Insufficient funds", reasons.VENUE_INSUFFICIENT_FUNDS, _R),
    PrivateError("EOrder:Order minimum not met", reasons.VENUE_ORDER_MINIMUM, _R),
    PrivateError("EOrder:Cost minimum not met", reasons.VENUE_ORDER_MINIMUM, _R),
    PrivateError("EOrder:Unknown order", reasons.VENUE_UNKNOWN_ORDER, _R),
    PrivateError("EAPI:Rate limit exceeded", reasons.VENUE_RATE_LIMITED, _W),
    PrivateError("EOrder:Rate limit exceeded", reasons.VENUE_ORDER_RATE_LIMITED, _W),
    PrivateError("EGeneral:Too many requests", reasons.VENUE_RATE_LIMITED, _W),
    PrivateError("EGeneral:Temporary lockout", reasons.VENUE_LOCKOUT, _W),
    PrivateError("EService:Throttled", reasons.VENUE_THROTTLED, _W),
    PrivateError("EService:Unavailable", reasons.VENUE_BUSY, _U),
    PrivateError("EService:Busy", reasons.VENUE_BUSY, _U),
    PrivateError("EService:", reasons.VENUE_BUSY, _U),
    PrivateError("EGeneral:Internal error", reasons.VENUE_BUSY, _U),
    PrivateError("EGeneral:Invalid arguments", reasons.PROVIDER_BAD_REQUEST, _R),
)
"""Every private error string this SDK tells apart, most specific first."""

_OTHER: Final = PrivateError("", reasons.VENUE_REJECTED, _R)


def classify_private(errors: Sequence[Any]) -> PrivateError:
    """The meaning of a private answer's ``error`` list (its first entry decides).

    Examples:
        >>> classify_private(["EService:Busy"]).outcome
        <Outcome.UNKNOWN: 'unknown'>
        >>> classify_private(["EService:Throttled:1700000000"]).reason_code
        'VENUE_THROTTLED'
        >>> classify_private(["EQuery:Unknown asset pair"]).reason_code
        'VENUE_REJECTED'
    """
    text = str(errors[0]) if errors else ""
    for entry in PRIVATE_ERRORS:
        if text.startswith(entry.prefix):
            return entry
    return _OTHER
