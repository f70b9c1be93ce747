"""Cross-asset context and calendar: ``ref_ret_w``, ``mkt_ret_w``, ``rel_ret_w``, hour, weekday."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quant_models._panel import FloatArray
from quant_models.features._schema import FEATURE_DTYPE, FeatureConfig, Float32Array
from quant_models.features._sums import _Scratch, _shift_diff

__all__ = ["CHUNK", "calendar_features", "context_features", "market_context"]

CHUNK = 1 << 16
"""Elements per chunk of coins (keeps the scratch arrays in cache); the market's slab too."""

_Context = dict[int, tuple[FloatArray, Float32Array, Float32Array]]


def market_context(
    config: FeatureConfig, log_close: FloatArray, gaps: bool, ref: int | None
) -> _Context:
    """Each cross window's equal-weight market return and the reference coin's return.

    Returns, per window, the market return in float64 and float32 and the reference coin's
    return in float32, from the log closes of every coin. The returns of all the coins are
    taken a slab of bars at a time, so they stay in cache.
    """
    n_symbols, n = log_close.shape
    slab = max(1, CHUNK // max(n_symbols, 1))
    ret = np.empty((n_symbols, min(slab, n)))
    context = {}
    for w in config.cross_windows:
        market = np.full(n, np.nan)
        for a in range(w, n, slab):
            b = min(a + slab, n)
            part = np.subtract(log_close[:, a:b], log_close[:, a - w : b - w], out=ret[:, : b - a])
            if gaps:  # the mean over the coins present at each bar
                present = np.sum(~np.isnan(part), axis=0)
                np.divide(np.nansum(part, axis=0), np.maximum(present, 1), out=market[a:b])
                market[a:b][present == 0] = np.nan
            else:
                np.mean(part, axis=0, out=market[a:b])
        reference = np.full(n, np.nan, dtype=FEATURE_DTYPE)
        if ref is not None:
            np.copyto(reference, _shift_diff(log_close[ref : ref + 1], w, np.empty((1, n)))[0])
        context[w] = (market, market.astype(FEATURE_DTYPE), reference)
    return context


def context_features(
    context: _Context,
    returns: dict[int, FloatArray],
    col: dict[str, Float32Array],
    scratch: _Scratch,
) -> None:
    """Reference-coin, market and relative returns of some rows of the panel into ``col``."""
    for w, (market, market32, reference32) in context.items():
        col[f"ref_ret_{w}"][:] = reference32
        col[f"mkt_ret_{w}"][:] = market32
        relative = returns[w]
        work = scratch.take("relative", relative.shape)
        np.copyto(col[f"rel_ret_{w}"], np.subtract(relative, market, out=work))


def calendar_features(close_times_ns: npt.NDArray[np.int64]) -> tuple[Float32Array, Float32Array]:
    """Hour of day and weekday (Monday 0) of each bar close."""
    close_s = close_times_ns // 1_000_000_000
    hour = ((close_s // 3600) % 24).astype(FEATURE_DTYPE)
    weekday = (((close_s // 86_400) + 3) % 7).astype(FEATURE_DTYPE)  # 1970-01-01 was a Thursday
    return hour, weekday
