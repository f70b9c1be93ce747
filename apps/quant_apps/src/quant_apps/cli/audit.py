"""``quant audit …``: inspect hash-chained audit logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import attrs
import typer

from quant_apps.cli.output import EXIT_REJECTED, emit_json, guarded, results
from quant_core.audit import verify_audit_log

app = typer.Typer(help="Inspect hash-chained audit logs.", no_args_is_help=True)


@app.command("verify")
@guarded()
def verify(
    path: Annotated[
        Path,
        typer.Argument(help="The audit log (JSON lines) to verify.", exists=True, dir_okay=False),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    expected_head: Annotated[
        str | None, typer.Option(help="Hash the last record must have (detects truncation).")
    ] = None,
) -> None:
    """Verify the chain; exit 3 with the reason code and first bad line on failure."""
    report = verify_audit_log(path, expected_head=expected_head)
    if json_output:
        emit_json(attrs.asdict(report))
    elif report.ok:
        results().print(f"{path}: {report.records} records, chain intact (head {report.head})")
    else:
        results().print(
            f"{path}: line {report.first_bad_line}: [{report.reason_code}] {report.message}"
            f" ({report.records} good records before it)",
            markup=False,
        )
    if not report.ok:
        raise typer.Exit(EXIT_REJECTED)
