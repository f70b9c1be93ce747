"""Trend and mean reversion: ``sma_w`` and ``zclose_w``."""

from __future__ import annotations

import numpy as np

from quant_models._panel import FloatArray
from quant_models.features._schema import FEATURE_DTYPE, FeatureConfig, Float32Array
from quant_models.features._sums import _Moments, _Scratch, _std32, _zscore32

__all__ = ["trend_features"]


def trend_features(
    config: FeatureConfig, close: FloatArray, col: dict[str, Float32Array], scratch: _Scratch
) -> None:
    """``zclose_w`` (the close's z-score) and ``sma_w`` (log distance from the mean).

    ``log(close / mean)`` is taken as ``log1p((close - mean) / mean)``, without the cancelling
    difference of two float64 logs: the ratio is small and float32 keeps its digits.
    """
    if not config.trend_windows:
        return
    shape = close.shape
    work, mean, tmp = (scratch.take(name, shape) for name in ("work", "mean", "tmp64"))
    sd32, diff32, mean32 = (scratch.take(n, shape, np.float32) for n in ("sd", "diff", "mean"))
    trend = _Moments(close, max(config.trend_windows), scratch)
    close32 = scratch.take("close", shape, FEATURE_DTYPE)
    np.copyto(close32, close)
    for w in config.trend_windows:
        trend.deviations(w, mean, tmp)
        _std32(tmp, w, sd32)
        _zscore32(trend.sums.shifted, mean, sd32, work, diff32, col[f"zclose_{w}"])
        sma = col[f"sma_{w}"]
        np.subtract(close32, diff32, out=mean32)
        np.divide(diff32, mean32, out=sma)
        np.log1p(sma, out=sma)
