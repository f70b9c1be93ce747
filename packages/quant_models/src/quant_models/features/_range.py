"""High/low range: ``range_1`` and its trailing means ``range_w``."""

from __future__ import annotations

import numpy as np

from quant_models._panel import FloatArray
from quant_models.features._schema import FeatureConfig, Float32Array
from quant_models.features._sums import _Scratch, _Windows

__all__ = ["range_features"]


def range_features(
    config: FeatureConfig,
    high: FloatArray,
    low: FloatArray,
    col: dict[str, Float32Array],
    scratch: _Scratch,
) -> None:
    """``range_1`` = log(high / low) and its ``w``-bar means of some rows into ``col``."""
    log_range = scratch.take("log_range", high.shape)
    np.divide(high, low, out=log_range)
    np.log(log_range, out=log_range)
    np.copyto(col["range_1"], log_range)
    if config.range_windows:
        work = scratch.take("work", high.shape)
        ranges = _Windows(log_range, max(config.range_windows), scratch=scratch)
        for w in config.range_windows:
            out = col[f"range_{w}"]
            np.copyto(out, ranges.window(w, work))
            out /= w
