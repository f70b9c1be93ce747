"""Using the regime posterior: validation scoring with a false-transition penalty, and gating.

:func:`score_regimes` judges a fitted model on a later span: the mean one-step predictive
log-likelihood of the filter (causal, like the posterior) minus ``penalty`` times the share
of bars that start a *false* transition — a change of the filtered most-likely regime that
does not last ``min_dwell`` bars. :func:`regime_weights` is the pure function the ensemble
uses to weight (or, ``hard=True``, gate) specialists by the posterior.

Examples:
    >>> import numpy as np
    >>> post = np.array([[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0]])
    >>> affinity = np.array([[1.0, 0, 0, 0], [0, 1.0, 1.0, 1.0]])
    >>> regime_weights(post, affinity).round(2).tolist()
    [[0.9, 0.1], [0.2, 0.8]]
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from quant_models._errors import ConfigError
from quant_models.families._regime import REGIME_LABELS, RegimeModel
from quant_models.families._regime_features import FloatArray, RegimeInputError

__all__ = ["RegimeScore", "count_transitions", "regime_weights", "score_regimes"]


@attrs.frozen
class RegimeScore:
    """A regime model's validation score on one span (higher is better).

    Attributes:
        log_likelihood: Mean one-step predictive log-likelihood per observed bar.
        transitions: Changes of the filtered most-likely regime.
        false_transitions: Those whose new regime lasted fewer than ``min_dwell`` bars.
        observed_bars: Bars with a feature row.
        penalty: The penalty per false transition per bar.
        score: ``log_likelihood - penalty * false_transitions / observed_bars``.
    """

    log_likelihood: float
    transitions: int
    false_transitions: int
    observed_bars: int
    penalty: float
    score: float


def count_transitions(states: Any, *, min_dwell: int) -> tuple[int, int]:
    """Count changes of a state path, and the false ones (new state held < ``min_dwell``).

    A change whose new state is still running at the end of the path, shorter than
    ``min_dwell``, is undecided and not counted as false.

    Args:
        states: The most-likely state of each bar, ``(n,)`` ints.
        min_dwell: Bars a new state must last to be a true transition (at least 1).

    Returns:
        ``(transitions, false_transitions)``.

    Raises:
        ConfigError: ``CONFIG_INVALID`` for ``min_dwell < 1``.

    Examples:
        >>> count_transitions([0, 0, 1, 0, 0, 0, 2, 2], min_dwell=2)
        (3, 1)
    """
    if isinstance(min_dwell, bool) or not isinstance(min_dwell, int) or min_dwell < 1:
        raise ConfigError(f"min_dwell must be an int >= 1, got {min_dwell!r}")
    path = np.asarray(states)
    changes = np.flatnonzero(path[1:] != path[:-1]) + 1
    ends = np.append(changes[1:], len(path))
    false = int(((ends - changes < min_dwell) & (ends < len(path))).sum())
    return len(changes), false


def score_regimes(
    model: RegimeModel, close: Any, *, penalty: float = 1.0, min_dwell: int = 6
) -> RegimeScore:
    """Score a fitted model on a (later, held-out) span of closes.

    Args:
        model: The fitted model.
        close: Closes ``(n_coins, n_bars)`` of the validation span.
        penalty: Subtracted per false transition per observed bar (>= 0).
        min_dwell: Bars a new regime must last to count as a true transition.

    Returns:
        The :class:`RegimeScore`.

    Raises:
        ConfigError: ``CONFIG_INVALID`` for a negative penalty or ``min_dwell < 1``.
        RegimeInputError: ``FEATURE_INPUT_INVALID`` for bad closes or no observed bar.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 400)), axis=1))
        >>> from quant_models.families._regime import fit_regimes
        >>> model = fit_regimes(close[:, :300], seed=0, window=12)
        >>> s = score_regimes(model, close[:, 300:], penalty=2.0)
        >>> s.observed_bars, s.score <= s.log_likelihood
        (88, True)
    """
    if not (isinstance(penalty, (int, float)) and penalty >= 0):
        raise ConfigError(f"penalty must be a number >= 0, got {penalty!r}")
    posterior, loglik = model.posterior_and_loglik(close)
    observed = ~np.isnan(loglik)
    n_obs = int(observed.sum())
    if n_obs == 0:
        raise RegimeInputError("no bar of the span has a complete feature window")
    transitions, false = count_transitions(posterior[observed].argmax(axis=1), min_dwell=min_dwell)
    mean = float(loglik[observed].mean())
    return RegimeScore(
        log_likelihood=mean,
        transitions=transitions,
        false_transitions=false,
        observed_bars=n_obs,
        penalty=float(penalty),
        score=mean - float(penalty) * false / n_obs,
    )


def regime_weights(posterior: Any, affinity: Any, *, hard: bool = False) -> FloatArray:
    """Weights of specialists per bar from the regime posterior (pure, deterministic).

    ``weights[t, s] ∝ sum_k posterior[t, k] * affinity[s, k]``, rows normalised to 1; with
    ``hard=True`` only the most likely regime (lowest index on a tie) counts, which gates
    specialists on and off. A bar where no specialist has weight gets equal weights.

    Args:
        posterior: ``(n_bars, 4)`` regime posterior, columns :data:`REGIME_LABELS`.
        affinity: ``(n_specialists, 4)`` non-negative weight of each specialist per regime.
        hard: Use the most likely regime only (gating) instead of the full posterior.

    Returns:
        ``(n_bars, n_specialists)`` weights, each row summing to 1.

    Raises:
        RegimeInputError: ``FEATURE_INPUT_INVALID`` for wrong shapes, non-finite or negative
            values.

    Examples:
        >>> regime_weights([[0.6, 0.4, 0, 0]], [[1, 0, 0, 0], [0, 1, 0, 0]], hard=True).tolist()
        [[1.0, 0.0]]
    """
    post = np.asarray(posterior, dtype=np.float64)
    aff = np.asarray(affinity, dtype=np.float64)
    k = len(REGIME_LABELS)
    if post.ndim != 2 or post.shape[1] != k or aff.ndim != 2 or aff.shape[1] != k:
        raise RegimeInputError(f"need posterior (n, {k}) and affinity (s, {k})")
    if aff.shape[0] == 0 or not (np.isfinite(post).all() and np.isfinite(aff).all()):
        raise RegimeInputError("posterior and affinity must be finite, with a specialist")
    if (post < 0).any() or (aff < 0).any():
        raise RegimeInputError("posterior and affinity must be non-negative")
    if hard:
        post = np.eye(k)[post.argmax(axis=1)]
    raw = post @ aff.T
    total = raw.sum(axis=1, keepdims=True)
    equal = np.full_like(raw, 1.0 / aff.shape[0])
    weights: FloatArray = np.divide(raw, total, out=equal, where=total > 0)
    return weights
