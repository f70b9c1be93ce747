"""The baselines every model is reported beside: climatology, persistence, logistic regression.

* **climatology** — each coin's training up-rate, a constant.
* **persistence** — the training up-rate *given the sign of the coin's last move over the same
  horizon* (momentum if positive moves tend to continue, reversal if not).
* **logistic** — an L2 logistic regression on standardised features (missing values at the
  training mean), one global model across coins.

Each ``fit_*`` returns a callable ``predict(x, symbols, last_return) -> p``.

Examples:
    >>> import numpy as np
    >>> sym = np.array([0, 0, 1, 1]); y = np.array([1.0, 1.0, 0.0, 1.0])
    >>> clim = fit_climatology(y, sym, n_symbols=2)
    >>> clim(np.zeros((2, 1)), np.array([0, 1]), np.zeros(2)).tolist()
    [1.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from quant_models._panel import FloatArray

__all__ = ["BASELINES", "Baseline", "fit_climatology", "fit_logistic", "fit_persistence"]

IntArray = npt.NDArray[np.int64]
Baseline = Callable[[FloatArray, IntArray, FloatArray], FloatArray]

BASELINES = ("climatology", "persistence", "logistic")


def _rates(y: FloatArray, groups: IntArray, n_groups: int, prior: float) -> FloatArray:
    ups = np.bincount(groups, weights=y, minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    return np.where(counts > 0, ups / np.maximum(counts, 1.0), prior)


def fit_climatology(y: FloatArray, symbols: IntArray, *, n_symbols: int) -> Baseline:
    """Per-coin training up-rate (the pooled rate for a coin never seen)."""
    rates = _rates(y, symbols, n_symbols, float(y.mean()))

    def predict(_x: FloatArray, sym: IntArray, _last: FloatArray) -> FloatArray:
        return np.asarray(rates[sym], dtype=np.float64)

    return predict


def fit_persistence(
    y: FloatArray, symbols: IntArray, last_return: FloatArray, *, n_symbols: int
) -> Baseline:
    """Per-coin up-rate conditional on the sign of the last move over the horizon."""
    up = (np.nan_to_num(last_return) > 0).astype(np.int64)
    rates = _rates(y, symbols * 2 + up, 2 * n_symbols, float(y.mean()))

    def predict(_x: FloatArray, sym: IntArray, last: FloatArray) -> FloatArray:
        now_up = (np.nan_to_num(last) > 0).astype(np.int64)
        return np.asarray(rates[sym * 2 + now_up], dtype=np.float64)

    return predict


def fit_logistic(x: FloatArray, y: FloatArray, *, c: float = 1.0) -> Baseline:
    """Global L2 logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression

    mean = np.nanmean(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    sd = np.nanstd(x, axis=0)
    sd = np.where((sd > 0) & ~np.isnan(sd), sd, 1.0)

    def scale(a: FloatArray) -> FloatArray:
        return np.asarray(np.nan_to_num((a - mean) / sd), dtype=np.float64)

    if len(np.unique(y)) < 2:
        constant = float(y[0]) if len(y) else 0.5
        return lambda a, _s, _l: np.full(a.shape[0], constant)
    model = LogisticRegression(C=c, max_iter=200).fit(scale(x), y.astype(np.int64))

    def predict(a: FloatArray, _sym: IntArray, _last: FloatArray) -> FloatArray:
        return np.asarray(model.predict_proba(scale(a))[:, 1], dtype=np.float64)

    return predict
