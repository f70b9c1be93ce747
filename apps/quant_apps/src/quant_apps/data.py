"""``quant data …``: import, backfill, sync, status, verify and materialize market data."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Market data: import files, backfill, sync, status, verify, materialize datasets.",
    no_args_is_help=True,
)
