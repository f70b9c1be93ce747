"""Walk-forward folds with purge and embargo: the only way quant_models splits data.

A fold tests on a block of consecutive grid bars and trains only on bars *before* it. The gap
between the last training bar and the first test bar is ``purge + embargo`` bars, where
``purge`` is the longest horizon (a training label at ``t`` looks ``purge`` bars ahead, so it
would otherwise overlap the test block) and ``embargo`` absorbs serial correlation. *Expanding*
folds train from the first usable bar; *sliding* folds keep a fixed training length. There is
no static split anywhere.

Examples:
    >>> folds = walk_forward(100, n_folds=2, test_size=10, purge=3, embargo=2, min_train=20)
    >>> [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds]
    [(0, 75, 80, 90), (0, 85, 90, 100)]
    >>> folds = walk_forward(100, n_folds=2, test_size=10, purge=3, embargo=2, min_train=20,
    ...                      mode="sliding")
    >>> [(f.train_start, f.train_end) for f in folds]
    [(55, 75), (65, 85)]
"""

from __future__ import annotations

from typing import Literal

import attrs

from quant_models import reasons
from quant_models._errors import ConfigError, DataError

__all__ = ["Fold", "walk_forward"]


@attrs.frozen
class Fold:
    """One walk-forward fold, as half-open ranges of grid indices.

    Attributes:
        index: fold number, 0 = oldest test block.
        train_start: first training bar.
        train_end: one past the last training bar.
        test_start: first test bar (``train_end + purge + embargo``).
        test_end: one past the last test bar.
    """

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def walk_forward(
    n_times: int,
    *,
    n_folds: int,
    test_size: int,
    purge: int,
    embargo: int = 0,
    min_train: int = 1,
    start: int = 0,
    mode: Literal["expanding", "sliding"] = "expanding",
) -> tuple[Fold, ...]:
    """The ``n_folds`` most recent test blocks of ``test_size`` bars and their training ranges.

    Args:
        n_times: grid length.
        n_folds: number of folds (at least 1).
        test_size: bars per test block.
        purge: bars a label looks ahead (the longest horizon).
        embargo: extra bars dropped between training and test.
        min_train: the shortest training range allowed; with ``mode="sliding"`` the exact
            training length.
        start: first usable bar (e.g. after feature warm-up).
        mode: ``"expanding"`` or ``"sliding"``.

    Raises:
        ConfigError: non-positive sizes or an unknown mode.
        DataError: ``INSUFFICIENT_DATA`` when the first fold would train on fewer than
            ``min_train`` bars.
    """
    if n_folds < 1 or test_size < 1 or purge < 0 or embargo < 0 or min_train < 1:
        raise ConfigError("folds, test size and min_train must be positive; purge/embargo >= 0")
    if mode not in ("expanding", "sliding"):
        raise ConfigError(f"unknown walk-forward mode {mode!r}")
    gap = purge + embargo
    first_test = n_times - n_folds * test_size
    if first_test - gap - start < min_train:
        raise DataError(
            f"{n_times} bars cannot hold {n_folds} folds of {test_size} bars after a gap of"
            f" {gap} and {min_train} training bars from bar {start}",
            reason_code=reasons.INSUFFICIENT_DATA,
        )
    folds = []
    for i in range(n_folds):
        test_start = first_test + i * test_size
        train_end = test_start - gap
        train_start = start if mode == "expanding" else train_end - min_train
        folds.append(Fold(i, train_start, train_end, test_start, test_start + test_size))
    return tuple(folds)
