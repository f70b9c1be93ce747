"""``quant backtest``: the deterministic, risk-gated, prediction-led backtest."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` command to ``app``."""
