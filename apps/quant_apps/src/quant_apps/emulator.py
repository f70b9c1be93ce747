"""``quant emulator …``: the local provider emulator (Kraken, CoinAPI, CoinGecko dialects)."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Serve the provider emulator on 127.0.0.1 from real files or a synthetic market.",
    no_args_is_help=True,
)
