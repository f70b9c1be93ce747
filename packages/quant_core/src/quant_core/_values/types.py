"""Frozen value types: instruments, timeframes, bars and money.

All are attrs classes with ``frozen=True`` and ``slots=True``: hashable, comparable, cheap,
and validated when built, so an invalid bar or a float-polluted price cannot exist. Prices,
volumes, quantities and money are :class:`~decimal.Decimal` (floats are refused: ``0.1`` as a
float is not one tenth). Instants are ``int`` nanoseconds since the epoch, UTC.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core import Bar, Instrument, QuoteCurrency, Timeframe
    >>> btc = Instrument("BTC", QuoteCurrency.USD)
    >>> str(btc)
    'BTC/USD'
    >>> bar = Bar(btc, Timeframe.H1, 1_704_067_200 * 10**9,
    ...           "42000.1", "42100", "41950.5", "42050", "12.5")
    >>> bar.high - bar.low
    Decimal('149.5')
    >>> Timeframe.H1.floor(bar.open_time_ns + 5) == bar.open_time_ns
    True
"""

from __future__ import annotations

import enum
import re
from decimal import Decimal, InvalidOperation
from typing import Self

import attrs

from quant_core import reasons
from quant_core._values.clock import NS_PER_SECOND, ns_to_iso
from quant_core.errors import ValidationError

__all__ = [
    "Bar",
    "Instrument",
    "Money",
    "Quantity",
    "QuoteCurrency",
    "Timeframe",
    "to_decimal",
]

_ASSET_CODE = re.compile(r"^[A-Z0-9]{1,16}$")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Convert an exact number to a finite :class:`~decimal.Decimal`.

    Floats are refused, because a binary float is rarely the number its digits suggest; pass
    a string instead (``"0.1"``).

    Raises:
        ValidationError: a float, a bool, a non-numeric string, or a non-finite value.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(
            f"{type(value).__name__} is not an exact number; pass a str, int or Decimal",
            reason_code=reasons.INVALID_INPUT,
        )
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation as exc:
        raise ValidationError(
            f"not a number: {value!r}", reason_code=reasons.INVALID_INPUT
        ) from exc
    if not result.is_finite():
        raise ValidationError(f"not a finite number: {value!r}", reason_code=reasons.INVALID_INPUT)
    return result


class QuoteCurrency(enum.Enum):
    """The quote currencies bars may carry.

    ``CAD``, ``USD`` and ``USDC`` are the runtime quotes (historical data spec §4.2): the
    ones the universe trades and the risk and order paths accept. ``USDT`` is a *data* quote
    only: Binance's hourly history is USDT-quoted, and a BTC/USDT bar stays BTC/USDT in the
    store (decision record 0047) instead of being quarantined or relabelled. Check
    :attr:`runtime` before trading in a quote.

    Examples:
        >>> [q.value for q in QuoteCurrency if q.runtime]
        ['CAD', 'USD', 'USDC']
        >>> QuoteCurrency("USDT").runtime
        False
    """

    CAD = "CAD"
    USD = "USD"
    USDC = "USDC"
    USDT = "USDT"

    @property
    def runtime(self) -> bool:
        """Whether the runtime trades in this quote (spec §4.2); ``USDT`` is data-only."""
        return self is not QuoteCurrency.USDT


class Timeframe(enum.Enum):
    """A bar length. The value is the conventional short name (``"1h"``)."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1w"

    @property
    def seconds(self) -> int:
        """Length in seconds."""
        # ``_value_`` is the plain attribute behind ``value`` (no descriptor call): every
        # bar's close time reads this.
        return _TIMEFRAME_SECONDS[self._value_]

    @property
    def ns(self) -> int:
        """Length in nanoseconds."""
        return self.seconds * NS_PER_SECOND

    def floor(self, ts_ns: int) -> int:
        """The open time of the bar containing ``ts_ns`` (grid anchored at the epoch).

        Weekly bars are anchored on Monday 00:00 UTC, as exchanges do.
        """
        offset = _WEEK_OFFSET_NS if self is Timeframe.W1 else 0
        return ts_ns - ((ts_ns - offset) % self.ns)

    def is_aligned(self, ts_ns: int) -> bool:
        """Whether ``ts_ns`` is a bar open time on this grid."""
        return self.floor(ts_ns) == ts_ns


_TIMEFRAME_SECONDS = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1_800,
    "1h": 3_600,
    "4h": 14_400,
    "1d": 86_400,
    "1w": 604_800,
}
# 1970-01-01 was a Thursday; the first Monday 00:00 UTC is 4 days later.
_WEEK_OFFSET_NS = 4 * 86_400 * NS_PER_SECOND


def _check_asset_code(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _ASSET_CODE.fullmatch(value):
        raise ValidationError(
            f"{attribute.name} {value!r} must be 1-16 upper-case letters or digits",
            reason_code=reasons.INVALID_INPUT,
        )


@attrs.frozen(order=True, cache_hash=True)
class Instrument:
    """A spot instrument: a base asset in a quote currency (``BTC/USD``).

    ``base`` uses the canonical symbol (``BTC``, not Kraken's ``XBT``); venue codes are a
    mapping in :mod:`quant_core.universe`. Instruments key the engine's per-bar lookups, so the
    hash is computed once per value (``cache_hash``) rather than on every lookup.
    """

    base: str = attrs.field(validator=_check_asset_code)
    quote: QuoteCurrency = attrs.field(converter=QuoteCurrency)

    def __str__(self) -> str:
        return f"{self.base}/{self.quote.value}"


class _Amount:
    """Shared arithmetic of :class:`Money` and :class:`Quantity`: one unit, exact, no mixing."""

    __slots__ = ()
    amount: Decimal

    def _unit(self) -> str:
        raise NotImplementedError

    def _same(self, other: _Amount) -> None:
        if type(other) is not type(self) or other._unit() != self._unit():
            raise ValidationError(
                f"cannot combine {self._unit()} with {other._unit()}",
                reason_code=reasons.INVALID_INPUT,
            )

    def __add__(self, other: Self) -> Self:
        self._same(other)
        return attrs.evolve(self, amount=self.amount + other.amount)  # type: ignore[misc]

    def __sub__(self, other: Self) -> Self:
        self._same(other)
        return attrs.evolve(self, amount=self.amount - other.amount)  # type: ignore[misc]

    def __str__(self) -> str:
        return f"{self.amount} {self._unit()}"


@attrs.frozen
class Money(_Amount):
    """An exact amount in one quote currency (``12.50 USD``); no arithmetic across currencies."""

    amount: Decimal = attrs.field(converter=to_decimal)
    currency: QuoteCurrency = attrs.field(converter=QuoteCurrency)

    def _unit(self) -> str:
        return self.currency.value


@attrs.frozen
class Quantity(_Amount):
    """An exact amount of one base asset (``0.5 BTC``); no arithmetic across assets."""

    amount: Decimal = attrs.field(converter=to_decimal)
    asset: str = attrs.field(validator=_check_asset_code)

    def _unit(self) -> str:
        return self.asset


def _bar_invalid(message: str) -> ValidationError:
    return ValidationError(message, reason_code=reasons.BAR_INVALID)


@attrs.frozen
class Bar:
    """One OHLCV bar of an instrument, opened at ``open_time_ns`` (UTC ns, on the grid).

    Raises:
        ValidationError: with ``BAR_INVALID`` for non-positive prices, ``high`` below any
            other price, ``low`` above any other price, or negative volume or trade count;
            with ``TIMESTAMP_INVALID`` when the open time is negative or off the grid.
    """

    instrument: Instrument
    timeframe: Timeframe = attrs.field(converter=Timeframe)
    open_time_ns: int
    open: Decimal = attrs.field(converter=to_decimal)
    high: Decimal = attrs.field(converter=to_decimal)
    low: Decimal = attrs.field(converter=to_decimal)
    close: Decimal = attrs.field(converter=to_decimal)
    volume: Decimal = attrs.field(converter=to_decimal)
    trades: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.open_time_ns < 0 or not self.timeframe.is_aligned(self.open_time_ns):
            raise ValidationError(
                f"open time {self.open_time_ns} is not on the {self.timeframe.value} grid",
                reason_code=reasons.TIMESTAMP_INVALID,
            )
        prices = (self.open, self.high, self.low, self.close)
        if min(prices) <= 0:
            raise _bar_invalid(f"{self.instrument} bar at {self.opened}: non-positive price")
        if self.high < max(prices) or self.low > min(prices):
            raise _bar_invalid(f"{self.instrument} bar at {self.opened}: high/low inconsistent")
        if self.volume < 0 or (self.trades is not None and self.trades < 0):
            raise _bar_invalid(f"{self.instrument} bar at {self.opened}: negative volume")

    @property
    def opened(self) -> str:
        """The open time as ISO-8601."""
        return ns_to_iso(self.open_time_ns)

    @property
    def close_time_ns(self) -> int:
        """The exclusive end of the bar (the next bar's open time)."""
        return self.open_time_ns + self.timeframe.ns
