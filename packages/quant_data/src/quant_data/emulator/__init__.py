"""The provider emulator: Kraken public, CoinAPI and CoinGecko over real HTTP on 127.0.0.1.

It serves a deterministic :class:`~quant_data.SyntheticMarket` or bars imported from
real files, speaks each provider's wire format as recorded in the API samples, and injects
faults (:class:`FaultPlan`) so retries, paging and reconciliation can be tested end to end.

Examples:
    >>> from quant_data.emulator import FaultKind, FaultPlan, FaultRule, serve_emulator
    >>> FaultPlan(rules=[FaultRule(FaultKind.SERVER_ERROR, count=2)]).rules[0].status is None
    True
"""

from quant_data.emulator._book import BarBook
from quant_data.emulator._faults import FaultKind, FaultPlan, FaultRule, LateCandle, Revision
from quant_data.emulator._server import (
    DIALECTS,
    Emulator,
    EmulatorOptions,
    EmulatorSource,
    ServedRequest,
    serve_emulator,
    start_emulator,
)

__all__ = [
    "DIALECTS",
    "BarBook",
    "Emulator",
    "EmulatorOptions",
    "EmulatorSource",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "LateCandle",
    "Revision",
    "ServedRequest",
    "serve_emulator",
    "start_emulator",
]
