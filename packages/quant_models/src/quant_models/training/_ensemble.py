"""The stacked ensemble's training stage: the regime context, the heads and their evidence.

With ``combine = "stack"`` (decision 0118) a run, after the out-of-fold table, fits the
regime model on the training span's closes (unsupervised: it never sees a label) and
computes its truncated filtered posterior at every bar (:func:`regime_grid`).
:func:`ensemble_evidence` then scores, per horizon, each member group's two combiners nested
(every fold after the first predicted by heads fit on the folds before it): the learned stack
(a meta-learner gated by that posterior, calibrated after stacking) and the plain average of
the members (decision 0122), beside the single global member the earlier folds score best
and the logistic baseline, on the same rows; each with Brier skill (95% block-bootstrap CI),
AUC, ECE and log loss, and the CI of the stack's skill gain over the others. Per group it
chooses the combiner the set serves (:func:`choose_combiner`: the lower nested log loss under
``EnsembleConfig.head = "auto"``) and scores that too (``served``: the gates' evidence);
:func:`fit_heads` then fits the chosen heads on the whole out-of-fold table.

Sequence members (decision 0115, ``TrainConfig.sequence``): :func:`sequence_blocks` fits each
sequence family on every fold's training range (early stopping on the newest part of that
range) and forecasts the fold's test block into the same out-of-fold table, as
``<family>/global``; :func:`sequence_entries` refits each on all labelled bars. A sequence
model predicts only bars with a full causal window (its longest resolution's span, no gap);
a head's rows are the (coin, bar) rows *every* member of the head predicted (the join of
:func:`~quant_models.families.stack_rows`), so the heads, their evidence and the predictor
(which leaves out a coin without a full window) all use the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from quant_core import derive_seed
from quant_models._calibration import Calibrator
from quant_models._ensemble import (
    AVERAGE,
    FULL,
    GLOBALS,
    STACK,
    SequenceMember,
    StackHead,
    group_members,
    truncated_posterior,
)
from quant_models._metrics import ScoreCard, log_loss, score
from quant_models._panel import FloatArray, Panel
from quant_models._persistence import ModelEntry
from quant_models.families import (
    MetaConfig,
    MetaInputError,
    RegimeModel,
    fit_meta,
    fit_regimes,
    regime_features,
)
from quant_models.families._meta import fit_rows
from quant_models.families._meta_reasons import META_TOO_FEW_ROWS
from quant_models.families._meta_rows import StackRows, stack_rows
from quant_models.sequence import evaluate_sequence, fit_sequence
from quant_models.training._config import Scope, TrainConfig
from quant_models.training._evidence import _round, evidence_card
from quant_models.training._oof import OofBlock, OofTable
from quant_models.training._splits import Fold

__all__ = [
    "NestedForecasts",
    "choose_combiner",
    "ensemble_evidence",
    "fit_heads",
    "nested_forecasts",
    "regime_grid",
    "sequence_blocks",
    "sequence_entries",
]


def regime_grid(panel: Panel, config: TrainConfig) -> tuple[RegimeModel, FloatArray]:
    """The regime model fit on ``panel``'s closes and its truncated posterior at every bar."""
    settings = config.ensemble
    model = fit_regimes(
        panel.close, seed=derive_seed(config.seed, "regime"), window=settings.regime_window
    )
    rows = regime_features(panel.close, window=settings.regime_window)
    return model, truncated_posterior(model, rows, settings.regime_lookback)


def _groups(config: TrainConfig) -> dict[str, tuple[str, ...]]:
    sequence = tuple(s.family for s in config.sequence)
    return group_members(config.families, Scope.SPECIALIST in config.scopes, sequence)


def sequence_blocks(panel: Panel, config: TrainConfig, folds: Sequence[Fold]) -> list[OofBlock]:
    """Every sequence member's out-of-fold blocks, family by family (fold, then horizon)."""
    return [
        block
        for s in config.sequence
        for block in evaluate_sequence(
            panel, s, folds, seed=derive_seed(config.seed, "sequence", s.family),
            threads=config.threads,
        )
    ]  # fmt: skip


def sequence_entries(panel: Panel, config: TrainConfig) -> dict[int, list[ModelEntry]]:
    """Per horizon, every sequence member refit on all labelled bars (one model per family).

    The member's probability is served as the network gives it (identity calibration): the
    head that stacks it is calibrated after stacking.
    """
    out: dict[int, list[ModelEntry]] = {h.bars: [] for h in config.horizons}
    for s in config.sequence:
        model = fit_sequence(
            panel,
            s,
            train_start=0,
            train_end=panel.n_times,
            seed=derive_seed(config.seed, "sequence", s.family),
            threads=config.threads,
        )
        member = SequenceMember(model)
        for h in out:
            entry = ModelEntry(
                h, s.family, "global", None, {}, Calibrator("identity"), member, kind="sequence"
            )
            out[h].append(entry)
    return out


def fit_heads(
    oof: OofTable,
    folds: Sequence[Fold],
    config: TrainConfig,
    grid: FloatArray,
    h: int,
    combiners: Mapping[str, str],
) -> list[StackHead]:
    """One head per member group at horizon ``h``, fit on the out-of-fold table only.

    ``combiners`` gives each group's combiner (:func:`ensemble_evidence` chose it); a group
    of one member passes its member through.
    """
    meta = MetaConfig(l2=config.ensemble.meta_l2)
    heads = []
    for group, names in _groups(config).items():
        if len(names) == 1:
            heads.append(StackHead(h, group, names, None))
        elif combiners[group] == AVERAGE:  # fits nothing: the members' mean
            heads.append(StackHead(h, group, names, None, combiner=AVERAGE))
        else:
            learner = fit_meta(oof, h, models=names, context=grid, folds=folds, config=meta)
            heads.append(StackHead(h, group, names, learner))
    return heads


def choose_combiner(
    stack: FloatArray, average: FloatArray, y: FloatArray, head: str, members: int
) -> dict[str, Any]:
    """A group's combiner from its nested forecasts, and why (the run record's entry).

    ``"auto"`` serves the lower nested log loss, a tie the average (it fits no weights); a
    forced ``head`` is served as it is; a group of one member passes it through (both
    combiners give its probability).

    Args:
        stack: the group's nested stack forecasts on its scored rows.
        average: the group's nested average-head forecasts on the same rows.
        y: the realised directions of those rows.
        head: :attr:`~quant_models.training.EnsembleConfig.head`.
        members: the group's member count.

    Examples:
        >>> import numpy as np
        >>> y = np.array([1.0, 0.0, 1.0, 0.0])
        >>> sharp, flat = np.array([0.7, 0.3, 0.6, 0.4]), np.full(4, 0.5)
        >>> choose_combiner(flat, sharp, y, "auto", 2)["combiner"]
        'average'
        >>> choose_combiner(sharp, flat, y, "auto", 2)["reason"]
        'auto: lower nested log loss'
    """
    losses = {STACK: log_loss(stack, y), AVERAGE: log_loss(average, y)}
    if members == 1:
        combiner, reason = STACK, "one member: its probability is served as it is"
    elif head != "auto":
        combiner, reason = head, "forced: EnsembleConfig.head"
    elif losses[AVERAGE] < losses[STACK]:
        combiner, reason = AVERAGE, "auto: lower nested log loss"
    elif losses[STACK] < losses[AVERAGE]:
        combiner, reason = STACK, "auto: lower nested log loss"
    else:
        combiner, reason = AVERAGE, "auto: equal nested log loss, the average"
    return {
        "combiner": combiner,
        "reason": reason,
        "n": len(y),
        "log_loss": {k: _round(v) for k, v in losses.items()},
    }


def _nested(rows: StackRows, past: Any, now: Any, grid: FloatArray, meta: MetaConfig) -> FloatArray:
    """The head's predictions on ``now`` from a learner fit on ``past`` (pass-through for one)."""
    if len(rows.models) == 1:
        return np.asarray(rows.p[now, 0], dtype=np.float64)
    learner = fit_rows(rows.where(past), grid[rows.time_rows[past]], meta)
    return learner.predict(rows.p[now], grid[rows.time_rows[now]]).p


def _group_forecasts(
    rows: StackRows, scored: list[int], grid: FloatArray, meta: MetaConfig
) -> tuple[FloatArray, FloatArray]:
    """A group's nested stack (0.5 on rows of unscored folds) and average on its rows.

    The average head fits nothing, so its forecast on every row is what the set serves there.
    A fold with no earlier row of the group (the ``full`` group's first fold when the
    specialists start later, ``min_specialist_bars``) has nothing to fit a learner on: its
    stack forecast is the average.
    """
    average = rows.p.mean(axis=1)
    stack = np.full(len(rows.y), 0.5)
    for f in scored:
        past, now = rows.fold < f, rows.fold == f
        stack[now] = _nested(rows, past, now, grid, meta) if past.any() else average[now]
    return stack, average


@attrs.frozen(eq=False)
class NestedForecasts:
    """The nested out-of-sample forecasts at one horizon, row by row (see :func:`nested_forecasts`).

    Attributes:
        rows: the ``globals`` head's joined rows, its members then the logistic baseline.
        groups: the member names of each head group.
        scored: the folds predicted (every fold after the first).
        stack: the learned stack's forecast per row (0.5 on fold 0).
        average: the plain average's.
        served: the combination the set serves (each group's chosen combiner).
        single: the single global member the earlier folds score best.
        heads: each group's combiner and why (:func:`choose_combiner`).
    """

    rows: StackRows
    groups: dict[str, tuple[str, ...]]
    scored: list[int]
    stack: FloatArray
    average: FloatArray
    served: FloatArray
    single: FloatArray
    heads: dict[str, dict[str, Any]]

    @property
    def held(self) -> Any:
        """The rows of the scored folds."""
        return self.rows.fold >= self.scored[0]


def nested_forecasts(
    oof: OofTable, folds: Sequence[Fold], config: TrainConfig, grid: FloatArray, h: int
) -> NestedForecasts:
    """Every fold after the first predicted by heads fit on the folds before it, row by row.

    The stack, the average head, the combination the set serves (each group's chosen
    combiner, :func:`choose_combiner`) and the best single global member, on the rows of the
    ``globals`` head (a coin with every specialist is predicted by the ``full`` head).

    Raises:
        MetaInputError: ``META_TOO_FEW_ROWS`` with fewer than two folds.
    """
    groups = _groups(config)
    names = groups[GLOBALS]
    g = len(names)
    rows = stack_rows(oof, h, models=(*names, "logistic"), folds=folds)
    glob = attrs.evolve(rows, models=names, p=rows.p[:, :g])
    full = stack_rows(oof, h, models=groups[FULL], folds=folds) if FULL in groups else None
    fold_ids = sorted(set(rows.fold.tolist()))
    if len(fold_ids) < 2:
        raise MetaInputError(
            f"the ensemble's nested evidence needs two or more folds, got {fold_ids}",
            reason_code=META_TOO_FEW_ROWS,
        )
    settings = config.ensemble
    meta = MetaConfig(l2=settings.meta_l2)
    scored = fold_ids[1:]
    stack, average = _group_forecasts(glob, scored, grid, meta)
    held = rows.fold >= scored[0]
    choice = {GLOBALS: choose_combiner(stack[held], average[held], rows.y[held], settings.head, g)}
    served = (average if choice[GLOBALS]["combiner"] == AVERAGE else stack).copy()
    single = np.full(len(rows.y), 0.5)
    for f in scored:
        past, now = glob.fold < f, glob.fold == f
        losses = [log_loss(glob.p[past][:, j], glob.y[past]) for j in range(g)]
        single[now] = glob.p[now, int(np.argmin(losses))]
    if full is not None:
        f_stack, f_average = _group_forecasts(full, scored, grid, meta)
        f_held = full.fold >= scored[0]
        choice[FULL] = choose_combiner(
            f_stack[f_held], f_average[f_held], full.y[f_held], settings.head, len(full.models)
        )
        f_served = f_average if choice[FULL]["combiner"] == AVERAGE else f_stack
        n_t = len(oof.open_times_ns)
        keys = rows.symbol_rows * n_t + rows.time_rows
        order = np.argsort(keys, kind="stable")
        at = full.symbol_rows[f_held] * n_t + full.time_rows[f_held]
        pos = order[np.searchsorted(keys, at, sorter=order)]
        stack[pos], average[pos], served[pos] = f_stack[f_held], f_average[f_held], f_served[f_held]
    return NestedForecasts(rows, groups, scored, stack, average, served, single, choice)


def ensemble_evidence(
    oof: OofTable, folds: Sequence[Fold], config: TrainConfig, grid: FloatArray, h: int
) -> tuple[dict[str, Any], ScoreCard]:
    """The nested out-of-sample evidence at ``h``, each head's combiner and the served card.

    Scores :func:`nested_forecasts`: the stack, the average head, the served combination, the
    best single global member and the logistic baseline, on the same rows. ``heads`` records
    each group's combiner and why; the score card (the gates' evidence) is the served
    combination's.

    Raises:
        MetaInputError: ``META_TOO_FEW_ROWS`` with fewer than two folds.
    """
    nested = nested_forecasts(oof, folds, config, grid, h)
    rows, held, settings = nested.rows, nested.held, config.ensemble
    g = len(nested.groups[GLOBALS])
    stack, average, served, single = nested.stack, nested.average, nested.served, nested.single
    y, clim, t = rows.y[held], rows.climatology[held], rows.time_rows[held]
    boot: dict[str, Any] = {
        "block": settings.bootstrap_block,
        "draws": settings.bootstrap_draws,
        "seed": derive_seed(config.seed, "evidence", f"h{h}"),
    }
    forecasts = {
        "stack": stack[held],
        "average": average[held],
        "served": served[held],
        "best_single": single[held],
        "logistic": rows.p[held, g],
    }
    evidence: dict[str, Any] = {
        "groups": {k: list(v) for k, v in nested.groups.items()},
        "heads": nested.heads,
        "scored_folds": nested.scored,
        "bootstrap": {"block_bars": settings.bootstrap_block, "draws": settings.bootstrap_draws},
    }
    for name, p in forecasts.items():
        evidence[name] = evidence_card(p, y, clim, t, **boot)
    for name in ("logistic", "best_single", "average"):
        gain = evidence_card(stack[held], y, clim, t, other=forecasts[name], **boot)
        evidence[f"stack_gain_vs_{name}"] = {
            "bss_gain": gain["bss_gain"],
            "ci95": gain["bss_gain_ci95"],
        }
    card = score(
        served[held],
        y,
        rows.forward_return[held],
        climatology=clim,
        threshold=config.threshold,
        fee=config.fee,
    )
    return evidence, card
