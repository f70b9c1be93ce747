"""The training pipeline: features → splits → fit → out-of-fold table → calibrate → gates.

:func:`train` runs, for every horizon, every configured model family and scope (``global``:
one model over all coins; ``specialist``: one model per coin) through walk-forward folds,
scoring out-of-fold predictions beside the baselines. Inside each fold the training range is
split in time: the older part fits the model, the newer part (after a purge gap) chooses and
fits the calibration. The best candidate per horizon (lowest pooled out-of-sample log loss) is
refit on all labelled data and saved; its out-of-sample metrics become the gate evidence.

With ``combine = "stack"`` the run serves the stacked ensemble instead (decision 0118,
:mod:`quant_models.training._ensemble`): every family's global model and the specialists are
refit on all labelled data, beside a regime model and one head per horizon and member group
fit on the out-of-fold table (a meta-learner, or the plain average of the calibrated members
where that scores better nested, decision 0122); the gate evidence is the served heads'
nested out-of-sample score, and ``metrics["ensemble"]`` records it beside the stack, the
average, the best single member and the logistic baseline. Sequence members
(``config.sequence``, decision 0115) join the same out-of-fold table and heads.

With ``config.checks`` the run record also holds ``metrics["checks"]``: the hindcast at the
last bar, the shipped set's forward forecasts (pending) and the rolling per-fold scores of
what it serves (:mod:`quant_models.evaluation._checks`, decision 0124).

The fits are tasks handed to a :class:`quant_core.TaskRunner` (serial by default). Everything
is a pure function of (dataset bytes, config, seed): two runs, in two processes or with
runners that order the tasks differently, write byte-identical files.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from quant_core import SerialRunner, TaskRunner, bytes_hash, canonical_json, unstructure
from quant_core.errors import QuantUsageError
from quant_core.files import write_tree_atomic
from quant_models._ensemble import RegimeContext, StackHead
from quant_models._errors import ArtifactError
from quant_models._metrics import score
from quant_models._panel import Panel
from quant_models._persistence import (
    ModelEntry,
    ModelSet,
    artifact_files,
    load_model_set,
    write_files,
)
from quant_models.training._baselines import fit_climatology
from quant_models.training._config import Combine, TrainConfig
from quant_models.training._data import Fitted, TrainingData, bucket_table
from quant_models.training._ensemble import (
    ensemble_evidence,
    fit_heads,
    regime_grid,
    sequence_blocks,
    sequence_entries,
)
from quant_models.training._gates import Evidence, GateDecision, HorizonEvidence, decide
from quant_models.training._lineage import RunRecord, library_versions
from quant_models.training._oof import OofTable, oos_metrics
from quant_models.training._stages import fit_final, fit_folds, make_folds, tune

if TYPE_CHECKING:
    from quant_data import Dataset

__all__ = ["TrainResult", "fit_model_set", "train", "train_panel"]


@attrs.frozen(eq=False)
class TrainResult:
    """What a training run produced.

    Attributes:
        model_set: the saved, served models.
        files: every output file by relative path (what :func:`train` wrote to ``out``).
        run_record: lineage.
        evidence: the out-of-sample gate evidence.
        decision: the gate decision.
        metrics: the metric package (out-of-sample per model and baseline; in-sample for
            reference only).
        oof: the out-of-fold table (what ``oof.csv`` holds).
    """

    model_set: ModelSet
    files: dict[str, bytes]
    run_record: RunRecord
    evidence: Evidence
    decision: GateDecision
    metrics: dict[str, Any]
    oof: OofTable


@attrs.frozen
class _FinalTask:
    """The final fits of one horizon's served model: a picklable callable for any runner."""

    data: TrainingData
    config: TrainConfig
    served: Mapping[int, str]
    tuned: Mapping[tuple[str, int], dict[str, Any]]

    def __call__(self, h: int) -> list[tuple[int | None, Fitted, ModelEntry]]:
        """Fit the served family and scope at horizon ``h`` on all labelled bars."""
        if self.config.combine is Combine.STACK:  # every member: each family, each scope
            return [
                fit
                for scope in self.config.scopes
                for family in self.config.families
                for fit in fit_final(
                    self.data, self.config, h, family, scope, self.tuned[(family, h)]
                )
            ]
        family, scope = self.served[h].split("/")
        return fit_final(self.data, self.config, h, family, scope, self.tuned[(family, h)])


def train_panel(
    panel: Panel,
    config: TrainConfig,
    *,
    dataset_hash: str,
    champion: Evidence | None = None,
    runner: TaskRunner | None = None,
) -> TrainResult:
    """Run the whole pipeline on ``panel`` in memory (see :func:`train` for files).

    Args:
        panel: the bars.
        config: the run's configuration.
        dataset_hash: the dataset's content hash (lineage).
        champion: the evidence of the model to beat, if any (gates).
        runner: runs the fits; :class:`quant_core.SerialRunner` by default. Any runner gives
            the same bytes.

    Raises:
        DataError: ``INSUFFICIENT_DATA`` when the data cannot hold the folds.
    """
    runner = runner or SerialRunner()
    data = TrainingData.of(panel, config)
    folds = make_folds(data, config)
    n_sym = len(panel.symbols)
    trials: list[dict[str, Any]] = []
    tuned = {
        (family, h.bars): tune(data, config, family, h.bars, folds[0], trials)
        for h in config.horizons
        for family in config.families
    }
    oof = fit_folds(data, config, folds, tuned, runner)
    if config.sequence:
        blocks = (*oof.blocks, *sequence_blocks(panel, config, folds))
        oof = OofTable(oof.symbols, oof.open_times_ns, blocks)
    metrics: dict[str, Any] = {"oos": {}, "in_sample": {}}
    metrics["oos"], served, cards = oos_metrics(oof, config)
    # --- final fit of the served models on all labelled data ----------------------------------
    entries: list[ModelEntry] = []
    evidence_rows: list[HorizonEvidence] = []
    horizons = [spec.bars for spec in config.horizons]
    finals = runner.map(_FinalTask(data, config, served, tuned), horizons)
    stacked = config.combine is Combine.STACK
    heads: list[StackHead] = []
    regime: RegimeContext | None = None
    sequences = sequence_entries(panel, config) if config.sequence else {}
    if stacked:
        regime_model, grid = regime_grid(panel, config)
        regime = RegimeContext(regime_model, config.ensemble.regime_lookback)
        metrics["ensemble"] = {}
    for h, fits in zip(horizons, finals, strict=True):
        start = config.features.warmup
        for unit, fitted, entry in fits:
            entries.append(entry)
            if not stacked and (unit is None or unit == 0):
                sym, t = data.rows(h, start, panel.n_times, unit)
                x, y, fwd = data.xy(h, sym, t)
                clim = fit_climatology(y, sym, n_symbols=n_sym)(x, sym, fwd)
                card = score(
                    fitted.predict(x),
                    y,
                    fwd,
                    climatology=clim,
                    threshold=config.threshold,
                    fee=config.fee,
                )
                metrics["in_sample"][f"h{h}"] = {
                    "model": served[h],
                    "symbol": entry.symbol,
                    "sample": "in_sample",
                    **card.as_dict(),
                }
        entries.extend(sequences.get(h, ()))
        card = cards[(served[h], h)]
        if stacked:
            nested, card = ensemble_evidence(oof, folds, config, grid, h)
            combiners = {group: c["combiner"] for group, c in nested["heads"].items()}
            heads.extend(fit_heads(oof, folds, config, grid, h, combiners))
            metrics["ensemble"][f"h{h}"] = nested
            served[h] = "stack"
        evidence_rows.append(
            HorizonEvidence(
                horizon=f"h{h}",
                n=card.n,
                bss=card.bss,
                ece=card.ece,
                log_loss=card.log_loss,
                accuracy=card.accuracy,
                utility=card.utility,
                max_position=card.max_position,
                min_position=card.min_position,
            )
        )
    metrics["served"] = {f"h{h}": key for h, key in served.items()}
    model_set = _model_set(data, config, dataset_hash, entries, heads, regime)
    files = artifact_files(model_set)
    files["oof.csv"] = oof.to_csv()
    if config.checks:  # decision 0124; evaluation imports training, so imported here
        from quant_models.evaluation._checks import run_checks

        metrics["checks"] = run_checks(
            panel,
            config,
            model_set,
            oof,
            folds,
            metrics["served"],
            grid=grid if stacked else None,
            runner=runner,
        )
    step = panel.timeframe.ns
    times = panel.open_times_ns
    record = RunRecord.build(
        dataset_hash=dataset_hash,
        feature_schema_hash=data.features.schema.schema_hash,
        config_hash=config.config_hash,
        seed=config.seed,
        window={
            "start_ns": int(times[0]),
            "end_ns": int(times[-1]) + step,
            "bars": len(times),
            "symbols": list(panel.symbols),
            "timeframe": panel.timeframe.value,
        },
        folds=[
            {
                **attrs.asdict(f),
                **{
                    f"{k}_ns": int(times[0]) + getattr(f, k) * step
                    for k in ("train_start", "train_end", "test_start", "test_end")
                },
            }
            for f in folds
        ],
        library_versions=library_versions(),
        metrics=metrics,
        search=_search_record(config, tuned, trials),
        artifacts={name: bytes_hash(files[name]) for name in sorted(files)},
        model_id=model_set.model_id,
    )
    files["run.json"] = canonical_json(unstructure(record)) + b"\n"
    complete, missing = _verify(files, model_set.model_id)
    evidence = Evidence("oos", tuple(evidence_rows), complete, missing, model_set.model_id)
    decision = decide(evidence, champion, config.gates)
    files["evidence.json"] = canonical_json(unstructure(evidence)) + b"\n"
    files["decision.json"] = canonical_json(unstructure(decision)) + b"\n"
    return TrainResult(model_set, files, record, evidence, decision, metrics, oof)


def _verify(files: Mapping[str, bytes], model_id: str) -> tuple[bool, tuple[str, ...]]:
    """Write the artifact set to a scratch directory and load it back, hash-checked."""
    missing = tuple(n for n in ("metadata.json", "run.json", "oof.csv") if n not in files)
    scratch = Path(tempfile.mkdtemp(prefix="quant-verify-"))
    try:
        write_files(scratch, files)
        loaded = load_model_set(scratch).model_id
    except ArtifactError as exc:
        loaded = f"unloadable ({exc})"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if loaded != model_id:
        missing = (*missing, f"model set: {loaded} is not {model_id}")
    return not missing, missing


def train(
    dataset: Dataset,
    config: TrainConfig,
    *,
    out: Path | None = None,
    champion: Evidence | None = None,
    runner: TaskRunner | None = None,
) -> TrainResult:
    """Train on a ``quant_data.Dataset`` and, with ``out``, write every file atomically.

    ``out`` must not exist or be empty; files are written to a sibling staging directory
    and renamed into place, so a failed run leaves nothing behind. ``runner`` runs the fits
    (see :func:`train_panel`).

    Raises:
        QuantUsageError: ``out`` exists and is not empty.
        DataError: the dataset cannot hold the folds.
    """
    if out is not None and Path(out).exists() and any(Path(out).iterdir()):
        raise QuantUsageError(f"output directory {out} exists and is not empty")
    panel = Panel.from_frame(dataset.frame())
    result = train_panel(
        panel,
        config,
        dataset_hash=dataset.manifest.dataset_hash,
        champion=champion,
        runner=runner,
    )
    if out is not None:
        write_tree_atomic(Path(out), result.files)
    return result


def _search_record(
    config: TrainConfig, tuned: Mapping[tuple[str, int], dict[str, Any]], trials: list[Any]
) -> dict[str, Any]:
    """The search's lineage: budget and trials; with a search, its seed and every choice."""
    record: dict[str, Any] = {"budget": config.search_budget, "trials": trials}
    if config.search_budget > 1:  # (a run without a search keeps its record's bytes)
        record["seed"] = config.seed
        record["chosen"] = [
            {"family": family, "horizon_bars": h, "params": params}
            for (family, h), params in sorted(tuned.items())
        ]
    return record


def _model_set(
    data: TrainingData,
    config: TrainConfig,
    dataset_hash: str,
    entries: list[ModelEntry],
    heads: list[StackHead] | None = None,
    regime: RegimeContext | None = None,
) -> ModelSet:
    return ModelSet(
        data.features.schema,
        config.features,
        data.panel.quote,
        data.panel.symbols,
        dataset_hash,
        tuple(bucket_table(data, spec) for spec in config.horizons),
        tuple(entries),
        tuple(heads or ()),
        regime,
    )


def fit_model_set(
    panel: Panel,
    config: TrainConfig,
    *,
    dataset_hash: str,
    family: str | None = None,
    scope: str | None = None,
) -> ModelSet:
    """Fit one given family and scope per horizon on all labelled bars, without selection.

    The same final fit as :func:`train_panel` applies to its walk-forward winner (same seeds,
    calibration split and bucket tables), with the family's configured parameters and no
    search. Defaults are the first configured family and scope. Hindcasts and forward checks
    do not use this: they run :func:`train_panel` on the cut data, so they score the model the
    pipeline would ship.
    """
    family = family or config.families[0]
    scope = scope or config.scopes[0]
    data = TrainingData.of(panel, config)
    params = dict(config.params.get(family, {}))
    entries = [
        entry
        for spec in config.horizons
        for _, _, entry in fit_final(data, config, spec.bars, family, scope, params)
    ]
    return _model_set(data, config, dataset_hash, entries)
