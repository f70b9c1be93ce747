"""The Kraken public REST dialect (``/0/public/...``), faithful to the recorded samples.

Kraken's wire facts (pair names and asset ids, the envelope, error strings, intervals, the
720-candle window) come from :mod:`quant_net.kraken`, the same module the client reads them
from.

- Envelope ``{"error": [...], "result": {...}}``; errors arrive with HTTP 200.
- ``AssetPairs``: result keyed by Kraken's pair key (``XXBTZUSD`` for legacy assets in fiat,
  the altname ``SOLUSD``/``XBTUSDT`` otherwise), fields as in the nautilus capture.
- ``OHLC``: rows ``[time, open, high, low, close, vwap, volume, count]`` with string prices;
  at most the 720 most recent closed candles relative to the emulator's clock plus the open
  one (partially formed); no-trade candles included; ``last`` = open time of the last closed
  candle, as an int or (switchable) a string.
- ``Trades``: rows ``[price, volume, time, side, type, misc, trade_id(, time_ns)]``, built
  deterministically from the candles so that rebuilding candles from them gives the candles
  back; ``last`` is a nanosecond string cursor.
- ``Time``: ``unixtime`` and ``rfc1123``.

Examples:
    >>> throttled().body
    b'{"error": ["EGeneral:Too many requests"]}'
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs

from quant_core import NS_PER_SECOND, Timeframe, generator, ns_to_datetime
from quant_data._records import SourceBar
from quant_data.emulator._book import is_no_trade
from quant_data.emulator._wire import Page, Reply, json_bytes
from quant_net import kraken

if TYPE_CHECKING:
    from quant_data.emulator._server import Emulator

__all__ = ["handle", "throttled"]

_TIMEFRAMES: Mapping[int, Timeframe] = {minutes: tf for tf, minutes in kraken.INTERVALS.items()}


def _error(*messages: str, result: bool = False) -> Reply:
    return Reply(200, json_bytes(kraken.error_body(*messages, with_result=result)))


def throttled() -> Reply:
    """Kraken's public throttle: HTTP 200 with ``EGeneral:Too many requests``."""
    return _error(kraken.THROTTLED)


def failure(status: int, message: str | None) -> Reply:
    """An error answer for a fault: HTTP 200 + error text, or a bare HTTP error status."""
    if status == 200:
        return _error(message or kraken.SERVICE_UNAVAILABLE)
    return Reply(status, (message or "Service Unavailable").encode(), {"Content-Type": "text/html"})


def _pairs(em: Emulator) -> dict[str, tuple[str, str]]:
    """Every accepted pair spelling → (symbol, quote)."""
    names: dict[str, tuple[str, str]] = {}
    for symbol, quote in em.book.pairs():
        spelled = kraken.pair_names(symbol, quote)
        for name in (spelled.key, spelled.altname, spelled.wsname):
            names[name] = (symbol, quote)
    return names


def _pair_info(symbol: str, quote: str, decimals: int) -> dict[str, Any]:
    names = kraken.pair_names(symbol, quote)
    fees = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2]]
    fees_maker = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1]]
    return {
        "altname": names.altname,
        "wsname": names.wsname,
        "aclass_base": "currency",
        "base": names.base_id,
        "aclass_quote": "currency",
        "quote": names.quote_id,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": decimals,
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "leverage_buy": [2, 3, 4, 5],
        "leverage_sell": [2, 3, 4, 5],
        "fees": fees,
        "fees_maker": fees_maker,
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": "0.0001",
        "costmin": "0.5",
        "tick_size": format(Decimal(1).scaleb(-decimals), "f"),
        "status": "online",
        "long_position_limit": 80,
        "short_position_limit": 80,
    }


def _decimals(bar: SourceBar) -> int:
    try:
        exponent = Decimal(bar.close).as_tuple().exponent
    except InvalidOperation:
        return 1
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _dec(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def handle(em: Emulator, path: str, query: Mapping[str, str]) -> Reply | Page:
    """Answer one Kraken public request."""
    if path == "/0/public/Time":
        now_s = em.now_ns() // NS_PER_SECOND
        rfc = ns_to_datetime(now_s * NS_PER_SECOND).strftime("%a, %d %b %y %H:%M:%S +0000")
        return Reply(200, json_bytes({"error": [], "result": {"unixtime": now_s, "rfc1123": rfc}}))
    if path == "/0/public/AssetPairs":
        return _asset_pairs(em, query)
    if path == "/0/public/OHLC":
        return _ohlc(em, query)
    if path == "/0/public/Trades":
        return _trades(em, query)
    return _error(kraken.UNKNOWN_METHOD)


def _asset_pairs(em: Emulator, query: Mapping[str, str]) -> Reply:
    known = _pairs(em)
    wanted = [p for p in query.get("pair", "").split(",") if p]
    if wanted:
        missing = [p for p in wanted if p not in known]
        if missing:
            return _error(kraken.UNKNOWN_PAIR, result=True)
        chosen = sorted({known[p] for p in wanted})
    else:
        chosen = list(em.book.pairs())
    result = {}
    for symbol, quote in chosen:
        tf = em.book.finest(symbol, quote) or Timeframe.M1  # a held pair always has a series
        series = em.book.series(symbol, quote, tf)
        result[kraken.pair_names(symbol, quote).key] = _pair_info(
            symbol, quote, _decimals(series[-1])
        )
    return Reply(200, json_bytes({"error": [], "result": result}))


def _resolve(em: Emulator, query: Mapping[str, str]) -> tuple[str, str] | Reply:
    pair = query.get("pair", "")
    if not pair:
        return _error(kraken.INVALID_ARGUMENTS)
    found = _pairs(em).get(pair)
    if found is None:
        return _error(kraken.UNKNOWN_PAIR, result=True)
    return found


def _int(text: str | None, default: int) -> int | None:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        return None


def _ohlc(em: Emulator, query: Mapping[str, str]) -> Reply | Page:
    resolved = _resolve(em, query)
    if isinstance(resolved, Reply):
        return resolved
    symbol, quote = resolved
    interval = _int(query.get("interval"), 1)
    since = _int(query.get("since"), 0)
    if interval not in kraken.INTERVAL_MINUTES or since is None:
        return _error(kraken.INVALID_ARGUMENTS)
    tf = _TIMEFRAMES.get(interval)
    key = kraken.pair_names(symbol, quote).key
    now = em.now_ns()
    current = tf.floor(now) if tf is not None else now
    step = tf.ns if tf is not None else 0
    last_closed = (current - step) // NS_PER_SECOND
    rows: list[list[Any]] = []
    if tf is not None:
        start = max(current - kraken.OHLC_WINDOW * step, tf.floor(since * NS_PER_SECOND))
        for bar in em.visible(symbol, quote, tf, start, current + step):
            if bar.open_time_ns == current:
                bar = _forming(bar, now, tf, em.seed)
            rows.append(_ohlc_row(bar))
    last: int | str = str(last_closed) if em.options.kraken_last_as_string else last_closed

    def render(page_rows: list[Any]) -> bytes:
        return json_bytes({"error": [], "result": {key: page_rows, "last": last}})

    return Page(rows, render)


def _forming(bar: SourceBar, now_ns: int, tf: Timeframe, seed: int) -> SourceBar:
    """The open candle as seen part-way through its slot: built from the trades so far."""
    trades = [t for t in bar_trades(bar, tf, seed) if t.time_ns <= now_ns]
    if not trades:
        return attrs.evolve(bar, high=bar.open, low=bar.open, close=bar.open, volume="0", trades=0)
    exp = Decimal(bar.close).as_tuple().exponent
    quantum = Decimal(1).scaleb(exp if isinstance(exp, int) else 0)
    prices = [Decimal(t.price).quantize(quantum) for t in trades]
    return attrs.evolve(
        bar,
        high=format(max(prices), "f"),
        low=format(min(prices), "f"),
        close=format(prices[-1], "f"),
        volume=format(sum((Decimal(t.volume) for t in trades), Decimal(0)), "f"),
        trades=len(trades),
    )


def _ohlc_row(bar: SourceBar) -> list[Any]:
    volume = _dec(bar.volume)
    volume_text = f"{volume:.8f}" if volume is not None else bar.volume
    if is_no_trade(bar):
        return [bar.open_time_ns // NS_PER_SECOND, bar.close, bar.close, bar.close, bar.close,
                "0.0", "0.00000000", 0]  # fmt: skip
    prices = [p for p in (_dec(x) for x in (bar.high, bar.low, bar.close)) if p is not None]
    vwap = bar.close
    if len(prices) == 3:
        exp = Decimal(bar.close).as_tuple().exponent
        quantum = Decimal(1).scaleb(exp if isinstance(exp, int) else 0)
        vwap = format((sum(prices, Decimal(0)) / 3).quantize(quantum), "f")
    return [
        bar.open_time_ns // NS_PER_SECOND,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        vwap,
        volume_text,
        bar.trades if bar.trades is not None else 0,
    ]


# --- trades -------------------------------------------------------------------------------


@attrs.frozen
class _Trade:
    time_ns: int
    price: str
    volume: str
    side: str
    kind: str
    trade_id: int


def bar_trades(bar: SourceBar, tf: Timeframe, seed: int) -> tuple[_Trade, ...]:
    """Deterministic trades whose candle is exactly ``bar`` (open, high, low, close, volume).

    The count is the bar's trade count (at least enough trades to show each distinct price).
    Bars without trades or with unparseable values give no trades.
    """
    values = [_dec(x) for x in (bar.open, bar.high, bar.low, bar.close, bar.volume)]
    if is_no_trade(bar) or any(v is None or v < 0 for v in values):
        return ()
    o, h, low, c, v = (x for x in values if x is not None)
    if min(o, h, low, c) <= 0:
        return ()
    distinct = len({o, h, low, c})
    n = max(bar.trades or 1, distinct)
    rng = generator(seed, "kraken-trades", bar.symbol, bar.quote, str(bar.open_time_ns))
    offsets = sorted(int(x) for x in rng.integers(0, tf.ns, n))
    times = [bar.open_time_ns + x for x in offsets]
    exponents = [Decimal(t).as_tuple().exponent for t in (bar.open, bar.high, bar.low, bar.close)]
    price_exp = min(e for e in exponents if isinstance(e, int))
    quantum = Decimal(1).scaleb(min(price_exp, 0))
    span = int((h - low) / quantum)
    prices = [low + quantum * int(rng.integers(0, span + 1)) for _ in range(n)]
    prices[0], prices[-1] = o, c
    slots = list(range(1, n - 1))
    if h not in (o, c):
        prices[slots.pop(0)] = h
    if low not in (o, c) and low != h:
        prices[slots.pop(0)] = low
    if max(prices) > h or min(prices) < low:  # pragma: no cover - prices drawn within [low, h]
        raise AssertionError("trade outside the candle")
    vol_exp = v.as_tuple().exponent
    v_exp = min(vol_exp if isinstance(vol_exp, int) else 0, -8)
    units = int(v.scaleb(-v_exp))
    cuts = sorted(int(x) for x in rng.integers(0, units + 1, n - 1)) if n > 1 else []
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, units], strict=True)]
    price_places = max(5, -min(price_exp, 0))
    sides = rng.random((n, 2))
    first_id = (bar.open_time_ns // tf.ns) * 1000
    return tuple(
        _Trade(
            time_ns=t,
            price=f"{p:.{price_places}f}",
            volume=format(Decimal(u).scaleb(v_exp), "f"),
            side="b" if s[0] < 0.5 else "s",
            kind="m" if s[1] < 0.7 else "l",
            trade_id=first_id + i,
        )
        for i, (t, p, u, s) in enumerate(zip(times, prices, parts, sides, strict=True))
    )


def _trades(em: Emulator, query: Mapping[str, str]) -> Reply | Page:
    resolved = _resolve(em, query)
    if isinstance(resolved, Reply):
        return resolved
    symbol, quote = resolved
    since = _int(query.get("since"), -1)
    count = _int(query.get("count"), kraken.TRADES_MAX_COUNT)
    if since is None or count is None or not 1 <= count <= kraken.TRADES_MAX_COUNT:
        return _error(kraken.INVALID_ARGUMENTS)
    key = kraken.pair_names(symbol, quote).key
    now = em.now_ns()
    tf = em.book.finest(symbol, quote) or Timeframe.M1  # a served pair always has a series
    trades: list[_Trade] = []
    bars = em.visible(symbol, quote, tf, 0, now + 1)
    if since < 0:  # no cursor: the most recent trades
        for bar in reversed(bars):
            trades[:0] = [t for t in bar_trades(bar, tf, em.seed) if t.time_ns <= now]
            if len(trades) >= count:
                break
        trades = trades[-count:]
    else:
        since_ns = since * NS_PER_SECOND if since < 10**12 else since + 1
        opens = [b.open_time_ns for b in bars]
        i = max(0, bisect.bisect_right(opens, since_ns) - 1)
        for bar in bars[i:]:
            trades.extend(t for t in bar_trades(bar, tf, em.seed) if since_ns <= t.time_ns <= now)
            if len(trades) >= count:
                break
        trades = trades[:count]
    cursor = str(trades[-1].time_ns) if trades else str(max(since, 0))
    with_ns = em.options.kraken_trades_ns_field
    rows = [_trade_row(t, with_ns) for t in trades]

    def render(page_rows: list[Any]) -> bytes:
        return json_bytes({"error": [], "result": {key: page_rows, "last": cursor}})

    return Page(rows, render)


def _trade_row(t: _Trade, with_ns: bool) -> list[Any]:
    row: list[Any] = [
        t.price,
        t.volume,
        round(t.time_ns / NS_PER_SECOND, 7),
        t.side,
        t.kind,
        "",
        t.trade_id,
    ]
    if with_ns:
        row.append(str(t.time_ns))
    return row
