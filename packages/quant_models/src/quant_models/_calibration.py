"""Probability calibration, with the method chosen out-of-sample.

A :class:`Calibrator` maps a model's raw probability to a calibrated one. Three methods:
``identity``, ``platt`` (logistic on the logit, fitted by Newton's method) and ``isotonic``
(scikit-learn's isotonic regression, stored as its breakpoints). Every calibrator is plain
data — saved as canonical JSON, no pickle.

:func:`choose_calibrator` picks the method out-of-sample: each candidate is fitted on the
older half of the calibration window and scored (Brier) on the newer half; the winner is refit
on the whole window. Ties go to the simpler method.

Examples:
    >>> import numpy as np
    >>> p = np.array([0.6, 0.7, 0.8, 0.9] * 50); y = np.array([0.0, 1.0, 0.0, 1.0] * 50)
    >>> cal = fit_calibrator("platt", p, y)
    >>> bool(abs(float(cal.apply(np.array([0.75]))[0]) - 0.5) < 0.05)
    True
    >>> from quant_core import structure, unstructure
    >>> structure(unstructure(cal), Calibrator) == cal
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from quant_models._errors import ConfigError
from quant_models._metrics import brier
from quant_models._panel import FloatArray

__all__ = [
    "METHODS",
    "Calibrator",
    "SegmentCalibration",
    "apply_each",
    "choose_calibrator",
    "fit_calibrator",
]

Method = Literal["identity", "platt", "isotonic"]
METHODS: tuple[Method, ...] = ("identity", "platt", "isotonic")
_EPS = 1e-6


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def _floats(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


@attrs.frozen
class Calibrator:
    """A fitted calibration map.

    Attributes:
        method: ``identity``, ``platt`` or ``isotonic``.
        a: Platt slope on the logit.
        b: Platt intercept.
        x: isotonic breakpoints (raw probabilities, ascending).
        y: isotonic values at the breakpoints.
    """

    method: str
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = attrs.field(default=(), converter=_floats)
    y: tuple[float, ...] = attrs.field(default=(), converter=_floats)

    def apply(self, p: FloatArray) -> FloatArray:
        """Calibrated probabilities, clipped to ``[1e-6, 1 - 1e-6]``."""
        if self.method == "platt":
            out = _sigmoid(self.a * _logit(p) + self.b)
        elif self.method == "isotonic":
            out = np.interp(p, self.x, self.y)
        else:
            out = p
        return np.asarray(np.clip(out, _EPS, 1 - _EPS), dtype=np.float64)


@attrs.frozen(eq=False)
class SegmentCalibration:
    """:func:`apply_each` prepared once for a fixed list of calibrators and segment sizes.

    Attributes:
        platt: which values a Platt map calibrates.
        a: the Platt slope of each of those values.
        b: the Platt intercept of each of those values.
        isotonic: ``(start, stop, calibrator)`` of each isotonic segment.
    """

    platt: npt.NDArray[np.bool_]
    a: FloatArray
    b: FloatArray
    isotonic: tuple[tuple[int, int, Calibrator], ...]

    @classmethod
    def of(cls, calibrators: Sequence[Calibrator], sizes: Sequence[int]) -> SegmentCalibration:
        """Prepare ``calibrators`` over consecutive segments of ``sizes`` values.

        Args:
            calibrators: one per segment.
            sizes: each segment's length.
        """
        platt = np.repeat(np.array([c.method == "platt" for c in calibrators], dtype=bool), sizes)
        a = np.repeat(np.array([c.a for c in calibrators], dtype=np.float64), sizes)[platt]
        b = np.repeat(np.array([c.b for c in calibrators], dtype=np.float64), sizes)[platt]
        isotonic: list[tuple[int, int, Calibrator]] = []
        start = 0
        for calibrator, size in zip(calibrators, sizes, strict=True):
            if calibrator.method == "isotonic":
                isotonic.append((start, start + size, calibrator))
            start += size
        return cls(platt, a, b, tuple(isotonic))

    def apply(self, p: FloatArray) -> FloatArray:
        """The calibrated values of ``p`` (segment after segment, as prepared).

        Args:
            p: the raw probabilities.
        """
        out = np.array(p, dtype=np.float64)
        if len(self.a):
            out[self.platt] = _sigmoid(self.a * _logit(out[self.platt]) + self.b)
        for start, stop, calibrator in self.isotonic:
            out[start:stop] = np.interp(p[start:stop], calibrator.x, calibrator.y)
        return np.asarray(np.clip(out, _EPS, 1 - _EPS), dtype=np.float64)


def apply_each(
    calibrators: Sequence[Calibrator], p: FloatArray, sizes: Sequence[int]
) -> FloatArray:
    """Several calibrators over consecutive segments of ``p``, in a few vectorised steps.

    Segment ``k`` (the next ``sizes[k]`` values) is mapped by ``calibrators[k]``; the result
    equals ``np.concatenate([c.apply(segment) for c, segment in ...])`` in every byte. Serving
    calibrates dozens of members' one-row outputs each bar: Platt and identity maps are
    element-wise, so every Platt segment is computed in one pass with per-element slopes and
    intercepts (the same ``float64`` operations on each element) and the clip is one call; an
    isotonic segment is interpolated on its own breakpoints. :class:`SegmentCalibration`
    prepares the same work once for calibrators used bar after bar.

    Args:
        calibrators: one per segment.
        p: the raw probabilities, segment after segment.
        sizes: each segment's length (they add up to ``len(p)``).

    Examples:
        >>> cals = [Calibrator("platt", a=2.0, b=0.1), Calibrator("identity"),
        ...         Calibrator("isotonic", x=(0.0, 1.0), y=(0.2, 0.8))]
        >>> p = np.array([0.3, 0.6, 0.0, 0.5])
        >>> one_by_one = [cals[0].apply(p[:2]), cals[1].apply(p[2:3]), cals[2].apply(p[3:])]
        >>> bool(np.array_equal(apply_each(cals, p, [2, 1, 1]), np.concatenate(one_by_one)))
        True
    """
    return SegmentCalibration.of(calibrators, sizes).apply(p)


def _platt(p: FloatArray, y: FloatArray) -> Calibrator:
    z = _logit(p)
    a, b = 1.0, 0.0
    ridge = 1e-6
    for _ in range(50):
        q = _sigmoid(a * z + b)
        w = q * (1 - q)
        g = np.array([np.dot(q - y, z) + ridge * a, np.sum(q - y)])
        h = np.array([[np.dot(w, z * z) + ridge, np.dot(w, z)], [np.dot(w, z), np.sum(w) + ridge]])
        step = np.linalg.solve(h, g)
        a, b = a - float(step[0]), b - float(step[1])
    return Calibrator("platt", a=a, b=b)


def _isotonic(p: FloatArray, y: FloatArray) -> Calibrator:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return Calibrator("isotonic", x=model.X_thresholds_, y=model.y_thresholds_)


def fit_calibrator(method: str, p: FloatArray, y: FloatArray) -> Calibrator:
    """Fit one calibration ``method`` on raw probabilities ``p`` and 0/1 labels ``y``.

    Raises:
        ConfigError: unknown method.
    """
    if method == "identity":
        return Calibrator("identity")
    if method == "platt":
        return _platt(p, y)
    if method == "isotonic":
        return _isotonic(p, y)
    raise ConfigError(f"unknown calibration method {method!r}; known: {list(METHODS)}")


def choose_calibrator(
    p: FloatArray, y: FloatArray, methods: tuple[str, ...] = METHODS
) -> tuple[Calibrator, dict[str, float]]:
    """Pick the calibration method with the best out-of-sample Brier, refit on all data.

    ``p`` and ``y`` must be in time order: the older half fits, the newer half scores.

    Returns:
        The refit calibrator and each method's held-out Brier score.
    """
    half = len(p) // 2
    scores: dict[str, float] = {}
    for method in methods:
        fitted = fit_calibrator(method, p[:half], y[:half])
        scores[method] = brier(fitted.apply(p[half:]), y[half:])
    best = min(methods, key=lambda m: (scores[m], methods.index(m)))
    return fit_calibrator(best, p, y), scores
