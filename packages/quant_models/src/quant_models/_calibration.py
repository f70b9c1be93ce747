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

from quant_models._errors import ConfigError
from quant_models._metrics import brier
from quant_models._panel import FloatArray

__all__ = ["METHODS", "Calibrator", "apply_each", "choose_calibrator", "fit_calibrator"]

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


def apply_each(pairs: Sequence[tuple[Calibrator, FloatArray]]) -> list[FloatArray]:
    """``[calibrator.apply(p) for calibrator, p in pairs]``, in a few vectorised steps.

    Serving calibrates dozens of members' one-row outputs each bar. Platt and identity maps
    are element-wise, so every Platt segment is computed in one pass with per-element slopes
    and intercepts (the same ``float64`` operations on each element, so the same bytes) and
    every identity segment in one clip; an isotonic segment keeps its own :meth:`apply`.

    Args:
        pairs: each calibrator with the raw probabilities it maps.

    Examples:
        >>> pairs = [(Calibrator("platt", a=2.0, b=0.1), np.array([0.3, 0.6])),
        ...          (Calibrator("identity"), np.array([0.0])),
        ...          (Calibrator("isotonic", x=(0.0, 1.0), y=(0.2, 0.8)), np.array([0.5]))]
        >>> all(np.array_equal(out, c.apply(p)) for out, (c, p) in zip(apply_each(pairs), pairs))
        True
    """
    out: list[FloatArray] = [np.empty(0)] * len(pairs)
    for method in ("platt", "identity"):
        chosen = [k for k, (c, _) in enumerate(pairs) if c.method == method]
        if not chosen:
            continue
        p = np.concatenate([pairs[k][1] for k in chosen])
        sizes = [len(pairs[k][1]) for k in chosen]
        if method == "platt":
            a = np.repeat([pairs[k][0].a for k in chosen], sizes)
            b = np.repeat([pairs[k][0].b for k in chosen], sizes)
            p = _sigmoid(a * _logit(p) + b)
        mapped = np.asarray(np.clip(p, _EPS, 1 - _EPS), dtype=np.float64)
        for k, part in zip(chosen, np.split(mapped, np.cumsum(sizes)[:-1]), strict=True):
            out[k] = part
    for k, (calibrator, p) in enumerate(pairs):
        if calibrator.method not in ("platt", "identity"):
            out[k] = calibrator.apply(p)
    return out


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
