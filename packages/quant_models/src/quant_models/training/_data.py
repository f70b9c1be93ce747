"""Stage 1, features: the feature set, targets and labelled rows a run trains on; one fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import derive_seed
from quant_models import reasons
from quant_models._calibration import Calibrator, choose_calibrator
from quant_models._errors import DataError
from quant_models._panel import FloatArray, Panel
from quant_models._persistence import HorizonTable
from quant_models.families._trees import Classifier, get_family
from quant_models.features import FeatureSet, compute_features
from quant_models.training._config import TrainConfig
from quant_models.training._targets import HorizonSpec, Targets, make_targets

__all__ = ["Fitted", "IntArray", "TrainingData", "bucket_table", "fit_one", "unit_symbols"]

IntArray = npt.NDArray[np.int64]
_MIN_ROWS = 20


@attrs.frozen(eq=False)
class TrainingData:
    """The panel, its features and targets, and which (coin, bar) rows are labelled."""

    panel: Panel
    features: FeatureSet
    targets: dict[int, Targets]
    labelled: dict[int, npt.NDArray[np.bool_]]

    @classmethod
    def of(cls, panel: Panel, config: TrainConfig) -> TrainingData:
        """Compute the features and targets of ``panel`` (the features stage)."""
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
        """Feature rows, directions and forward returns of the rows ``(sym, t)``."""
        target = self.targets[h]
        return (
            np.ascontiguousarray(self.features.values[sym, t, :]),
            target.direction[sym, t],
            target.forward_return[sym, t],
        )

    def last_return(self, h: int, sym: IntArray, t: IntArray) -> FloatArray:
        """The log return over the ``h`` bars up to each row (``NaN`` where there are fewer)."""
        close = self.panel.close
        prev = np.where(t >= h, t - h, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(close[sym, t] / close[sym, prev])
        return np.where(t >= h, out, np.nan)


@attrs.frozen(eq=False)
class Fitted:
    """A fitted model and the calibrator chosen on its calibration split."""

    model: Classifier
    calibrator: Calibrator
    calibration_scores: dict[str, float]

    def predict(self, x: FloatArray) -> FloatArray:
        """Calibrated probabilities of an up move for the feature rows ``x``."""
        return self.calibrator.apply(self.model.predict_proba(x))


def fit_one(
    data: TrainingData,
    config: TrainConfig,
    family: str,
    params: Mapping[str, Any],
    h: int,
    start: int,
    end: int,
    symbol: int | None,
    seed_path: tuple[str, ...],
) -> Fitted:
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
    return Fitted(model, calibrator, scores)


def unit_symbols(data: TrainingData, scope: str) -> list[int | None]:
    """The coin rows one model each is fit for (``None``: one global model)."""
    return [None] if scope == "global" else list(range(len(data.panel.symbols)))


def bucket_table(data: TrainingData, spec: HorizonSpec) -> HorizonTable:
    """The bucket tables of ``spec``: P(bucket | up) and P(bucket | down), Laplace-smoothed."""
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
