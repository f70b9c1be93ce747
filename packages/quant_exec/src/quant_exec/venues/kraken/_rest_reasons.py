"""Reason codes of the Kraken REST client's own checks (decision 0075's one way).

Examples:
    >>> from quant_core.reasons import REGISTRY
    >>> REGISTRY.describe(CLOCK_SKEW).startswith("The local clock")
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

CLOCK_SKEW = (
    "The local clock differs from Kraken's server time (/0/public/Time) by more than the "
    "allowed skew; trading is refused until the clocks agree."
)
KRAKEN_PAGES_UNSETTLED = (
    "A paged Kraken history query (TradesHistory, ClosedOrders) did not settle within its "
    "page budget; no partial history is returned."
)

declare_codes(globals())
