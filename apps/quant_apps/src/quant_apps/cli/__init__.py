"""The ``quant`` command: a thin composition of the quant libraries.

Conventions every command follows (see :mod:`quant_apps.cli.output`): ``--json`` prints one
JSON document on stdout; a human-readable result goes to stdout, progress and diagnostics to
stderr; exit 0 success, 1 runtime
failure, 2 usage error, 3 rejected input or failed verification.
"""

from __future__ import annotations

from typing import Annotated

import typer

from quant_apps.cli import (
    audit,
    backtest,
    bundle,
    data,
    demo,
    emulator,
    kraken,
    paper,
    serve,
    train,
)
from quant_apps.cli.output import EXIT_REJECTED, EXIT_RUNTIME, emit_json, guarded, results
from quant_apps.runtime.doctor import doctor_report, package_versions
from quant_core.settings import install_log_redaction

__all__ = ["app", "main"]

app = typer.Typer(
    name="quant",
    help="quant: deterministic, prediction-led crypto spot trading on Kraken.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: no "<bool>" type column on flags, no option names cut to fit a panel.
    rich_markup_mode=None,
)
app.add_typer(audit.app, name="audit")
app.add_typer(bundle.app, name="bundle")
app.add_typer(data.app, name="data")
app.add_typer(emulator.app, name="emulator")
app.add_typer(kraken.app, name="kraken")
backtest.register(app)
demo.register(app)
paper.register(app)
serve.register(app)
train.register(app)


def _print_version(value: bool) -> None:
    if value:
        for name, version in package_versions().items():
            typer.echo(f"{name} {version or 'not installed'}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print package versions."
        ),
    ] = False,
) -> None:
    """quant: deterministic, prediction-led crypto spot trading on Kraken."""
    install_log_redaction()


@app.command()
@guarded()
def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Report Python, package versions, torch build, data directory, database and keyring."""
    report = doctor_report()
    if json_output:
        emit_json(report)
    else:
        console = results()
        console.print(f"quant doctor — Python {report['python']['version']}", markup=False)
        for name, version in report["packages"].items():
            console.print(f"  {name:<14} {version or 'MISSING'}", markup=False)
        console.print(f"  data dir       {report['data_dir']['path']}", markup=False)
        console.print(f"  database       {report['database_url']}", markup=False)
        for check in report["checks"]:
            console.print(
                f"  [{check['status']:>4}] {check['name']}: {check['detail']}", markup=False
            )
    if not report["ok"]:
        raise typer.Exit(EXIT_REJECTED if "reason_code" in report else EXIT_RUNTIME)


def main() -> None:
    """Console-script entry point."""
    app()
