"""``quant backtest``: the deterministic, risk-gated, prediction-led backtest.

``quant backtest --data DIR --predictions FILE --profile FILE --out DIR`` replays recorded
predictions over a dataset directory (written by ``quant data``) through the quant_exec
engine; ``quant backtest --data DIR --bundle RELEASE [--keys KEYS]`` predicts with the models
of a signed bundle release instead, activated through :func:`quant_apps.runtime.activate_bundle`
(verify, install into a temporary store, load the active bundle); ``quant backtest --example
--out DIR`` runs the same engine on the built-in synthetic example. Either way ``--out``
receives ``decisions.jsonl`` (the decision log), ``report.html`` (the self-contained report)
and ``summary.json``, and the command prints the summary metrics and the replay hash (the
decision log's hash). With ``--bundle`` the session's ``model_id`` is the bundle hash (the
manifest digest) and the summary and report add the bundle's version, model id and training
lineage; a tampered or untrusted bundle exits 3 with the bundle's reason code.

``--replay LOG`` is the replay parity check: the profiles, initial cash and execution
settings come from ``LOG``'s session header (:meth:`quant_exec.session.BacktestConfig.from_session`)
instead of ``--profile``, the run is made on the given data and predictions, and its log must
equal ``LOG`` byte for byte. The outputs are written either way; a difference exits 3 with
``REPLAY_MISMATCH`` and the first line that differs.
"""

from __future__ import annotations

import json
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, cast

import attrs
import typer

from quant_apps.output import emit_json, guarded, human
from quant_apps.runtime import ActiveModel, BundledPredictor, activate_bundle, trust_for
from quant_core import (
    InMemoryFeed,
    Predictor,
    ProfileError,
    QuantUsageError,
    RejectedError,
    RiskProfile,
    StrategyProfile,
    ValidationError,
    canonical_json,
    structure,
)
from quant_core import reasons as core_reasons
from quant_data import read_dataset
from quant_exec import (
    BacktestConfig,
    BacktestResult,
    RecordedPredictor,
    ReportData,
    example_inputs,
    read_decision_log,
    read_predictions,
    render_report,
    run_backtest,
    summary,
)
from quant_exec import reasons as exec_reasons
from quant_exec.decisions import log_hash, replay_difference

__all__ = ["bundle_predictor", "load_profiles", "register", "write_outputs"]

DECISIONS_FILE = "decisions.jsonl"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


def write_outputs(
    out: Path, result: BacktestResult, report: ReportData, document: Mapping[str, Any]
) -> None:
    """Write a run's decision log, HTML report and summary (canonical JSON) into ``out``.

    Examples:
        >>> import tempfile
        >>> from quant_exec import example_inputs
        >>> result = run_backtest(*example_inputs(n_bars=72), BacktestConfig.defaults())
        >>> out = Path(tempfile.mkdtemp())
        >>> write_outputs(out, result, result.report_data(), summary(result))
        >>> sorted(p.name for p in out.iterdir())
        ['decisions.jsonl', 'report.html', 'summary.json']
    """
    result.log.write(out / DECISIONS_FILE)
    (out / REPORT_FILE).write_text(render_report(report), encoding="utf-8")
    (out / SUMMARY_FILE).write_bytes(canonical_json(document) + b"\n")


def _plain(value: Any) -> Any:
    """JSON/TOML floats are taken as the decimal digits they print as."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def load_profiles(path: Path) -> tuple[StrategyProfile, RiskProfile]:
    """Read a JSON or TOML profile file with optional ``strategy`` and ``risk`` tables.

    Missing tables or parameters take the governed defaults; unknown keys and out-of-bounds
    values are refused by quant_core's converter and profile bounds.

    Raises:
        ProfileError: the file is unreadable, malformed, or a value is refused.
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ProfileError(
            f"{path}: not a JSON/TOML profile file: {exc}", reason_code=core_reasons.INVALID_INPUT
        ) from None
    if not isinstance(raw, dict) or set(raw) - {"strategy", "risk"}:
        raise ProfileError(
            f"{path}: a profile file has only 'strategy' and 'risk' tables",
            reason_code=core_reasons.PROFILE_UNKNOWN_PARAMETER,
        )
    try:
        strategy = structure(_plain(raw.get("strategy", {})), StrategyProfile)
        risk = structure(_plain(raw.get("risk", {})), RiskProfile)
    except ProfileError:
        raise
    except ValidationError as exc:
        unknown = exc.reason_code == core_reasons.UNKNOWN_KEY
        code = core_reasons.PROFILE_UNKNOWN_PARAMETER if unknown else core_reasons.INVALID_INPUT
        raise ProfileError(f"{path}: {exc.message}", reason_code=code) from None
    return strategy, risk


def bundle_predictor(release: Path, keys: Path | None = None) -> tuple[Predictor, ActiveModel]:
    """Activate ``release`` in a throw-away store and wrap its predictor for a backtest.

    The release is verified against ``keys`` (default: the shipped ``bundles/keys``),
    installed through the real install path into a temporary install root, loaded back as the
    active bundle, and its models kept in memory; the store is removed afterwards.

    Raises:
        BundleRejectedError: the reason code of the failed check (``SIG_INVALID``,
            ``KEY_UNTRUSTED``, ``ARCHIVE_DIGEST_MISMATCH``, ``BUNDLE_MISSING``, …).
    """
    trust = trust_for(keys)
    with tempfile.TemporaryDirectory(prefix="quant-backtest-bundle-") as state:
        active = activate_bundle(Path(state), release, trust=trust, require=True)
    return BundledPredictor(active), active


_SOURCES = (
    "give either --example, or --data DIR with exactly one of --predictions FILE or --bundle DIR"
)


def _recorded(path: Path) -> tuple[dict[str, Any], bytes]:
    """A backtest log's session header and bytes, for ``--replay``.

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` for a file that is not a one-session log.
        QuantUsageError: the log is a paper session's (its times are wall-clock times).
    """
    header, _ = read_decision_log(path)
    if "paper" in header:
        raise QuantUsageError(
            f"{path} is a paper session's log: its decisions were made at the times the bars "
            "were seen, which a backtest does not reproduce",
            reason_code=core_reasons.USAGE_ERROR,
        )
    return header, path.read_bytes()


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
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Replay predictions (a file or a bundle's models) over bars through the engine."""
        if keys is not None and bundle is None:
            raise QuantUsageError("--keys goes with --bundle", reason_code=core_reasons.USAGE_ERROR)
        if example != (data is None) or (example and (predictions or bundle)):
            raise QuantUsageError(_SOURCES, reason_code=core_reasons.USAGE_ERROR)
        if replay is not None and profile is not None:
            raise QuantUsageError(
                "--replay takes the profiles from the log; leave out --profile",
                reason_code=core_reasons.USAGE_ERROR,
            )
        recorded = _recorded(replay) if replay is not None else None
        strategy, risk = load_profiles(profile) if profile else (StrategyProfile(), RiskProfile())
        active: ActiveModel | None = None
        predictor: Predictor
        dataset_hash: str | None = None
        if data is None:
            feed, predictor = example_inputs()
            title = "quant backtest — built-in synthetic example"
        else:
            if (predictions is None) == (bundle is None):
                raise QuantUsageError(_SOURCES, reason_code=core_reasons.USAGE_ERROR)
            dataset = read_dataset(data)
            feed = InMemoryFeed(dataset.bars())
            dataset_hash = dataset.manifest.dataset_hash
            if bundle is not None:
                predictor, active = bundle_predictor(bundle, keys)
                title = f"quant backtest — {data.name} — bundle {active.bundle_version}"
            else:
                predictor = RecordedPredictor(read_predictions(cast(Path, predictions)))
                title = f"quant backtest — {data.name}"
        if recorded is None:
            config = BacktestConfig.from_profiles(strategy, risk, dataset_hash=dataset_hash)
        else:
            config = attrs.evolve(
                BacktestConfig.from_session(recorded[0]), dataset_hash=dataset_hash
            )
        result = run_backtest(feed, predictor, config)
        out.mkdir(parents=True, exist_ok=True)
        report = result.report_data(title)
        document = {"ok": True, "out": str(out), **summary(result)}
        if active is not None:
            document["bundle"] = active.identity()
            report = attrs.evolve(report, identity={**report.identity, **active.identity()})
        difference = None
        if recorded is not None:
            difference = replay_difference(recorded[1], result.log.to_bytes())
            document["replay"] = {
                "log": str(replay),
                "recorded_hash": log_hash(recorded[1]),
                "identical": difference is None,
                "difference": difference,
            }
        write_outputs(out, result, report, document)
        if difference is not None:
            raise RejectedError(
                f"the replay of {replay} differs from it: {difference} (outputs in {out})",
                reason_code=exec_reasons.REPLAY_MISMATCH,
            )
        if json_output:
            emit_json(document)
            return
        console = human()
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
        if recorded is not None:
            console.print(f"{'replay parity':>18}: identical to {replay}", markup=False)
        console.print(f"wrote {out / DECISIONS_FILE}, {out / REPORT_FILE}", markup=False)
