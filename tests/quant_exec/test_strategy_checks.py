"""The strategy checks read a backtest's equity, closes and fills and judge the edge."""

from __future__ import annotations

import math
from decimal import Decimal

import attrs
import numpy as np
import pytest

from quant_exec.report import BEST_WEEKS, StrategyChecks, strategy_checks
from quant_exec.session import FillRecord

H = 3_600_000_000_000
WEEK = 168


def _fill(
    ts_ns: int, instrument: str, side: str, price: Decimal, quantity: Decimal, fee: Decimal
) -> FillRecord:
    return FillRecord(ts_ns, instrument, side, price, quantity, fee, reason_code="TEST")


def _series(values: list[float]) -> tuple[tuple[int, Decimal], ...]:
    return tuple((t * H, Decimal(repr(v))) for t, v in enumerate(values))


def _walk(n: int, seed: int, drift: float = 0.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in 100 * np.exp(np.cumsum(rng.normal(drift, 0.01, n)))]


def _trade(
    label: str, closes: list[float], t0: int, t1: int, qty: str, fee: float
) -> list[FillRecord]:
    q = Decimal(qty)
    buy, sell = Decimal(repr(closes[t0])), Decimal(repr(closes[t1]))
    return [
        _fill(t0 * H, label, "buy", buy, q, buy * q * Decimal(repr(fee))),
        _fill(t1 * H, label, "SELL", sell, q, sell * q * Decimal(repr(fee))),
    ]


def test_returns_drawdowns_and_halves_follow_the_equity() -> None:
    values = [100.0, 110.0, 99.0, 120.0, 90.0, 100.0]
    checks = strategy_checks(_series(values), {"A/USD": _series(values)}, ())
    r = np.diff(np.log(values))
    assert checks.log_return == pytest.approx(math.log(100 / 100))
    per_year = 365.25 * 24
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert checks.sortino == pytest.approx(r.mean() / downside * math.sqrt(per_year))
    assert checks.max_drawdown == pytest.approx(1 - 90 / 120)
    # the buy-and-hold of the one coin is the equity itself (no fees)
    assert checks.buy_and_hold_sortino == pytest.approx(checks.sortino)
    assert checks.buy_and_hold_max_drawdown == pytest.approx(checks.max_drawdown)
    # the span 0..5 h splits at 2.5 h: intervals ending at 1 and 2 h, then 3, 4, 5 h
    assert checks.first_half == pytest.approx(math.log(99 / 100))
    assert checks.second_half == pytest.approx(math.log(100 / 99))
    assert checks.exposure == 0.0
    assert checks.round_trips == 0
    assert checks.mean_trip_log_return is None
    assert checks.random_entry_p is None


def test_a_rising_equity_has_no_sortino_and_only_the_best_weeks_are_left_out() -> None:
    weekly = [0.05, -0.02, 0.01, 0.04, 0.03, 0.02, 0.06, -0.01]
    values = [100.0]
    for g in weekly:
        for _ in range(WEEK):
            values.append(values[-1] * math.exp(g / WEEK))
    checks = strategy_checks(_series(values), {"A/USD": _series(values)}, ())
    kept = sorted(weekly)[: len(weekly) - BEST_WEEKS]
    assert checks.without_best_weeks == pytest.approx(sum(kept))
    assert checks.log_return == pytest.approx(sum(weekly))
    up = strategy_checks(_series([1.0, 2.0, 3.0]), {"A/USD": _series([1.0, 2.0, 3.0])}, ())
    assert up.sortino is None  # no losing interval: no downside deviation


def test_exposure_and_round_trips_come_from_the_fills() -> None:
    closes = _walk(400, 3)
    fills = [
        *_trade("A/USD", closes, 10, 50, "2", 0.0026),
        *_trade("A/USD", closes, 100, 120, "1", 0.0026),
    ]
    # a partial sell keeps the trip open until the position is flat
    fills += [
        _fill(200 * H, "A/USD", "buy", Decimal(repr(closes[200])), Decimal(2), Decimal(0)),
        _fill(220 * H, "A/USD", "SELL", Decimal(repr(closes[220])), Decimal(1), Decimal(0)),
        _fill(260 * H, "A/USD", "SELL", Decimal(repr(closes[260])), Decimal(1), Decimal(0)),
        _fill(
            390 * H, "A/USD", "buy", Decimal(repr(closes[390])), Decimal(1), Decimal(0)
        ),  # open at the end
    ]
    equity = _series([1000.0 + 0.1 * t for t in range(400)])
    checks = strategy_checks(equity, {"A/USD": _series(closes)}, fills, draws=50, seed=2)
    held = (50 - 10) + (120 - 100) + (260 - 200) + (399 - 390)
    assert checks.exposure == pytest.approx(held / 399)
    assert checks.round_trips == 4
    first = math.log(closes[50] * (1 - 0.0026) / (closes[10] * (1 + 0.0026)))
    third = math.log((closes[220] + closes[260]) / (2 * closes[200]))
    last = math.log(closes[399] / closes[390])
    second = math.log(closes[120] * (1 - 0.0026) / (closes[100] * (1 + 0.0026)))
    want = np.mean([first, second, third, last])
    assert checks.mean_trip_log_return == pytest.approx(want)


def test_perfect_timing_beats_random_entries_and_random_timing_does_not() -> None:
    closes = _walk(2000, 5)
    up = [t for t in range(0, 1990, 10) if closes[t + 5] > closes[t] * 1.01]
    good = [f for t in up for f in _trade("A/USD", closes, t, t + 5, "1", 0.001)]
    rng = np.random.default_rng(9)
    starts = sorted(rng.choice(np.arange(0, 1990, 10), size=len(up), replace=False).tolist())
    blind = [f for t in starts for f in _trade("A/USD", closes, t, t + 5, "1", 0.001)]
    equity = _series([1000.0 + t for t in range(2000)])
    market = {"A/USD": _series(closes)}
    lucky = strategy_checks(equity, market, good, draws=400, seed=1)
    plain = strategy_checks(equity, market, blind, draws=400, seed=1)
    assert lucky.random_entry_p is not None
    assert lucky.random_entry_p < 0.01
    assert plain.random_entry_p is not None
    assert plain.random_entry_p > 0.05
    again = strategy_checks(equity, market, good, draws=400, seed=1)
    assert again == lucky


def _checks(**changes: object) -> StrategyChecks:
    base = StrategyChecks(
        log_return=0.2,
        sortino=1.5,
        buy_and_hold_sortino=1.0,
        max_drawdown=0.1,
        buy_and_hold_max_drawdown=0.3,
        exposure=0.4,
        round_trips=12,
        mean_trip_log_return=0.01,
        random_entry_p=0.01,
        draws=100,
        seed=0,
        without_best_weeks=0.05,
        first_half=0.1,
        second_half=0.1,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "missed"),
    [
        ({}, set()),
        ({"sortino": 0.5}, {"sortino_above_buy_and_hold"}),
        ({"sortino": None}, {"sortino_above_buy_and_hold"}),
        ({"buy_and_hold_sortino": None}, set()),
        ({"max_drawdown": 0.2}, {"drawdown_at_most_half_of_buy_and_hold"}),
        ({"exposure": 0.1}, {"in_market_enough"}),
        ({"random_entry_p": 0.2}, {"beats_random_entries"}),
        ({"random_entry_p": None}, {"beats_random_entries"}),
        ({"without_best_weeks": -0.01}, {"positive_without_best_weeks"}),
        ({"first_half": -0.01}, {"positive_in_both_halves"}),
        ({"second_half": 0.0}, {"positive_in_both_halves"}),
    ],
)
def test_goals_name_what_is_missed(changes: dict[str, object], missed: set[str]) -> None:
    goals = _checks(**changes).goals()
    assert {name for name, met in goals.items() if not met} == missed
    doc = _checks(**changes).as_dict()
    assert doc["goals"] == goals
    assert doc["best_weeks_left_out"] == BEST_WEEKS


def test_bad_input_is_refused() -> None:
    one = _series([1.0])
    with pytest.raises(ValueError, match="at least 2 equity points"):
        strategy_checks(one, {}, ())
    two = _series([1.0, 2.0])
    with pytest.raises(ValueError, match="draws must be at least 1"):
        strategy_checks(two, {}, (), draws=0)
    fills = _trade("B/USD", [1.0, 2.0], 0, 1, "1", 0.0)
    with pytest.raises(ValueError, match=r"without closes: \['B/USD'\]"):
        strategy_checks(two, {"A/USD": two}, fills)


def test_a_backtest_result_is_read_as_it_is() -> None:
    from quant_exec.session import BacktestConfig, example_inputs, run_backtest

    feed, predictor = example_inputs()
    result = run_backtest(feed, predictor, BacktestConfig.defaults())
    checks = strategy_checks(result.equity, result.closes, result.fills, draws=100, seed=3)
    first, last = result.equity[0][1], result.equity[-1][1]
    assert checks.log_return == pytest.approx(math.log(last / first))
    assert checks.round_trips >= 1
    assert 0 < checks.exposure < 1
    assert checks.random_entry_p is not None
