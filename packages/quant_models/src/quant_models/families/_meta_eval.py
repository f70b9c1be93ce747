"""Nested evaluation of the meta-learner against the best single base model and the average.

For every fold after the first, a learner is fit on the folds before it and scored on it;
the best single base model is the one with the lowest log loss on those same earlier folds,
and the simple average is the mean of the base probabilities. Nothing is chosen on the fold
being scored, so the pooled held-out scores compare the three honestly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from quant_models._metrics import brier, brier_skill, expected_calibration_error, log_loss
from quant_models.families import _meta_reasons as reasons
from quant_models.families._meta import MetaConfig, fit_rows
from quant_models.families._meta_rows import (
    FloatArray,
    MetaInputError,
    context_rows,
    stack_rows,
)

if TYPE_CHECKING:
    from quant_models.training._splits import Fold

__all__ = ["MetaEvaluation", "evaluate_meta"]


def _card(p: FloatArray, y: FloatArray, climatology: FloatArray) -> dict[str, float]:
    return {
        "brier": brier(p, y),
        "brier_skill": brier_skill(p, y, climatology),
        "log_loss": log_loss(p, y),
        "ece": expected_calibration_error(p, y),
    }


@attrs.frozen
class MetaEvaluation:
    """Pooled held-out scores of the stack, the best single model and the average.

    Attributes:
        horizon_bars: the horizon.
        models: the base models.
        scored_folds: the folds scored (each by a learner fit on the folds before it).
        n_rows: held-out rows scored.
        chosen_single: per scored fold, the base model the earlier folds picked.
        scores: ``stack``, ``best_single``, ``average`` and each base model: Brier, Brier
            skill (vs the table's climatology), log loss and ECE, pooled over scored folds.
        confident_brier: Brier of the stack on the rows whose confidence is at or above the
            median, then below it (does confidence mean anything?).
    """

    horizon_bars: int
    models: tuple[str, ...]
    scored_folds: tuple[int, ...]
    n_rows: int
    chosen_single: tuple[str, ...]
    scores: Mapping[str, Mapping[str, float]]
    confident_brier: tuple[float, float]


def evaluate_meta(
    table: Any,
    horizon_bars: int,
    *,
    models: Sequence[str] | None = None,
    context: Any = None,
    folds: Sequence[Fold] | None = None,
    config: MetaConfig | None = None,
) -> MetaEvaluation:
    """Score the meta-learner on held-out folds, nested (weights from earlier folds only).

    Args:
        table: the run's :class:`~quant_models.training.OofTable`.
        horizon_bars: the horizon.
        models: the base models (default: every ``family/scope`` model at the horizon).
        context: ``(len(table.open_times_ns), k)`` gating values per bar, or ``None``.
        folds: the run's walk-forward folds, to prove every row is out of fold.
        config: how each learner is fit (default :class:`MetaConfig`).

    Returns:
        The pooled held-out scores.

    Raises:
        MetaInputError: a refused input, or fewer than two folds (``META_TOO_FEW_ROWS``).

    Examples:
        >>> import numpy as np
        >>> from quant_models.training import OofTable
        >>> evaluate_meta(OofTable((), np.zeros(0, dtype=np.int64), ()), 1)
        Traceback (most recent call last):
        ...
        quant_models.families._meta_rows.MetaInputError: [META_HORIZON_MISSING] no out-of-fold ...
    """
    rows = stack_rows(table, horizon_bars, models=models, folds=folds)
    gates = None if context is None else context_rows(context, len(table.open_times_ns))
    fold_ids = sorted(set(rows.fold.tolist()))
    if len(fold_ids) < 2:
        raise MetaInputError(
            f"nested evaluation needs two or more folds, got {fold_ids}",
            reason_code=reasons.META_TOO_FEW_ROWS,
        )
    stack: list[FloatArray] = []
    single: list[FloatArray] = []
    confidence: list[FloatArray] = []
    chosen: list[str] = []
    for f in fold_ids[1:]:
        past, now = rows.fold < f, rows.fold == f
        g_past = None if gates is None else gates[rows.time_rows[past]]
        learner = fit_rows(rows.where(past), g_past, config)
        out = learner.predict(rows.p[now], None if gates is None else gates[rows.time_rows[now]])
        stack.append(out.p)
        confidence.append(out.confidence)
        losses = [log_loss(rows.p[past][:, j], rows.y[past]) for j in range(len(rows.models))]
        best = int(np.argmin(losses))
        chosen.append(rows.models[best])
        single.append(rows.p[now][:, best])
    held = rows.fold >= fold_ids[1]
    y, clim = rows.y[held], rows.climatology[held]
    p_stack, conf = np.concatenate(stack), np.concatenate(confidence)
    scores = {
        "stack": _card(p_stack, y, clim),
        "best_single": _card(np.concatenate(single), y, clim),
        "average": _card(rows.p[held].mean(axis=1), y, clim),
    }
    for j, m in enumerate(rows.models):
        scores[m] = _card(rows.p[held][:, j], y, clim)
    high = conf >= np.median(conf)
    return MetaEvaluation(
        horizon_bars=horizon_bars,
        models=rows.models,
        scored_folds=tuple(fold_ids[1:]),
        n_rows=len(y),
        chosen_single=tuple(chosen),
        scores=scores,
        confident_brier=(
            brier(p_stack[high], y[high]),
            brier(p_stack[~high], y[~high]) if (~high).any() else float("nan"),
        ),
    )
