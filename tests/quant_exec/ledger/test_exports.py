"""The orders/risk/ledger/broker surface is exported from the package root."""

from __future__ import annotations

import quant_exec

SURFACE = {
    "Order",
    "OrderState",
    "OrderStatus",
    "OrderFilled",
    "TRANSITIONS",
    "apply",
    "new_state",
    "Side",
    "OrderType",
    "Liquidity",
    "check_order",
    "evaluate",
    "RiskContext",
    "Approved",
    "Rejected",
    "Ledger",
    "PortfolioSnapshot",
    "Position",
    "PaperBroker",
    "KillSwitch",
    "KillSwitchState",
    "FeeSchedule",
    "KRAKEN_SPOT_FEES",
    "SlippageModel",
    "VenueRules",
    "VenueRulebook",
    "KRAKEN_SPOT_RULES",
    "ClusterMap",
    "DEFAULT_CLUSTERS",
    "InvalidTransitionError",
    "InsufficientCashError",
    "LedgerError",
    "OrderError",
}


def test_surface_is_exported() -> None:
    assert set(quant_exec.__all__) >= SURFACE
    for name in SURFACE:
        assert getattr(quant_exec, name) is not None
