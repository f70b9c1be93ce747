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

import sys
from pathlib import Path
from typing import Annotated

import typer

from quant_apps.cli.output import emit_json, guarded, human, results
from quant_apps.runtime import CycleReport, EventWaiter, TradingRuntime
from quant_apps.runtime import config as app_config
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.trading.live import (
    MIN_PAPER_CYCLES,
    WS_AUTH_URL,
    LiveGate,
    LiveOptions,
    open_live_session,
)
from quant_apps.runtime.trading.paper import PaperOptions, open_paper_session
from quant_apps.runtime.trading.paperlog import LOG_FILE
from quant_core import Timeframe
from quant_core import reasons as core_reasons
from quant_core.errors import QuantUsageError
from quant_net import kraken as wire

__all__ = ["register"]


_BUNDLE_HELP = "A signed bundle release (default: the shipped one)."
_KEYS_HELP = "Trusted public keys (default: the shipped ones)."
_PROFILE_HELP = "JSON/TOML file with 'strategy' and 'risk' tables."
_CYCLES_HELP = "Stop after this many cycles (0: never)."
_HALT_HELP = (
    "While this file exists the kill switch is engaged: no new risk, working buys pulled "
    "(default: DIR/HALT)."
)


def _usage(message: str) -> QuantUsageError:
    return QuantUsageError(message, reason_code=core_reasons.USAGE_ERROR)


def register(app: typer.Typer) -> None:
    """Add the ``paper`` and ``trade`` commands to ``app``."""

    @app.command("paper")
    @guarded()
    def paper(
        provider: Annotated[
            str, typer.Option("--provider", help="kraken or coinapi: where live bars come from.")
        ],
        symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated base assets.")],
        quote: Annotated[str, typer.Option("--quote", help="Quote currency.")] = "USD",
        timeframe: Annotated[str, typer.Option("--timeframe", help="Bar length.")] = "1h",
        bundle: Annotated[Path | None, typer.Option("--bundle", help=_BUNDLE_HELP)] = None,
        keys: Annotated[Path | None, typer.Option("--keys", help=_KEYS_HELP)] = None,
        profile: Annotated[Path | None, typer.Option("--profile", help=_PROFILE_HELP)] = None,
        cycles: Annotated[int, typer.Option("--cycles", min=0, help=_CYCLES_HELP)] = 0,
        out: Annotated[Path, typer.Option("--out", help="Directory of the decision log.")] = Path(
            "paper"
        ),
        halt_file: Annotated[Path | None, typer.Option("--halt-file", help=_HALT_HELP)] = None,
        seed: Annotated[int, typer.Option("--seed", help="Broker and retry seed.")] = 0,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Store URL (default: settings).")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Paper-trade live bars through the backtest's strategy, risk and broker code."""
        options = _options(
            provider, symbols, quote, timeframe, bundle, keys, profile, out, halt_file, seed,
            database_url,
        )  # fmt: skip
        session = open_paper_session(options, clock=WallClock(), waiter=EventWaiter())
        _run(session, options, cycles=cycles, json_output=json_output, kind="paper")

    @app.command("trade")
    @guarded()
    def trade(
        provider: Annotated[
            str, typer.Option("--provider", help="kraken or coinapi: where live bars come from.")
        ],
        symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated base assets.")],
        live: Annotated[
            bool,
            typer.Option("--live", help="Trade on the exchange (required; paper: quant paper)."),
        ] = False,
        quote: Annotated[str, typer.Option("--quote", help="Quote currency.")] = "USD",
        timeframe: Annotated[str, typer.Option("--timeframe", help="Bar length.")] = "1h",
        bundle: Annotated[Path | None, typer.Option("--bundle", help=_BUNDLE_HELP)] = None,
        keys: Annotated[Path | None, typer.Option("--keys", help=_KEYS_HELP)] = None,
        profile: Annotated[Path | None, typer.Option("--profile", help=_PROFILE_HELP)] = None,
        cycles: Annotated[int, typer.Option("--cycles", min=0, help=_CYCLES_HELP)] = 0,
        out: Annotated[Path, typer.Option("--out", help="Directory of the live logs.")] = Path(
            "live"
        ),
        paper_out: Annotated[
            Path, typer.Option("--paper-out", help="The paper session's directory (evidence).")
        ] = Path("paper"),
        exchange_url: Annotated[
            str, typer.Option("--exchange-url", help="The exchange's root (a fake's for demos).")
        ] = wire.BASE_URL,
        ws_url: Annotated[
            str,
            typer.Option(
                "--ws-url",
                help="The exchange's authenticated WebSocket (executions); '' for REST only.",
            ),
        ] = WS_AUTH_URL,
        min_paper_cycles: Annotated[
            int,
            typer.Option(
                "--min-paper-cycles", min=1, help="Paper cycles of this bundle and profile needed."
            ),
        ] = MIN_PAPER_CYCLES,
        confirm: Annotated[
            str | None,
            typer.Option(
                "--confirm",
                help="The confirmation phrase, 'LIVE <key fingerprint>' (default: asked on stdin).",
            ),
        ] = None,
        halt_file: Annotated[Path | None, typer.Option("--halt-file", help=_HALT_HELP)] = None,
        seed: Annotated[int, typer.Option("--seed", help="Retry seed.")] = 0,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Store URL (default: settings).")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Trade live on Kraken after paper evidence and a typed confirmation (audited)."""
        if not live:
            raise _usage("quant trade needs --live (paper trading is `quant paper`)")
        options = _options(
            provider, symbols, quote, timeframe, bundle, keys, profile, out, halt_file, seed,
            database_url,
        )  # fmt: skip
        live_options = LiveOptions(
            options, exchange_url, paper_out / LOG_FILE, min_paper_cycles=min_paper_cycles,
            ws_url=ws_url or None,
        )  # fmt: skip
        console = human()

        def ask(gate: LiveGate) -> str:
            evidence, bundle = gate.evidence, gate.bundle
            console.print(
                f"LIVE trading on {gate.key.base_url} with key {gate.key.fingerprint}\n"
                f"  bundle {bundle.get('bundle_hash')} (v{bundle.get('bundle_version')})\n"
                f"  profile {gate.profile}\n"
                f"  paper evidence: {evidence.cycles} cycles in {evidence.runs} runs "
                f"(minimum {gate.min_paper_cycles})",
                markup=False,
            )
            if confirm is not None:
                return confirm
            console.print(f"Type {gate.phrase!r} to trade with real money:", markup=False)
            return sys.stdin.readline()

        live_session = open_live_session(
            live_options, clock=WallClock(), confirm=ask, waiter=EventWaiter()
        )
        try:
            _run(live_session.runtime, options, cycles=cycles, json_output=json_output, kind="live")
        finally:
            live_session.close()


def _options(
    provider: str, symbols: str, quote: str, timeframe: str, bundle: Path | None,
    keys: Path | None, profile: Path | None, out: Path, halt_file: Path | None, seed: int,
    database_url: str | None,
) -> PaperOptions:  # fmt: skip
    """The session's options, checked."""
    name = provider.strip().lower()
    if name not in ("kraken", "coinapi"):
        raise _usage(f"unknown provider {provider!r} (kraken or coinapi)")
    try:
        tf = Timeframe(timeframe)
    except ValueError:
        raise _usage(f"unknown timeframe {timeframe!r}") from None
    return PaperOptions(
        provider=name,
        symbols=tuple(sorted(app_config.symbol_list(symbols))),
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


def _run(
    session: TradingRuntime, options: PaperOptions, *, cycles: int, json_output: bool, kind: str
) -> None:
    """Start and run the session, printing as ``quant paper`` does."""
    model, writer = session.bundle, session.writer
    console = human()
    if not model["active"]:
        console.print(f"no model bundle active [{model['reason_code']}]", markup=False)
    warm = session.start()
    tf, wanted, quote = options.timeframe, options.symbols, options.quote
    console.print(
        f"{kind} run {writer.next_run}: {', '.join(wanted)} {quote} {tf.value}, "
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
