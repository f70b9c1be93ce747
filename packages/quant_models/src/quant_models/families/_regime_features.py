"""Causal cross-asset features of a close panel: what the regime classifier observes.

Each bar's row is computed from the ``window + 1`` closes ending at that bar, of every coin
whose closes in that window are all present, by one function (:func:`window_features`) that
the batch pass and the streaming filter share, so both give the same bytes. The four
columns (:data:`FEATURE_NAMES`):

- ``momentum``: the mean over coins of the window's log return (the market's direction);
- ``efficiency``: the mean over coins of ``|window return| / sum |bar returns|`` (1 for a
  straight line, near 0 for a range);
- ``log_volatility``: the log of the mean over coins of the bar returns' standard deviation;
- ``comovement``: the variance of the cross-coin mean bar return over the mean per-coin
  variance (near 1 when the coins move together, near ``1/n`` when they do not).

A bar with no complete coin window (the first ``window`` bars, or a gap in every coin) gets
a ``NaN`` row: the filter treats it as a missing observation.

Examples:
    >>> import numpy as np
    >>> close = np.exp(np.cumsum(np.full((2, 30), 0.01), axis=1))
    >>> rows = regime_features(close, window=4)
    >>> rows.shape, bool(np.isnan(rows[3]).all()), round(float(rows[4, 1]), 6)
    ((30, 4), True, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from quant_core.errors import ValidationError
from quant_models import reasons

__all__ = [
    "FEATURE_NAMES",
    "FloatArray",
    "RegimeInputError",
    "check_close",
    "regime_features",
    "window_features",
]

FloatArray = npt.NDArray[np.float64]

FEATURE_NAMES = ("momentum", "efficiency", "log_volatility", "comovement")
"""The regime features' column names, in order."""

_VOL_FLOOR = 1e-12


class RegimeInputError(ValidationError, reason=reasons.FEATURE_INPUT_INVALID):
    """Input to the regime classifier has the wrong shape or impossible values.

    Examples:
        >>> RegimeInputError("bad").reason_code
        'FEATURE_INPUT_INVALID'
    """


def check_close(close: Any, *, ndim: int = 2) -> FloatArray:
    """Return ``close`` as float64, refusing a wrong shape or a non-positive/infinite price.

    ``NaN`` is allowed (a missing bar, as in :class:`quant_models.Panel`); ``inf``, zero and
    negative prices are not.

    Args:
        close: Closes, ``(n_coins, n_bars)`` (``ndim=2``) or one bar ``(n_coins,)`` (``ndim=1``).
        ndim: The number of dimensions expected.

    Returns:
        The closes as a float64 array.

    Raises:
        RegimeInputError: ``FEATURE_INPUT_INVALID`` for a wrong shape, no coin, or a price
            that is infinite, zero or negative.

    Examples:
        >>> check_close([[1.0, float("nan")]]).shape
        (1, 2)
        >>> check_close([[1.0, -1.0]])
        Traceback (most recent call last):
        ...
        quant_models.families._regime_features.RegimeInputError: [FEATURE_INPUT_INVALID] ...
    """
    array = np.asarray(close, dtype=np.float64)
    if array.ndim != ndim or array.shape[0] == 0:
        raise RegimeInputError(f"closes must have {ndim} dimensions and a coin, got {array.shape}")
    present = array[~np.isnan(array)]
    if not (np.isfinite(present).all() and (present > 0).all()):
        raise RegimeInputError("closes must be positive and finite (NaN marks a missing bar)")
    return array


def window_features(window: FloatArray) -> FloatArray:
    """The four regime features of one window of closes, ``(n_coins, window + 1)``.

    Args:
        window: Closes of every coin over the window, C-contiguous; ``NaN`` for a gap.

    Returns:
        The feature row ``(4,)``, all ``NaN`` when no coin's window is complete.

    Examples:
        >>> row = window_features(np.array([[1.0, 2.0, 1.0], [1.0, 1.0, float("nan")]]))
        >>> [round(float(v), 3) for v in row]
        [0.0, 0.0, -0.367, 1.0]
    """
    complete = ~np.isnan(window).any(axis=1)
    if not complete.any():
        return np.full(len(FEATURE_NAMES), np.nan)
    logs = np.log(window[complete])
    steps = np.diff(logs, axis=1)
    moves = logs[:, -1] - logs[:, 0]
    paths = np.abs(steps).sum(axis=1)
    ratios = np.divide(np.abs(moves), paths, out=np.zeros_like(moves), where=paths > 0)
    per_coin_var = steps.var(axis=1)
    mean_var = per_coin_var.mean()
    common_var = steps.mean(axis=0).var()
    comovement = common_var / mean_var if mean_var > 0 else 1.0
    volatility = np.sqrt(per_coin_var).mean()
    return np.array(
        [moves.mean(), ratios.mean(), np.log(volatility + _VOL_FLOOR), comovement],
        dtype=np.float64,
    )


def regime_features(close: Any, *, window: int = 24) -> FloatArray:
    """The causal regime features of every bar of a close panel.

    Row ``t`` uses closes ``t - window .. t`` only, so it never changes when later bars are
    appended or altered.

    Args:
        close: Closes ``(n_coins, n_bars)`` (e.g. ``Panel.close``); ``NaN`` for a missing bar.
        window: Bars of return history per row (at least 2).

    Returns:
        The features ``(n_bars, 4)``; the first ``window`` rows are ``NaN``.

    Raises:
        RegimeInputError: ``FEATURE_INPUT_INVALID`` for bad closes or a window under 2.

    Examples:
        >>> regime_features(np.ones((1, 3)), window=1)
        Traceback (most recent call last):
        ...
        quant_models.families._regime_features.RegimeInputError: [FEATURE_INPUT_INVALID] window ...
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise RegimeInputError(f"window must be an int >= 2, got {window!r}")
    array = check_close(close)
    n_bars = array.shape[1]
    rows = np.full((n_bars, len(FEATURE_NAMES)), np.nan)
    for t in range(window, n_bars):
        rows[t] = window_features(np.ascontiguousarray(array[:, t - window : t + 1]))
    return rows
