"""The stacking meta-learner: non-negative logistic stacking of out-of-fold predictions.

A :class:`MetaLearner` combines the probabilities of several base models into one. It is
fitted by :func:`fit_meta` on an :class:`~quant_models.training.OofTable` at one horizon and
nothing else (see :func:`~quant_models.families._meta_rows.stack_rows`): the stacked logit is

    z = sum_r c_r * (b_r + sum_m w_rm * logit(p_m)),    w_rm >= 0

where ``c`` are the gating columns (one column of ones, or context such as a regime
posterior, whose rows then pick a weight vector per regime). The weights minimise the mean
log loss plus ``l2 / 2 * |w - 1/M|^2`` (a ridge toward the plain average of the ``M`` base
logits, so weak evidence leaves the average) and are found by a projected Newton method from
that fixed start, so the same rows give the same bytes. The stacked probability is then
calibrated (identity or Platt by default; isotonic steps proved too sharp): each fold after
the first is predicted by weights fit on the folds before it, and
:func:`~quant_models.training.choose_calibrator` picks the map on those honest predictions.
Every prediction carries a confidence: one minus twice the weighted standard deviation of the
base probabilities (1 when the base models agree).

A learner is plain data, saved as canonical JSON (:meth:`MetaLearner.to_json`), never pickle.

Examples:
    >>> import numpy as np
    >>> learner = MetaLearner(horizon_bars=1, models=("a/global", "b/global"),
    ...                       intercepts=(0.0,), weights=((1.0, 1.0),))
    >>> out = learner.predict(np.array([[0.6, 0.6], [0.5, 0.7]]))
    >>> [round(float(v), 4) for v in out.confidence]
    [1.0, 0.8]
    >>> MetaLearner.from_json(learner.to_json()).to_json() == learner.to_json()
    True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from quant_core import canonical_json, structure, unstructure
from quant_core.errors import ValidationError
from quant_models._calibration import Calibrator, choose_calibrator
from quant_models.families._meta_rows import (
    FloatArray,
    MetaArtifactError,
    MetaInputError,
    StackRows,
    context_rows,
    stack_rows,
)

if TYPE_CHECKING:
    from quant_models.training._splits import Fold

__all__ = ["FORMAT", "MetaConfig", "MetaLearner", "MetaPrediction", "fit_meta", "fit_rows"]

FORMAT = "quant-meta-stack/1"
_EPS = 1e-6


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _floats(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


def _matrix(value: Any) -> tuple[tuple[float, ...], ...]:
    return tuple(_floats(row) for row in value)


@attrs.frozen
class MetaConfig:
    """How a meta-learner is fitted.

    Attributes:
        l2: the ridge penalty pulling the weights toward ``1/M`` each (the average of the
            base logits); the intercepts get ``1e-8`` toward 0.
        max_iter: Newton iterations at most.
        tol: stop when the projected gradient's largest entry is below this.
        calibration: the calibration methods to choose from (after stacking).
        min_calibration_rows: fewer honest stacked rows than this and the map is identity.
    """

    l2: float = 1e-3
    max_iter: int = 100
    tol: float = 1e-10
    calibration: tuple[str, ...] = attrs.field(default=("identity", "platt"), converter=_strs)
    min_calibration_rows: int = 200

    def __attrs_post_init__(self) -> None:
        """Refuse a penalty or iteration count that cannot fit."""
        if not (self.l2 > 0 and self.max_iter >= 1 and self.tol > 0 and self.calibration):
            raise MetaInputError(f"invalid meta-learner config {self!r}")


@attrs.frozen(eq=False)
class MetaPrediction:
    """Stacked forecasts for a batch of rows.

    Attributes:
        p: the calibrated stacked probability of an up move.
        p_raw: the stacked probability before calibration.
        disagreement: weighted standard deviation of the base probabilities (0 to 0.5).
        confidence: ``1 - 2 * disagreement``: 1 when every weighted base model agrees.
    """

    p: FloatArray
    p_raw: FloatArray
    disagreement: FloatArray
    confidence: FloatArray


def _design(logits: FloatArray, c: FloatArray) -> FloatArray:
    """Columns: the gates (intercepts), then gate r times model m's logit, r-major."""
    n, m = logits.shape
    inter = (c[:, :, None] * logits[:, None, :]).reshape(n, c.shape[1] * m)
    return np.asarray(np.hstack([c, inter]), dtype=np.float64)


def _solve(
    x: FloatArray, y: FloatArray, n_free: int, start: FloatArray, config: MetaConfig
) -> FloatArray:
    """Minimise log loss + ridge toward ``start``, ``theta[n_free:] >= 0``: projected Newton."""
    n = len(y)
    bound = np.arange(x.shape[1]) >= n_free
    reg = np.where(bound, config.l2, 1e-8)

    def objective(theta: FloatArray) -> float:
        z = x @ theta
        gap = theta - start
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.dot(reg * gap, gap))

    theta = start.copy()
    for _ in range(config.max_iter):
        q = _sigmoid(x @ theta)
        g = x.T @ (q - y) / n + reg * (theta - start)
        active = bound & (theta <= 0) & (g > 0)
        if np.max(np.abs(np.where(active, 0.0, g))) < config.tol:
            break
        free = ~active
        h = (x[:, free].T * (q * (1 - q))) @ x[:, free] / n + np.diag(reg[free])
        step = np.zeros_like(theta)
        step[free] = -np.linalg.solve(h, g[free])
        f0, t = objective(theta), 1.0
        while True:  # backtrack along the projected path (Armijo); t -> 0 gives new = theta
            new = np.where(bound, np.maximum(theta + t * step, 0.0), theta + t * step)
            f_new = objective(new)
            if f_new <= f0 + 1e-4 * float(np.dot(g, new - theta)):
                break
            t *= 0.5
        if f_new >= f0:  # no descent left at float precision: theta is the optimum
            break
        theta = new
    return theta


def _fit_weights(
    rows: StackRows, c: FloatArray, config: MetaConfig
) -> tuple[FloatArray, FloatArray]:
    k, m = c.shape[1], len(rows.models)
    start = np.concatenate([np.zeros(k), np.full(k * m, 1.0 / m)])
    theta = _solve(_design(_logit(rows.p), c), rows.y, k, start, config)
    return theta[:k], theta[k:].reshape(k, m)


@attrs.frozen
class MetaLearner:
    """A fitted stacking meta-learner (plain data).

    Attributes:
        horizon_bars: the horizon its base models forecast.
        models: the base models, in the column order :meth:`predict` expects.
        intercepts: one intercept per gating column.
        weights: per gating column, one non-negative weight per base model's logit.
        calibrator: the map applied after stacking.
        context_columns: gating columns expected (0: no context, one column of ones).
        n_rows: out-of-fold rows it was fit on.
        folds: the walk-forward folds those rows came from.
        config: how it was fit.
    """

    horizon_bars: int
    models: tuple[str, ...] = attrs.field(converter=_strs)
    intercepts: tuple[float, ...] = attrs.field(converter=_floats)
    weights: tuple[tuple[float, ...], ...] = attrs.field(converter=_matrix)
    calibrator: Calibrator = attrs.field(factory=lambda: Calibrator("identity"))
    context_columns: int = 0
    n_rows: int = 0
    folds: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    config: MetaConfig = attrs.field(factory=MetaConfig)

    def predict(self, p: Any, context: Any = None) -> MetaPrediction:
        """Stack base-model probabilities.

        Args:
            p: ``(rows, len(models))`` base probabilities, columns in :attr:`models` order.
            context: ``(rows, context_columns)`` gating values in ``[0, 1]``, or ``None``
                when the learner was fit without context.

        Raises:
            MetaInputError: a shape that does not match, or a value out of range.
        """
        probs = np.asarray(p, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(self.models):
            raise MetaInputError(f"p must be (rows, {len(self.models)}), got {probs.shape}")
        if not (np.isfinite(probs).all() and (probs >= 0).all() and (probs <= 1).all()):
            raise MetaInputError("base-model probabilities must be finite and within [0, 1]")
        if (context is None) != (self.context_columns == 0):
            raise MetaInputError(f"this learner expects {self.context_columns} context columns")
        c = context_rows(context, len(probs), columns=max(self.context_columns, 1))
        w, b = np.asarray(self.weights), np.asarray(self.intercepts)
        p_raw = _sigmoid(_design(_logit(probs), c) @ np.concatenate([b, w.ravel()]))
        share = c @ w
        total = share.sum(axis=1, keepdims=True)
        share = np.where(total > 0, share / np.where(total > 0, total, 1.0), 1.0 / probs.shape[1])
        mean = np.sum(share * probs, axis=1, keepdims=True)
        spread = np.sqrt(np.sum(share * (probs - mean) ** 2, axis=1))
        return MetaPrediction(
            p=self.calibrator.apply(p_raw),
            p_raw=p_raw,
            disagreement=spread,
            confidence=np.clip(1.0 - 2.0 * spread, 0.0, 1.0),
        )

    def to_json(self) -> bytes:
        """The learner as canonical JSON bytes (same learner, same bytes)."""
        return canonical_json({"format": FORMAT, **unstructure(self)})

    @classmethod
    def from_json(cls, data: bytes) -> MetaLearner:
        """Read a learner written by :meth:`to_json`.

        Args:
            data: the JSON bytes.

        Raises:
            MetaArtifactError: not JSON, an unknown format, or malformed fields.
        """
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict) or raw.pop("format", None) != FORMAT:
                raise ValueError(f"not a {FORMAT} document")
            learner = structure(raw, cls)
            k, m = max(learner.context_columns, 1), len(learner.models)
            if len(learner.intercepts) != k or [len(r) for r in learner.weights] != [m] * k:
                raise ValueError("weights do not match the models and context columns")
        except (ValueError, TypeError, ValidationError) as exc:
            raise MetaArtifactError(f"malformed meta-learner: {exc}") from exc
        return learner


def fit_rows(rows: StackRows, context: Any = None, config: MetaConfig | None = None) -> MetaLearner:
    """Fit a learner on joined out-of-fold rows (see :func:`fit_meta`).

    Args:
        rows: the rows, from :func:`~quant_models.families._meta_rows.stack_rows`.
        context: ``(len(rows.y), k)`` gating values per row, or ``None``.
        config: how to fit (default :class:`MetaConfig`).

    Raises:
        MetaInputError: bad context (``META_INPUT_INVALID``).
    """
    config = MetaConfig() if config is None else config
    c = context_rows(context, len(rows.y))
    b, w = _fit_weights(rows, c, config)
    folds = sorted(set(rows.fold.tolist()))
    honest_p: list[FloatArray] = []
    honest_y: list[FloatArray] = []
    for f in folds[1:]:
        past, now = rows.fold < f, rows.fold == f
        bf, wf = _fit_weights(rows.where(past), c[past], config)
        z = _design(_logit(rows.p[now]), c[now]) @ np.concatenate([bf, wf.ravel()])
        honest_p.append(_sigmoid(z))
        honest_y.append(rows.y[now])
    calibrator = Calibrator("identity")
    if sum(len(v) for v in honest_y) >= config.min_calibration_rows:
        calibrator, _ = choose_calibrator(
            np.concatenate(honest_p), np.concatenate(honest_y), config.calibration
        )
    return MetaLearner(
        horizon_bars=rows.horizon_bars,
        models=rows.models,
        intercepts=b.tolist(),
        weights=w.tolist(),
        calibrator=calibrator,
        context_columns=0 if context is None else c.shape[1],
        n_rows=len(rows.y),
        folds=folds,
        config=config,
    )


def fit_meta(
    table: Any,
    horizon_bars: int,
    *,
    models: Sequence[str] | None = None,
    context: Any = None,
    folds: Sequence[Fold] | None = None,
    config: MetaConfig | None = None,
) -> MetaLearner:
    """Fit a stacking meta-learner on an out-of-fold table at one horizon.

    Args:
        table: the run's :class:`~quant_models.training.OofTable` (anything else is refused).
        horizon_bars: the horizon.
        models: the base models (default: every ``family/scope`` model at the horizon).
        context: ``(len(table.open_times_ns), k)`` gating values per bar of the table's grid
            (e.g. a regime posterior), or ``None``.
        folds: the run's walk-forward folds, to prove every row is out of fold.
        config: how to fit (default :class:`MetaConfig`).

    Returns:
        The fitted learner.

    Raises:
        MetaInputError: a refused input; ``reason_code`` is one of the ``META_*`` codes.

    Examples:
        >>> from quant_models.training import OofTable
        >>> fit_meta(OofTable((), np.zeros(0, dtype=np.int64), ()), 1)
        Traceback (most recent call last):
        ...
        quant_models.families._meta_rows.MetaInputError: [META_HORIZON_MISSING] no out-of-fold ...
    """
    rows = stack_rows(table, horizon_bars, models=models, folds=folds)
    gates = None
    if context is not None:
        grid = context_rows(context, len(table.open_times_ns))
        gates = grid[rows.time_rows]
    return fit_rows(rows, gates, config)
