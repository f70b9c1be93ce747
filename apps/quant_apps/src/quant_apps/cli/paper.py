"""``quant paper``: a paper-trading session on live bars, driven through the runtime.

``quant paper --provider kraken --symbols BTC,ETH --out DIR`` activates the model bundle
(:func:`quant_apps.runtime.models.activation.serve_bundle`), opens the store as ``quant data``
does (:func:`quant_apps.runtime.trading.paper.open_paper_session`), and runs the
:class:`quant_apps.runtime.TradingRuntime` it builds: the session loads the
history its predictor looks back on (backfilling it when the store lacks it), then each cycle
syncs the newly closed candles, hands them to the engine (or heartbeats) and appends the new
lines to ``DIR/decisions.jsonl`` (see :mod:`quant_apps.runtime.trading.session` and
:mod:`quant_apps.runtime.trading.paperlog`). ``--cycles N`` stops after N cycles.

While it waits for the next bar close the session looks at least once a second at the halt
file (``--halt-file``, default ``DIR/HALT``: while it exists the kill switch is engaged, no
new risk and working buys pulled; the file's first line is the reason) and at the
``--profile`` file (an edit becomes new governed profile versions, attributed to
``profile-file``; a file that fails validation is refused and the last good profiles stay
active). A change applies at once, whatever the bar length, and is printed as it happens;
every engage and release also goes to the hash-chained ``DIR/audit.jsonl``. Ctrl-C ends the
session after the current step: the log stays intact and the final summary is printed.

This module parses the options and renders the output; it holds no session logic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quant_apps.cli.output import emit_json, guarded, human, results
from quant_apps.runtime import CycleReport, EventWaiter
from quant_apps.runtime import config as app_config
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.trading.paper import PaperOptions, open_paper_session
from quant_core import Timeframe
from quant_core import reasons as core_reasons
from quant_core.errors import QuantUsageError

__all__ = ["register"]


def _usage(message: str) -> QuantUsageError:
    return QuantUsageError(message, reason_code=core_reasons.USAGE_ERROR)


def register(app: typer.Typer) -> None:
    """Add the ``paper`` command to ``app``."""

    @app.command("paper")
    @guarded()
    def paper(
        provider: Annotated[
            str, typer.Option("--provider", help="kraken or coinapi: where live bars come from.")
        ],
        symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated base assets.")],
        quote: Annotated[str, typer.Option("--quote", help="Quote currency.")] = "USD",
        timeframe: Annotated[str, typer.Option("--timeframe", help="Bar length.")] = "1h",
        bundle: Annotated[
            Path | None,
            typer.Option("--bundle", help="A signed bundle release (default: the shipped one)."),
        ] = None,
        keys: Annotated[
            Path | None,
            typer.Option("--keys", help="Trusted public keys (default: the shipped ones)."),
        ] = None,
        profile: Annotated[
            Path | None,
            typer.Option("--profile", help="JSON/TOML file with 'strategy' and 'risk' tables."),
        ] = None,
        cycles: Annotated[
            int, typer.Option("--cycles", min=0, help="Stop after this many cycles (0: never).")
        ] = 0,
        out: Annotated[Path, typer.Option("--out", help="Directory of the decision log.")] = Path(
            "paper"
        ),
        halt_file: Annotated[
            Path | None,
            typer.Option(
                "--halt-file",
                help="While this file exists the kill switch is engaged: no new risk, working "
                "buys pulled (default: DIR/HALT).",
            ),
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Broker and retry seed.")] = 0,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Store URL (default: settings).")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Paper-trade live bars through the backtest's strategy, risk and broker code."""
        name = provider.strip().lower()
        if name not in ("kraken", "coinapi"):
            raise _usage(f"unknown provider {provider!r} (kraken or coinapi)")
        try:
            tf = Timeframe(timeframe)
        except ValueError:
            raise _usage(f"unknown timeframe {timeframe!r}") from None
        wanted = sorted(app_config.symbol_list(symbols))
        options = PaperOptions(
            provider=name,
            symbols=tuple(wanted),
            quote=quote.upper(),
            timeframe=tf,
            out=out,
            bundle=bundle,
            keys=keys,
            profile=profile,
            halt_file=halt_file,
            seed=seed,
            database_url=database_url,
        )
        session = open_paper_session(options, clock=WallClock(), waiter=EventWaiter())
        model, writer = session.bundle, session.writer
        console = human()
        if not model["active"]:
            console.print(f"no model bundle active [{model['reason_code']}]", markup=False)
        warm = session.start()
        console.print(
            f"paper run {writer.next_run}: {', '.join(wanted)} {quote.upper()} {tf.value}, "
            f"{warm} history bars, log {writer.path}",
            markup=False,
        )

        def print_cycle(report: CycleReport) -> None:
            console.print(report.line(), markup=False)

        def print_change(text: str) -> None:
            console.print(text, markup=False)

        document = session.run(cycles=cycles, on_cycle=print_cycle, on_change=print_change)
        document["bundle"] = dict(session.bundle)
        document["torn_tail"] = writer.torn_tail
        if json_output:
            emit_json(document)
            return
        if writer.torn_tail is not None:
            console.print(
                f"a torn last line ({writer.torn_tail['length']} bytes) was set aside in "
                f"{writer.path.parent / str(writer.torn_tail['saved_to'])}",
                markup=False,
            )
        if document["interrupted"]:
            console.print("interrupted: the log is intact", markup=False)
        summary = results()
        summary.print(
            f"{document['bars']} bars, {document['decisions']} decisions, {document['fills']} "
            f"fills, PV {document['portfolio_value']}",
            markup=False,
        )
        summary.print(f"log hash (run {document['run']}): {document['log_hash']}", markup=False)
