"""The ledger: cash, positions, realized P&L and fees, booked from fills."""

from quant_exec.ledger._books import (
    COST_QUANTUM,
    EntryKind,
    Ledger,
    LedgerEntry,
    PortfolioSnapshot,
    Position,
)

__all__ = [
    "COST_QUANTUM",
    "EntryKind",
    "Ledger",
    "LedgerEntry",
    "PortfolioSnapshot",
    "Position",
]
