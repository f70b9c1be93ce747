"""The meta-learner's input: out-of-fold rows of several base models, joined row by row.

:func:`stack_rows` reads an :class:`~quant_models.training.OofTable` at one horizon and
returns, fold by fold and in time order, the rows every chosen base model predicted: one
column of probabilities per model, the label, the forward return and the climatology. It is
the only door into the meta-learner, so nothing but out-of-fold predictions ever reaches a
fit; given the run's walk-forward folds it also proves that no block strays into its fold's
fit span.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core.errors import IntegrityError, ValidationError
from quant_models.families import _meta_reasons as reasons

if TYPE_CHECKING:
    from quant_models.training._oof import OofBlock
    from quant_models.training._splits import Fold

__all__ = ["MetaArtifactError", "MetaInputError", "StackRows", "context_rows", "stack_rows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class MetaInputError(ValidationError, reason=reasons.META_INPUT_INVALID):
    """The meta-learner refused its input; ``reason_code`` says why (``META_*``)."""


class MetaArtifactError(IntegrityError, reason=reasons.META_ARTIFACT_INVALID):
    """A saved meta-learner could not be read back (``META_ARTIFACT_INVALID``)."""


@attrs.frozen(eq=False)
class StackRows:
    """Out-of-fold rows of several base models at one horizon, joined and in time order.

    Attributes:
        horizon_bars: the horizon.
        models: the base models, in column order.
        fold: each row's walk-forward fold (ascending).
        symbol_rows: each row's coin (the table's ``symbols`` index).
        time_rows: each row's bar (the table's ``open_times_ns`` index).
        p: ``(rows, models)`` out-of-fold probabilities.
        y: the realised direction (1 up, 0 down).
        forward_return: the realised log return over the horizon.
        climatology: the climatology baseline's probability.
    """

    horizon_bars: int
    models: tuple[str, ...]
    fold: IntArray
    symbol_rows: IntArray
    time_rows: IntArray
    p: FloatArray
    y: FloatArray
    forward_return: FloatArray
    climatology: FloatArray

    def where(self, keep: Any) -> StackRows:
        """The rows ``keep`` selects.

        Args:
            keep: a boolean mask (or index) over the rows.
        """
        return attrs.evolve(
            self,
            fold=self.fold[keep],
            symbol_rows=self.symbol_rows[keep],
            time_rows=self.time_rows[keep],
            p=self.p[keep],
            y=self.y[keep],
            forward_return=self.forward_return[keep],
            climatology=self.climatology[keep],
        )


def _refuse(message: str, code: str = reasons.META_INPUT_INVALID) -> MetaInputError:
    return MetaInputError(message, reason_code=code)


def _check_spans(blocks: Sequence[OofBlock], folds: Sequence[Fold]) -> None:
    spans = {f.index: (f.test_start, f.test_end) for f in folds}
    for b in blocks:
        if b.fold not in spans:
            raise _refuse(f"block of {b.model!r} names fold {b.fold}, which is not in folds")
        start, end = spans[b.fold]
        outside = (b.time_rows < start) | (b.time_rows >= end)
        if outside.any():
            raise _refuse(
                f"{int(outside.sum())} rows of {b.model!r} fold {b.fold} lie outside its test "
                f"span [{start}, {end})",
                reasons.META_IN_SAMPLE_ROWS,
            )


def _join(blocks: list[OofBlock], n_times: int) -> tuple[list[IntArray], IntArray]:
    """Each block's positions of the keys every block holds, the keys in time order."""
    keys = [b.time_rows.astype(np.int64) + n_times * b.symbol_rows.astype(np.int64) for b in blocks]
    for b, k in zip(blocks, keys, strict=True):
        if len(np.unique(k)) != len(k):
            raise _refuse(f"block of {b.model!r} fold {b.fold} repeats a (coin, bar) row")
    common = keys[0]
    for k in keys[1:]:
        common = np.intersect1d(common, k)
    # time order, then coin: key = time + n_times * symbol, so order by (time, symbol)
    common = common[np.lexsort((common // n_times, common % n_times))]
    sorters = [np.argsort(k, kind="stable") for k in keys]
    positions = [
        s[np.searchsorted(k, common, sorter=s)] for k, s in zip(keys, sorters, strict=True)
    ]
    return positions, common


def stack_rows(
    table: Any,
    horizon_bars: int,
    *,
    models: Sequence[str] | None = None,
    folds: Sequence[Fold] | None = None,
) -> StackRows:
    """The rows every base model predicted out of fold at ``horizon_bars``, joined.

    Args:
        table: an :class:`~quant_models.training.OofTable` (anything else is refused).
        horizon_bars: the one horizon to read.
        models: the base models (default: every ``family/scope`` model at the horizon,
            sorted; baselines, whose names have no ``/``, are not base models).
        folds: the run's walk-forward folds; when given, every block must lie inside its
            fold's test span (``META_IN_SAMPLE_ROWS`` otherwise).

    Returns:
        The joined rows, fold by fold, each fold in (bar, coin) order.

    Raises:
        MetaInputError: with ``META_INPUT_INVALID``, ``META_HORIZON_MISSING``,
            ``META_TOO_FEW_MODELS``, ``META_TOO_FEW_ROWS`` or ``META_IN_SAMPLE_ROWS``.
    """
    from quant_models.training._oof import OofTable

    if not isinstance(table, OofTable):
        raise _refuse(f"the meta-learner reads an OofTable, not {type(table).__name__}")
    known = table.models(horizon_bars)
    if not known:
        raise _refuse(f"no out-of-fold predictions at {horizon_bars} bars",
                      reasons.META_HORIZON_MISSING)  # fmt: skip
    chosen = tuple(m for m in known if "/" in m) if models is None else tuple(models)
    missing = sorted(set(chosen) - set(known))
    if missing:
        raise _refuse(f"no out-of-fold predictions of {missing} at {horizon_bars} bars")
    if len(set(chosen)) < 2 or len(set(chosen)) != len(chosen):
        raise _refuse(f"stacking needs two or more distinct base models, got {list(chosen)}",
                      reasons.META_TOO_FEW_MODELS)  # fmt: skip
    by_model = {m: {b.fold: b for b in table.select(m, horizon_bars)} for m in chosen}
    if folds is not None:
        _check_spans([b for m in chosen for b in by_model[m].values()], folds)
    n_times = len(table.open_times_ns)
    parts: list[tuple[int, OofBlock, IntArray, FloatArray, IntArray]] = []
    for f in sorted(set.intersection(*(set(d) for d in by_model.values()))):
        blocks = [by_model[m][f] for m in chosen]
        positions, common = _join(blocks, n_times)
        p = np.column_stack([b.p[i] for b, i in zip(blocks, positions, strict=True)])
        y = np.column_stack([b.y[i] for b, i in zip(blocks, positions, strict=True)])
        if len(common) and (y != y[:, :1]).any():
            raise _refuse(f"base models disagree on the realised labels of fold {f}")
        parts.append((f, blocks[0], positions[0], p.reshape(len(common), len(chosen)), common))
    rows = sum(len(c) for *_, c in parts)
    if rows == 0:
        raise _refuse("the base models share no out-of-fold row", reasons.META_TOO_FEW_ROWS)
    p_all = np.concatenate([p for _, _, _, p, _ in parts]).astype(np.float64)
    if not (np.isfinite(p_all).all() and (p_all >= 0).all() and (p_all <= 1).all()):
        raise _refuse("base-model probabilities must be finite and within [0, 1]")

    def cat(name: str) -> Any:
        return np.concatenate([getattr(b, name)[i] for _, b, i, _, _ in parts])

    return StackRows(
        horizon_bars=horizon_bars,
        models=chosen,
        fold=np.concatenate([np.full(len(c), f, dtype=np.int64) for f, *_, c in parts]),
        symbol_rows=cat("symbol_rows").astype(np.int64),
        time_rows=cat("time_rows").astype(np.int64),
        p=p_all,
        y=cat("y").astype(np.float64),
        forward_return=cat("forward_return").astype(np.float64),
        climatology=cat("climatology").astype(np.float64),
    )


def context_rows(context: Any, n: int, *, columns: int | None = None) -> FloatArray:
    """Validated gating columns for ``n`` rows (a single column of ones when ``None``).

    Args:
        context: ``(n, k)`` values in ``[0, 1]`` (e.g. a regime posterior), or ``None``.
        n: the number of rows expected.
        columns: the number of columns expected (``None``: any number, at least one).

    Raises:
        MetaInputError: wrong shape, or a value not finite or outside ``[0, 1]``.

    Examples:
        >>> context_rows(None, 2).tolist()
        [[1.0], [1.0]]
    """
    if context is None:
        c = np.ones((n, 1))
    else:
        c = np.asarray(context, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] != n or c.shape[1] == 0:
            raise _refuse(f"context must be ({n}, k) with k >= 1, got {c.shape}")
        if not (np.isfinite(c).all() and (c >= 0).all() and (c <= 1).all()):
            raise _refuse("context values must be finite and within [0, 1]")
    if columns is not None and c.shape[1] != columns:
        raise _refuse(f"context has {c.shape[1]} columns; the meta-learner was fit on {columns}")
    return np.asarray(c, dtype=np.float64)
