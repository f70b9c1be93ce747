"""Price moves: ``ret_w`` log returns and ``vol_w`` realised volatility."""

from __future__ import annotations

import numpy as np

from quant_models._panel import FloatArray
from quant_models.features._schema import FeatureConfig, Float32Array
from quant_models.features._sums import _Scratch, _shift_diff, _std32, _Windows

__all__ = ["price_features"]


def price_features(
    config: FeatureConfig, log_close: FloatArray, col: dict[str, Float32Array], scratch: _Scratch
) -> dict[int, FloatArray]:
    """``ret_w`` and ``vol_w`` of some rows into ``col``; returns the float64 returns.

    The returns of the return and cross-asset windows are kept (work arrays) for the
    cross-asset family. The window sum of 1-bar log returns is the ``w``-bar log return, so
    the volatility needs only the running sums of the squared 1-bar returns.
    """
    shape = log_close.shape
    returns: dict[int, FloatArray] = {}
    for w in sorted({*config.return_windows, *config.cross_windows}):
        returns[w] = _shift_diff(log_close, w, scratch.take(f"ret_{w}", shape))
        if w in config.return_windows:
            np.copyto(col[f"ret_{w}"], returns[w])
    if config.vol_windows:
        work, mean, tmp = (scratch.take(name, shape) for name in ("work", "mean", "tmp64"))
        ret1 = returns[1] if 1 in returns else _shift_diff(log_close, 1, scratch.take("r1", shape))
        squares = _Windows(
            ret1, max(config.vol_windows), lead=1, plain=False, squares=True, scratch=scratch
        )
        for w in config.vol_windows:
            s1 = returns[w] if w in returns else _shift_diff(log_close, w, mean)
            dev = squares.window(w, work, squares=True)
            np.multiply(s1, 1.0 / w, out=tmp)
            dev -= np.multiply(s1, tmp, out=tmp)
            _std32(dev, w, col[f"vol_{w}"])
    return returns
