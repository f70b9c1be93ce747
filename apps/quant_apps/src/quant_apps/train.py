"""``quant train``: features, walk-forward training, calibration, run record and gates."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
