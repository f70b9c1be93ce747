"""Kraken's request signature and private error strings (quant_net.kraken)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from quant_core.settings import Secret
from quant_net import kraken

# Kraken's worked example ("Spot REST Authentication": buy 1.25 XBTUSD at 37,500).
VECTOR_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)
VECTOR_NONCE = "1616492376594"
VECTOR_BODY = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
VECTOR_PATH = "/0/private/AddOrder"
VECTOR_SIGN = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)


def _independent(path: str, nonce: str, body: str, secret: str) -> str:
    """The documented recipe written out step by step, separately from the library."""
    inner = hashlib.sha256()
    inner.update(nonce.encode())
    inner.update(body.encode())
    message = path.encode() + inner.digest()
    return base64.b64encode(hmac.digest(base64.b64decode(secret), message, "sha512")).decode()


def test_kraken_published_vector() -> None:
    assert kraken.sign(VECTOR_PATH, VECTOR_NONCE, VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGN
    assert _independent(VECTOR_PATH, VECTOR_NONCE, VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGN


@pytest.mark.parametrize(
    "secret",
    [VECTOR_SECRET, Secret(VECTOR_SECRET), base64.b64decode(VECTOR_SECRET)],
    ids=["text", "Secret", "bytes"],
)
def test_every_secret_form_and_nonce_form_sign_alike(secret: str | bytes | Secret) -> None:
    body = VECTOR_BODY.encode()
    assert kraken.sign(VECTOR_PATH, int(VECTOR_NONCE), body, secret) == VECTOR_SIGN


def test_request_signer_matches_sign_and_hides_the_key() -> None:
    signer = kraken.RequestSigner(Secret(VECTOR_SECRET))
    assert signer(VECTOR_PATH, VECTOR_NONCE, VECTOR_BODY.encode()) == VECTOR_SIGN
    # The prepared state is reused, not consumed.
    assert signer(VECTOR_PATH, VECTOR_NONCE, VECTOR_BODY.encode()) == VECTOR_SIGN
    assert VECTOR_SECRET not in repr(signer)


def test_bad_secret_error_does_not_echo_it() -> None:
    with pytest.raises(ValueError, match="not valid base64") as caught:
        kraken.RequestSigner(Secret("s3cr3t!!"))
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "code", "outcome"),
    [
        ("EAPI:Invalid nonce", "VENUE_INVALID_NONCE", kraken.Outcome.WAIT),
        ("EOrder:Insufficient funds", "VENUE_INSUFFICIENT_FUNDS", kraken.Outcome.REFUSED),
        ("EOrder:Order minimum not met", "VENUE_ORDER_MINIMUM", kraken.Outcome.REFUSED),
        ("EOrder:Cost minimum not met", "VENUE_ORDER_MINIMUM", kraken.Outcome.REFUSED),
        ("EGeneral:Permission denied", "VENUE_PERMISSION_DENIED", kraken.Outcome.REFUSED),
        ("EAPI:Rate limit exceeded", "VENUE_RATE_LIMITED", kraken.Outcome.WAIT),
        ("EOrder:Rate limit exceeded", "VENUE_ORDER_RATE_LIMITED", kraken.Outcome.WAIT),
        ("EGeneral:Too many requests", "VENUE_RATE_LIMITED", kraken.Outcome.WAIT),
        ("EGeneral:Temporary lockout", "VENUE_LOCKOUT", kraken.Outcome.WAIT),
        ("EService:Throttled:1700000000", "VENUE_THROTTLED", kraken.Outcome.WAIT),
        ("EService:Busy", "VENUE_BUSY", kraken.Outcome.UNKNOWN),
        ("EService:Unavailable", "VENUE_BUSY", kraken.Outcome.UNKNOWN),
        ("EService:Deadline elapsed", "VENUE_BUSY", kraken.Outcome.UNKNOWN),
        ("EGeneral:Internal error", "VENUE_BUSY", kraken.Outcome.UNKNOWN),
        ("EAPI:Invalid key", "VENUE_AUTH_INVALID", kraken.Outcome.REFUSED),
        ("EAPI:Invalid signature", "VENUE_AUTH_INVALID", kraken.Outcome.REFUSED),
        ("EAPI:Bad request", "VENUE_AUTH_INVALID", kraken.Outcome.REFUSED),
        ("EOrder:Unknown order", "VENUE_UNKNOWN_ORDER", kraken.Outcome.REFUSED),
        ("EGeneral:Invalid arguments", "PROVIDER_BAD_REQUEST", kraken.Outcome.REFUSED),
        ("EQuery:Unknown asset pair", "VENUE_REJECTED", kraken.Outcome.REFUSED),
    ],
)
def test_private_error_strings_map_to_codes_and_outcomes(
    text: str, code: str, outcome: kraken.Outcome
) -> None:
    found = kraken.classify_private([text])
    assert (found.reason_code, found.outcome) == (code, outcome)


def test_an_empty_error_list_is_an_unclassified_refusal() -> None:
    assert kraken.classify_private([]).reason_code == "VENUE_REJECTED"


def test_every_mapped_code_is_registered() -> None:
    from quant_core.reasons import REGISTRY

    for entry in kraken.PRIVATE_ERRORS:
        assert entry.reason_code in REGISTRY
