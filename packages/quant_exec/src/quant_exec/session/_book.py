"""One instrument's state inside a trading session."""

from __future__ import annotations

from decimal import Decimal

from quant_core import Bar, Instrument
from quant_exec.ledger._books import Position
from quant_exec.strategy._decide import PositionView, StrategyState

_FLAT = PositionView()  # nothing held (a value: shared by every flat evaluation)
_FRESH = StrategyState()  # an instrument's memory before its first evaluation


class Book:
    """One instrument's engine state, found with one dictionary lookup per bar.

    ``history`` and ``closes`` are the very lists the session's ``history`` and ``closes``
    mappings hold, so the predictor and the result see every append.
    """

    __slots__ = ("closes", "held", "history", "lot", "name", "state", "view")

    def __init__(self, instrument: Instrument, lot: Decimal) -> None:
        self.name = str(instrument)
        self.lot = lot
        self.history: list[Bar] = []
        self.closes: list[tuple[int, Decimal]] = []
        self.state = _FRESH
        # The strategy's view of the position last seen (positions are immutable values, so
        # the same object always has the same view).
        self.held: Position | None = None
        self.view = _FLAT

    def position_view(self, held: Position | None) -> PositionView:
        """The strategy's view of ``held`` (the instrument's position, if any)."""
        if held is None:
            return _FLAT
        if held is not self.held:
            self.held, self.view = held, PositionView(held.quantity, held.avg_cost)
        return self.view
