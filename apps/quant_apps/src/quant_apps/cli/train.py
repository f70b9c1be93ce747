"""``quant train``: features, walk-forward training, calibration, run record and gates.

The run is :func:`quant_apps.runtime.models.training.train_run`; this module parses and renders.
``quant card RUN`` prints the model card of a training run's directory: every model's
out-of-sample Brier skill with a block-bootstrap interval, AUC, ECE and the simulation after
fees, per horizon (:func:`quant_models.evaluation.model_card`). ``quant train --checks``
records the hindcast, forward and rolling checks in the run record (decision 0124);
``quant checks RUN --dataset DIR`` scores the run's forward forecasts against newer data
(:func:`quant_models.evaluation.score_checks`).
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
    """Add the ``train``, ``card`` and ``checks`` commands to ``app``."""

    @app.command("checks")
    @guarded()
    def checks_command(
        run: Annotated[Path, typer.Argument(help="A training run trained with --checks.")],
        dataset: Annotated[
            Path, typer.Option("--dataset", help="A materialized dataset holding newer bars.")
        ],
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Score a run's recorded forward forecasts: realised or still pending."""
        import json

        from quant_data import read_dataset
        from quant_models import Panel
        from quant_models.evaluation import score_checks

        try:
            record = json.loads((run / "run.json").read_bytes())
        except (OSError, ValueError) as exc:
            raise QuantUsageError(f"{run} is not a training run directory: {exc}") from exc
        checks = record["metrics"].get("checks")
        if checks is None:
            raise QuantUsageError(f"{run} was trained without --checks: no checks recorded")
        scored = score_checks(checks, Panel.from_frame(read_dataset(dataset).frame()))
        if json_output:
            emit_json(scored)
            return
        console = results()
        head = f"forward check at {scored['as_of_ns']} of {scored['model_id']}"
        console.print(head, markup=False)
        for horizon, entry in sorted(scored["summary"].items()):
            brier = "-" if entry["brier"] is None else f"{entry['brier']:.4f}"
            console.print(
                f"  {horizon}: realised {entry['realised']} pending {entry['pending']}"
                f" Brier {brier}",
                markup=False,
            )

    @app.command("card")
    @guarded()
    def card_command(
        run: Annotated[Path, typer.Argument(help="A training run's output directory.")],
        coins: Annotated[
            str | None,
            typer.Option("--coins", help="Comma-separated coins to score (e.g. held-out ones)."),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Also write the card as Markdown here.")
        ] = None,
        block_days: Annotated[
            float, typer.Option("--block-days", help="Bootstrap block length in days.")
        ] = 30.0,
        draws: Annotated[int, typer.Option(help="Bootstrap draws.")] = 2000,
        seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
        fee: Annotated[float, typer.Option(help="Fee per side in the simulation.")] = 0.0026,
        threshold: Annotated[float, typer.Option(help="The simulation's entry probability.")] = (
            0.55
        ),
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Print a training run's model card (every number out-of-sample)."""
        import json

        from quant_models.evaluation import model_card, read_oof

        path = run / "oof.csv"
        if not path.is_file():
            raise QuantUsageError(f"{run} is not a training run directory: no oof.csv")
        card = model_card(
            read_oof(path.read_bytes()),
            coins=None if coins is None else [c.strip() for c in coins.split(",") if c.strip()],
            block_ns=int(block_days * 86_400 * 10**9),
            draws=draws,
            seed=seed,
            fee=fee,
            threshold=threshold,
        )
        text = card.to_markdown(f"Model card: {run.name}")
        if out is not None:
            out.write_text(text, encoding="utf-8")
        if json_output:
            emit_json(json.loads(card.to_json()))
        else:
            results().print(text, markup=False, end="")

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
        checks: Annotated[
            bool,
            typer.Option(
                "--checks",
                help="Also record the hindcast, forward and rolling checks in run.json"
                " (the hindcast retrains on the data to T - 2d).",
            ),
        ] = False,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Train models, write artifacts, run record and gate decision; exit 3 if rejected."""
        from quant_data import read_dataset
        from quant_models import load_config

        if (dataset is None) == (symbols is None):
            raise QuantUsageError("give exactly one of --dataset DIR or --symbols A,B,...")
        cfg = load_config(config)
        if checks:
            import attrs

            cfg = attrs.evolve(cfg, checks=True)
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
            recorded = result.metrics.get("checks")
            emit_json(document if recorded is None else {**document, "checks": recorded})
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
            hindcast = result.metrics.get("checks", {}).get("hindcast")
            if hindcast is not None and hindcast["status"] == "scored":
                for horizon, card in sorted(hindcast["horizons"].items()):
                    console.print(
                        f"  hindcast {horizon}: BSS {card['bss']:+.4f} n={card['n']}", markup=False
                    )
            elif hindcast is not None:
                console.print(f"  hindcast: unavailable {hindcast['reason_code']}", markup=False)
            verdict = "PROMOTE" if decision.promote else "REJECT"
            console.print(f"gate: {verdict} {', '.join(decision.reasons)}", markup=False)
        if not decision.promote:
            raise typer.Exit(EXIT_REJECTED)
