"""``quant train``: features, walk-forward training, calibration, run record and gates.

The run is :func:`quant_apps.runtime.models.training.train_run`; this module parses and renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from quant_apps.cli.output import EXIT_REJECTED, emit_json, guarded, results
from quant_apps.runtime.models.training import train_run
from quant_core import iso_to_ns
from quant_core.errors import QuantUsageError

__all__ = ["register"]


def _materialize(symbols: str, quote: str, timeframe: str, start: str, end: str) -> Any:
    """Materialize a dataset from the governed store configured in the settings."""
    from quant_apps.runtime.clock import WallClock
    from quant_apps.runtime.config import symbol_list
    from quant_apps.runtime.jobs.stores import materialize

    return materialize(
        symbol_list(symbols), quote, timeframe, iso_to_ns(start), iso_to_ns(end), WallClock()
    )


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    @guarded()
    def train_command(
        config: Annotated[Path, typer.Option("--config", help="Training config (.json or .toml).")],
        out: Annotated[Path, typer.Option("--out", help="Output directory (must be new).")],
        dataset: Annotated[
            Path | None, typer.Option("--dataset", help="A materialized dataset directory.")
        ] = None,
        symbols: Annotated[
            str | None,
            typer.Option("--symbols", help="Comma-separated coins to materialize from the store."),
        ] = None,
        quote: Annotated[str, typer.Option(help="Quote currency with --symbols.")] = "USD",
        timeframe: Annotated[str, typer.Option(help="Bar length with --symbols.")] = "1h",
        start: Annotated[
            str | None, typer.Option(help="Window start (ISO UTC) with --symbols.")
        ] = None,
        end: Annotated[
            str | None, typer.Option(help="Window end (ISO UTC) with --symbols.")
        ] = None,
        champion: Annotated[
            Path | None,
            typer.Option("--champion", help="A previous run directory to compare against."),
        ] = None,
        registry: Annotated[
            Path | None,
            typer.Option(
                "--registry",
                help="Model registry directory: its champion is the yardstick (unless"
                " --champion is given) and a promoted run becomes the new champion.",
            ),
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Train models, write artifacts, run record and gate decision; exit 3 if rejected."""
        from quant_data import read_dataset
        from quant_models import load_config

        if (dataset is None) == (symbols is None):
            raise QuantUsageError("give exactly one of --dataset DIR or --symbols A,B,...")
        cfg = load_config(config)
        if dataset is not None:
            data = read_dataset(dataset)
        else:
            if start is None or end is None:
                raise QuantUsageError("--symbols needs --start and --end")
            data = _materialize(str(symbols), quote, timeframe, start, end)
        run = train_run(cfg, data, out, champion=champion, registry=registry)
        result, document = run.result, run.document
        decision = result.decision
        if json_output:
            emit_json(document)
        else:
            console = results()
            console.print(f"trained {result.model_set.model_id} -> {out}", markup=False)
            for horizon, key in sorted(result.metrics["served"].items()):
                card = result.metrics["oos"][horizon][key]["pooled"]
                console.print(
                    f"  {horizon}: {key} OOS BSS {card['bss']:+.4f} ECE {card['ece']:.4f}"
                    f" n={card['n']}",
                    markup=False,
                )
            verdict = "PROMOTE" if decision.promote else "REJECT"
            console.print(f"gate: {verdict} {', '.join(decision.reasons)}", markup=False)
        if not decision.promote:
            raise typer.Exit(EXIT_REJECTED)
