"""Out-of-sample scoring: accuracy, Brier and Brier skill, log loss, calibration error, utility.

All functions take plain float arrays: ``p`` the predicted probability that the forward return
is positive, ``y`` the realised direction (0/1), and for the utility the realised forward log
return. :func:`simulate_long_only` is the deterministic "act on the probabilities" simulation:
go long one unit for the horizon when ``p`` clears a threshold, pay the fee on entry and exit,
never short (spot), never more than one unit per signal.

Examples:
    >>> import numpy as np
    >>> p, y = np.array([0.9, 0.2, 0.6, 0.4]), np.array([1.0, 0.0, 0.0, 1.0])
    >>> directional_accuracy(p, y)
    0.5
    >>> round(brier(p, y), 4)
    0.1925
    >>> brier_skill(p, y, climatology=0.5) > 0
    True
    >>> sim = simulate_long_only(p, np.array([0.02, -0.01, -0.005, 0.01]), threshold=0.55,
    ...                          fee=0.001)
    >>> sim.trades, round(sim.total_net_return, 4)
    (2, 0.011)
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from quant_models._panel import FloatArray

__all__ = [
    "ScoreCard",
    "SimResult",
    "brier",
    "brier_skill",
    "directional_accuracy",
    "expected_calibration_error",
    "log_loss",
    "score",
    "simulate_long_only",
]

_EPS = 1e-12


def directional_accuracy(p: FloatArray, y: FloatArray) -> float:
    """Share of predictions on the right side of 0.5 (``p > 0.5`` means up)."""
    return float(np.mean((p > 0.5) == (y > 0.5)))


def brier(p: FloatArray, y: FloatArray) -> float:
    """Mean squared error of the probabilities."""
    return float(np.mean((p - y) ** 2))


def brier_skill(p: FloatArray, y: FloatArray, climatology: float | FloatArray) -> float:
    """``1 - Brier(p) / Brier(climatology)``; positive means better than the base rate.

    ``climatology`` is the up-rate known *before* the test period (from training data): one
    number, or one per prediction (each coin's own training up-rate).
    """
    reference = brier(np.broadcast_to(np.asarray(climatology, dtype=np.float64), y.shape), y)
    return 1.0 - brier(p, y) / reference if reference > 0 else 0.0


def log_loss(p: FloatArray, y: FloatArray) -> float:
    """Mean negative log-likelihood (probabilities clipped to ``[1e-12, 1 - 1e-12]``)."""
    q = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def expected_calibration_error(p: FloatArray, y: FloatArray, bins: int = 10) -> float:
    """Weighted mean gap between mean prediction and frequency over equal-width bins.

    Examples:
        >>> import numpy as np
        >>> expected_calibration_error(np.array([0.25, 0.25, 0.75, 0.75]),
        ...                            np.array([0.0, 1.0, 1.0, 1.0]))
        0.25
    """
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(float(p[mask].mean()) - float(y[mask].mean()))
    return float(total / len(p))


@attrs.frozen
class SimResult:
    """Outcome of :func:`simulate_long_only`.

    Attributes:
        trades: signals acted on.
        exposure: share of decision points with a position (time in market).
        total_net_return: summed net log return of all trades.
        mean_net_return: mean net log return per trade (0 without trades).
        max_position: largest position taken, in units (risk rule: at most 1).
        min_position: smallest position taken (risk rule: never below 0, no shorting).
    """

    trades: int
    exposure: float
    total_net_return: float
    mean_net_return: float
    max_position: float
    min_position: float


def simulate_long_only(
    p: FloatArray, forward_return: FloatArray, *, threshold: float, fee: float
) -> SimResult:
    """Act on probabilities: long one unit when ``p >= threshold``; pay ``fee`` per side."""
    act = p >= threshold
    positions = np.where(act, 1.0, 0.0)
    net = forward_return[act] - 2.0 * fee
    trades = int(act.sum())
    return SimResult(
        trades=trades,
        exposure=float(act.mean()) if len(p) else 0.0,
        total_net_return=float(net.sum()),
        mean_net_return=float(net.mean()) if trades else 0.0,
        max_position=float(positions.max()) if len(p) else 0.0,
        min_position=float(positions.min()) if len(p) else 0.0,
    )


@attrs.frozen
class ScoreCard:
    """Every metric of one set of out-of-sample predictions.

    Attributes:
        n: scored predictions.
        up_rate: realised share of up moves.
        climatology: the training up-rate the skill is measured against (mean when per coin).
        accuracy: directional accuracy.
        brier: Brier score.
        bss: Brier skill score vs ``climatology``.
        log_loss: log loss.
        ece: expected calibration error (10 bins).
        utility: mean net log return per decision point of the long-only simulation.
        trades: trades in the simulation.
        exposure: time in market of the simulation.
        max_position: largest simulated position.
        min_position: smallest simulated position.
    """

    n: int
    up_rate: float
    climatology: float
    accuracy: float
    brier: float
    bss: float
    log_loss: float
    ece: float
    utility: float
    trades: int
    exposure: float
    max_position: float
    min_position: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data, floats rounded to 12 significant digits for stable text."""
        return {
            k: (float(f"{v:.12g}") if isinstance(v, float) else v)
            for k, v in attrs.asdict(self).items()
        }


def score(
    p: FloatArray,
    y: FloatArray,
    forward_return: FloatArray,
    *,
    climatology: float | FloatArray,
    threshold: float = 0.55,
    fee: float = 0.0026,
) -> ScoreCard:
    """Score out-of-sample predictions with every metric and the fee-aware simulation."""
    sim = simulate_long_only(p, forward_return, threshold=threshold, fee=fee)
    n = len(p)
    return ScoreCard(
        n=n,
        up_rate=float(y.mean()) if n else 0.0,
        climatology=float(np.mean(climatology)) if n else 0.0,
        accuracy=directional_accuracy(p, y) if n else 0.0,
        brier=brier(p, y) if n else 0.0,
        bss=brier_skill(p, y, climatology) if n else 0.0,
        log_loss=log_loss(p, y) if n else 0.0,
        ece=expected_calibration_error(p, y) if n else 0.0,
        utility=sim.total_net_return / n if n else 0.0,
        trades=sim.trades,
        exposure=sim.exposure,
        max_position=sim.max_position,
        min_position=sim.min_position,
    )
