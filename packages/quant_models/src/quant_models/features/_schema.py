"""The feature configuration, the declared and hashed schema, and the computed set."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import content_hash, unstructure
from quant_models._errors import ConfigError
from quant_models._panel import Panel

FEATURE_SCHEMA_VERSION = "quant.features/2"

FEATURE_DTYPE = np.float32
"""The dtype of the feature matrix (declared in every :class:`FeatureSchema`)."""

Float32Array = npt.NDArray[np.float32]

DEFAULT_WORKERS = 1
"""Threads :func:`compute_features` uses by default.

One: on the shared 2-core machine this is developed on, a second thread never made the pass
faster (see the module notes); pass ``workers`` where cores are known to be idle.
"""


def _windows(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


@attrs.frozen
class FeatureConfig:
    """Which windows (in bars) each feature family uses.

    Attributes:
        return_windows: log-return lookbacks.
        vol_windows: realised-volatility windows.
        range_windows: windows of the mean high/low range.
        volume_windows: windows of the log-volume z-score.
        trend_windows: windows of the distance from the moving average and the close z-score.
        cross_windows: lookbacks of the reference-coin and market returns.
        reference_symbol: the coin whose moves are cross-asset context for every coin.
        calendar: add hour-of-day and weekday of the bar close.
    """

    return_windows: tuple[int, ...] = attrs.field(default=(1, 4, 24, 72), converter=_windows)
    vol_windows: tuple[int, ...] = attrs.field(default=(24, 72), converter=_windows)
    range_windows: tuple[int, ...] = attrs.field(default=(24,), converter=_windows)
    volume_windows: tuple[int, ...] = attrs.field(default=(24,), converter=_windows)
    trend_windows: tuple[int, ...] = attrs.field(default=(24, 72), converter=_windows)
    cross_windows: tuple[int, ...] = attrs.field(default=(1, 24), converter=_windows)
    reference_symbol: str = "BTC"
    calendar: bool = True

    def __attrs_post_init__(self) -> None:
        for name in (
            "return_windows",
            "vol_windows",
            "range_windows",
            "volume_windows",
            "trend_windows",
            "cross_windows",
        ):
            values = getattr(self, name)
            if any(w < 1 for w in values) or list(values) != sorted(set(values)):
                raise ConfigError(f"{name} must be positive, ascending and unique, got {values}")
        if any(w < 2 for w in (*self.vol_windows, *self.volume_windows, *self.trend_windows)):
            raise ConfigError("volatility, volume and trend windows need at least 2 bars")

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in column order."""
        names = [f"ret_{w}" for w in self.return_windows]
        names += [f"vol_{w}" for w in self.vol_windows]
        names += ["range_1", *(f"range_{w}" for w in self.range_windows)]
        names += [f"volz_{w}" for w in self.volume_windows]
        names += [f"sma_{w}" for w in self.trend_windows]
        names += [f"zclose_{w}" for w in self.trend_windows]
        names += [f"ref_ret_{w}" for w in self.cross_windows]
        names += [f"mkt_ret_{w}" for w in self.cross_windows]
        names += [f"rel_ret_{w}" for w in self.cross_windows]
        if self.calendar:
            names += ["hour", "weekday"]
        return tuple(names)

    @property
    def warmup(self) -> int:
        """Bars of history needed before every feature is defined (the longest lookback)."""
        return max(
            (
                *self.return_windows,
                *(w + 1 for w in self.vol_windows),
                *self.range_windows,
                *self.volume_windows,
                *self.trend_windows,
                *self.cross_windows,
                1,
            )
        )


@attrs.frozen
class FeatureSchema:
    """The declared feature schema: names, their configuration and the schema hash.

    Attributes:
        version: :data:`FEATURE_SCHEMA_VERSION`.
        timeframe: bar length the windows are counted in.
        names: feature columns, in order.
        config: the :class:`FeatureConfig` as plain data.
        schema_hash: content hash of the fields above.
        dtype: the dtype of the feature values (``"float32"`` since ``quant.features/2``; a
            schema saved before that has none and reads as ``"float64"``), part of the hash.
    """

    version: str
    timeframe: str
    names: tuple[str, ...]
    config: dict[str, Any]
    schema_hash: str
    dtype: str = "float64"  # (what a schema saved before quant.features/2, without one, meant)

    @classmethod
    def of(cls, config: FeatureConfig, timeframe: str) -> FeatureSchema:
        """The schema of ``config`` applied to bars of ``timeframe``."""
        body = {
            "version": FEATURE_SCHEMA_VERSION,
            "timeframe": timeframe,
            "names": list(config.names),
            "dtype": np.dtype(FEATURE_DTYPE).name,
            "config": unstructure(config),
        }
        return cls(
            FEATURE_SCHEMA_VERSION,
            timeframe,
            config.names,
            unstructure(config),
            content_hash(body),
            np.dtype(FEATURE_DTYPE).name,
        )


@attrs.frozen(eq=False)
class FeatureSet:
    """Computed features: ``values[symbol, time, feature]`` (float32) on the panel's grid."""

    schema: FeatureSchema
    panel: Panel
    values: Float32Array

    def column(self, name: str) -> Float32Array:
        """One feature as a ``(symbols, times)`` array."""
        return self.values[:, :, self.schema.names.index(name)]


# Running sums restart every ``_BLOCK`` bars (or the longest window, if longer): the error of a
