"""``quant backtest``: the deterministic, risk-gated, prediction-led backtest.

``quant backtest --data DIR --predictions FILE --profile FILE --out DIR`` replays recorded
predictions over a dataset directory (written by ``quant data``) through the quant_exec engine;
``quant backtest --data DIR --bundle RELEASE [--keys KEYS]`` predicts with the models of a
signed bundle release instead, activated through
:func:`quant_apps.runtime.models.activation.activate_bundle` (verify, install into a temporary
store, load the active bundle); ``quant backtest --example --out DIR`` runs the same engine on
the built-in synthetic example. Either way ``--out`` receives ``decisions.jsonl`` (the decision
log), ``report.html`` (the self-contained report) and ``summary.json``, and the command prints
the summary metrics and the replay hash (the decision log's hash). With ``--bundle`` the
session's ``model_id`` is the bundle hash (the manifest digest) and the summary and report add
the bundle's version, model id and training lineage; a tampered or untrusted bundle exits 3 with
the bundle's reason code.

A bundle whose models were trained with market context (the reference coin's and the market
panel's returns, :func:`quant_models.context_need`) needs those coins' bars: the dataset's own
coins count, and ``--context DIR`` (another dataset, same quote and timeframe) adds the
missing ones as context only — fed to the predictor, never traded. Without enough context the
run is refused with ``CONTEXT_MISSING`` naming what is missing (decision 0116); the summary's
``context`` says what was needed, traded and fed.

``--strategy-checks`` judges the result (:func:`quant_exec.report.strategy_checks`: Sortino and
maximum drawdown against an equal-weight buy-and-hold, exposure, a seeded random-entry test
with ``--draws`` and ``--seed``, the return without the best 5 weeks and in each half) into
``summary.json``'s ``strategy_checks`` and prints each goal met or missed.

``--replay LOG`` is the replay parity check (``--replay LOG`` alone replays the built-in
example's log; a log of a dataset needs ``--data`` and its predictions or bundle again, by
path): the profiles, initial cash and execution settings come from ``LOG``'s session header
(``BacktestConfig.from_session``) instead of ``--profile``, the run is made on the given
data and predictions, and its log must equal ``LOG`` byte for byte. The outputs are written
either way; a difference exits 3 with ``REPLAY_MISMATCH`` and the first line that differs.
The run itself is :func:`quant_apps.runtime.jobs.runs.backtest_run`; this module parses and
renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from quant_apps.cli.output import emit_json, guarded, results
from quant_apps.runtime.jobs.runs import (
    DECISIONS_FILE,
    REPORT_FILE,
    StrategyCheckSettings,
    backtest_run,
    recorded_log,
)
from quant_apps.runtime.trading.profiles import load_profiles
from quant_core import reasons as core_reasons
from quant_core.errors import QuantUsageError

__all__ = ["register"]

_SOURCES = (
    "give either --example, or --data DIR with exactly one of --predictions FILE or --bundle DIR"
)


def _replay_source(replay: Path) -> bool:
    """``True`` when ``replay`` names its input (the built-in example: no dataset hash).

    Raises:
        QuantUsageError: the log was run on a dataset, which must be given again (by path).
    """
    header, _ = recorded_log(replay)
    dataset_hash = header.get("dataset_hash")
    if dataset_hash is None:
        return True
    raise QuantUsageError(
        f"{replay} was run on dataset {dataset_hash}: give that dataset's --data DIR with "
        "its --predictions FILE or --bundle DIR",
        reason_code=core_reasons.USAGE_ERROR,
    )


def _print_checks(console: Console, doc: Mapping[str, Any]) -> None:
    """The strategy checks, one line each, and every goal met or missed."""
    for name in (
        "log_return", "sortino", "buy_and_hold_sortino", "max_drawdown",
        "buy_and_hold_max_drawdown", "exposure", "round_trips", "random_entry_p",
        "without_best_weeks", "first_half", "second_half",
    ):  # fmt: skip
        value = doc[name]
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        console.print(f"{name.replace('_', ' '):>26}: {text}", markup=False)
    for goal, met in doc["goals"].items():
        console.print(f"{'met' if met else 'MISSED':>26}: {goal}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` command to ``app``."""

    @app.command("backtest")
    @guarded()
    def backtest(
        out: Annotated[
            Path, typer.Option("--out", help="Directory for decisions, report and summary.")
        ],
        data: Annotated[
            Path | None,
            typer.Option("--data", help="A dataset directory (bars.csv + dataset.json)."),
        ] = None,
        predictions: Annotated[
            Path | None,
            typer.Option("--predictions", help="Recorded predictions (JSON lines)."),
        ] = None,
        profile: Annotated[
            Path | None,
            typer.Option("--profile", help="JSON/TOML file with 'strategy' and 'risk' tables."),
        ] = None,
        bundle: Annotated[
            Path | None,
            typer.Option("--bundle", help="A signed bundle release directory to predict with."),
        ] = None,
        context: Annotated[
            Path | None,
            typer.Option(
                "--context",
                help="A dataset of coins the bundle needs as market context (fed to the "
                "model, not traded).",
            ),
        ] = None,
        keys: Annotated[
            Path | None,
            typer.Option("--keys", help="Trusted public keys for --bundle (default: shipped)."),
        ] = None,
        example: Annotated[
            bool, typer.Option("--example", help="Run the built-in synthetic example.")
        ] = False,
        replay: Annotated[
            Path | None,
            typer.Option(
                "--replay",
                help="A backtest's decisions.jsonl: rerun under its recorded configuration "
                "and check the new log is byte-identical (exit 3 if not).",
            ),
        ] = None,
        checks: Annotated[
            bool,
            typer.Option(
                "--strategy-checks",
                help="Judge the result: Sortino and drawdown against buy-and-hold, exposure, "
                "a random-entry test, without the best 5 weeks, both halves.",
            ),
        ] = False,
        draws: Annotated[
            int,
            typer.Option("--draws", min=1, help="Random-entry sets for --strategy-checks."),
        ] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the random entries.")] = 0,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Replay predictions (a file or a bundle's models) over bars through the engine."""
        if replay is not None and data is None and not example:
            example = _replay_source(replay)
        for given, flag in ((keys, "--keys"), (context, "--context")):
            if given is not None and bundle is None:
                raise QuantUsageError(
                    f"{flag} goes with --bundle", reason_code=core_reasons.USAGE_ERROR
                )
        if example != (data is None) or (example and (predictions or bundle)):
            raise QuantUsageError(_SOURCES, reason_code=core_reasons.USAGE_ERROR)
        if replay is not None and profile is not None:
            raise QuantUsageError(
                "--replay takes the profiles from the log; leave out --profile",
                reason_code=core_reasons.USAGE_ERROR,
            )
        if data is not None and (predictions is None) == (bundle is None):
            raise QuantUsageError(_SOURCES, reason_code=core_reasons.USAGE_ERROR)
        run = backtest_run(
            out,
            title="quant backtest — built-in synthetic example"
            if data is None
            else f"quant backtest — {data.name}",
            data=data,
            predictions=predictions,
            bundle=bundle,
            keys=keys,
            profiles=load_profiles(profile) if profile else None,
            replay=replay,
            context=context,
            checks=StrategyCheckSettings(draws, seed) if checks else None,
        )
        result, active, config, document = run.result, run.active, run.config, run.document
        if json_output:
            emit_json(document)
            return
        console = results()
        for name, value in result.metrics.items():
            console.print(f"{name:>18}: {value}", markup=False)
        console.print(f"{'replay hash':>18}: {result.log_hash}", markup=False)
        console.print(f"{'model':>18}: {result.session['model_id']}", markup=False)
        if active is not None:
            console.print(
                f"{'bundle':>18}: {active.bundle_version} (models {active.model_id})",
                markup=False,
            )
        if config.dataset_hash is not None:
            console.print(f"{'dataset':>18}: {config.dataset_hash}", markup=False)
        context_doc = document.get("context")
        if context_doc and context_doc["fed"]:
            fed = ", ".join(context_doc["fed"])
            console.print(f"{'context':>18}: {fed} (fed to the model, not traded)", markup=False)
        if replay is not None:
            console.print(f"{'replay parity':>18}: identical to {replay}", markup=False)
        if checks:
            _print_checks(console, document["strategy_checks"])
        console.print(f"wrote {out / DECISIONS_FILE}, {out / REPORT_FILE}", markup=False)
