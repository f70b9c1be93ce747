"""``quant demo``: the whole product in one offline command (:mod:`quant_apps.runtime.jobs.demo`).

This module parses the options, draws the progress bars and prints the summary.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from quant_apps.cli.output import emit_json, guarded, human, results
from quant_apps.runtime import config
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.jobs.demo import (
    DEFAULT_BARS,
    DEFAULT_OUT,
    DEFAULT_SYMBOLS,
    DemoOptions,
    Steps,
    run_demo,
)
from quant_apps.runtime.models.bundles import require_bundle

__all__ = ["ProgressSteps", "register"]


class ProgressSteps(Steps):
    """The demo's steps as rich progress bars on stderr."""

    def __init__(self, progress: Progress) -> None:
        """Report into ``progress``."""
        self.progress = progress
        self._tasks: dict[str, TaskID] = {}

    def start(self, key: str, description: str, total: float | None = None) -> None:
        """Show a new bar (``total=None``: a spinner until :meth:`done`)."""
        self._tasks[key] = self.progress.add_task(description, total=total)

    def update(self, key: str, completed: float, total: float | None = None) -> None:
        """Move bar ``key`` to ``completed`` (of ``total`` when given)."""
        self.progress.update(self._tasks[key], completed=completed, total=total)

    def done(self, key: str, description: str | None = None) -> None:
        """Fill bar ``key`` and optionally replace its text."""
        task = self._tasks[key]
        total = self.progress.tasks[task].total or 1
        self.progress.update(task, total=total, completed=total, description=description)


def _progress_bars() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=human(),
        transient=False,
    )


def _print_summary(doc: dict[str, Any], elapsed_s: float) -> None:
    console = results()
    src, metrics = doc["source"], doc["backtest"]["metrics"]

    def line(name: str, value: object) -> None:
        console.print(f"  {name:<18} {value}", markup=False)

    console.print("")
    console.print(f"quant demo — done in {elapsed_s:.1f} s", markup=False)
    line("data", f"{src['kind']}: {', '.join(src['symbols'])} /{src['quote']} {src['timeframe']}")
    line("window", f"{src['start']} .. {src['end']}")
    if src["skipped_symbols"]:
        line("not in the data", ", ".join(src["skipped_symbols"]))
    for symbol, s in doc["data"]["series"].items():
        gaps = ", ".join(f"{k} {v}" for k, v in sorted(s["gaps"].items()) if v) or "none"
        line(f"backfill {symbol}", f"{s['bars']} bars in {s['pages']} pages; gaps: {gaps}")
    line("dataset hash", doc["dataset"]["hash"])
    bundle = doc["bundle"]
    if bundle["active"]:
        line("bundle", f"{bundle['bundle_version']} {bundle['bundle_hash']}")
    else:
        line("bundle", f"NONE [{bundle['reason_code']}] {bundle['message']}")
    line(
        "return",
        f"{metrics['return_pct']} % (buy and hold {doc['backtest']['buy_and_hold_return_pct']} %)",
    )
    line("max drawdown", f"{metrics['max_drawdown_pct']} %")
    line(
        "decisions",
        f"{metrics['decisions']} ({metrics['fills']} fills, "
        f"{metrics['rejections']} risk rejections)",
    )
    top = sorted(doc["backtest"]["reason_counts"].items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    line("top reasons", ", ".join(f"{code} {n}" for code, n in top))
    line("replay hash", doc["replay_hash"])
    line("report", doc["files"]["report"])


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""

    @app.command("demo")
    @guarded()
    def demo(
        out: Annotated[
            Path, typer.Option("--out", help="Output directory (default ./quant-demo).")
        ] = DEFAULT_OUT,
        data: Annotated[
            Path | None,
            typer.Option("--data", help="Serve real data files (a file or directory)."),
        ] = None,
        symbols: Annotated[
            str, typer.Option("--symbols", help="Comma-separated coins.")
        ] = ",".join(DEFAULT_SYMBOLS),
        bars: Annotated[
            int, typer.Option("--bars", help="Hourly bars in the window (the latest ones).")
        ] = DEFAULT_BARS,
        seed: Annotated[int, typer.Option("--seed", help="Root seed.")] = 0,
        bundle: Annotated[
            Path | None,
            typer.Option("--bundle", help="Release directory (default: bundles/default)."),
        ] = None,
        keys: Annotated[
            Path | None,
            typer.Option("--keys", help="Trusted public keys (default: bundles/keys)."),
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Emulator → backfill → dataset → bundle → backtest → report, offline."""
        options = DemoOptions(
            out=out,
            data=data,
            symbols=tuple(config.symbol_list(symbols)),
            bars=bars,
            seed=seed,
            bundle=bundle,
            keys=keys,
            require_bundle=require_bundle(config.environ()),
        )
        clock = WallClock()
        started = clock.now_ns()
        bars_cm: AbstractContextManager[Progress | None] = (
            nullcontext(None) if json_output else _progress_bars()
        )
        with bars_cm as progress:
            document = run_demo(options, Steps() if progress is None else ProgressSteps(progress))
        if json_output:
            emit_json(document)
        else:
            _print_summary(document, (clock.now_ns() - started) / 1e9)
