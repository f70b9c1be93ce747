"""Multi-horizon supervised targets: direction and return-magnitude buckets.

For horizon ``h`` bars, the target at grid bar ``t`` is the forward log return
``log(close[t + h] / close[t])``; *direction* is 1 when it is strictly positive, and the
*bucket* is the index ``i`` with ``edges[i - 1] < r <= edges[i]``. Bucket edges must contain
0, so buckets split cleanly into down (``r <= 0``) and up (``r > 0``) halves and agree with the
direction label. A target is ``NaN`` where ``t + h`` is past the data or a close is missing.

Examples:
    >>> import numpy as np
    >>> close = np.array([[100.0, 110.0, 99.0, 99.0]])
    >>> t = make_targets(close, HorizonSpec(1, (-0.05, 0.0, 0.05)))
    >>> t.direction.tolist()
    [[1.0, 0.0, 0.0, nan]]
    >>> t.bucket.tolist()
    [[3.0, 0.0, 1.0, nan]]
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from quant_models._errors import ConfigError
from quant_models._panel import FloatArray

__all__ = ["HorizonSpec", "Targets", "make_targets"]


def _edges(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


@attrs.frozen
class HorizonSpec:
    """One forecast horizon.

    Attributes:
        bars: horizon length in bars.
        bucket_edges: ascending inner edges of the log-return buckets; must include 0.
    """

    bars: int
    bucket_edges: tuple[float, ...] = attrs.field(default=(-0.01, 0.0, 0.01), converter=_edges)

    def __attrs_post_init__(self) -> None:
        if self.bars < 1:
            raise ConfigError(f"a horizon needs at least one bar, got {self.bars}")
        edges = list(self.bucket_edges)
        if edges != sorted(set(edges)) or 0.0 not in edges:
            raise ConfigError(f"bucket edges must ascend strictly and include 0, got {edges}")

    @property
    def n_buckets(self) -> int:
        """Number of buckets (edges + 1)."""
        return len(self.bucket_edges) + 1

    @property
    def up_buckets(self) -> tuple[int, ...]:
        """Indices of the buckets above 0."""
        zero = self.bucket_edges.index(0.0)
        return tuple(range(zero + 1, self.n_buckets))


@attrs.frozen(eq=False)
class Targets:
    """Forward targets for one horizon on a panel grid, ``(symbols, times)`` arrays."""

    spec: HorizonSpec
    forward_return: FloatArray
    direction: FloatArray
    bucket: FloatArray


def make_targets(close: FloatArray, spec: HorizonSpec) -> Targets:
    """Forward return, direction and bucket at every grid bar for one horizon."""
    h = spec.bars
    fwd = np.full_like(close, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        fwd[:, :-h] = np.log(close[:, h:] / close[:, :-h])
    missing = np.isnan(fwd)
    direction = np.where(fwd > 0, 1.0, 0.0)
    direction[missing] = np.nan
    bucket = np.searchsorted(np.asarray(spec.bucket_edges), np.where(missing, 0.0, fwd), "left")
    bucket_f = bucket.astype(np.float64)
    bucket_f[missing] = np.nan
    return Targets(spec, fwd, direction, bucket_f)
