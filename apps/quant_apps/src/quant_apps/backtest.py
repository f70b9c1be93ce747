"""``quant backtest``: the deterministic, risk-gated, prediction-led backtest.

``quant backtest --data DIR --predictions FILE --profile FILE --out DIR`` replays recorded
predictions over a dataset directory (written by ``quant data``) through the quant_exec
engine; ``quant backtest --example --out DIR`` runs the same engine on the built-in synthetic
example. Either way ``--out`` receives ``decisions.jsonl`` (the decision log), ``report.html``
(the self-contained report) and ``summary.json``, and the command prints the summary metrics
and the replay hash (the decision log's hash).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from quant_apps.output import emit_json, guarded, human
from quant_core import (
    InMemoryFeed,
    ProfileError,
    QuantUsageError,
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
    RecordedPredictor,
    example_inputs,
    read_predictions,
    render_report,
    run_backtest,
    summary,
)

__all__ = ["load_profiles", "register"]

DECISIONS_FILE = "decisions.jsonl"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


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
        example: Annotated[
            bool, typer.Option("--example", help="Run the built-in synthetic example.")
        ] = False,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Replay predictions over bars through strategy, risk gates and paper broker."""
        if example and (data is not None or predictions is not None):
            raise QuantUsageError(
                "give either --example, or --data DIR together with --predictions FILE",
                reason_code=core_reasons.USAGE_ERROR,
            )
        strategy, risk = load_profiles(profile) if profile else (StrategyProfile(), RiskProfile())
        if example:
            feed, predictor = example_inputs()
            config = BacktestConfig.from_profiles(strategy, risk)
            title = "quant backtest — built-in synthetic example"
        elif data is not None and predictions is not None:
            dataset = read_dataset(data)
            feed = InMemoryFeed(dataset.bars())
            predictor = RecordedPredictor(read_predictions(predictions))
            config = BacktestConfig.from_profiles(
                strategy, risk, dataset_hash=dataset.manifest.dataset_hash
            )
            title = f"quant backtest — {data.name}"
        else:
            raise QuantUsageError(
                "give either --example, or --data DIR together with --predictions FILE",
                reason_code=core_reasons.USAGE_ERROR,
            )
        result = run_backtest(feed, predictor, config)
        out.mkdir(parents=True, exist_ok=True)
        result.log.write(out / DECISIONS_FILE)
        (out / REPORT_FILE).write_text(render_report(result.report_data(title)), encoding="utf-8")
        document = {"ok": True, "out": str(out), **summary(result)}
        (out / SUMMARY_FILE).write_bytes(canonical_json(document) + b"\n")
        if json_output:
            emit_json(document)
            return
        console = human()
        for name, value in result.metrics.items():
            console.print(f"{name:>18}: {value}", markup=False)
        console.print(f"{'replay hash':>18}: {result.log_hash}", markup=False)
        console.print(f"{'model':>18}: {result.session['model_id']}", markup=False)
        console.print(f"wrote {out / DECISIONS_FILE}, {out / REPORT_FILE}", markup=False)
