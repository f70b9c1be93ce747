"""A deterministic slippage model: a fixed spread cost plus a size/volume impact.

Fills in a simulation are worse than the reference price by

``bps = base_bps + impact_bps * (quantity / bar_volume)``, capped at ``max_bps``,

upwards for a buy and downwards for a sell. The model is a pure function of its inputs: no
randomness, so the same order on the same bar always fills at the same price.

Examples:
    >>> from decimal import Decimal
    >>> from quant_exec.orders import Side
    >>> from quant_exec.venues import SlippageModel
    >>> model = SlippageModel(base_bps=Decimal(5), impact_bps=Decimal(100))
    >>> model.fill_price(Side.BUY, Decimal(100), Decimal(1), Decimal(10))
    Decimal('100.1500')
    >>> model.slippage_bps(Decimal(1), Decimal(10))
    Decimal('15.0')
    >>> model.fill_price(Side.SELL, Decimal(100), Decimal(0), Decimal(10))
    Decimal('99.9500')
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from quant_core import to_decimal
from quant_exec import reasons
from quant_exec.errors import ExecConfigError
from quant_exec.orders._model import Side


@attrs.frozen
class SlippageModel:
    """Spread cost plus volume-share impact, in basis points.

    Attributes:
        base_bps: cost of crossing the spread, always paid.
        impact_bps: added cost when the order is the whole bar's volume (scaled linearly).
        max_bps: cap on the total, so a thin bar cannot produce an absurd price.

    Raises:
        ExecConfigError: a negative parameter or ``max_bps`` at or above 10000.
    """

    base_bps: Decimal = attrs.field(default=Decimal(5), converter=to_decimal)
    impact_bps: Decimal = attrs.field(default=Decimal(50), converter=to_decimal)
    max_bps: Decimal = attrs.field(default=Decimal(500), converter=to_decimal)

    def __attrs_post_init__(self) -> None:
        if min(self.base_bps, self.impact_bps, self.max_bps) < 0 or self.max_bps >= 10_000:
            raise ExecConfigError(
                "slippage parameters must be >= 0 and max_bps < 10000",
                reason_code=reasons.VENUE_RULES_INVALID,
            )

    def slippage_bps(self, quantity: Decimal, bar_volume: Decimal) -> Decimal:
        """Total slippage in bps for ``quantity`` on a bar of ``bar_volume`` (capped).

        A bar with no volume counts as the order being the whole volume.
        """
        share = Decimal(1) if bar_volume <= 0 else min(Decimal(1), quantity / bar_volume)
        return min(self.max_bps, self.base_bps + self.impact_bps * share)

    def fill_price(
        self, side: Side, reference: Decimal, quantity: Decimal, bar_volume: Decimal
    ) -> Decimal:
        """The fill price: ``reference`` moved against the trader by the slippage."""
        factor = self.slippage_bps(quantity, bar_volume) / 10_000
        if side is Side.BUY:
            return reference * (1 + factor)
        return reference * (1 - factor)

    def worst_price(self, side: Side, reference: Decimal) -> Decimal:
        """The worst fill price the model can give relative to ``reference`` (at ``max_bps``)."""
        factor = self.max_bps / 10_000
        return reference * (1 + factor) if side is Side.BUY else reference * (1 - factor)
