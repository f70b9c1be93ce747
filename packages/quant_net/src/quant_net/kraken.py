"""Kraken's wire format, in one place.

The public data client, the emulator and the private trading client
(:mod:`quant_exec.venues.kraken`) all take it from here.

Facts (``api-samples/kraken`` and ``reference/kraken_private_api.md``):

- **Asset codes.** Kraken names some assets differently (``XBT`` for ``BTC``, ``XDG`` for
  ``DOGE``); older assets also have an ``X``-prefixed asset id (``XXBT``, ``XETH``) and fiat a
  ``Z``-prefixed one (``ZUSD``). A pair's *altname* is code + quote (``XBTUSD``); its result
  key joins the two ids when both are legacy (``XXBTZUSD``) and is the altname otherwise.
- **Envelope.** Every answer is ``{"error": [...], "result": ...}`` and errors usually come
  with HTTP 200. ``EGeneral:Too many requests`` and ``EAPI:Rate limit exceeded`` mean
  throttled, ``EService:*`` and ``EGeneral:Internal error`` a transient failure (on a write:
  an unknown outcome), ``EQuery:Unknown asset pair`` an unknown symbol, ``EGeneral:Invalid
  arguments`` a bad request, ``EAPI:Invalid key``/``signature`` and ``EGeneral:Permission
  denied`` refused credentials.
- **Private calls** are signed with :func:`sign` (or a :class:`RequestSigner` holding one
  key), and their error strings map to reason codes and an :class:`Outcome` through
  :data:`PRIVATE_ERRORS` / :func:`classify_private`.
- **OHLC** takes ``interval`` in minutes and returns at most the :data:`OHLC_WINDOW` (720)
  most recent candles, the last one still open; the single result key that is not ``last``
  holds the rows, and ``last`` (an int or a string) is the open time of the last closed candle.
- **Trades** pages forward with a nanosecond ``since`` cursor (``result.last``), at most
  :data:`TRADES_MAX_COUNT` rows of 7 or 8 elements (the 8th, when present, the exact
  nanosecond time).

Examples:
    >>> pair_name("BTC", "usd"), pair_names("ETH", "CAD").key, symbol_of("XXBT")
    ('XBTUSD', 'XETHZCAD', 'BTC')
    >>> INTERVALS[Timeframe.H1], OHLC_WINDOW
    (60, 720)
    >>> classify(["EAPI:Rate limit exceeded"])
    ('PROVIDER_RATE_LIMITED', True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from quant_core import NS_PER_SECOND, Timeframe
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE, Universe
from quant_net import _reasons as reasons
from quant_net._channel import Response
from quant_net._errors import ProviderError
from quant_net._kraken_private import (
    PRIVATE_ERRORS,
    Outcome,
    PrivateError,
    RequestSigner,
    classify_private,
    sign,
)

__all__ = [
    "ASSET_CODES",
    "BASE_URL",
    "FIAT",
    "INTERVALS",
    "INTERVAL_MINUTES",
    "INVALID_ARGUMENTS",
    "LEGACY_ASSETS",
    "NAME",
    "OHLC_WINDOW",
    "PRIVATE_ERRORS",
    "SERVICE_UNAVAILABLE",
    "THROTTLED",
    "TRADES_MAX_COUNT",
    "UNKNOWN_METHOD",
    "UNKNOWN_PAIR",
    "AssetPair",
    "Outcome",
    "PairNames",
    "PrivateError",
    "RequestSigner",
    "asset_code",
    "asset_pairs",
    "classify",
    "classify_private",
    "error_body",
    "invalid",
    "pair_name",
    "pair_names",
    "pair_series",
    "result",
    "sign",
    "symbol_of",
    "trade_time_ns",
]

NAME: Final = "kraken"
"""The provider name in responses, errors and raw records."""

BASE_URL: Final = "https://api.kraken.com"
"""The production REST root (paths start with ``/0/public/`` or ``/0/private/``)."""

INTERVALS: Final[Mapping[Timeframe, int]] = {
    Timeframe.M1: 1,
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.M30: 30,
    Timeframe.H1: 60,
    Timeframe.H4: 240,
    Timeframe.D1: 1440,
    Timeframe.W1: 10080,
}
"""``OHLC`` ``interval`` (minutes) per timeframe."""

INTERVAL_MINUTES: Final = (*INTERVALS.values(), 21600)
"""Every ``interval`` Kraken accepts (21600, 15 days, has no timeframe here)."""

OHLC_WINDOW: Final = 720
"""Candles one ``OHLC`` answer can hold, the open one included."""

TRADES_MAX_COUNT: Final = 1000
"""The most rows one ``Trades`` answer holds (its ``count`` parameter's upper bound)."""

ASSET_CODES: Final[Mapping[str, str]] = {"BTC": "XBT", "DOGE": "XDG"}
"""Kraken's asset code where it differs from our symbol."""

LEGACY_ASSETS: Final = frozenset(
    {"XBT", "ETH", "XRP", "LTC", "XMR", "ZEC", "XLM", "ETC", "XDG", "REP", "MLN"}
)
"""Asset codes whose asset id carries an ``X`` prefix (``XXBT``)."""

FIAT: Final = frozenset({"USD", "CAD", "EUR", "GBP", "JPY", "AUD", "CHF"})
"""Fiat codes whose asset id carries a ``Z`` prefix (``ZUSD``)."""

THROTTLED: Final = "EGeneral:Too many requests"
"""The public endpoints' throttle answer (HTTP 200)."""

SERVICE_UNAVAILABLE: Final = "EService:Unavailable"
"""The answer while Kraken is down or in maintenance (HTTP 200)."""

UNKNOWN_PAIR: Final = "EQuery:Unknown asset pair"
"""The answer to a ``pair`` Kraken does not list."""

INVALID_ARGUMENTS: Final = "EGeneral:Invalid arguments"
"""The answer to a missing or malformed parameter."""

UNKNOWN_METHOD: Final = "EGeneral:Unknown method"
"""The answer to a path under ``/0/public/`` that names no endpoint."""

_RATE = (THROTTLED, "EAPI:Rate limit exceeded", "EOrder:Rate limit exceeded")
_RATE_LOCKOUT = ("EGeneral:Temporary lockout",)
_SERVICE = ("EService:", "EGeneral:Internal error")
_SYMBOL = (UNKNOWN_PAIR, "EQuery:Invalid asset pair")
_BAD_REQUEST = (INVALID_ARGUMENTS,)
_AUTH = ("EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied")


def asset_code(symbol: str, universe: Universe | None = None) -> str:
    """Kraken's asset code for our symbol (``BTC`` → ``XBT``).

    With a ``universe`` the code is the member's recorded one and a symbol outside it raises;
    without one, :data:`ASSET_CODES` or the symbol itself.

    Raises:
        UniverseError: ``SYMBOL_UNKNOWN`` when ``symbol`` is not in ``universe``.

    Examples:
        >>> asset_code("BTC"), asset_code("SOL"), asset_code("DOGE")
        ('XBT', 'SOL', 'XDG')
    """
    if universe is not None:
        return universe.member(symbol).kraken_code
    return ASSET_CODES.get(symbol, symbol)


def symbol_of(code: str, universe: Universe = UNIVERSE_V1_TOP30_NON_STABLE) -> str:
    """Our symbol for a Kraken asset code or asset id (``XXBT`` → ``BTC``, ``ZUSD`` → ``USD``).

    Examples:
        >>> symbol_of("XBT"), symbol_of("ZUSD"), symbol_of("XXDG"), symbol_of("SOL")
        ('BTC', 'USD', 'DOGE', 'SOL')
    """
    stripped = code[1:] if len(code) == 4 and code[0] in "XZ" else code
    for candidate in (code, stripped):
        for member in universe.members:
            if candidate == member.kraken_code:
                return member.symbol
    aliases = {v: k for k, v in ASSET_CODES.items()}
    return aliases.get(stripped, stripped)


def pair_name(symbol: str, quote: str, universe: Universe = UNIVERSE_V1_TOP30_NON_STABLE) -> str:
    """The pair name Kraken accepts for our (symbol, quote) in ``universe``: code + quote.

    Raises:
        UniverseError: ``SYMBOL_UNKNOWN`` when the symbol is not in ``universe``.
    """
    return asset_code(symbol, universe) + quote.upper()


@attrs.frozen
class PairNames:
    """Every spelling Kraken has for one pair.

    Attributes:
        key: the result key (``XXBTZUSD``; the altname unless both sides are legacy ids).
        altname: code + quote (``XBTUSD``), what ``pair`` accepts.
        wsname: the websocket name (``XBT/USD``).
        base_id: the base's asset id (``XXBT``).
        quote_id: the quote's asset id (``ZUSD``).
    """

    key: str
    altname: str
    wsname: str
    base_id: str
    quote_id: str


def pair_names(symbol: str, quote: str) -> PairNames:
    """Kraken's names for our (symbol, quote), for any symbol (see :func:`asset_code`).

    Examples:
        >>> pair_names("BTC", "USD")  # doctest: +NORMALIZE_WHITESPACE
        PairNames(key='XXBTZUSD', altname='XBTUSD', wsname='XBT/USD', base_id='XXBT',
                  quote_id='ZUSD')
        >>> pair_names("SOL", "USD").key
        'SOLUSD'
    """
    base = asset_code(symbol)
    base_id = "X" + base if base in LEGACY_ASSETS else base
    quote_id = "Z" + quote if quote in FIAT else quote
    altname = base + quote
    key = base_id + quote_id if base in LEGACY_ASSETS and quote in FIAT else altname
    return PairNames(key, altname, f"{base}/{quote}", base_id, quote_id)


# --- the envelope -----------------------------------------------------------------------------


def classify(errors: Sequence[Any]) -> tuple[str, bool]:
    """The reason code of an ``error`` list and whether the failure is transient.

    Examples:
        >>> classify(["EService:Unavailable"]), classify(["EQuery:Unknown asset pair"])
        (('PROVIDER_UNAVAILABLE', True), ('PROVIDER_SYMBOL_UNKNOWN', False))
    """
    text = "; ".join(str(e) for e in errors)
    if text.startswith(_RATE + _RATE_LOCKOUT):
        return reasons.PROVIDER_RATE_LIMITED, True
    if text.startswith(_SERVICE):
        return reasons.PROVIDER_UNAVAILABLE, True
    if text.startswith(_SYMBOL):
        return reasons.PROVIDER_SYMBOL_UNKNOWN, False
    if text.startswith(_BAD_REQUEST):
        return reasons.PROVIDER_BAD_REQUEST, False
    if text.startswith(_AUTH):
        return reasons.PROVIDER_AUTH_FAILED, False
    return reasons.PROVIDER_ERROR, False


def invalid(response: Response, why: str) -> ProviderError:
    """The retryable ``PROVIDER_RESPONSE_INVALID`` error for a malformed answer."""
    return response.invalid(f"malformed answer to {response.request}: {why}")


def result(response: Response) -> dict[str, Any]:
    """The ``result`` object of an answer, or the classified error.

    Numbers written with a fraction are kept as their exact text.

    Raises:
        ProviderError: the HTTP status's error, the ``error`` list's classified error, or
            ``PROVIDER_RESPONSE_INVALID`` for a body that is not an envelope.
    """
    if response.status != 200:
        response.expect_ok()
    try:
        body = json.loads(response.payload, parse_float=str)
    except ValueError:
        raise invalid(response, "not JSON (truncated?)") from None
    if not isinstance(body, dict):
        raise invalid(response, "not a JSON object")
    errors = body.get("error") or []
    if errors:
        code, retryable = classify(errors)
        raise ProviderError(
            f"{response.provider}: {'; '.join(str(e) for e in errors)} for {response.request}",
            provider=response.provider,
            status=response.status,
            retryable=retryable,
            reason_code=code,
        )
    found = body.get("result")
    if not isinstance(found, dict):
        raise invalid(response, "no result object")
    return found


def error_body(*messages: str, with_result: bool = False) -> dict[str, Any]:
    """The envelope Kraken sends with an error (``result`` empty where it sends one).

    Examples:
        >>> error_body(THROTTLED)
        {'error': ['EGeneral:Too many requests']}
    """
    body: dict[str, Any] = {"error": list(messages)}
    if with_result:
        body["result"] = {}
    return body


# --- public endpoints ---------------------------------------------------------------------


def pair_series(found: Mapping[str, Any], response: Response) -> tuple[list[Any], int]:
    """The single pair series of an ``OHLC`` or ``Trades`` result and its ``last`` cursor.

    The series sits under Kraken's pair key, not necessarily the pair asked for (``XBTUSD``
    → ``XXBTZUSD``): it is the one key that is not ``last``.

    Raises:
        ProviderError: ``PROVIDER_RESPONSE_INVALID`` for another shape.
    """
    keys = [k for k in found if k != "last"]
    if len(keys) != 1 or not isinstance(found[keys[0]], list):
        raise invalid(response, f"expected one pair series, got keys {sorted(found)}")
    try:
        last = int(found["last"])
    except (KeyError, TypeError, ValueError):
        raise invalid(response, "missing or non-integer 'last'") from None
    return found[keys[0]], last


def trade_time_ns(row: Sequence[Any]) -> int:
    """A ``Trades`` row's time in ns: the exact 8th field when present, else the float 3rd.

    Examples:
        >>> trade_time_ns(["1", "2", 1.5, "b", "m", "", 7, "1500000123"])
        1500000123
        >>> trade_time_ns(["1", "2", "1.25", "b", "m", "", 7])
        1250000000
    """
    if len(row) >= 8 and isinstance(row[7], str) and row[7].isdigit():
        return int(row[7])
    return int(Decimal(str(row[2])) * NS_PER_SECOND)


@attrs.frozen
class AssetPair:
    """One ``AssetPairs`` entry, mapped to our symbols.

    Attributes:
        key: Kraken's result key (``XXBTZUSD``).
        altname: the alternate name (``XBTUSD``), accepted as ``pair``.
        wsname: the websocket name (``XBT/USD``).
        base: our symbol for the base asset (``BTC``).
        quote: our code for the quote asset (``USD``).
        aclass_base: asset class of the base (``currency``; ``tokenized_asset`` for stocks).
        status: trading status (``online``, ``cancel_only``, ...).
    """

    key: str
    altname: str
    wsname: str
    base: str
    quote: str
    aclass_base: str
    status: str

    @property
    def is_crypto(self) -> bool:
        """Whether the base is a currency (tokenized stocks and the like are not)."""
        return self.aclass_base == "currency"


def asset_pairs(
    response: Response, universe: Universe = UNIVERSE_V1_TOP30_NON_STABLE
) -> tuple[AssetPair, ...]:
    """The entries of an ``AssetPairs`` answer, sorted by key.

    Raises:
        ProviderError: as :func:`result`, and ``PROVIDER_RESPONSE_INVALID`` for an entry
            without base, quote or altname.
    """
    found = result(response)
    out = []
    try:
        for key in sorted(found):
            info = found[key]
            out.append(
                AssetPair(
                    key=key,
                    altname=str(info["altname"]),
                    wsname=str(info.get("wsname", "")),
                    base=symbol_of(str(info["base"]), universe),
                    quote=symbol_of(str(info["quote"]), universe),
                    aclass_base=str(info.get("aclass_base", "currency")),
                    status=str(info.get("status", "online")),
                )
            )
    except (KeyError, TypeError):
        raise invalid(response, "AssetPairs entry without base/quote/altname") from None
    return tuple(out)
