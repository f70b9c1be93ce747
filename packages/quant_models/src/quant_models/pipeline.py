"""The training pipeline: features → targets → walk-forward → models → calibration → gates.

:func:`train` runs, for every horizon, every configured model family and scope (``global``:
one model over all coins; ``specialist``: one model per coin) through walk-forward folds,
scoring out-of-fold predictions beside the baselines. Inside each fold the training range is
split in time: the older part fits the model, the newer part (after a purge gap) chooses and
fits the calibration. The best candidate per horizon (lowest pooled out-of-sample log loss) is
refit on all labelled data and saved; its out-of-sample metrics become the gate evidence.

Everything is a pure function of (dataset bytes, config, seed): two runs, in two processes,
write byte-identical files.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import bytes_hash, canonical_json, content_hash, derive_seed, structure, unstructure
from quant_core.errors import QuantUsageError
from quant_core.files import write_tree_atomic
from quant_models import reasons
from quant_models.baselines import BASELINES, fit_climatology, fit_logistic, fit_persistence
from quant_models.calibration import METHODS, Calibrator, choose_calibrator
from quant_models.errors import ArtifactError, ConfigError, DataError
from quant_models.features import FeatureConfig, FeatureSet, compute_features
from quant_models.gates import Evidence, GateConfig, GateDecision, HorizonEvidence, decide
from quant_models.lineage import RunRecord, library_versions
from quant_models.metrics import ScoreCard, score
from quant_models.models import FAMILIES, Classifier, get_family
from quant_models.panel import FloatArray, Panel
from quant_models.persistence import (
    HorizonTable,
    ModelEntry,
    ModelSet,
    artifact_files,
    load_model_set,
    write_files,
)
from quant_models.search import SearchResult, grid_free_search
from quant_models.splits import Fold, walk_forward
from quant_models.targets import HorizonSpec, Targets, make_targets

if TYPE_CHECKING:
    from quant_data import Dataset

__all__ = [
    "SCOPES",
    "FoldConfig",
    "TrainConfig",
    "TrainResult",
    "fit_model_set",
    "load_config",
    "train",
    "train_panel",
]

SCOPES = ("global", "specialist")
IntArray = npt.NDArray[np.int64]
_MIN_ROWS = 20


def _horizons(value: Any) -> tuple[HorizonSpec, ...]:
    return tuple(v if isinstance(v, HorizonSpec) else HorizonSpec(**v) for v in value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class FoldConfig:
    """Walk-forward layout (sizes in bars).

    Attributes:
        n_folds: number of test blocks.
        test_size: bars per test block.
        embargo: bars dropped between training and test, on top of the purge (the longest
            horizon).
        mode: ``"expanding"`` or ``"sliding"``.
        min_train: shortest training range (exact length when sliding).
    """

    n_folds: int = 3
    test_size: int = 168
    embargo: int = 24
    mode: str = "expanding"
    min_train: int = 500

    def __attrs_post_init__(self) -> None:
        if self.mode not in ("expanding", "sliding"):
            raise ConfigError(f"unknown walk-forward mode {self.mode!r}")


@attrs.frozen
class TrainConfig:
    """A training run's configuration (JSON or TOML on disk; see :func:`load_config`).

    Attributes:
        horizons: forecast horizons, ascending.
        features: feature windows.
        families: model families to train (see :data:`quant_models.models.FAMILIES`).
        scopes: ``"global"`` and/or ``"specialist"``.
        params: per family, hyperparameter overrides (e.g. ``n_estimators``).
        folds: walk-forward layout.
        calibration_fraction: newest share of each training range used for calibration.
        calibration_methods: methods the out-of-sample choice considers.
        search_budget: hyperparameter trials per family and horizon (1 = defaults only).
        seed: the run's root seed.
        threads: threads per model fit (fixed for determinism).
        fee: fee per side in the utility simulation (0.26% = Kraken taker).
        threshold: probability at which the simulation goes long.
        gates: promotion-gate thresholds.
    """

    horizons: tuple[HorizonSpec, ...] = attrs.field(
        default=(
            HorizonSpec(1, (-0.005, 0.0, 0.005)),
            HorizonSpec(4, (-0.01, 0.0, 0.01)),
            HorizonSpec(24, (-0.03, 0.0, 0.03)),
        ),
        converter=_horizons,
    )
    features: FeatureConfig = attrs.field(factory=FeatureConfig)
    families: tuple[str, ...] = attrs.field(
        default=("lightgbm", "xgboost", "random_forest"), converter=_strings
    )
    scopes: tuple[str, ...] = attrs.field(default=SCOPES, converter=_strings)
    params: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    folds: FoldConfig = attrs.field(factory=FoldConfig)
    calibration_fraction: float = 0.3
    calibration_methods: tuple[str, ...] = attrs.field(default=METHODS, converter=_strings)
    search_budget: int = 1
    seed: int = 0
    threads: int = 1
    fee: float = 0.0026
    threshold: float = 0.55
    gates: GateConfig = attrs.field(factory=GateConfig)

    def __attrs_post_init__(self) -> None:
        bars = [h.bars for h in self.horizons]
        if not bars or bars != sorted(set(bars)):
            raise ConfigError(f"horizons must be non-empty, ascending and unique, got {bars}")
        unknown = sorted(set(self.families) - set(FAMILIES))
        if not self.families or unknown:
            raise ConfigError(f"unknown or no model families {unknown}; known {sorted(FAMILIES)}")
        if not self.scopes or not set(self.scopes) <= set(SCOPES):
            raise ConfigError(f"scopes must be among {SCOPES}, got {self.scopes}")
        if not 0.0 < self.calibration_fraction < 1.0:
            raise ConfigError("calibration_fraction must be within (0, 1)")
        if not set(self.calibration_methods) <= set(METHODS) or not self.calibration_methods:
            raise ConfigError(f"calibration methods must be among {METHODS}")
        if self.folds.test_size <= bars[-1]:
            raise ConfigError("test_size must exceed the longest horizon (else no test labels)")
        if self.search_budget < 1 or self.threads < 1:
            raise ConfigError("search_budget and threads must be at least 1")
        for family, overrides in self.params.items():
            get_family(family).build(overrides, seed=0)

    @property
    def config_hash(self) -> str:
        """Content hash of the configuration."""
        return content_hash(unstructure(self))


def load_config(path: Path) -> TrainConfig:
    """Read a :class:`TrainConfig` from a ``.json`` or ``.toml`` file.

    Raises:
        ConfigError: unreadable file, bad syntax, unknown key or invalid value.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        return structure(data, TrainConfig)
    except ConfigError:
        raise
    except Exception as exc:  # cattrs wraps every field error; re-raise as ours
        raise ConfigError(f"invalid config {path}: {exc}") from exc


# --- data ------------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class _Data:
    panel: Panel
    features: FeatureSet
    targets: dict[int, Targets]
    labelled: dict[int, npt.NDArray[np.bool_]]

    @classmethod
    def of(cls, panel: Panel, config: TrainConfig) -> _Data:
        features = compute_features(panel, config.features)
        targets = {h.bars: make_targets(panel.close, h) for h in config.horizons}
        warm = np.arange(panel.n_times) >= config.features.warmup
        labelled = {
            h: ~np.isnan(t.direction) & ~np.isnan(panel.close) & warm[None, :]
            for h, t in targets.items()
        }
        return cls(panel, features, targets, labelled)

    def rows(
        self, h: int, start: int, end: int, symbol: int | None = None
    ) -> tuple[IntArray, IntArray]:
        """Labelled (symbol, time) rows with time in ``[start, end)``, in time order."""
        start = max(start, 0)
        mask = self.labelled[h][:, start:end]
        tt, ss = np.nonzero(mask.T)
        sym, t = ss.astype(np.int64), (tt + start).astype(np.int64)
        if symbol is not None:
            keep = sym == symbol
            sym, t = sym[keep], t[keep]
        return sym, t

    def xy(self, h: int, sym: IntArray, t: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        target = self.targets[h]
        return (
            np.ascontiguousarray(self.features.values[sym, t, :]),
            target.direction[sym, t],
            target.forward_return[sym, t],
        )

    def last_return(self, h: int, sym: IntArray, t: IntArray) -> FloatArray:
        close = self.panel.close
        prev = np.where(t >= h, t - h, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(close[sym, t] / close[sym, prev])
        return np.where(t >= h, out, np.nan)


@attrs.frozen(eq=False)
class _Fitted:
    model: Classifier
    calibrator: Calibrator
    calibration_scores: dict[str, float]

    def predict(self, x: FloatArray) -> FloatArray:
        return self.calibrator.apply(self.model.predict_proba(x))


def _fit_one(
    data: _Data,
    config: TrainConfig,
    family: str,
    params: Mapping[str, Any],
    h: int,
    start: int,
    end: int,
    symbol: int | None,
    seed_path: tuple[str, ...],
) -> _Fitted:
    """Fit a model on the older part of ``[start, end)`` and calibrate on the newer part."""
    cal_start = end - int((end - start) * config.calibration_fraction)
    fit_rows = data.rows(h, start, cal_start - h, symbol)
    cal_rows = data.rows(h, cal_start, end, symbol)
    x, y, _ = data.xy(h, *fit_rows)
    xc, yc, _ = data.xy(h, *cal_rows)
    if len(y) < _MIN_ROWS or len(yc) < _MIN_ROWS or len(np.unique(y)) < 2:
        raise DataError(
            f"too few labelled rows to fit {'/'.join(seed_path)}: {len(y)} fit, {len(yc)}"
            " calibration (or one class only)",
            reason_code=reasons.INSUFFICIENT_DATA,
        )
    seed = derive_seed(config.seed, "models", *seed_path)
    model = get_family(family).build(params, seed=seed, threads=config.threads)
    model.fit(x, y)
    calibrator, scores = choose_calibrator(
        model.predict_proba(xc), yc, tuple(config.calibration_methods)
    )
    return _Fitted(model, calibrator, scores)


def _unit_symbols(data: _Data, scope: str) -> list[int | None]:
    return [None] if scope == "global" else list(range(len(data.panel.symbols)))


# --- results --------------------------------------------------------------------------------


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
    """

    model_set: ModelSet
    files: dict[str, bytes]
    run_record: RunRecord
    evidence: Evidence
    decision: GateDecision
    metrics: dict[str, Any]


@attrs.frozen
class _Oof:
    key: str
    h: int
    fold: int
    sym: IntArray
    t: IntArray
    p: FloatArray
    y: FloatArray
    fwd: FloatArray
    clim: FloatArray


def _score(rows: list[_Oof], config: TrainConfig) -> ScoreCard:
    cat = {f: np.concatenate([getattr(r, f) for r in rows]) for f in ("p", "y", "fwd", "clim")}
    return score(
        cat["p"],
        cat["y"],
        cat["fwd"],
        climatology=cat["clim"],
        threshold=config.threshold,
        fee=config.fee,
    )


def _search(
    data: _Data, config: TrainConfig, family: str, h: int, first: Fold, trials: list[Any]
) -> dict[str, Any]:
    """Tune ``family`` at horizon ``h`` on data before the first test block only."""
    base = dict(config.params.get(family, {}))
    if config.search_budget <= 1:
        return base
    gap = h + config.folds.embargo
    valid_start = first.train_end - config.folds.test_size
    valid = data.rows(h, valid_start, first.train_end)

    def objective(params: dict[str, Any]) -> float:
        fitted = _fit_one(
            data,
            config,
            family,
            {**base, **params},
            h,
            first.train_start,
            valid_start - gap,
            None,
            (family, "search", f"h{h}"),
        )
        x, y, _ = data.xy(h, *valid)
        p = fitted.predict(x)
        return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))

    result: SearchResult = grid_free_search(
        get_family(family).space,
        objective,
        budget=config.search_budget,
        seed=config.seed,
        name=(family, f"h{h}"),
    )
    trials.extend(
        {"family": family, "horizon_bars": h, **attrs.asdict(trial)} for trial in result.trials
    )
    return {**base, **result.best.params}


def _bucket_table(data: _Data, spec: HorizonSpec) -> HorizonTable:
    sym, t = data.rows(spec.bars, 0, data.panel.n_times)
    target = data.targets[spec.bars]
    buckets = target.bucket[sym, t].astype(np.int64)
    up = target.direction[sym, t] > 0.5
    up_set = set(spec.up_buckets)
    tables = []
    for side, members in ((up, up_set), (~up, set(range(spec.n_buckets)) - up_set)):
        counts = np.bincount(buckets[side], minlength=spec.n_buckets).astype(np.float64) + 1.0
        counts = np.array([c if b in members else 0.0 for b, c in enumerate(counts)])
        tables.append(tuple(float(f"{v:.12g}") for v in counts / counts.sum()))
    return HorizonTable(spec.bars, spec.bucket_edges, tables[0], tables[1])


def _oof_csv(rows: list[_Oof], symbols: tuple[str, ...], times: IntArray) -> bytes:
    out = io.StringIO()
    out.write("fold,horizon_bars,model,symbol,open_time_ns,p,y,forward_return,climatology\n")
    for r in rows:
        for s, t, p, y, f, c in zip(r.sym, r.t, r.p, r.y, r.fwd, r.clim, strict=True):
            out.write(
                f"{r.fold},{r.h},{r.key},{symbols[s]},{int(times[t])},{p:.17g},{int(y)},"
                f"{f:.17g},{c:.17g}\n"
            )
    return out.getvalue().encode("utf-8")


def train_panel(
    panel: Panel,
    config: TrainConfig,
    *,
    dataset_hash: str,
    champion: Evidence | None = None,
) -> TrainResult:
    """Run the whole pipeline on ``panel`` in memory (see :func:`train` for files).

    Raises:
        DataError: ``INSUFFICIENT_DATA`` when the data cannot hold the folds.
    """
    data = _Data.of(panel, config)
    longest = max(h.bars for h in config.horizons)
    fc = config.folds
    folds = walk_forward(
        panel.n_times,
        n_folds=fc.n_folds,
        test_size=fc.test_size,
        purge=longest,
        embargo=fc.embargo,
        min_train=fc.min_train,
        start=config.features.warmup,
        mode="sliding" if fc.mode == "sliding" else "expanding",
    )
    n_sym = len(panel.symbols)
    trials: list[dict[str, Any]] = []
    tuned = {
        (family, h.bars): _search(data, config, family, h.bars, folds[0], trials)
        for h in config.horizons
        for family in config.families
    }
    oof: list[_Oof] = []
    for fold in folds:
        for spec in config.horizons:
            h = spec.bars
            tr_sym, tr_t = data.rows(h, fold.train_start, fold.train_end)
            te_sym, te_t = data.rows(h, fold.test_start, fold.test_end)
            x_tr, ytr, _ = data.xy(h, tr_sym, tr_t)
            x_te, yte, fte = data.xy(h, te_sym, te_t)
            clim = fit_climatology(ytr, tr_sym, n_symbols=n_sym)(x_te, te_sym, fte)
            baselines = {
                "climatology": fit_climatology(ytr, tr_sym, n_symbols=n_sym),
                "persistence": fit_persistence(
                    ytr, tr_sym, data.last_return(h, tr_sym, tr_t), n_symbols=n_sym
                ),
                "logistic": fit_logistic(x_tr, ytr),
            }
            last_te = data.last_return(h, te_sym, te_t)
            for name in BASELINES:
                p = baselines[name](x_te, te_sym, last_te)
                oof.append(_Oof(name, h, fold.index, te_sym, te_t, p, yte, fte, clim))
            for family in config.families:
                for scope in config.scopes:
                    p = np.zeros(len(te_t))
                    for unit in _unit_symbols(data, scope):
                        fitted = _fit_one(
                            data,
                            config,
                            family,
                            tuned[(family, h)],
                            h,
                            fold.train_start,
                            fold.train_end,
                            unit,
                            (
                                family,
                                scope,
                                panel.symbols[unit] if unit is not None else "all",
                                f"h{h}",
                                f"fold{fold.index}",
                            ),
                        )
                        mask = np.ones(len(te_t), bool) if unit is None else te_sym == unit
                        if mask.any():
                            p[mask] = fitted.predict(x_te[mask])
                    oof.append(
                        _Oof(f"{family}/{scope}", h, fold.index, te_sym, te_t, p, yte, fte, clim)
                    )
    # --- metric package --------------------------------------------------------------------
    metrics: dict[str, Any] = {"oos": {}, "in_sample": {}}
    served: dict[int, str] = {}
    cards: dict[tuple[str, int], ScoreCard] = {}
    for spec in config.horizons:
        h = spec.bars
        block: dict[str, Any] = {}
        for key in sorted({r.key for r in oof if r.h == h}):
            rows = [r for r in oof if r.key == key and r.h == h]
            cards[(key, h)] = _score(rows, config)
            every = np.concatenate([r.sym for r in rows])
            per_symbol = {}
            for s in np.unique(every).tolist():
                parts = [
                    _Oof(r.key, h, r.fold, r.sym[m], r.t[m], r.p[m], r.y[m], r.fwd[m], r.clim[m])
                    for r in rows
                    for m in [r.sym == s]
                ]
                per_symbol[panel.symbols[s]] = _score(parts, config).as_dict()
            block[key] = {
                "pooled": cards[(key, h)].as_dict(),
                "folds": [_score([r], config).as_dict() for r in rows],
                "symbols": per_symbol,
            }
        metrics["oos"][f"h{h}"] = block
        candidates = [k for k in block if "/" in k]
        served[h] = min(candidates, key=lambda k: (cards[(k, h)].log_loss, k))
    # --- final fit of the served models on all labelled data ----------------------------------
    entries: list[ModelEntry] = []
    evidence_rows: list[HorizonEvidence] = []
    for spec in config.horizons:
        h = spec.bars
        family, scope = served[h].split("/")
        start = config.features.warmup
        for unit, fitted, entry in _fit_final(data, config, h, family, scope, tuned[(family, h)]):
            entries.append(entry)
            if unit is None or unit == 0:
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
        card = cards[(served[h], h)]
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
    model_set = _model_set(data, config, dataset_hash, entries)
    files = artifact_files(model_set)
    files["oof.csv"] = _oof_csv(oof, panel.symbols, panel.open_times_ns)
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
        search={"budget": config.search_budget, "trials": trials},
        artifacts={name: bytes_hash(files[name]) for name in sorted(files)},
        model_id=model_set.model_id,
    )
    files["run.json"] = canonical_json(unstructure(record)) + b"\n"
    complete, missing = _verify(files, model_set.model_id)
    evidence = Evidence("oos", tuple(evidence_rows), complete, missing, model_set.model_id)
    decision = decide(evidence, champion, config.gates)
    files["evidence.json"] = canonical_json(unstructure(evidence)) + b"\n"
    files["decision.json"] = canonical_json(unstructure(decision)) + b"\n"
    return TrainResult(model_set, files, record, evidence, decision, metrics)


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
) -> TrainResult:
    """Train on a ``quant_data.Dataset`` and, with ``out``, write every file atomically.

    ``out`` must not exist or be empty; files are written to a sibling staging directory
    and renamed into place, so a failed run leaves nothing behind.

    Raises:
        QuantUsageError: ``out`` exists and is not empty.
        DataError: the dataset cannot hold the folds.
    """
    if out is not None and Path(out).exists() and any(Path(out).iterdir()):
        raise QuantUsageError(f"output directory {out} exists and is not empty")
    panel = Panel.from_frame(dataset.frame())
    result = train_panel(
        panel, config, dataset_hash=dataset.manifest.dataset_hash, champion=champion
    )
    if out is not None:
        write_tree_atomic(Path(out), result.files)
    return result


def _fit_final(
    data: _Data, config: TrainConfig, h: int, family: str, scope: str, params: Mapping[str, Any]
) -> list[tuple[int | None, _Fitted, ModelEntry]]:
    """Fit ``family``/``scope`` at horizon ``h`` on all labelled bars: the served models.

    Returns one (coin row or ``None`` for a global model, fit, entry) per model.
    """
    out = []
    for unit in _unit_symbols(data, scope):
        who = data.panel.symbols[unit] if unit is not None else None
        fitted = _fit_one(
            data,
            config,
            family,
            params,
            h,
            config.features.warmup,
            data.panel.n_times,
            unit,
            (family, scope, who or "all", f"h{h}", "final"),
        )
        entry = ModelEntry(h, family, scope, who, dict(params), fitted.calibrator, fitted.model)
        out.append((unit, fitted, entry))
    return out


def _model_set(
    data: _Data, config: TrainConfig, dataset_hash: str, entries: list[ModelEntry]
) -> ModelSet:
    return ModelSet(
        data.features.schema,
        config.features,
        data.panel.quote,
        data.panel.symbols,
        dataset_hash,
        tuple(_bucket_table(data, spec) for spec in config.horizons),
        tuple(entries),
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
    data = _Data.of(panel, config)
    params = dict(config.params.get(family, {}))
    entries = [
        entry
        for spec in config.horizons
        for _, _, entry in _fit_final(data, config, spec.bars, family, scope, params)
    ]
    return _model_set(data, config, dataset_hash, entries)
