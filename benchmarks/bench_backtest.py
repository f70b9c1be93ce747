"""Backtest throughput: the quant_exec engine against backtrader on one SMA-cross strategy.

Both engines run the same strategy on the same synthetic hourly bars: long 30% of portfolio
value while the fast SMA is above the slow SMA, flat when it is below; market orders fill at
the next bar's open, with no fees and no slippage. On the quant side the SMA cross is a
:class:`~quant_core.Predictor` (``p_up`` 1 above, 0 below, 0.5 when equal) and the ordinary
prediction-led strategy with ``persistence=1`` turns it into entries and exits, through the
full risk gates, paper broker, ledger and decision log (every bar's decision is canonical
JSON). Before anything is timed the two trade lists are checked to be identical (bar, side,
price; quantity within one lot), so the comparison is of the same work. The two engines are
timed alternately and the best run of each is kept, so a busy machine slows both alike; the
output gives events/s and microseconds per bar of each, the ratio, and the goal (at least
20x backtrader) with whether it is met.

nautilus_trader runs the same strategy too, in full runs only. It needs pandas < 3, so it
cannot join the workspace; ``_peer_nautilus.py`` runs it in a throwaway environment
(``uv run --no-project --isolated --with nautilus_trader==1.221.0``; the first run downloads
it), with the bars going in and the trade list and timings coming back as JSON. Its trade
list is checked against quant's from an untimed run first; only then is it timed, best of the
same number of runs, engine run only. ``--quick`` skips it; where uv or the download is not
available the output says why and the rest is still reported.

Run: ``uv run python benchmarks/bench_backtest.py [--quick] [--json]``
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from quant_core import Bar, Instrument, Timeframe, generator
from quant_core.events import HorizonForecast, InMemoryFeed, Prediction
from quant_core.profiles import RiskProfile, StrategyProfile
from quant_exec import BacktestConfig, run_backtest
from quant_exec.venues import FeeSchedule, FeeTier, SlippageModel, VenueRulebook, VenueRules

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_pair, run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_pair, run_cli

with warnings.catch_warnings():
    # backtrader 1.9 has invalid escape sequences that Python 3.12+ (and pytest's
    # warnings-as-errors) report when its modules are first compiled.
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    import backtrader as bt

BTC = Instrument("BTC", "USD")
TF = Timeframe.H1
T0 = 1_704_067_200 * 10**9
FAST, SLOW, SIZE_PCT = 10, 30, 30
LOT = Decimal("0.00000001")
CASH = 10_000
GOAL = 20
NAUTILUS = "nautilus_trader==1.221.0"
NAUTILUS_PEER = Path(__file__).resolve().with_name("_peer_nautilus.py")
NAUTILUS_TIMEOUT_S = 900  # the first run downloads about 100 MB


def make_bars(n: int, seed: int = 11) -> list[Bar]:
    """A seeded random walk with slow regime swings, so the SMAs cross often."""
    rng = generator(seed, "benchmarks", "backtest")
    price, out = 40_000.0, []
    for i in range(n):
        open_ = price
        price = open_ * math.exp(0.002 * math.sin(i / 40) + 0.006 * float(rng.normal()))
        high, low = max(open_, price) * 1.001, min(open_, price) * 0.999
        out.append(
            Bar(
                BTC,
                TF,
                T0 + i * TF.ns,
                f"{open_:.2f}",
                f"{high:.2f}",
                f"{low:.2f}",
                f"{price:.2f}",
                "1000000",
            )
        )
    return out


class SmaCross:
    """The SMA cross as a quant :class:`~quant_core.Predictor` (running sums, as backtrader).

    The closes have two decimals (:func:`make_bars` writes them so), so the running sums are
    kept exactly in integer cents and ``fast / FAST > slow / SLOW`` is decided as
    ``fast * SLOW > slow * FAST``: the same signal as exact decimal arithmetic, without
    Decimal work per bar (it is the benchmark's strategy, not the engine under test).
    """

    model_id = "bench:sma-cross"
    horizons_ns = (TF.ns,)
    # The three possible forecasts are values: made once, shared by every prediction.
    _forecasts: ClassVar[dict[int, tuple[HorizonForecast, ...]]] = {
        s: (HorizonForecast(TF.ns, p),) for s, p in ((-1, 0.0), (0, 0.5), (1, 1.0))
    }

    def __init__(self) -> None:
        self._cents: list[int] = []
        self._fast = self._slow = 0

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        bars, cents = history[BTC], self._cents
        for i in range(len(cents), len(bars)):  # fold in the bars closed since the last call
            close = int(bars[i].close.scaleb(2))  # exact: two decimals
            cents.append(close)
            self._fast += close - (cents[i - FAST] if i >= FAST else 0)
            self._slow += close - (cents[i - SLOW] if i >= SLOW else 0)
        if len(cents) < SLOW:
            return ()
        fast, slow = self._fast * SLOW, self._slow * FAST  # both over FAST * SLOW
        sign = (fast > slow) - (fast < slow)
        return (Prediction(BTC, as_of_ns, as_of_ns, self._forecasts[sign], self.model_id),)


def quant_trades(bars: list[Bar]) -> list[tuple[int, str, float, float]]:
    """Run the quant engine; return (fill bar open ns, side, price, quantity)."""
    config = BacktestConfig.from_profiles(
        StrategyProfile(persistence=1, position_size_pct=Decimal(SIZE_PCT)),
        RiskProfile(),
        initial_cash=Decimal(CASH),
        fees=FeeSchedule((FeeTier(0, 0, 0),)),
        slippage=SlippageModel(base_bps=0, impact_bps=0),
        max_volume_share=Decimal(1),
        market_buffer_bps=Decimal(0),
        venue=VenueRulebook({"BTC": VenueRules(lot_size=LOT, tick_size="0.01")}),
    )
    result = run_backtest(InMemoryFeed(bars), SmaCross(), config)
    return [(f.ts_ns, f.side, float(f.price), float(f.quantity)) for f in result.fills]


class _BtSmaCross(bt.Strategy):  # type: ignore[misc]
    # backtrader looks its strategy's module up in sys.modules; under runpy (as the test suite
    # runs benchmarks) this file's module is not there, so name one that always is.
    __module__ = bt.strategy.__name__

    def __init__(self) -> None:
        self.fast = bt.indicators.SMA(self.data.close, period=FAST)
        self.slow = bt.indicators.SMA(self.data.close, period=SLOW)
        self.trades: list[tuple[int, str, float, float]] = []

    def next(self) -> None:
        if not self.position and self.fast[0] > self.slow[0]:
            raw = self.broker.getvalue() * SIZE_PCT / 100 / self.data.close[0]
            self.buy(size=math.floor(raw / float(LOT)) * float(LOT))
        elif self.position and self.fast[0] < self.slow[0]:
            self.close()

    def notify_order(self, order: Any) -> None:
        if order.status == order.Completed:
            when = bt.num2date(order.executed.dt).replace(tzinfo=dt.UTC)
            ns = int(when.timestamp()) * 10**9
            side = "buy" if order.isbuy() else "sell"
            self.trades.append((ns, side, order.executed.price, abs(order.executed.size)))


def backtrader_trades(bars: list[Bar]) -> list[tuple[int, str, float, float]]:
    """Run backtrader on the same bars; return the same trade tuples."""
    frame = pd.DataFrame(
        {
            "open": [float(b.open) for b in bars],
            "high": [float(b.high) for b in bars],
            "low": [float(b.low) for b in bars],
            "close": [float(b.close) for b in bars],
            "volume": [float(b.volume) for b in bars],
        },
        index=pd.to_datetime([b.open_time_ns for b in bars], unit="ns"),
    )
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(_BtSmaCross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=0.0)
    (strategy,) = cerebro.run()
    return list(strategy.trades)


def same_trades(ours: list[Any], theirs: list[Any]) -> bool:
    """Same bar, side and price; quantity within one lot."""
    return len(ours) == len(theirs) and all(
        a[0] == b[0]
        and a[1] == b[1]
        and math.isclose(a[2], b[2], rel_tol=1e-12)
        and abs(a[3] - b[3]) <= float(LOT) * 1.5
        for a, b in zip(ours, theirs, strict=True)
    )


class NautilusUnavailableError(Exception):
    """nautilus_trader could not be run here; the message says why."""


def nautilus_peer(bars: list[Bar], repeats: int) -> dict[str, Any]:
    """Run ``_peer_nautilus.py`` in a throwaway environment; return its JSON answer.

    ``repeats=0`` runs the backtest once, for its trade list; otherwise it is run ``repeats``
    times, each timed.

    Raises:
        NautilusUnavailableError: no uv, the environment could not be made, the run failed or took
            longer than ``NAUTILUS_TIMEOUT_S``.
    """
    uv = shutil.which("uv")
    if uv is None:
        raise NautilusUnavailableError("uv not found on PATH")
    spec = {
        "bars": [
            [b.open_time_ns, str(b.open), str(b.high), str(b.low), str(b.close), str(b.volume)]
            for b in bars
        ],
        "bar_ns": TF.ns,
        "fast": FAST,
        "slow": SLOW,
        "size_pct": SIZE_PCT,
        "cash": CASH,
        "lot_decimals": -int(LOT.log10()),  # 8
        "price_decimals": 2,  # make_bars writes two decimals
        "repeats": repeats,
    }
    # The workspace's environment must not leak into the throwaway one.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    with tempfile.TemporaryDirectory(prefix="bench-nautilus-") as tmp:
        spec_path, out_path = Path(tmp, "in.json"), Path(tmp, "out.json")
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [uv, "run", "--no-project", "--isolated", "--python", "3.11"]
        command += ["--with", NAUTILUS, "python", str(NAUTILUS_PEER), str(spec_path)]
        try:
            done = subprocess.run(
                [*command, str(out_path)],
                capture_output=True,
                text=True,
                env=env,
                timeout=NAUTILUS_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise NautilusUnavailableError(f"no answer in {NAUTILUS_TIMEOUT_S} s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise NautilusUnavailableError(f"exit {done.returncode}: {last}")
        answer: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    return answer


def trade_difference(ours: list[Any], theirs: list[Any]) -> str:
    """Where two trade lists first part (for a report, when :func:`same_trades` fails)."""
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if not same_trades([a], [b]):
            return f"trade {i}: quant {tuple(a)} vs nautilus {tuple(b)}"
    return f"quant has {len(ours)} trades, nautilus {len(theirs)}"


def nautilus(bars: list[Bar], ours: list[Any], repeats: int) -> dict[str, Any]:
    """Check nautilus's trades against ``ours`` (untimed run), then time it; or say why not."""
    try:
        theirs = nautilus_peer(bars, 0)["trades"]
        if not same_trades(ours, theirs):
            return {
                "nautilus_trader": "trade lists differ, not timed: "
                + trade_difference(ours, theirs)
            }
        timed = nautilus_peer(bars, repeats)
    except NautilusUnavailableError as exc:
        return {"nautilus_trader": f"unavailable ({exc})"}
    if not same_trades(ours, timed["trades"]):  # the timed runs did the same work
        return {"nautilus_trader": "trade lists differ in the timed runs, not reported"}
    best = min(timed["run_s"])
    return {
        "nautilus_trader": timed["version"],
        "nautilus_events_per_s": len(bars) / best,
        "nautilus_us_per_bar": best / len(bars) * 1e6,
        "nautilus_loop_us_per_bar": min(timed["loop_s"]) / len(bars) * 1e6,
        "nautilus_setup_s": min(timed["setup_s"]),
    }


def run(n: int, repeats: int, with_nautilus: bool) -> dict[str, Any]:
    bars = make_bars(n)
    ours, theirs = quant_trades(bars), backtrader_trades(bars)
    if not same_trades(ours, theirs):
        raise SystemExit(f"trade lists differ: quant {ours[:3]}... vs backtrader {theirs[:3]}...")
    # Alternating runs, best of each: a busy machine slows both alike.
    q, b = best_pair(lambda: quant_trades(bars), lambda: backtrader_trades(bars), repeats)
    result = {
        "bars": n,
        "trades": len(ours),
        "quant_events_per_s": n / q,
        "backtrader_events_per_s": n / b,
        "quant_us_per_bar": q / n * 1e6,
        "backtrader_us_per_bar": b / n * 1e6,
        "ratio": b / q,
        "goal": GOAL,
    }
    if not with_nautilus:
        return result | {"nautilus_trader": "measured in full runs only"}
    result |= nautilus(bars, ours, repeats)
    if "nautilus_events_per_s" in result:
        result["quant_over_nautilus"] = (
            result["quant_events_per_s"] / result["nautilus_events_per_s"]
        )
        result["nautilus_over_backtrader"] = (
            result["nautilus_events_per_s"] / result["backtrader_events_per_s"]
        )
    return result


def nautilus_lines(result: dict[str, Any]) -> list[str]:
    if "nautilus_events_per_s" not in result:
        return [f"  nautilus_trader: {result['nautilus_trader']}"]
    return [
        (
            f"  nautilus    {result['nautilus_events_per_s']:>12,.0f} events/s"
            f"  ({result['nautilus_us_per_bar']:.1f} us/bar, engine.run(); the data loop alone"
            f" {result['nautilus_loop_us_per_bar']:.1f} us/bar)"
        ),
        (
            f"  nautilus_trader {result['nautilus_trader']} in an isolated environment;"
            " its trade list identical: yes (an untimed run, then the timed ones)"
        ),
        f"  ratio quant / nautilus: {result['quant_over_nautilus']:.2f}",
        f"  ratio nautilus / backtrader: {result['nautilus_over_backtrader']:.2f}",
    ]


def lines(sizes: tuple[int, int, bool], result: dict[str, Any]) -> list[str]:
    verdict = "met" if result["ratio"] >= GOAL else "not met"
    return [
        (
            f"SMA({FAST})/SMA({SLOW}) cross backtest, {sizes[0]} hourly bars, "
            f"{result['trades']} trades"
        ),
        "  trade lists identical: yes (bar, side, price; quantity within one lot)",
        (
            f"  quant_exec  {result['quant_events_per_s']:>12,.0f} events/s"
            f"  ({result['quant_us_per_bar']:.1f} us/bar: gates, broker, ledger, decision line)"
        ),
        (
            f"  backtrader  {result['backtrader_events_per_s']:>12,.0f} events/s"
            f"  ({result['backtrader_us_per_bar']:.1f} us/bar)"
        ),
        *nautilus_lines(result),
        f"  ratio (quant throughput / backtrader throughput): {result['ratio']:.2f}",
        f"  goal: >= {GOAL}x backtrader ({verdict})",
        (
            f"  {GOAL}x would be {result['backtrader_us_per_bar'] / GOAL:.1f} us/bar for the whole"
            " engine; where the time goes: docs/concepts/replay.md, Throughput"
        ),
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(400, 1, False),
        full=(20_000, 3, True),
        run=lambda sizes: run(*sizes),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
