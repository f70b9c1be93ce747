"""Exchange trading rules as data: minimum order size and cost, lot and tick sizes.

:class:`VenueRules` holds one instrument's rules; :class:`VenueRulebook` maps base assets to
rules (with an optional fallback). Rounding helpers turn a desired quantity or price into one
the venue accepts: quantities round *down* to the lot (never buy or sell more than meant),
prices round to the tick *against* the trader's wish to cross (a buy limit down, a sell limit
up), so a rounded limit never pays more than the original.

:data:`KRAKEN_SPOT_RULES` is a snapshot of Kraken spot ``AssetPairs`` values (``ordermin``,
``costmin``, ``tick_size``, ``lot_decimals``) for the Universe V1 bases against USD; refresh it
from the ``AssetPairs`` endpoint when Kraken changes them.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core import Instrument
    >>> from quant_exec.venues import KRAKEN_SPOT_RULES
    >>> rules = KRAKEN_SPOT_RULES.for_instrument(Instrument("BTC", "USD"))
    >>> rules.round_quantity(Decimal("0.123456789"))
    Decimal('0.12345678')
    >>> rules.round_price(Decimal("42000.17"), up=False)
    Decimal('42000.1')
    >>> rules.round_price(Decimal("42000.11"), up=True)
    Decimal('42000.2')
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import attrs

from quant_core import Instrument, to_decimal
from quant_exec import reasons
from quant_exec.errors import ExecConfigError


def _round(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


@attrs.frozen
class VenueRules:
    """One instrument's trading rules.

    Attributes:
        lot_size: quantity step; every order quantity is a whole multiple of it.
        tick_size: price step; every limit price is a whole multiple of it.
        min_quantity: smallest order quantity accepted.
        min_cost: smallest order value (quantity * price) in the quote currency.

    Raises:
        ExecConfigError: ``VENUE_RULES_INVALID`` for a non-positive step or a negative minimum.
    """

    lot_size: Decimal = attrs.field(converter=to_decimal)
    tick_size: Decimal = attrs.field(converter=to_decimal)
    min_quantity: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)
    min_cost: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)

    def __attrs_post_init__(self) -> None:
        if self.lot_size <= 0 or self.tick_size <= 0 or min(self.min_quantity, self.min_cost) < 0:
            raise ExecConfigError(
                "lot and tick sizes must be positive and minimums non-negative",
                reason_code=reasons.VENUE_RULES_INVALID,
            )

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """``quantity`` rounded down to a whole number of lots."""
        return _round(quantity, self.lot_size, ROUND_FLOOR)

    def round_price(self, price: Decimal, *, up: bool) -> Decimal:
        """``price`` rounded to the tick, up or down."""
        return _round(price, self.tick_size, ROUND_CEILING if up else ROUND_FLOOR)

    def is_lot_multiple(self, quantity: Decimal) -> bool:
        """Whether ``quantity`` is a whole number of lots."""
        return quantity % self.lot_size == 0

    def is_tick_multiple(self, price: Decimal) -> bool:
        """Whether ``price`` is a whole number of ticks."""
        return price % self.tick_size == 0


@attrs.frozen
class VenueRulebook:
    """Rules per base asset, with an optional fallback for bases not listed.

    Attributes:
        rules: base asset -> rules.
        default: rules for unlisted bases; ``None`` makes them untradeable.
    """

    rules: Mapping[str, VenueRules]
    default: VenueRules | None = None

    def for_instrument(self, instrument: Instrument) -> VenueRules | None:
        """The rules for ``instrument``, or ``None`` when the venue has none."""
        return self.rules.get(instrument.base, self.default)


def _kraken() -> VenueRulebook:
    # base: (tick_size, ordermin, lot_decimals); costmin is 0.5 quote units on every pair.
    rows: dict[str, tuple[str, str, int]] = {
        "BTC": ("0.1", "0.00005", 8),
        "ETH": ("0.01", "0.001", 8),
        "BNB": ("0.01", "0.01", 8),
        "XRP": ("0.00001", "2", 8),
        "SOL": ("0.01", "0.02", 8),
        "TRX": ("0.000001", "20", 8),
        "ADA": ("0.000001", "10", 8),
        "BCH": ("0.01", "0.01", 8),
        "XMR": ("0.01", "0.03", 8),
        "LINK": ("0.00001", "0.3", 8),
        "XLM": ("0.000001", "15", 8),
        "HBAR": ("0.00001", "30", 8),
        "LTC": ("0.01", "0.05", 8),
        "AVAX": ("0.01", "0.2", 8),
        "ZEC": ("0.01", "0.03", 8),
        "SUI": ("0.0001", "2", 8),
        "SHIB": ("0.00000001", "200000", 5),
        "TON": ("0.0001", "1", 8),
        "DOT": ("0.0001", "0.6", 8),
        "UNI": ("0.001", "0.5", 8),
        "AAVE": ("0.01", "0.02", 8),
        "TAO": ("0.01", "0.01", 8),
        "NEAR": ("0.001", "1", 8),
        "ETC": ("0.001", "0.2", 8),
        "ICP": ("0.001", "0.5", 8),
        "POL": ("0.0001", "10", 8),
        "KAS": ("0.000001", "50", 8),
        "ALGO": ("0.00001", "20", 8),
        "FIL": ("0.001", "1", 8),
        "APT": ("0.0001", "0.5", 8),
    }
    return VenueRulebook(
        {
            base: VenueRules(
                lot_size=Decimal(1).scaleb(-decimals),
                tick_size=Decimal(tick),
                min_quantity=Decimal(ordermin),
                min_cost=Decimal("0.5"),
            )
            for base, (tick, ordermin, decimals) in rows.items()
        }
    )


KRAKEN_SPOT_RULES = _kraken()
"""Kraken spot rules for the Universe V1 bases (a snapshot of ``AssetPairs``)."""
