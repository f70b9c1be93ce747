"""A backtest run behind ``quant backtest``: inputs, the run, its outputs and replay parity.

:func:`backtest_run` replays recorded predictions, or a signed bundle's models, over a
dataset (or the built-in synthetic example) through :func:`quant_exec.run_backtest`, writes
``decisions.jsonl``, ``report.html`` and ``summary.json`` (:func:`write_outputs`) and, with a
recorded log, checks that the new log equals it byte for byte.

Examples:
    >>> import tempfile
    >>> run = backtest_run(Path(tempfile.mkdtemp()), title="example")
    >>> run.document["ok"], run.document["log_hash"] == run.result.log_hash
    (True, True)
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from quant_apps.runtime.models.activation import activate_bundle
from quant_apps.runtime.models.bundles import ActiveModel, BundledPredictor, trust_for
from quant_apps.runtime.models.context import ContextPredictor, served_need
from quant_core import Bar, Instrument, canonical_json
from quant_core import reasons as core_reasons
from quant_core.errors import QuantUsageError, RejectedError
from quant_core.events import InMemoryFeed, MarketDataFeed, Predictor
from quant_core.profiles import RiskProfile, StrategyProfile
from quant_data import Dataset, read_dataset
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
from quant_exec.decisions import log_hash
from quant_exec.report import strategy_checks

__all__ = [
    "DECISIONS_FILE",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "BacktestRun",
    "StrategyCheckSettings",
    "backtest_run",
    "bundle_predictor",
    "bundle_rows",
    "recorded_log",
    "write_outputs",
]

DECISIONS_FILE = "decisions.jsonl"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


def write_outputs(
    out: Path, result: BacktestResult, report: ReportData, document: Mapping[str, Any]
) -> None:
    """Write a run's decision log, HTML report and summary (canonical JSON) into ``out``.

    Examples:
        >>> import tempfile
        >>> result = run_backtest(*example_inputs(n_bars=72), BacktestConfig.defaults())
        >>> out = Path(tempfile.mkdtemp())
        >>> write_outputs(out, result, result.report_data(), summary(result))
        >>> sorted(p.name for p in out.iterdir())
        ['decisions.jsonl', 'report.html', 'summary.json']
    """
    result.log.write(out / DECISIONS_FILE)
    (out / REPORT_FILE).write_text(render_report(report), encoding="utf-8")
    (out / SUMMARY_FILE).write_bytes(canonical_json(document) + b"\n")


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


def _with_context(
    predictor: Predictor, dataset: Dataset, context: Path | None
) -> tuple[Predictor, dict[str, Any]]:
    """Feed the context coins the bundle needs from ``context``, or refuse (decision 0116).

    The traded coins are the dataset's; the context dataset's reference and market-panel
    coins that the dataset lacks are fed to the predictor as context only.

    Raises:
        QuantUsageError: the context dataset's quote or timeframe differs from the dataset's.
        DataError: ``CONTEXT_MISSING`` when the coins of both do not supply the context.
    """
    need = served_need(predictor)
    traded = dataset.manifest.symbols
    fed: tuple[str, ...] = ()
    about: dict[str, Any] = {}
    extra: dict[Instrument, list[Bar]] = {}
    if context is not None:
        more = read_dataset(context)
        mine, theirs = dataset.manifest, more.manifest
        if (theirs.quote, theirs.timeframe) != (mine.quote, mine.timeframe):
            raise QuantUsageError(
                f"--context {context} holds {theirs.timeframe} bars quoted in {theirs.quote}; "
                f"--data holds {mine.timeframe} bars quoted in {mine.quote}",
                reason_code=core_reasons.USAGE_ERROR,
            )
        fed = tuple(s for s in need.context_coins(theirs.symbols) if s not in traded)
        for bar in more.bars():
            if bar.instrument.base in fed:
                extra.setdefault(bar.instrument, []).append(bar)
        about["context_dataset_hash"] = theirs.dataset_hash
    need.check((*traded, *fed))
    about = {"need": need.to_dict(), "traded": list(traded), "fed": list(fed), **about}
    return (ContextPredictor(predictor, extra) if extra else predictor), about


def bundle_rows(identity: Mapping[str, Any]) -> dict[str, Any]:
    """A bundle's identity as a report shows it: one ``model_id`` per report.

    A report's ``model_id`` is the decision log's (for a bundle run, the bundle hash); the
    bundle's own model set id is shown as ``model_set_id`` so the two never share a name.

    Examples:
        >>> bundle_rows({"bundle_hash": "sha384:b", "model_id": "sha256:m"})
        {'bundle_hash': 'sha384:b', 'model_set_id': 'sha256:m'}
    """
    return {("model_set_id" if k == "model_id" else k): v for k, v in identity.items()}


def recorded_log(path: Path) -> tuple[dict[str, Any], bytes]:
    """A backtest log's session header and bytes, for a replay.

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


@attrs.frozen
class StrategyCheckSettings:
    """How :func:`backtest_run` computes the strategy checks.

    Attributes:
        draws: random-entry sets to draw.
        seed: their seed.
    """

    draws: int = 1000
    seed: int = 0


@attrs.frozen
class BacktestRun:
    """What :func:`backtest_run` did.

    Attributes:
        document: the summary (also in ``summary.json``).
        result: the engine's result.
        config: the configuration it ran under.
        active: the bundle it predicted with, if any.
    """

    document: Mapping[str, Any]
    result: BacktestResult
    config: BacktestConfig
    active: ActiveModel | None = None


def backtest_run(
    out: Path,
    *,
    title: str,
    data: Path | None = None,
    predictions: Path | None = None,
    bundle: Path | None = None,
    keys: Path | None = None,
    profiles: tuple[StrategyProfile, RiskProfile] | None = None,
    replay: Path | None = None,
    context: Path | None = None,
    checks: StrategyCheckSettings | None = None,
) -> BacktestRun:
    """Run a backtest and write its outputs into ``out``.

    Args:
        out: the output directory (created if missing).
        title: the report's title (a bundle's version is appended with ``bundle``).
        data: a dataset directory (``None``: the built-in synthetic example).
        predictions: recorded predictions for ``data``.
        bundle: a signed release to predict with instead (``keys``: its trusted keys).
        keys: trusted public keys for ``bundle`` (default: the shipped ones).
        profiles: the strategy and risk profiles (default: the governed defaults).
        replay: a backtest's log to rerun under and compare with, byte for byte.
        context: a dataset whose coins the bundle's model set needs as market context
            (reference coin, market panel); they are fed to the predictor, never traded.
        checks: compute the strategy checks (:func:`quant_exec.report.strategy_checks`)
            with these draws and seed into ``summary.json``'s ``strategy_checks``.

    Raises:
        DataError: ``CONTEXT_MISSING`` when the bundle needs market context that neither
            ``data`` nor ``context`` supplies (nothing is written).
        RejectedError: ``REPLAY_MISMATCH`` when the new log differs from ``replay`` (the
            outputs are written first).
        BundleRejectedError: the bundle does not verify.
    """
    recorded = recorded_log(replay) if replay is not None else None
    strategy, risk = profiles or (StrategyProfile(), RiskProfile())
    active: ActiveModel | None = None
    feed: MarketDataFeed
    predictor: Predictor
    dataset_hash: str | None = None
    context_doc: dict[str, Any] | None = None
    if data is None:
        feed, predictor = example_inputs()
    else:
        dataset = read_dataset(data)
        feed = InMemoryFeed(dataset.bars())
        dataset_hash = dataset.manifest.dataset_hash
        if bundle is not None:
            predictor, active = bundle_predictor(bundle, keys)
            predictor, context_doc = _with_context(predictor, dataset, context)
            title = f"{title} — bundle {active.bundle_version}"
        else:
            assert predictions is not None  # the caller gives one of the two
            predictor = RecordedPredictor(read_predictions(predictions))
    if recorded is None:
        config = BacktestConfig.from_profiles(strategy, risk, dataset_hash=dataset_hash)
    else:
        config = attrs.evolve(BacktestConfig.from_session(recorded[0]), dataset_hash=dataset_hash)
    result = run_backtest(feed, predictor, config)
    out.mkdir(parents=True, exist_ok=True)
    report = result.report_data(title)
    document = {"ok": True, "out": str(out), **summary(result)}
    if checks is not None:
        document["strategy_checks"] = strategy_checks(
            result.equity, result.closes, result.fills, draws=checks.draws, seed=checks.seed
        ).as_dict()
    if active is not None:
        document["bundle"] = active.identity()
        document["context"] = context_doc
        report = attrs.evolve(
            report, identity={**report.identity, **bundle_rows(active.identity())}
        )
    difference = None
    if recorded is not None:
        from quant_exec.decisions import replay_difference

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
    return BacktestRun(document, result, config, active)
