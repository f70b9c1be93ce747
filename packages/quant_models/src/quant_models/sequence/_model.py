"""A trained sequence model served on numpy: predictions, a one-bar stream, files and loading.

The weights live in ``weights.safetensors`` (float32, read with ``safetensors.numpy``); the
rest in canonical-JSON ``sequence.json``: format, family, config, every tensor's shape, the
input normalisation and target scales, and the SHA-256 of the weights file. Loading checks
all of it and refuses with a reason code; nothing is ever unpickled (decision 0114).

Examples:
    >>> import tempfile
    >>> from quant_models.sequence import Resolution, SequenceConfig, expected_shapes
    >>> config = SequenceConfig(hidden=4, horizons=(1,), resolutions=(Resolution("s", 3, 1),))
    >>> weights = {k: np.zeros(v, np.float32) for k, v in expected_shapes(config).items()}
    >>> model = SequenceModel(config, weights, np.zeros((1, 3)), np.ones((1, 3)), np.ones(1),
    ...                       0.0, 1.0, np.full(1, 0.5))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     model.save(Path(folder))
    ...     load_sequence(Path(folder)).predict([np.zeros((1, 3, 3))]).p_up
    array([[0.5]])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import Timeframe, canonical_json, sha256_hex
from quant_models import reasons
from quant_models._errors import ArtifactError, ConfigError, DataError
from quant_models._panel import FloatArray
from quant_models.sequence._config import FAMILIES, FEATURES, SequenceConfig
from quant_models.sequence._net import expected_shapes, forward, prepare
from quant_models.sequence._windows import stream_window

__all__ = [
    "FORMAT",
    "JSON_NAME",
    "WEIGHTS_NAME",
    "SequenceModel",
    "SequenceOutput",
    "SequenceStream",
    "load_sequence",
    "normalise",
]

FORMAT = "quant-sequence/1"
"""The ``format`` field of ``sequence.json``."""
WEIGHTS_NAME = "weights.safetensors"
JSON_NAME = "sequence.json"
CLIP = 8.0
"""Normalised inputs are clipped to ``[-CLIP, CLIP]`` (in training and serving alike)."""


def normalise(
    inputs: Sequence[FloatArray], mean: FloatArray, std: FloatArray
) -> tuple[FloatArray, ...]:
    """Standardise raw windows with per-(resolution, feature) statistics, then clip."""
    return tuple(np.clip((x - mean[i]) / std[i], -CLIP, CLIP) for i, x in enumerate(inputs))


@attrs.frozen(eq=False)
class SequenceOutput:
    """A sequence model's forecasts for ``N`` windows.

    Attributes:
        horizons: the horizons in bars (columns of ``p_up`` and ``move``).
        p_up: ``(N, H)`` probability that the forward log return is above zero.
        move: ``(N, H)`` expected forward log return.
        risk: ``(N,)`` expected realised volatility per bar over the risk span.
    """

    horizons: tuple[int, ...]
    p_up: FloatArray
    move: FloatArray
    risk: FloatArray


def _invalid(message: str, code: str = reasons.SEQUENCE_ARTIFACT_INVALID) -> ArtifactError:
    return ArtifactError(message, reason_code=code)


@attrs.frozen(eq=False)
class SequenceModel:
    """A trained LSTM or Transformer, run by numpy in float64.

    Attributes:
        config: architecture, horizons and the training settings it was fit with.
        weights: float32 parameters by name (the safetensors content).
        norm_mean: ``(R, 3)`` input means per resolution and feature (training span only).
        norm_std: ``(R, 3)`` input standard deviations.
        move_scale: ``(H,)`` the forward-return scale the move head was trained in.
        risk_mean: mean of the training span's log realised volatility.
        risk_std: its standard deviation.
        up_rate: ``(H,)`` the training span's share of up moves (the climatology).
    """

    config: SequenceConfig
    weights: dict[str, npt.NDArray[np.float32]]
    norm_mean: FloatArray
    norm_std: FloatArray
    move_scale: FloatArray
    risk_mean: float
    risk_std: float
    up_rate: FloatArray
    _w64: dict[str, FloatArray] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        wanted = expected_shapes(self.config)
        got = {k: tuple(v.shape) for k, v in self.weights.items()}
        if got != wanted:
            diff = sorted(k for k in set(got) | set(wanted) if got.get(k) != wanted.get(k))
            raise _invalid(
                f"weights do not match the {self.config.family} config: {diff[:4]}",
                reasons.SEQUENCE_SHAPE_MISMATCH,
            )
        r, h = len(self.config.resolutions), len(self.config.horizons)
        if self.norm_mean.shape != (r, len(FEATURES)) or self.norm_std.shape != (r, len(FEATURES)):
            raise _invalid("normalisation statistics do not match the resolutions")
        if self.move_scale.shape != (h,) or self.up_rate.shape != (h,):
            raise _invalid("target scales do not match the horizons")
        w64 = {k: v.astype(np.float64) for k, v in self.weights.items()}
        object.__setattr__(self, "_w64", prepare(w64, self.config))

    @property
    def horizons(self) -> tuple[int, ...]:
        """The forecast horizons in bars."""
        return self.config.horizons

    def check(self, inputs: Sequence[FloatArray]) -> None:
        """Refuse windows of the wrong shape or holding NaN (``SEQUENCE_INPUT_INVALID``).

        Args:
            inputs: one ``(N, steps, 3)`` array per resolution.
        """
        res = self.config.resolutions
        if len(inputs) != len(res):
            raise DataError(
                f"{len(res)} resolution arrays expected, got {len(inputs)}",
                reason_code=reasons.SEQUENCE_INPUT_INVALID,
            )
        rows = {np.shape(x)[0] if np.ndim(x) == 3 else -1 for x in inputs}
        for r, x in zip(res, inputs, strict=True):
            want = (r.steps, len(FEATURES))
            if np.ndim(x) != 3 or np.shape(x)[1:] != want or len(rows) != 1:
                raise DataError(
                    f"resolution {r.name!r}: windows of shape (N, {want[0]}, {want[1]}) with one"
                    f" N for all resolutions expected, got {np.shape(x)}",
                    reason_code=reasons.SEQUENCE_INPUT_INVALID,
                )
            if not np.isfinite(x).all():
                raise DataError(
                    f"resolution {r.name!r}: a window holds NaN or infinity",
                    reason_code=reasons.SEQUENCE_INPUT_INVALID,
                )

    def predict(self, inputs: Sequence[FloatArray]) -> SequenceOutput:
        """Forecasts for raw windows (as :func:`quant_models.sequence.build_windows` makes).

        Args:
            inputs: one ``(N, steps, 3)`` array per resolution, unnormalised.

        Raises:
            DataError: ``SEQUENCE_INPUT_INVALID`` for a wrong shape or a non-finite value.
        """
        self.check(inputs)
        x = normalise(inputs, self.norm_mean, self.norm_std)
        logit, move, risk = forward(self._w64, self.config, x)
        return SequenceOutput(
            self.config.horizons,
            1.0 / (1.0 + np.exp(-logit)),
            move * self.move_scale,
            np.exp(risk * self.risk_std + self.risk_mean),
        )

    def to_files(self) -> dict[str, bytes]:
        """``weights.safetensors`` and ``sequence.json``, as bytes (same model, same bytes)."""
        from safetensors.numpy import save

        blob = save({k: np.ascontiguousarray(v) for k, v in sorted(self.weights.items())})
        doc = {
            "format": FORMAT,
            "family": self.config.family,
            "config": self.config.to_dict(),
            "serving_float": "float64",
            "shapes": {k: list(v.shape) for k, v in sorted(self.weights.items())},
            "normalisation": {"mean": self.norm_mean.tolist(), "std": self.norm_std.tolist()},
            "targets": {
                "move_scale": self.move_scale.tolist(),
                "risk_mean": self.risk_mean,
                "risk_std": self.risk_std,
                "up_rate": self.up_rate.tolist(),
            },
            "weights_sha256": sha256_hex(blob),
        }
        return {WEIGHTS_NAME: blob, JSON_NAME: canonical_json(doc)}

    def save(self, directory: Path) -> None:
        """Write :meth:`to_files` into ``directory`` (created if missing)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.to_files().items():
            (directory / name).write_bytes(data)

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> SequenceModel:
        """Load from :meth:`to_files` output, checking everything.

        Args:
            files: file name to bytes.

        Raises:
            ArtifactError: ``ARTIFACT_MISSING`` for a missing file; ``SEQUENCE_FAMILY_UNKNOWN``,
                ``SEQUENCE_SHAPE_MISMATCH`` or ``SEQUENCE_ARTIFACT_INVALID`` (hash mismatch,
                unreadable safetensors, malformed ``sequence.json``).
        """
        missing = sorted({WEIGHTS_NAME, JSON_NAME} - set(files))
        if missing:
            raise ArtifactError(f"missing {missing}", reason_code=reasons.ARTIFACT_MISSING)
        doc = _document(files[JSON_NAME])
        blob = files[WEIGHTS_NAME]
        if sha256_hex(blob) != doc["weights_sha256"]:
            raise _invalid(f"{WEIGHTS_NAME} does not match the sha256 in {JSON_NAME}")
        try:
            from safetensors.numpy import load

            weights = load(blob)
        except Exception as exc:  # safetensors raises its own error types for garbage
            raise _invalid(f"{WEIGHTS_NAME} is not a readable safetensors file: {exc}") from exc
        config: SequenceConfig = doc["config"]
        declared = {k: tuple(v) for k, v in doc["shapes"].items()}
        if declared != expected_shapes(config):
            raise _invalid(
                "declared shapes differ from the config", reasons.SEQUENCE_SHAPE_MISMATCH
            )
        if any(w.dtype != np.float32 for w in weights.values()):
            raise _invalid("weights must be float32")
        norm, targets = doc["normalisation"], doc["targets"]
        return cls(
            config,
            weights,
            np.asarray(norm["mean"], dtype=np.float64),
            np.asarray(norm["std"], dtype=np.float64),
            np.asarray(targets["move_scale"], dtype=np.float64),
            float(targets["risk_mean"]),
            float(targets["risk_std"]),
            np.asarray(targets["up_rate"], dtype=np.float64),
        )


def _document(data: bytes) -> dict[str, Any]:
    """``sequence.json`` parsed and checked; ``config`` replaced by a :class:`SequenceConfig`."""
    try:
        doc = json.loads(data)
        if doc["format"] != FORMAT:
            raise _invalid(f"format {doc['format']!r} is not {FORMAT!r}")
        family = doc["family"]
        if family not in FAMILIES or doc["config"].get("family") != family:
            raise _invalid(
                f"unknown sequence family {family!r} (config says {doc['config'].get('family')!r})",
                reasons.SEQUENCE_FAMILY_UNKNOWN,
            )
        # a model saved before gap filling existed (decision 0125) never filled a gap
        doc["config"] = SequenceConfig.from_dict({"gap_fill_bars": 0, **doc["config"]})
        for key in ("shapes", "normalisation", "targets", "weights_sha256"):
            doc[key]
    except ArtifactError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
        raise _invalid(f"{JSON_NAME} is malformed: {exc}") from exc
    return dict(doc)


def load_sequence(directory: Path) -> SequenceModel:
    """Load the model saved in ``directory`` (see :meth:`SequenceModel.from_files`).

    Args:
        directory: the folder holding ``weights.safetensors`` and ``sequence.json``.
    """
    files = {
        name: (directory / name).read_bytes()
        for name in (WEIGHTS_NAME, JSON_NAME)
        if (directory / name).is_file()
    }
    return SequenceModel.from_files(files)


class SequenceStream:
    """One coin's new bar in, its forecasts out: the runtime's path (no panel, no torch).

    Keeps each coin's last ``config.lookback`` bars. Bars missing between two updates count
    as missing bars of the window: a run of at most ``config.gap_fill_bars`` reads as bars
    without trades, as in training; a longer gap silences the coin until it leaves the
    window. A bar off the grid (not a whole number of bars after the previous one) restarts
    the coin's history.

    Args:
        model: the trained model.
        bar_ns: the bar length in nanoseconds.
    """

    def __init__(self, model: SequenceModel, bar_ns: int = Timeframe.H1.ns) -> None:
        self.model = model
        self.bar_ns = bar_ns
        self._size = model.config.lookback
        self._warm = self._size - model.config.gap_fill_bars  # the window's own span
        self._bars: dict[str, FloatArray] = {}
        self._count: dict[str, int] = {}
        self._last: dict[str, int] = {}

    def update(
        self, symbol: str, open_time_ns: int, high: float, low: float, close: float, volume: float
    ) -> SequenceOutput | None:
        """Add ``symbol``'s newest bar; its forecasts, or ``None`` while it warms up.

        Args:
            symbol: the coin.
            open_time_ns: the bar's open time.
            high: its high.
            low: its low.
            close: its close.
            volume: its volume.

        Raises:
            DataError: ``SEQUENCE_INPUT_INVALID`` for a bar not newer than the last one.
        """
        last = self._last.get(symbol)
        if last is not None and open_time_ns <= last:
            raise DataError(
                f"{symbol}: bar at {open_time_ns} is not after {last}",
                reason_code=reasons.SEQUENCE_INPUT_INVALID,
            )
        skipped, off_grid = divmod(open_time_ns - (last or 0), self.bar_ns)
        if last is None or off_grid:
            self._bars[symbol] = np.full((4, self._size), np.nan)
            self._count[symbol] = 0
        elif skipped > 1:
            self._skip(symbol, min(skipped - 1, self._size))
        buf = self._bars[symbol]
        buf[:, :-1] = buf[:, 1:]
        buf[:, -1] = (close, high, low, volume)
        self._last[symbol] = open_time_ns
        self._count[symbol] += 1
        if self._count[symbol] < self._warm or not np.isfinite(close):
            return None  # warming up, or no close to forecast from
        window = stream_window(buf[0], buf[1], buf[2], buf[3], self.model.config)
        if not all(np.isfinite(w).all() for w in window):
            return None
        return self.model.predict(window)

    def _skip(self, symbol: str, bars: int) -> None:
        """Shift ``bars`` missing bars into ``symbol``'s window."""
        buf = self._bars[symbol]
        buf[:, :-bars] = buf[:, bars:]
        buf[:, -bars:] = np.nan
        self._count[symbol] += bars
