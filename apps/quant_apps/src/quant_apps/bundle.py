"""``quant bundle …``: keys, build, verify, install, status, rollback and updates."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Signed model bundles: keygen, build, verify, install, status, rollback, updates.",
    no_args_is_help=True,
)
