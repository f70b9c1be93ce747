"""The regime classifier: a 4-state Gaussian HMM over causal cross-asset features.

:func:`fit_regimes` standardises the features of :func:`regime_features`, seeds the state
means by a seeded k-means, then runs Baum-Welch EM (diagonal covariances, a fixed number of
iterations at most) and names the states by a rule on their means (:func:`label_order`), so
column ``k`` of every posterior is always :data:`REGIME_LABELS` ``[k]`` whatever the seed.
The posterior is the forward filter only: bar ``t`` depends on bars ``<= t`` (decision 0110).
:class:`RegimeFilter` advances it one bar at a time in O(states²) after the window's features,
through the same step as the batch :meth:`RegimeModel.posterior`, so both give equal bytes.
Models serialise to canonical JSON (floats as hex), never pickle.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 400)), axis=1))
    >>> model = fit_regimes(close, seed=1, window=12)
    >>> post = model.posterior(close)
    >>> post.shape, bool(np.allclose(post.sum(axis=1), 1.0))
    ((400, 4), True)
    >>> RegimeModel.from_bytes(model.to_bytes()).to_bytes() == model.to_bytes()
    True
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import generator
from quant_models import reasons
from quant_models._errors import ArtifactError, ConfigError, DataError
from quant_models.families._regime_features import (
    FEATURE_NAMES,
    FloatArray,
    RegimeInputError,
    check_close,
    regime_features,
    window_features,
)

__all__ = ["FORMAT", "REGIME_LABELS", "RegimeFilter", "RegimeModel", "fit_regimes", "label_order"]

REGIME_LABELS = ("trend", "range", "high_vol", "stress")
"""The regimes, in the order of a posterior's columns."""

FORMAT = "quant-regime-hmm/1"
"""The ``format`` field of a serialised :class:`RegimeModel`."""

_K = len(REGIME_LABELS)
_D = len(FEATURE_NAMES)
_VAR_FLOOR = 1e-3  # in standardised units
_LOG_2PI = float(np.log(2 * np.pi))
_MOM, _EFF, _VOL, _CO = range(_D)
_START = np.full(_K, 1.0 / _K)

BoolArray = npt.NDArray[np.bool_]


def _log_emission(z: FloatArray, means: FloatArray, variances: FloatArray) -> FloatArray:
    """Log densities of one standardised row ``(D,)`` under every state ``(K,)``."""
    terms: FloatArray = ((z - means) ** 2 / variances) + np.log(variances) + _LOG_2PI
    log_b: FloatArray = -0.5 * terms.sum(axis=1)
    return log_b


def _step(pred: FloatArray, log_b: FloatArray | None) -> tuple[FloatArray, float]:
    """One filter update: the posterior from the prior ``pred`` and the bar's log densities.

    Returns the posterior and ``log p(x_t | x_<t)`` (NaN for a missing row).
    """
    if log_b is None:
        return pred, float("nan")
    top = float(log_b.max())
    weighted = pred * np.exp(log_b - top)
    total = float(weighted.sum())
    return weighted / total, float(np.log(total)) + top


def label_order(means: FloatArray) -> tuple[int, ...]:
    """The states for :data:`REGIME_LABELS`, chosen from their standardised feature means.

    ``stress`` is the state with the largest ``log_volatility + comovement - momentum``;
    ``high_vol`` the largest ``log_volatility`` of the rest; ``trend`` the largest
    ``efficiency`` of the rest; ``range`` the last (ties: the lower state index).

    Args:
        means: State means ``(4, 4)`` in standardised units, columns as ``FEATURE_NAMES``.

    Returns:
        State indices in label order (a permutation of ``0..3``).

    Examples:
        >>> m = np.array([[0, 0, 2, 0], [1, 2, 0, 0], [0, -1, 0, 0], [-2, 0, 2, 2.0]])
        >>> [REGIME_LABELS[i] for i in np.argsort(label_order(m))]
        ['high_vol', 'trend', 'range', 'stress']
    """
    rest = list(range(_K))

    def pick(score: FloatArray) -> int:
        best = max(rest, key=lambda k: (float(score[k]), -k))
        rest.remove(best)
        return best

    stress = pick(means[:, _VOL] + means[:, _CO] - means[:, _MOM])
    high_vol = pick(means[:, _VOL])
    trend = pick(means[:, _EFF])
    return (trend, rest[0], high_vol, stress)


def _hex(array: FloatArray) -> list[Any]:
    return [_hex(row) for row in array] if array.ndim > 1 else [float(v).hex() for v in array]


def _unhex(value: Any, shape: tuple[int, ...]) -> FloatArray:
    try:
        array = np.array(value, dtype=object)
        out: FloatArray = np.vectorize(float.fromhex, otypes=[np.float64])(array).reshape(shape)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"regime model array is malformed: {exc}") from exc
    if array.shape != shape or not np.isfinite(out).all():
        raise ArtifactError(f"regime model array must be finite with shape {shape}")
    return out


@attrs.frozen(eq=False)
class RegimeModel:
    """A fitted regime HMM; states are in :data:`REGIME_LABELS` order.

    Attributes:
        window: Bars of return history per feature row.
        feature_mean: Training mean of each feature ``(4,)``.
        feature_scale: Training standard deviation of each feature ``(4,)`` (1 where 0).
        means: State means ``(4, 4)`` in standardised units.
        variances: State diagonal variances ``(4, 4)`` in standardised units.
        transition: Row-stochastic transition matrix ``(4, 4)``.
        start: Prior over states before the first observed bar ``(4,)``.
        seed: The seed the fit was started from.
        log_likelihood: Training log-likelihood per observed bar at the end of EM.
    """

    window: int
    feature_mean: FloatArray
    feature_scale: FloatArray
    means: FloatArray
    variances: FloatArray
    transition: FloatArray
    start: FloatArray
    seed: int
    log_likelihood: float

    def _log_b(self, row: FloatArray) -> FloatArray | None:
        if np.isnan(row).any():
            return None
        return _log_emission(
            (row - self.feature_mean) / self.feature_scale, self.means, self.variances
        )

    def filter(self) -> RegimeFilter:
        """A streaming filter at the start of a series (before any bar).

        Returns:
            A fresh :class:`RegimeFilter` for this model.
        """
        return RegimeFilter(self)

    def posterior_and_loglik(self, close: Any) -> tuple[FloatArray, FloatArray]:
        """The filtered posterior of every bar and each bar's one-step predictive log-likelihood.

        Args:
            close: Closes ``(n_coins, n_bars)``; ``NaN`` for a missing bar.

        Returns:
            ``(posterior (n_bars, 4), loglik (n_bars,))``; ``loglik`` is NaN on a bar with
            no feature row.

        Raises:
            RegimeInputError: ``FEATURE_INPUT_INVALID`` for bad closes.
        """
        rows = regime_features(close, window=self.window)
        posterior = np.empty((rows.shape[0], _K))
        loglik = np.empty(rows.shape[0])
        pred = self.start
        for t, row in enumerate(rows):
            posterior[t], loglik[t] = _step(pred, self._log_b(row))
            pred = posterior[t] @ self.transition
        return posterior, loglik

    def posterior(self, close: Any) -> FloatArray:
        """The causal (filtered) regime posterior of every bar: the ensemble's hook.

        Args:
            close: Closes ``(n_coins, n_bars)`` (e.g. ``Panel.close``); ``NaN`` for a gap.

        Returns:
            ``(n_bars, 4)``, rows summing to 1, columns :data:`REGIME_LABELS`.

        Raises:
            RegimeInputError: ``FEATURE_INPUT_INVALID`` for bad closes.
        """
        return self.posterior_and_loglik(close)[0]

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, floats as hex): equal models give equal bytes.

        Returns:
            The serialised model.
        """
        document = {
            "format": FORMAT,
            "labels": list(REGIME_LABELS),
            "features": list(FEATURE_NAMES),
            "window": self.window,
            "seed": self.seed,
            "log_likelihood": float(self.log_likelihood).hex(),
            "feature_mean": _hex(self.feature_mean),
            "feature_scale": _hex(self.feature_scale),
            "means": _hex(self.means),
            "variances": _hex(self.variances),
            "transition": _hex(self.transition),
            "start": _hex(self.start),
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RegimeModel:
        """Load a model written by :meth:`to_bytes`, checking every field.

        Args:
            data: The serialised model.

        Returns:
            The model.

        Raises:
            ArtifactError: ``ARTIFACT_INVALID`` for anything but a well-formed model.

        Examples:
            >>> RegimeModel.from_bytes(b"[]")
            Traceback (most recent call last):
            ...
            quant_models._errors.ArtifactError: [ARTIFACT_INVALID] not a quant-regime-hmm/1 document
        """
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise ArtifactError(f"regime model is not JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ArtifactError(f"not a {FORMAT} document")
        if doc.get("labels") != list(REGIME_LABELS) or doc.get("features") != list(FEATURE_NAMES):
            raise ArtifactError("regime model labels or features differ from this version's")
        window, seed = doc.get("window"), doc.get("seed")
        if not (type(window) is int and window >= 2 and type(seed) is int):
            raise ArtifactError("regime model window or seed is malformed")
        model = cls(
            window=window,
            feature_mean=_unhex(doc.get("feature_mean"), (_D,)),
            feature_scale=_unhex(doc.get("feature_scale"), (_D,)),
            means=_unhex(doc.get("means"), (_K, _D)),
            variances=_unhex(doc.get("variances"), (_K, _D)),
            transition=_unhex(doc.get("transition"), (_K, _K)),
            start=_unhex(doc.get("start"), (_K,)),
            seed=seed,
            log_likelihood=float(_unhex([doc.get("log_likelihood")], (1,))[0]),
        )
        positive = (model.feature_scale > 0).all() and (model.variances > 0).all()
        stochastic = (model.transition >= 0).all() and (model.start >= 0).all()
        if not (positive and stochastic):
            raise ArtifactError("regime model scales, variances or probabilities are invalid")
        return model


class RegimeFilter:
    """The regime posterior advanced one bar at a time, equal in bytes to the batch filter.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 300)), axis=1))
        >>> model = fit_regimes(close, seed=1, window=12)
        >>> stream = model.filter()
        >>> rows = np.array([stream.update(close[:, t]) for t in range(300)])
        >>> rows.tobytes() == model.posterior(close).tobytes()
        True
    """

    def __init__(self, model: RegimeModel) -> None:
        """A filter before any bar.

        Args:
            model: The fitted model.
        """
        self._model = model
        self._closes: deque[FloatArray] = deque(maxlen=model.window + 1)
        self._pred = model.start
        self.log_likelihood = float("nan")
        """The one-step predictive log-likelihood of the last bar (NaN when unobserved)."""

    def update(self, close: Any) -> FloatArray:
        """Take one bar's closes of every coin and return that bar's posterior.

        Args:
            close: Closes ``(n_coins,)`` of the new bar, coins in the batch panel's order.

        Returns:
            The posterior ``(4,)`` of the new bar.

        Raises:
            RegimeInputError: ``FEATURE_INPUT_INVALID`` for bad closes or a coin count that
                differs from the earlier bars'.
        """
        row = check_close(close, ndim=1)
        if self._closes and row.shape != self._closes[0].shape:
            raise RegimeInputError(f"expected {self._closes[0].shape[0]} coins, got {row.shape[0]}")
        self._closes.append(row)
        log_b = None
        if len(self._closes) == self._model.window + 1:
            features = window_features(np.ascontiguousarray(np.stack(self._closes, axis=1)))
            log_b = self._model._log_b(features)
        posterior, self.log_likelihood = _step(self._pred, log_b)
        self._pred = posterior @ self._model.transition
        return posterior


def _kmeans_init(z: FloatArray, seed: int, restart: int) -> FloatArray:
    """Seeded k-means++ centres, refined by 20 Lloyd rounds, of the observed rows ``z``."""
    rng = generator(seed, "quant_models", "regime", "init", str(restart))
    centres = [z[int(rng.integers(z.shape[0]))]]
    for _ in range(1, _K):
        gaps = ((z[:, None, :] - np.array(centres)[None]) ** 2).sum(axis=2).min(axis=1)
        total = float(gaps.sum())
        chosen = rng.choice(z.shape[0], p=gaps / total) if total > 0 else rng.integers(len(z))
        centres.append(z[int(chosen)])
    means = np.array(centres)
    for _ in range(20):
        nearest = ((z[:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)
        members = np.eye(_K)[nearest]  # (n, K) one-hot; an empty cluster keeps its centre
        counts = members.sum(axis=0)[:, None]
        means = np.where(counts > 0, (members.T @ z) / np.maximum(counts, 1.0), means)
    return means


def _forward_backward(
    log_b: FloatArray, observed: BoolArray, trans: FloatArray, start: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """Scaled forward-backward: state posteriors, expected transition counts, log-likelihood."""
    n = log_b.shape[0]
    b = np.where(observed[:, None], np.exp(log_b - log_b.max(axis=1, keepdims=True)), 1.0)
    shift = np.where(observed, log_b.max(axis=1), 0.0)
    alpha = np.empty((n, _K))
    scale = np.empty(n)
    pred = start
    for t in range(n):
        a = pred * b[t]
        scale[t] = a.sum()
        alpha[t] = a / scale[t]
        pred = alpha[t] @ trans
    beta = np.ones((n, _K))
    xi = np.zeros((_K, _K))
    for t in range(n - 2, -1, -1):
        nxt = b[t + 1] * beta[t + 1]
        xi += trans * np.outer(alpha[t], nxt) / scale[t + 1]
        beta[t] = trans @ nxt / scale[t + 1]
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    return gamma, xi, float(np.log(scale).sum() + shift.sum())


def _em(
    z: FloatArray, observed: BoolArray, means: FloatArray, max_iter: int, tol: float
) -> tuple[float, FloatArray, FloatArray, FloatArray]:
    """Baum-Welch from initial means: ``(log-likelihood per bar, means, variances, trans)``."""
    variances = np.ones((_K, _D))
    trans = np.full((_K, _K), 0.1 / (_K - 1)) + np.eye(_K) * (0.9 - 0.1 / (_K - 1))
    n_obs = int(observed.sum())
    per_bar = previous = -np.inf
    for _ in range(max_iter):
        log_b = -0.5 * (
            ((z[:, None, :] - means) ** 2 / variances) + np.log(variances) + _LOG_2PI
        ).sum(axis=2)
        gamma, xi, loglik = _forward_backward(log_b, observed, trans, _START)
        per_bar = loglik / n_obs
        w = gamma * observed[:, None]
        weight = w.sum(axis=0) + 1e-12
        means = (w.T @ z) / weight[:, None]
        variances = np.maximum((w.T @ z**2) / weight[:, None] - means**2, _VAR_FLOOR)
        trans = (xi + 1e-6) / (xi + 1e-6).sum(axis=1, keepdims=True)
        if per_bar - previous < tol:
            break
        previous = per_bar
    return per_bar, means, variances, trans


def fit_regimes(
    close: Any,
    *,
    seed: int,
    window: int = 24,
    max_iter: int = 50,
    tol: float = 1e-6,
    min_bars: int = 200,
    restarts: int = 4,
) -> RegimeModel:
    """Fit the regime HMM on a close panel, deterministically from ``seed``.

    Args:
        close: Training closes ``(n_coins, n_bars)``; ``NaN`` for a missing bar.
        seed: Seeds the k-means++ initialisations (through ``quant_core.generator``).
        window: Bars of return history per feature row (at least 2).
        max_iter: EM iterations at most (at least 1).
        tol: EM stops once the per-bar log-likelihood gains less than this.
        min_bars: Observed feature rows needed (at least 4 times the number of states).
        restarts: EM runs from seeded k-means++ starts; the most likely one is kept.

    Returns:
        The fitted model, states in :data:`REGIME_LABELS` order.

    Raises:
        ConfigError: ``CONFIG_INVALID`` for a bad seed, ``max_iter``, ``tol``, ``min_bars``
            or ``restarts``.
        RegimeInputError: ``FEATURE_INPUT_INVALID`` for bad closes or window.
        DataError: ``INSUFFICIENT_DATA`` for fewer than ``min_bars`` observed rows.

    Examples:
        >>> fit_regimes(np.ones((2, 50)), seed=0)
        Traceback (most recent call last):
        ...
        quant_models._errors.DataError: [INSUFFICIENT_DATA] 26 observed feature rows, ...
    """
    ints = (seed, max_iter, min_bars, restarts)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in ints) or seed < 0:
        raise ConfigError(f"seed, max_iter, min_bars and restarts must be ints, seed >= 0: {ints}")
    if restarts < 1:
        raise ConfigError(f"restarts must be >= 1, got {restarts}")
    if max_iter < 1 or min_bars < 4 * _K or not (isinstance(tol, float) and tol >= 0):
        raise ConfigError(f"need max_iter >= 1, min_bars >= {4 * _K}, tol >= 0.0")
    rows = regime_features(close, window=window)
    observed = np.asarray(np.isfinite(rows).all(axis=1), dtype=np.bool_)
    n_obs = int(observed.sum())
    if n_obs < min_bars:
        raise DataError(
            f"{n_obs} observed feature rows, at least {min_bars} needed",
            reason_code=reasons.INSUFFICIENT_DATA,
        )
    first = int(np.argmax(observed))
    rows, observed = rows[first:], observed[first:]
    mean = rows[observed].mean(axis=0)
    scale = rows[observed].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = np.where(observed[:, None], (rows - mean) / scale, 0.0)
    best: tuple[float, FloatArray, FloatArray, FloatArray] | None = None
    for restart in range(restarts):
        fitted = _em(z, observed, _kmeans_init(z[observed], seed, restart), max_iter, tol)
        if best is None or fitted[0] > best[0]:
            best = fitted
    assert best is not None  # restarts >= 1
    per_bar, means, variances, trans = best
    order = list(label_order(means))
    return RegimeModel(
        window=window,
        feature_mean=mean,
        feature_scale=scale,
        means=means[order],
        variances=variances[order],
        transition=trans[np.ix_(order, order)],
        start=_START,
        seed=seed,
        log_likelihood=per_bar,
    )
