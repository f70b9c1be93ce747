"""Walk-forward evaluation: fit on each fold's training range, forecast its test block.

The forecasts come back as :class:`quant_models.training.OofBlock` rows (one block per fold and
horizon, model ``"<family>/global"``), the shape the stacking meta-learner reads; the
climatology of a block is the fold's training up-rate at that horizon. A fold whose training
range is too short for the model's windows (an early expanding-window fold shorter than the
longest resolution's span) has no block: the member sits that fold out, and a head that stacks
it uses the folds it predicted (decision 0125).

Examples:
    >>> import numpy as np
    >>> from quant_core import Timeframe
    >>> from quant_models import Panel
    >>> from quant_models.sequence import Resolution, SequenceConfig
    >>> from quant_models.training import walk_forward
    >>> rng = np.random.default_rng(2)
    >>> c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (2, 360)), axis=1))
    >>> panel = Panel(("A", "B"), "USD", Timeframe.H1, np.arange(360) * Timeframe.H1.ns,
    ...               c, c * 1.01, c * 0.99, c, np.ones((2, 360)))
    >>> config = SequenceConfig(horizons=(1,), risk_bars=2, hidden=4, max_epochs=1,
    ...                         resolutions=(Resolution("short", 6, 1),))
    >>> folds = walk_forward(360, n_folds=2, test_size=40, purge=2, min_train=200)
    >>> blocks = evaluate_sequence(panel, config, folds, seed=1)
    >>> [(b.model, b.fold, b.horizon_bars, len(b.p)) for b in blocks]
    [('lstm/global', 0, 1, 80), ('lstm/global', 1, 1, 78)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from quant_models import reasons
from quant_models._errors import DataError
from quant_models._panel import Panel
from quant_models.sequence._config import SequenceConfig
from quant_models.sequence._fit import fit_sequence
from quant_models.sequence._windows import build_windows, labels

if TYPE_CHECKING:
    from quant_models.training import Fold, OofBlock

__all__ = ["evaluate_sequence"]


def evaluate_sequence(
    panel: Panel,
    config: SequenceConfig,
    folds: Sequence[Fold],
    *,
    seed: int,
    threads: int = 1,
    device: str = "cpu",
) -> tuple[OofBlock, ...]:
    """Out-of-fold direction forecasts of a sequence model, fold by fold, horizon by horizon.

    Each fold's model trains on ``[train_start, train_end)`` only (early stopping on the
    newest part of that range) and forecasts every valid window in ``[test_start,
    test_end)`` whose label is known.

    Args:
        panel: the bars.
        config: the model.
        folds: walk-forward folds (e.g. from :func:`quant_models.training.walk_forward`).
        seed: the training seed of every fold.
        threads: torch threads while fitting.
        device: see :func:`quant_models.sequence.fit_sequence`.

    Raises:
        DataError: ``INSUFFICIENT_DATA`` when no fold's training range holds enough windows.
    """
    # imported here: the training package imports this one (a stacked run's sequence members)
    from quant_models.training._oof import OofBlock

    blocks: list[OofBlock] = []
    short: list[str] = []
    for fold in folds:
        try:
            model = fit_sequence(
                panel,
                config,
                train_start=fold.train_start,
                train_end=fold.train_end,
                seed=seed,
                threads=threads,
                device=device,
            )
        except DataError as exc:
            if exc.reason_code != reasons.INSUFFICIENT_DATA:
                raise
            short.append(f"fold {fold.index}: {exc}")
            continue
        times = np.arange(fold.test_start, fold.test_end, dtype=np.int64)
        windows = build_windows(panel, config, times)
        windows = windows.take(windows.valid)
        forward = labels(panel, config, windows, panel.n_times - 1).forward
        p_up = model.predict(windows.inputs).p_up
        for k, h in enumerate(config.horizons):
            known = np.isfinite(forward[:, k])
            y = (forward[known, k] > 0).astype(np.float64)
            blocks.append(
                OofBlock(
                    f"{config.family}/global",
                    h,
                    fold.index,
                    windows.symbol_rows[known],
                    windows.time_rows[known],
                    p_up[known, k],
                    y,
                    forward[known, k],
                    np.full(y.shape[0], model.up_rate[k]),
                )
            )
    if not blocks and short:
        raise DataError(
            f"no fold is long enough for the {config.family} model: " + "; ".join(short),
            reason_code=reasons.INSUFFICIENT_DATA,
        )
    return tuple(blocks)
