"""Causal multi-resolution windows from a bar panel, and the labels the heads learn.

A window at grid bar ``t`` holds, per resolution ``(steps L, bars b)``, ``L`` consecutive
blocks of ``b`` bars, the last ending at bar ``t``. Each block gives :data:`FEATURES`: its log
return (close at its end over close at the previous block's end), its log range (highest high
over lowest low) and its volume z (``log1p`` of the block's volume minus the window's mean of
that). Every value comes from bars closing at or before ``t``. A run of at most
``config.gap_fill_bars`` missing bars reads as bars without trades (:func:`fill_gaps`); a
longer gap anywhere in a window makes the window invalid.

Examples:
    >>> import numpy as np
    >>> from quant_models.sequence import Resolution, SequenceConfig
    >>> config = SequenceConfig(resolutions=(Resolution("short", 4, 1), Resolution("day", 2, 3)))
    >>> close = np.exp(np.cumsum(np.full((1, 12), 0.01), axis=1))
    >>> volume = np.ones((1, 12))
    >>> w = window_arrays(close, close * 1.01, close * 0.99, volume, config, np.array([11]))
    >>> [a.shape for a in w], np.round(w[0][0, 0, :, 0], 3).tolist()
    ([(1, 1, 4, 3), (1, 1, 2, 3)], [0.01, 0.01, 0.01, 0.01])
    >>> window_arrays(close, close, close, close, config, np.array([5]))[1][0, 0, 0, 0]
    np.float64(nan)
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from quant_models._panel import FloatArray, Panel
from quant_models.sequence._config import FEATURES, SequenceConfig

__all__ = [
    "Labels",
    "Windows",
    "build_windows",
    "fill_gaps",
    "labels",
    "last_windows",
    "stream_window",
    "window_arrays",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def fill_gaps(
    close: FloatArray, high: FloatArray, low: FloatArray, volume: FloatArray, limit: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Missing bars (NaN close) within ``limit`` bars of the last present one, filled.

    A filled bar is a bar without trades: high, low and close at the last present close,
    volume 0. A bar's filled value reads only the ``limit`` bars before it, so the values
    are the same whether computed on a whole series or on a tail holding ``limit`` bars more
    than the span that is read (the streaming path). Longer gaps stay NaN.

    Args:
        close: ``(S, T)`` closes, NaN for a missing bar.
        high: highs.
        low: lows.
        volume: volumes.
        limit: the longest run of missing bars to fill (0: none).

    Examples:
        >>> import numpy as np
        >>> c = np.array([[1.0, np.nan, np.nan, 2.0, np.nan, np.nan, np.nan]])
        >>> fill_gaps(c, c, c, np.ones_like(c), 2)[0].tolist()
        [[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, nan]]
    """
    present = np.isfinite(close)
    if limit == 0 or present.all():
        return close, high, low, volume
    position = np.arange(close.shape[-1])
    last = np.maximum.accumulate(np.where(present, position, -1), axis=-1)
    fill = ~present & (last >= 0) & (position - last <= limit)
    filled = np.where(fill, np.take_along_axis(close, np.maximum(last, 0), axis=-1), close)
    return (
        filled,
        np.where(fill, filled, high),
        np.where(fill, filled, low),
        np.where(fill, 0.0, volume),
    )


def _blocks(
    close: FloatArray, high: FloatArray, low: FloatArray, volume: FloatArray, b: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per bar ``e``: the log return, log range and log1p volume of the block ending at ``e``."""
    n = close.shape[1]
    ret = np.full(close.shape, np.nan)
    rng = np.full(close.shape, np.nan)
    vol = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(close)
        ret[:, b:] = logc[:, b:] - logc[:, :-b]
        if n >= b:
            hi = sliding_window_view(high, b, axis=1).max(axis=-1)
            lo = sliding_window_view(low, b, axis=1).min(axis=-1)
            rng[:, b - 1 :] = np.log(hi) - np.log(lo)
            vol[:, b - 1 :] = np.log1p(sliding_window_view(volume, b, axis=1).sum(axis=-1))
    return ret, rng, vol


def _centred(vol: FloatArray) -> FloatArray:
    """``vol`` minus its mean over the last axis, reduced on a contiguous copy.

    The batch and the streaming path then sum in the same order and agree bit for bit.
    """
    out: FloatArray = vol - np.ascontiguousarray(vol).mean(axis=-1, keepdims=True)
    return out


def _gather(series: tuple[FloatArray, ...], ends: IntArray) -> FloatArray:
    """``(S, n, L, 3)`` values of the three block series at the ``(n, L)`` block ends."""
    inside = ends >= 0
    safe = np.where(inside, ends, 0)
    out = np.stack([s[:, safe] for s in series], axis=-1)
    out[:, ~inside] = np.nan
    out[..., 2] = _centred(out[..., 2])
    return out


def window_arrays(
    close: FloatArray,
    high: FloatArray,
    low: FloatArray,
    volume: FloatArray,
    config: SequenceConfig,
    times: IntArray,
) -> tuple[FloatArray, ...]:
    """Raw (unnormalised) windows of every coin at grid bars ``times``.

    Args:
        close: ``(S, T)`` closes.
        high: ``(S, T)`` highs.
        low: ``(S, T)`` lows.
        volume: ``(S, T)`` volumes.
        config: the resolutions.
        times: the decision bars.

    Returns:
        One ``(S, len(times), steps, 3)`` float64 array per resolution; NaN where a window
        reaches before the first bar or over a gap longer than ``config.gap_fill_bars``.
    """
    close, high, low, volume = fill_gaps(close, high, low, volume, config.gap_fill_bars)
    out = []
    for r in config.resolutions:
        series = _blocks(close, high, low, volume, r.bars)
        offsets = (r.steps - 1 - np.arange(r.steps, dtype=np.int64)) * r.bars
        out.append(_gather(series, times[:, None] - offsets[None, :]))
    return tuple(out)


def stream_window(
    close: FloatArray,
    high: FloatArray,
    low: FloatArray,
    volume: FloatArray,
    config: SequenceConfig,
) -> tuple[FloatArray, ...]:
    """The window at the last bar of one coin's recent bars (the streaming path).

    Equal to :func:`window_arrays` at that bar, computed from the ``config.lookback`` newest
    bars only: :func:`last_windows` for one coin.

    Args:
        close: the coin's last ``config.lookback`` closes, oldest first.
        high: highs, the same bars.
        low: lows.
        volume: volumes.
        config: the resolutions.

    Returns:
        One ``(1, steps, 3)`` array per resolution.
    """
    rows = (close[None, :], high[None, :], low[None, :], volume[None, :])
    return last_windows(*rows, config)


def last_windows(
    close: FloatArray,
    high: FloatArray,
    low: FloatArray,
    volume: FloatArray,
    config: SequenceConfig,
) -> tuple[FloatArray, ...]:
    """The windows at the last bar of several coins at once (the predictor's path).

    :func:`stream_window` for every row of ``(S, n)`` arrays holding at least
    ``config.lookback`` bars: each block is reduced directly, all coins in one pass.

    Args:
        close: ``(S, n)`` closes, oldest first.
        high: highs, the same bars.
        low: lows.
        volume: volumes.
        config: the resolutions.

    Returns:
        One ``(S, steps, 3)`` array per resolution (NaN where a block holds a gap longer
        than ``config.gap_fill_bars``).

    Examples:
        >>> import numpy as np
        >>> from quant_models.sequence import Resolution, SequenceConfig
        >>> config = SequenceConfig(resolutions=(Resolution("a", 3, 1), Resolution("b", 2, 4)))
        >>> c = np.exp(np.random.default_rng(0).normal(0, 0.01, (2, 12)).cumsum(axis=1))
        >>> got = last_windows(c, c * 1.01, c * 0.99, c, config)
        >>> want = window_arrays(c, c * 1.01, c * 0.99, c, config, np.array([11]))
        >>> all(np.allclose(g, w[:, 0], rtol=0, atol=1e-12) for g, w in zip(got, want))
        True
    """
    s = close.shape[0]
    close, high, low, volume = fill_gaps(close, high, low, volume, config.gap_fill_bars)
    out = []
    for r in config.resolutions:
        span = r.steps * r.bars
        shape = (s, r.steps, r.bars)
        ends = close[:, -span:].reshape(shape)[:, :, -1]
        step = np.empty((s, r.steps, len(FEATURES)))
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(np.concatenate([close[:, -span - 1 : -span], ends], axis=1))
            step[:, :, 0] = logs[:, 1:] - logs[:, :-1]
            hi = high[:, -span:].reshape(shape).max(axis=-1)
            lo = low[:, -span:].reshape(shape).min(axis=-1)
            step[:, :, 1] = np.log(hi) - np.log(lo)
            step[:, :, 2] = np.log1p(volume[:, -span:].reshape(shape).sum(axis=-1))
        step[..., 2] = _centred(step[..., 2])
        out.append(step)
    return tuple(out)


@attrs.frozen(eq=False)
class Windows:
    """The windows of every (coin, bar) asked for, flattened coin by coin.

    Attributes:
        inputs: one ``(N, steps, 3)`` float64 array per resolution (raw, unnormalised).
        symbol_rows: the panel row of each window's coin.
        time_rows: the grid bar of each window.
        valid: rows whose every value is finite.
    """

    inputs: tuple[FloatArray, ...]
    symbol_rows: IntArray
    time_rows: IntArray
    valid: BoolArray

    def take(self, keep: BoolArray | IntArray) -> Windows:
        """The rows ``keep`` selects (a mask or indices)."""
        return Windows(
            tuple(a[keep] for a in self.inputs),
            self.symbol_rows[keep],
            self.time_rows[keep],
            self.valid[keep],
        )


def build_windows(panel: Panel, config: SequenceConfig, times: IntArray | None = None) -> Windows:
    """The causal windows of every coin of ``panel`` at grid bars ``times`` (default: all).

    Args:
        panel: hourly (or any regular) bars.
        config: the resolutions.
        times: decision bars (grid indices).

    Examples:
        >>> import numpy as np
        >>> from quant_core import Timeframe
        >>> from quant_models import Panel
        >>> from quant_models.sequence import Resolution, SequenceConfig
        >>> c = np.exp(np.cumsum(np.full((2, 30), 0.01), axis=1))
        >>> panel = Panel(("A", "B"), "USD", Timeframe.H1, np.arange(30) * Timeframe.H1.ns,
        ...               c, c * 1.01, c * 0.99, c, np.ones((2, 30)))
        >>> config = SequenceConfig(
        ...     resolutions=(Resolution("short", 4, 1), Resolution("mid", 3, 6)))
        >>> w = build_windows(panel, config)
        >>> w.inputs[1].shape, int(w.valid.sum()), int(w.time_rows[w.valid].min())
        ((60, 3, 3), 24, 18)
    """
    grid = np.arange(panel.n_times, dtype=np.int64) if times is None else times.astype(np.int64)
    arrays = window_arrays(panel.close, panel.high, panel.low, panel.volume, config, grid)
    n_sym = len(panel.symbols)
    inputs = tuple(a.reshape(n_sym * grid.shape[0], *a.shape[2:]) for a in arrays)
    valid = np.ones(inputs[0].shape[0], dtype=bool)
    for a in inputs:
        valid &= np.isfinite(a).all(axis=(1, 2))
    symbols = np.repeat(np.arange(n_sym, dtype=np.int64), grid.shape[0])
    return Windows(inputs, symbols, np.tile(grid, n_sym), valid)


@attrs.frozen(eq=False)
class Labels:
    """What the heads learn at each (coin, bar) row, NaN where a label is unknown.

    Attributes:
        forward: ``(N, n_horizons)`` forward log return per horizon.
        risk: ``(N,)`` realised volatility (std of 1-bar log returns) over the next
            ``risk_bars`` bars.
    """

    forward: FloatArray
    risk: FloatArray


def labels(panel: Panel, config: SequenceConfig, windows: Windows, last: int) -> Labels:
    """The labels of ``windows``' rows, using only bars up to grid bar ``last`` (inclusive).

    Args:
        panel: the bars.
        config: horizons and the risk span.
        windows: the rows.
        last: the newest bar a label may read (a fold's last training bar, or the panel's).
    """
    s, t = windows.symbol_rows, windows.time_rows
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(panel.close[:, : last + 1])
    n = logc.shape[1]

    def at(offset: int) -> FloatArray:
        idx = t + offset
        inside = idx < n
        out = np.where(inside, logc[s, np.minimum(idx, n - 1)], np.nan)
        return out

    now = at(0)
    forward = np.stack([at(h) - now for h in config.horizons], axis=1)
    steps = np.stack([at(k) - at(k - 1) for k in range(1, config.risk_bars + 1)], axis=1)
    risk = np.sqrt(np.mean(steps**2, axis=1))
    return Labels(forward, risk)
