"""Trades → candles: rebuild OHLCV bars from individual trades, exactly.

Kraken's public ``OHLC`` endpoint only serves the most recent 720 candles; older history is
rebuilt from ``Trades`` (and Kraken's trades CSV export uses the same rebuild). The rule is the
one exchanges use:

- a trade at ``t`` belongs to the bar opened at ``timeframe.floor(t)``;
- ``open`` is the first trade of the bar and ``close`` the last one, in time order (trades at
  the same nanosecond keep the order they were given in, as the venue's trade ids do);
- ``high``/``low`` are the largest/smallest prices (compared as decimals, reported as the
  source's own text, so ``"105433.60000"`` stays ``"105433.60000"``);
- ``volume`` is the exact decimal sum of the trade volumes, in plain notation;
- ``trades`` is the number of trades;
- a bar with no trades is *not* invented: an empty slot stays empty, and whoever fetched the
  complete trade list for that span knows it is a confirmed no-trade period.

The function is pure: same trades in, same bars out, on every machine.

Examples:
    >>> from quant_core import Timeframe
    >>> trades = [Trade(3_600_000_000_000, "10.0", "1"),
    ...           Trade(3_700_000_000_000, "12.5", "0.25"),
    ...           Trade(3_650_000_000_000, "9.5", "2")]
    >>> [bar] = trades_to_bars(trades, source="kraken", symbol="BTC", quote="USD",
    ...                        timeframe=Timeframe.H1)
    >>> (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades)
    ('10.0', '12.5', '9.5', '12.5', '3.25', 3)
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import attrs

from quant_core import Timeframe
from quant_core.errors import ValidationError
from quant_data import reasons
from quant_data._records import SourceBar

__all__ = ["Trade", "trades_to_bars"]


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError(
            f"trade {what} {text!r} is not a decimal number", reason_code=reasons.TRADE_INVALID
        ) from None
    if not value.is_finite():
        raise ValidationError(
            f"trade {what} {text!r} is not finite", reason_code=reasons.TRADE_INVALID
        )
    return value


@attrs.frozen
class Trade:
    """One executed trade, as the venue reported it.

    Attributes:
        time_ns: execution time, UTC nanoseconds since the epoch.
        price: price as decimal text (must be finite and positive).
        volume: base-asset volume as decimal text (must be finite and non-negative).

    Raises:
        ValidationError: ``TRADE_INVALID`` for a negative time, a non-numeric, non-finite or
            non-positive price, or a non-numeric, non-finite or negative volume.

    Examples:
        >>> Trade(0, "1.5", "0.1").price
        '1.5'
        >>> Trade(0, "NaN", "1")
        Traceback (most recent call last):
        ...
        quant_core.errors.ValidationError: [TRADE_INVALID] trade price 'NaN' is not finite
    """

    time_ns: int
    price: str
    volume: str

    def __attrs_post_init__(self) -> None:
        if isinstance(self.time_ns, bool) or not isinstance(self.time_ns, int):
            raise ValidationError(
                f"trade time {self.time_ns!r} is not an integer",
                reason_code=reasons.TRADE_INVALID,
            )
        if self.time_ns < 0:
            raise ValidationError(
                f"trade time {self.time_ns} is before the epoch", reason_code=reasons.TRADE_INVALID
            )
        if _decimal(self.price, "price") <= 0:
            raise ValidationError(
                f"trade price {self.price!r} is not positive", reason_code=reasons.TRADE_INVALID
            )
        if _decimal(self.volume, "volume") < 0:
            raise ValidationError(
                f"trade volume {self.volume!r} is negative", reason_code=reasons.TRADE_INVALID
            )


def _plain(value: Decimal) -> str:
    """Plain (non-scientific) decimal text, keeping the exponent's trailing zeros."""
    return format(value, "f")


def trades_to_bars(
    trades: Iterable[Trade],
    *,
    source: str,
    symbol: str,
    quote: str,
    timeframe: Timeframe,
) -> tuple[SourceBar, ...]:
    """Aggregate trades into one candle per grid slot that has at least one trade.

    Args:
        trades: the trades, in any order; ties at the same nanosecond keep their given order.
        source: the source name recorded on every bar (``"kraken"``).
        symbol: our canonical symbol (``"BTC"``).
        quote: the quote currency (``"USD"``).
        timeframe: the bar length; slots are ``timeframe.floor(trade.time_ns)``.

    Returns:
        The bars in open-time order; empty slots have no bar.

    Examples:
        >>> from quant_core import Timeframe
        >>> trades_to_bars([], source="kraken", symbol="BTC", quote="USD",
        ...                timeframe=Timeframe.M1)
        ()
    """
    # Stable sort by time: equal times keep their input order (the venue's trade-id order).
    ordered = sorted(trades, key=lambda t: t.time_ns)
    bars: list[SourceBar] = []
    i = 0
    n = len(ordered)
    while i < n:
        slot = timeframe.floor(ordered[i].time_ns)
        end = slot + timeframe.ns
        first = ordered[i]
        high_text, high = first.price, Decimal(first.price)
        low_text, low = first.price, high
        volume = Decimal(0)
        count = 0
        last = first
        while i < n and ordered[i].time_ns < end:
            trade = ordered[i]
            price = Decimal(trade.price)
            if price > high:
                high_text, high = trade.price, price
            if price < low:
                low_text, low = trade.price, price
            volume += Decimal(trade.volume)
            count += 1
            last = trade
            i += 1
        bars.append(
            SourceBar(
                source=source,
                symbol=symbol,
                quote=quote,
                timeframe=timeframe.value,
                open_time_ns=slot,
                open=first.price,
                high=high_text,
                low=low_text,
                close=last.price,
                volume=_plain(volume),
                trades=count,
            )
        )
    return tuple(bars)
