"""Is a backtest's edge real? The strategy checks of issue 18, computed from a session's output.

:func:`strategy_checks` reads what a backtest produced (the equity after every event time, the
closes, the fills after fees) and answers the questions a skeptical reader asks of a result:

* **risk-adjusted return against buy-and-hold**: annualised Sortino ratio of the equity's
  log returns (downside deviation against 0) beside the same for an equal-weight buy-and-hold
  of the traded coins (:func:`~quant_exec.report.buy_and_hold_series`, no fees), and both
  maximum drawdowns;
* **exposure**: the share of intervals that start with a position open;
* **luck**: a random-entry test. Every round trip (a coin's position from flat back to flat)
  is moved to a random start on the same coin with the same duration, paying the same fee
  rate in and out; ``p`` is the share of ``draws`` random sets whose mean round-trip log
  return reaches the strategy's (with the usual ``+1`` correction). Same exposure, same
  number of trades, random timing;
* **concentration**: the total log return without the five best calendar weeks (weeks from
  the first equity point), and in each half of the span.

Everything is a pure function of its inputs and ``seed`` (the random-entry draws), so the same
backtest gives the same checks in any process. :meth:`StrategyChecks.goals` compares them with
issue 18's strategy goals.

Examples:
    >>> from decimal import Decimal as D
    >>> from types import SimpleNamespace as Fill
    >>> h = 3_600_000_000_000
    >>> closes = {"BTC/USD": tuple((t * h, D(100 + t)) for t in range(10))}
    >>> equity = tuple((t * h, D(1000) if t < 2 or t > 6 else D(990 + 5 * t)) for t in range(10))
    >>> fills = (Fill(ts_ns=2 * h, instrument="BTC/USD", side="buy", price=D(102),
    ...               quantity=D(5), fee=D("1.3")),
    ...          Fill(ts_ns=6 * h, instrument="BTC/USD", side="sell", price=D(106),
    ...               quantity=D(5), fee=D("1.3")))
    >>> checks = strategy_checks(equity, closes, fills, draws=200, seed=1)
    >>> checks.round_trips, round(checks.exposure, 3)
    (1, 0.444)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import generator
from quant_exec.report._render import buy_and_hold_series

__all__ = ["BEST_WEEKS", "FillLike", "StrategyChecks", "strategy_checks"]

BEST_WEEKS = 5
"""How many best weeks :attr:`StrategyChecks.without_best_weeks` leaves out."""

_WEEK_NS = 7 * 86_400 * 1_000_000_000
_YEAR_NS = 365.25 * 86_400 * 1_000_000_000
FloatArray = npt.NDArray[np.float64]
Series = Sequence[tuple[int, Decimal]]


class FillLike(Protocol):
    """What the checks read of a fill (:class:`quant_exec.session.FillRecord` has it)."""

    @property
    def ts_ns(self) -> int:
        """When it filled."""

    @property
    def instrument(self) -> str:
        """The instrument label (a key of the closes)."""

    @property
    def side(self) -> str:
        """``"buy"`` or ``"sell"`` (any case)."""

    @property
    def price(self) -> Decimal:
        """The fill price."""

    @property
    def quantity(self) -> Decimal:
        """The filled quantity (positive)."""

    @property
    def fee(self) -> Decimal:
        """The fee paid, in the quote currency."""


@attrs.frozen
class StrategyChecks:
    """The checks of one backtest (see the module docstring).

    Attributes:
        log_return: the equity's total log return.
        sortino: annualised Sortino ratio (``None`` without a losing interval or any return).
        buy_and_hold_sortino: the same for the equal-weight buy-and-hold.
        max_drawdown: the deepest fall from a running peak, as a positive fraction.
        buy_and_hold_max_drawdown: the same for the buy-and-hold.
        exposure: the share of intervals that start with a position open.
        round_trips: the number of round trips (an open position at the end counts, valued
            at the last close).
        mean_trip_log_return: their mean log return after fees (``None`` without any).
        random_entry_p: the random-entry test's p (``None`` without round trips).
        draws: random sets drawn.
        seed: the draws' seed.
        without_best_weeks: the total log return without the :data:`BEST_WEEKS` best weeks.
        first_half: the log return of the first half of the span.
        second_half: the log return of the second half.
    """

    log_return: float
    sortino: float | None
    buy_and_hold_sortino: float | None
    max_drawdown: float
    buy_and_hold_max_drawdown: float
    exposure: float
    round_trips: int
    mean_trip_log_return: float | None
    random_entry_p: float | None
    draws: int
    seed: int
    without_best_weeks: float
    first_half: float
    second_half: float

    def goals(self, *, min_exposure: float = 0.2, alpha: float = 0.05) -> dict[str, bool]:
        """Issue 18's strategy goals, each met or not.

        Args:
            min_exposure: the least share of intervals in the market.
            alpha: the random-entry test's level.
        """
        hold = self.buy_and_hold_sortino
        return {
            "sortino_above_buy_and_hold": self.sortino is not None
            and (hold is None or self.sortino > hold),
            "drawdown_at_most_half_of_buy_and_hold": self.max_drawdown
            <= self.buy_and_hold_max_drawdown / 2,
            "in_market_enough": self.exposure >= min_exposure,
            "beats_random_entries": self.random_entry_p is not None and self.random_entry_p < alpha,
            "positive_without_best_weeks": self.without_best_weeks > 0,
            "positive_in_both_halves": self.first_half > 0 and self.second_half > 0,
        }

    def as_dict(self) -> dict[str, Any]:
        """The checks and their goals as plain JSON values."""
        out: dict[str, Any] = attrs.asdict(self)
        out["best_weeks_left_out"] = BEST_WEEKS
        out["goals"] = self.goals()
        return out


def _values(series: Series) -> FloatArray:
    return np.array([float(x) for _, x in series], dtype=np.float64)


def _log_returns(series: Series) -> FloatArray:
    return np.asarray(np.diff(np.log(_values(series))), dtype=np.float64)


def _sortino(r: FloatArray, per_year: float) -> float | None:
    deviation = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if deviation == 0.0:
        return None
    return float(np.mean(r)) / deviation * math.sqrt(per_year)


def _max_drawdown(series: Series) -> float:
    v = _values(series)
    return float(np.max(1.0 - v / np.maximum.accumulate(v)))


def _buys(fill: FillLike) -> bool:
    return fill.side.lower() == "buy"


def _held(times: Sequence[int], fills: Sequence[FillLike]) -> npt.NDArray[np.bool_]:
    """Whether any position is open at each of ``times`` (after that time's fills)."""
    position: dict[str, Decimal] = {}
    out = np.zeros(len(times), dtype=bool)
    k = 0
    ordered = sorted(fills, key=lambda f: f.ts_ns)
    for i, t in enumerate(times):
        while k < len(ordered) and ordered[k].ts_ns <= t:
            f = ordered[k]
            sign = 1 if _buys(f) else -1
            position[f.instrument] = position.get(f.instrument, Decimal(0)) + sign * f.quantity
            k += 1
        out[i] = any(q > 0 for q in position.values())
    return out


@attrs.frozen
class _Trip:
    instrument: str
    start: int  # index into the instrument's closes
    bars: int
    log_return: float


def _index_at(times: Sequence[int], ts: int) -> int:
    """The last close at or before ``ts`` (0 before the first)."""
    return max(bisect.bisect_right(times, ts) - 1, 0)


def _trips(fills: Sequence[FillLike], closes: Mapping[str, Series]) -> tuple[list[_Trip], float]:
    """Round trips by instrument, and the fee rate (fees over traded notional)."""
    trips: list[_Trip] = []
    fees = notional = Decimal(0)
    for label in sorted({f.instrument for f in fills}):
        series = closes[label]
        times = [t for t, _ in series]
        qty = paid = got = Decimal(0)
        start = 0
        for f in sorted((f for f in fills if f.instrument == label), key=lambda f: f.ts_ns):
            value = f.price * f.quantity
            fees += f.fee
            notional += value
            if _buys(f):
                if qty == 0:
                    start, paid, got = _index_at(times, f.ts_ns), Decimal(0), Decimal(0)
                qty += f.quantity
                paid += value + f.fee
                continue
            qty -= f.quantity
            got += value - f.fee
            if qty <= 0:
                end = _index_at(times, f.ts_ns)
                trips.append(_Trip(label, start, end - start, math.log(got / paid)))
                qty = Decimal(0)
        if qty > 0:
            end = len(series) - 1
            got += qty * series[-1][1]
            trips.append(_Trip(label, start, end - start, math.log(got / paid)))
    rate = float(fees / notional) if notional else 0.0
    return trips, rate


def _random_p(
    trips: Sequence[_Trip], closes: Mapping[str, Series], rate: float, draws: int, seed: int
) -> float:
    rng = generator(seed)
    total = np.zeros(draws)
    cost = 2 * math.log(1 - rate)
    for trip in trips:
        c = _values(closes[trip.instrument])
        starts = rng.integers(0, c.size - trip.bars, size=draws)
        total += np.log(c[starts + trip.bars] / c[starts]) + cost
    mean = float(np.mean([t.log_return for t in trips]))
    hits = int(np.sum(total / len(trips) >= mean - 1e-12))
    return (1 + hits) / (draws + 1)


def strategy_checks(
    equity: Series,
    closes: Mapping[str, Series],
    fills: Sequence[FillLike],
    *,
    draws: int = 1000,
    seed: int = 0,
) -> StrategyChecks:
    """The strategy checks of one backtest.

    Args:
        equity: ``(ts_ns, portfolio value)`` after every event time, ascending.
        closes: per instrument label, ``(ts_ns, close)`` ascending.
        fills: every fill, with its fee.
        draws: random-entry sets to draw.
        seed: the draws' seed.

    Raises:
        ValueError: fewer than 2 equity points, ``draws`` below 1, or a fill of an
            instrument without closes.
    """
    if len(equity) < 2:
        raise ValueError("the checks need at least 2 equity points")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    missing = sorted({f.instrument for f in fills} - set(closes))
    if missing:
        raise ValueError(f"fills of instruments without closes: {missing}")
    times = [t for t, _ in equity]
    r = _log_returns(equity)
    per_year = _YEAR_NS / float(np.median(np.diff(np.asarray(times, dtype=np.float64))))
    hold = buy_and_hold_series(closes, equity[0][1], times)
    held = _held(times, fills)[:-1]
    trips, rate = _trips(fills, closes)
    weeks = (np.asarray(times[:-1], dtype=np.int64) - times[0]) // _WEEK_NS  # by start
    weekly = np.bincount(weeks, weights=r)
    best = np.sort(weekly)[::-1][:BEST_WEEKS]
    middle = times[0] + (times[-1] - times[0]) // 2
    first = np.asarray(times[1:]) <= middle
    return StrategyChecks(
        log_return=float(np.sum(r)),
        sortino=_sortino(r, per_year),
        buy_and_hold_sortino=_sortino(_log_returns(hold), per_year),
        max_drawdown=_max_drawdown(equity),
        buy_and_hold_max_drawdown=_max_drawdown(hold),
        exposure=float(np.mean(held)),
        round_trips=len(trips),
        mean_trip_log_return=float(np.mean([t.log_return for t in trips])) if trips else None,
        random_entry_p=_random_p(trips, closes, rate, draws, seed) if trips else None,
        draws=draws,
        seed=seed,
        without_best_weeks=float(np.sum(r) - np.sum(best)),
        first_half=float(np.sum(r[first])),
        second_half=float(np.sum(r[~first])),
    )
