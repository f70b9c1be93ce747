"""Volume: ``volz_w``, the z-score of log(1 + volume) in its window."""

from __future__ import annotations

import numpy as np

from quant_models._panel import FloatArray
from quant_models.features._schema import FeatureConfig, Float32Array
from quant_models.features._sums import _Moments, _Scratch, _std32, _zscore32

__all__ = ["volume_features"]


def volume_features(
    config: FeatureConfig, volume: FloatArray, col: dict[str, Float32Array], scratch: _Scratch
) -> None:
    """``volz_w`` of some rows into ``col``."""
    if not config.volume_windows:
        return
    shape = volume.shape
    work, mean, tmp = (scratch.take(name, shape) for name in ("work", "mean", "tmp64"))
    sd32, diff32 = (scratch.take(n, shape, np.float32) for n in ("sd", "diff"))
    log_volume = np.log1p(volume, out=scratch.take("log_volume", shape))
    moments = _Moments(log_volume, max(config.volume_windows), scratch)
    for w in config.volume_windows:
        moments.deviations(w, mean, tmp)
        _std32(tmp, w, sd32)
        _zscore32(moments.sums.shifted, mean, sd32, work, diff32, col[f"volz_{w}"])
