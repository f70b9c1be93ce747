"""The prediction-led strategy: a pure function from memory, market and predictions to intents."""

from quant_exec.strategy._decide import (
    BUY,
    SELL,
    Evaluation,
    Intent,
    MarketContext,
    PositionView,
    StrategyMemo,
    StrategyState,
    decide,
    downside_probability,
)

__all__ = [
    "BUY",
    "SELL",
    "Evaluation",
    "Intent",
    "MarketContext",
    "PositionView",
    "StrategyMemo",
    "StrategyState",
    "decide",
    "downside_probability",
]
