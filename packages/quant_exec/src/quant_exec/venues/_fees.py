"""Trading fees: Kraken spot's maker/taker schedule by 30-day volume tier, as data.

A :class:`FeeSchedule` is a sorted tuple of :class:`FeeTier` rows; the tier that applies is
the last one whose ``min_volume`` is at or below the account's 30-day traded volume (in the
quote currency). Rates are percentages of notional. The computation is pure: the same
notional, volume and liquidity always give the same fee, rounded *up* to ``fee_quantum`` so a
simulated fee is never smaller than the venue's.

:data:`KRAKEN_SPOT_FEES` is Kraken Pro's published spot schedule (the same rows the Kraken
``AssetPairs`` endpoint returns as ``fees_maker``/``fees``); update the data here when Kraken
changes it.

Examples:
    >>> from decimal import Decimal
    >>> from quant_exec.venues import KRAKEN_SPOT_FEES
    >>> from quant_exec.orders import Liquidity
    >>> KRAKEN_SPOT_FEES.rate_pct(Decimal(0), Liquidity.TAKER)
    Decimal('0.40')
    >>> KRAKEN_SPOT_FEES.rate_pct(Decimal(60_000), Liquidity.MAKER)
    Decimal('0.14')
    >>> KRAKEN_SPOT_FEES.fee(Decimal("1000"), Decimal(0), Liquidity.TAKER)
    Decimal('4.0000')
"""

from __future__ import annotations

import itertools
from decimal import ROUND_UP, Decimal

import attrs

from quant_core import to_decimal
from quant_exec import reasons
from quant_exec.errors import ExecConfigError
from quant_exec.orders._model import Liquidity


@attrs.frozen
class FeeTier:
    """One volume tier: from ``min_volume`` (30-day quote volume) up, these rates apply.

    Attributes:
        min_volume: the tier's lower bound, inclusive, in the quote currency.
        maker_pct: maker fee, percent of notional.
        taker_pct: taker fee, percent of notional.
    """

    min_volume: Decimal = attrs.field(converter=to_decimal)
    maker_pct: Decimal = attrs.field(converter=to_decimal)
    taker_pct: Decimal = attrs.field(converter=to_decimal)


@attrs.frozen
class FeeSchedule:
    """A maker/taker fee schedule by 30-day volume tier.

    Attributes:
        tiers: rows sorted by strictly increasing ``min_volume``, the first at 0.
        fee_quantum: fees are rounded up to a multiple of this amount.

    Raises:
        ExecConfigError: ``FEE_SCHEDULE_INVALID`` for an empty or unsorted schedule, a first
            tier above zero volume, a negative rate or a non-positive quantum.
    """

    tiers: tuple[FeeTier, ...]
    fee_quantum: Decimal = attrs.field(default=Decimal("0.0001"), converter=to_decimal)

    def __attrs_post_init__(self) -> None:
        bounds = [t.min_volume for t in self.tiers]
        ok = (
            bool(bounds)
            and bounds[0] == 0
            and all(a < b for a, b in itertools.pairwise(bounds))
            and all(t.maker_pct >= 0 and t.taker_pct >= 0 for t in self.tiers)
            and self.fee_quantum > 0
        )
        if not ok:
            raise ExecConfigError(
                "a fee schedule needs sorted tiers from volume 0, non-negative rates and a "
                "positive quantum",
                reason_code=reasons.FEE_SCHEDULE_INVALID,
            )

    def tier(self, volume_30d: Decimal) -> FeeTier:
        """The tier that applies at ``volume_30d`` (negative volume counts as zero)."""
        chosen = self.tiers[0]
        for tier in self.tiers:
            if tier.min_volume <= volume_30d:
                chosen = tier
        return chosen

    def rate_pct(self, volume_30d: Decimal, liquidity: Liquidity) -> Decimal:
        """The fee rate in percent of notional."""
        tier = self.tier(volume_30d)
        return tier.maker_pct if liquidity is Liquidity.MAKER else tier.taker_pct

    def max_rate_pct(self) -> Decimal:
        """The highest rate anywhere in the schedule (a worst-case bound for cash checks)."""
        return max(max(t.maker_pct, t.taker_pct) for t in self.tiers)

    def fee(self, notional: Decimal, volume_30d: Decimal, liquidity: Liquidity) -> Decimal:
        """The fee on ``notional``, rounded up to :attr:`fee_quantum`."""
        raw = abs(notional) * self.rate_pct(volume_30d, liquidity) / 100
        return raw.quantize(self.fee_quantum, rounding=ROUND_UP)


def _kraken() -> FeeSchedule:
    rows = (
        (0, "0.25", "0.40"),
        (10_000, "0.20", "0.35"),
        (50_000, "0.14", "0.24"),
        (100_000, "0.12", "0.22"),
        (250_000, "0.10", "0.20"),
        (500_000, "0.08", "0.18"),
        (1_000_000, "0.06", "0.16"),
        (2_500_000, "0.04", "0.14"),
        (5_000_000, "0.02", "0.12"),
        (10_000_000, "0.00", "0.10"),
    )
    return FeeSchedule(tuple(FeeTier(v, m, t) for v, m, t in rows))


KRAKEN_SPOT_FEES = _kraken()
"""Kraken Pro spot fees (maker/taker percent by 30-day USD volume)."""
