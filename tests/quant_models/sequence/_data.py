"""Small panels and configs for the sequence-model tests (importable by child processes)."""

from __future__ import annotations

from typing import Any

from tests.quant_models.helpers import synthetic_frame

from quant_models import Panel
from quant_models.sequence import Resolution, SequenceConfig

RESOLUTIONS = (Resolution("short", 8, 1), Resolution("medium", 4, 6), Resolution("long", 3, 24))


def tiny_config(**overrides: Any) -> SequenceConfig:
    """A config that trains in a second or two on a few coins x 1,200 bars."""
    base: dict[str, Any] = {
        "resolutions": RESOLUTIONS,
        "horizons": (1, 4),
        "risk_bars": 4,
        "hidden": 8,
        "heads": 2,
        "max_epochs": 3,
        "batch_size": 128,
    }
    return SequenceConfig(**(base | overrides))


def synthetic_panel(n: int = 1200, seed: int = 1) -> Panel:
    """Three coins of hourly random-walk bars with mild momentum."""
    return Panel.from_frame(synthetic_frame(("BTC", "ETH", "SOL"), n=n, seed=seed, momentum=0.15))
