"""The CoinAPI market-data dialect (``/v1/ohlcv/{symbol_id}/history``), faithful to the samples.

- Auth: ``X-CoinAPI-Key`` header (or ``apikey`` query); a missing or wrong key gives 401
  ``{"error": "Invalid API key"}``.
- ``symbol_id`` ``KRAKEN_SPOT_<BASE>_<QUOTE>`` with CoinAPI's asset codes (BTC, not XBT);
  an unknown one gives 550 with the "specific single item" body.
- ``period_id`` 1MIN, 5MIN, 15MIN, 30MIN, 1HRS, 4HRS, 1DAY, 7DAY; ``time_start`` required,
  ``time_end`` exclusive (default: the emulator's now), ``limit`` 1..100000 (default 100).
- Time-ascending array of closed periods; periods without trades are omitted unless
  ``include_empty_items=true``; timestamps with 7 fractional digits; prices as JSON numbers.
- ``X-RateLimit-*`` / ``X-ConcurrencyLimit-*`` headers on every answer; past the quota, 429
  with ``Retry-After``; 403 uses the quota-exceeded body.

Examples:
    >>> iso7(1_483_228_800 * 10**9)
    '2017-01-01T00:00:00.0000000Z'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quant_core import NS_PER_SECOND, Timeframe, iso_to_ns, ns_to_datetime
from quant_core.errors import ValidationError
from quant_data._records import SourceBar
from quant_data.emulator._book import is_no_trade
from quant_data.emulator._wire import Page, Reply, json_bytes, raw_number, render_json
from quant_data.providers.coinapi import PERIOD_IDS

if TYPE_CHECKING:
    from quant_data.emulator._server import Emulator

__all__ = ["failure", "handle", "iso7", "throttled"]

ERROR_401 = {"error": "Invalid API key"}
ERROR_403 = {
    "title": "Forbidden",
    "status": 403,
    "detail": "Quota exceeded: Insufficient Usage Credits or Subscription.",
    "error": "Forbidden (Quota exceeded: Insufficient Usage Credits or Subscription.)",
    "QuotaKey": "BA",
    "QuotaName": "Insufficient Usage Credits or Subscription",
    "QuotaType": "Organization Limit",
    "QuotaValueCurrentUsage": 0,
    "QuotaValue": 0,
    "QuotaValueUnit": "$",
    "QuotaValueAdjustable": "Yes, acquire or upgrade subscription, add service credits manually "
    "or setup auto-recharge.",
}
ERROR_429 = {"error": "Too many requests - You have exceeded your API key rate limits"}
ERROR_550 = {"error": "You requested specific single item that we don't have at this moment."}
_BODIES: dict[int, dict[str, Any]] = {
    401: ERROR_401,
    403: ERROR_403,
    429: ERROR_429,
    550: ERROR_550,
}
_MAX_LIMIT = 100_000


def iso7(ts_ns: int) -> str:
    """CoinAPI's timestamp text: ISO-8601 with 7 fractional digits and ``Z``."""
    seconds, frac = divmod(ts_ns, NS_PER_SECOND)
    base = ns_to_datetime(seconds * NS_PER_SECOND).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac // 100:07d}Z"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json_bytes(body), {"Content-Type": "application/json; charset=utf-8",
                                            **(headers or {})})  # fmt: skip


def throttled(retry_after_s: int) -> Reply:
    """HTTP 429 with ``Retry-After``."""
    return _json(429, ERROR_429, {"Retry-After": str(retry_after_s)})


def failure(status: int, message: str | None, retry_after_s: int) -> Reply:
    """The sample body for ``status`` (401/403/429/550), else ``{"error": message}``."""
    if status == 429:
        return throttled(retry_after_s)
    body = _BODIES.get(status) or {"error": message or "Internal Server Error"}
    if message and status not in _BODIES:
        body = {"error": message}
    return _json(status, body)


def _rate_headers(em: Emulator, cost: int) -> dict[str, str]:
    used = em.coinapi_used
    limit = em.options.coinapi_quota
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-ConcurrencyLimit-Limit": "10",
        "X-ConcurrencyLimit-Remaining": "10",
        "X-RateLimit-Used": str(used),
        "X-RateLimit-Overage": "disabled",
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(limit - used),
        "X-RateLimit-Reset": iso7(em.now_ns() + 86_400 * NS_PER_SECOND),
        "X-RateLimit-Request-Cost": str(cost),
    }


def _instant(text: str) -> int:
    raw = text.strip()
    if raw and not (raw.endswith("Z") or "+" in raw[10:] or "-" in raw[10:]):
        raw += "Z"
    return iso_to_ns(raw)


def _number(text: str) -> raw_number | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return raw_number(text) if value == value and abs(value) != float("inf") else None


def _item(bar: SourceBar, tf: Timeframe) -> dict[str, Any]:
    end = bar.open_time_ns + tf.ns
    empty = is_no_trade(bar)
    return {
        "time_period_start": iso7(bar.open_time_ns),
        "time_period_end": iso7(end),
        "time_open": None if empty else iso7(bar.open_time_ns + NS_PER_SECOND),
        "time_close": None if empty else iso7(end - NS_PER_SECOND),
        "price_open": None if empty else _number(bar.open),
        "price_high": None if empty else _number(bar.high),
        "price_low": None if empty else _number(bar.low),
        "price_close": None if empty else _number(bar.close),
        "volume_traded": _number(bar.volume) if not empty else 0,
        "trades_count": bar.trades if bar.trades is not None else 0,
    }


def handle(
    em: Emulator, path: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> Reply | Page:
    """Answer one CoinAPI request."""
    key = headers.get("x-coinapi-key") or query.get("apikey")
    expected = em.options.coinapi_api_key
    if not key or (expected is not None and key != expected):
        return failure(401, None, 1)
    if em.coinapi_used >= em.options.coinapi_quota:
        return throttled(3_600)
    parts = path.strip("/").split("/")
    if len(parts) != 4 or parts[:2] != ["v1", "ohlcv"] or parts[3] != "history":
        return _json(404, {"error": "Not found"})
    pieces = parts[2].split("_")
    tf = PERIOD_IDS.get(query.get("period_id", ""))
    if tf is None:
        return _json(400, {"error": "Wrong or missing period_id parameter."})
    if len(pieces) != 4 or pieces[0] != "KRAKEN" or pieces[1] != "SPOT":
        return failure(550, None, 1)
    symbol, quote = pieces[2], pieces[3]
    if (symbol, quote) not in em.book.pairs():
        return failure(550, None, 1)
    try:
        start = _instant(query["time_start"])
        end = _instant(query["time_end"]) if query.get("time_end") else em.now_ns()
        limit = int(query.get("limit", "100"))
    except (KeyError, ValueError, ValidationError):
        return _json(400, {"error": "Wrong or missing time_start, time_end or limit parameter."})
    if not 1 <= limit <= _MAX_LIMIT:
        return _json(400, {"error": f"limit must be within 1..{_MAX_LIMIT}"})
    include_empty = query.get("include_empty_items", "false").lower() == "true"
    closed_before = tf.floor(em.now_ns())  # only periods that have ended
    first = start if tf.is_aligned(start) else tf.floor(start) + tf.ns
    bars = em.visible(symbol, quote, tf, first, min(end, closed_before))
    items = [_item(b, tf) for b in bars if include_empty or not is_no_trade(b)][:limit]
    cost = max(1, -(-len(items) // 100))
    em.charge_coinapi(cost)
    return Page(items, render_json, headers=_rate_headers(em, cost))
