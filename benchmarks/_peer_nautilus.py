# mypy: ignore-errors
"""The nautilus_trader side of ``bench_backtest.py``: one SMA-cross backtest, timed.

nautilus_trader 1.221 needs pandas < 3, so it cannot share the workspace environment.
``bench_backtest.py`` runs this file in a throwaway one::

    uv run --no-project --isolated --python 3.11 --with nautilus_trader==1.221.0 \\
        python benchmarks/_peer_nautilus.py IN.json OUT.json

``IN.json`` holds the benchmark's bars (open time in ns and the OHLCV strings), the strategy's
parameters and the number of timed runs. ``OUT.json`` gets nautilus's trade list (fill bar open
time in ns, side, price, quantity: the tuples of the other two engines) and the timings.

The strategy is the benchmark's: long ``size_pct`` percent of portfolio value while nautilus's
own fast SMA is above its slow SMA, flat when below, market orders, no fees, no slippage, a
cash account with ``cash`` USD, a ``BTC/USD`` currency pair with the benchmark's price and lot
precision.

**Fill timing.** nautilus_trader has no "fill at the next bar's open" switch. With bar
execution, a market order sent from ``on_bar`` fills at once against the simulated book, which
the bar just moved to its close; a latency model would only delay it past the next bar's
close, and market orders with ``AT_THE_OPEN`` are not supported by its matching engine
("Market auction ... is not currently supported"). nautilus stamps a bar at its close, which
is the next bar's open time; and the benchmark's bars open where the previous one closed
(``make_bars`` carries the price over). So a fill at the decision bar's close is a fill at the
next bar's open, in time and in price. This file checks that property of its input and
refuses bars without it, rather than quietly filling at other prices. A decision on the last
bar is not sent: there is no next bar to fill it (the other engines leave it unfilled).

Only ``engine.run()`` is timed (``run_s``); building the engine and adding the data is timed
apart (``setup_s``). Neither includes creating the environment or importing nautilus_trader.
``loop_s`` is the part of ``run_s`` until the strategy is stopped, which leaves out the
engine's post-run analysis (per-position statistics kept in pandas).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from decimal import Decimal
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators.averages import SimpleMovingAverage
from nautilus_trader.model.currencies import BTC
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, CurrencyType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Currency, Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

VENUE = Venue("SIM")
INSTRUMENT_ID = InstrumentId(Symbol("BTC/USD"), VENUE)
BAR_TYPE = BarType.from_str(f"{INSTRUMENT_ID}-1-HOUR-LAST-EXTERNAL")
# The dollar with the exact precision of a lot times a tick (8 + 2 decimals): nautilus rounds
# balances to their currency's precision, and the stock USD (2 decimals) would round every
# fill's notional to cents, which the other two engines do not (quantities would drift apart
# by a few lots over hundreds of trades).
USD = Currency("USD", 10, 840, "United States dollar (exact notional)", CurrencyType.FIAT)


class SmaCrossConfig(StrategyConfig, frozen=True):
    """The benchmark's parameters."""

    fast: int
    slow: int
    size_pct: int
    lot: float
    lot_decimals: int
    last_ts: int


class SmaCross(Strategy):
    """Long ``size_pct`` % of portfolio value while SMA(fast) > SMA(slow), flat when below."""

    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self.fast = SimpleMovingAverage(config.fast)
        self.slow = SimpleMovingAverage(config.slow)
        self.trades: list[tuple[int, str, float, float]] = []
        self.stopped_at = 0.0

    def on_stop(self) -> None:
        # engine.run() stops the trader once the data is done, then runs its post-run
        # analysis (statistics per position, in pandas): this splits the two.
        self.stopped_at = time.perf_counter()

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(INSTRUMENT_ID)
        self.register_indicator_for_bars(BAR_TYPE, self.fast)
        self.register_indicator_for_bars(BAR_TYPE, self.slow)
        self.subscribe_bars(BAR_TYPE)

    def on_bar(self, bar: Bar) -> None:
        if not self.slow.initialized or bar.ts_event == self.config.last_ts:
            return
        fast, slow = self.fast.value, self.slow.value
        flat = self.portfolio.is_flat(INSTRUMENT_ID)
        if flat and fast > slow:
            account = self.portfolio.account(VENUE)
            close = bar.close.as_double()
            base = account.balance_total(BTC)
            value = account.balance_total(USD).as_double() + (
                base.as_double() * close if base is not None else 0.0
            )
            # The other two engines' arithmetic: floats, floored to whole lots.
            raw = value * self.config.size_pct / 100 / close
            lots = math.floor(raw / self.config.lot)
            order = self.order_factory.market(
                INSTRUMENT_ID, OrderSide.BUY, _quantity(lots, self.config.lot_decimals)
            )
            self.submit_order(order)
        elif not flat and fast < slow:
            self.close_all_positions(INSTRUMENT_ID)

    def on_order_filled(self, event: Any) -> None:
        side = "buy" if event.order_side == OrderSide.BUY else "sell"
        # nautilus stamps the fill with the decision bar's close: the next bar's open time.
        self.trades.append(
            (event.ts_event, side, float(str(event.last_px)), float(str(event.last_qty)))
        )


def _quantity(lots: int, decimals: int) -> Quantity:
    """``lots`` whole lots of ``10**-decimals``, exactly."""
    return Quantity.from_str(str(Decimal(lots).scaleb(-decimals)))


def build(spec: dict[str, Any], bars: list[Bar]) -> tuple[BacktestEngine, SmaCross]:
    """A fresh engine with the venue, instrument, bars and strategy added."""
    decimals = spec["lot_decimals"]
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id="BENCH-001",
            logging=LoggingConfig(bypass_logging=True),
        )
    )
    engine.add_venue(
        venue=VENUE,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=None,  # multi-currency cash account: USD and BTC balances
        starting_balances=[Money(spec["cash"], USD)],
        bar_execution=True,
    )
    engine.add_instrument(
        CurrencyPair(
            instrument_id=INSTRUMENT_ID,
            raw_symbol=Symbol("BTC/USD"),
            base_currency=BTC,
            quote_currency=USD,
            price_precision=spec["price_decimals"],
            size_precision=decimals,
            price_increment=Price(10.0 ** -spec["price_decimals"], spec["price_decimals"]),
            size_increment=Quantity(10.0**-decimals, decimals),
            ts_event=0,
            ts_init=0,
            maker_fee=Decimal(0),
            taker_fee=Decimal(0),
        )
    )
    engine.add_data(bars)
    strategy = SmaCross(
        SmaCrossConfig(
            fast=spec["fast"],
            slow=spec["slow"],
            size_pct=spec["size_pct"],
            lot=10.0**-decimals,
            lot_decimals=decimals,
            last_ts=bars[-1].ts_event,
        )
    )
    engine.add_strategy(strategy)
    return engine, strategy


def nautilus_bars(spec: dict[str, Any]) -> list[Bar]:
    """The benchmark's bars as nautilus bars, stamped at their close (nautilus's convention).

    Raises:
        SystemExit: if a bar does not open at the previous bar's close (see the module notes).
    """
    rows = spec["bars"]
    for before, after in itertools.pairwise(rows):
        if Decimal(after[1]) != Decimal(before[4]):
            raise SystemExit(
                f"bar at {after[0]} opens at {after[1]}, not at the previous close {before[4]}:"
                " nautilus would fill at the close, not at this open"
            )
    decimals = spec["lot_decimals"]
    out = []
    for open_ns, o, h, l, c, v in rows:  # noqa: E741
        ts = open_ns + spec["bar_ns"]
        out.append(
            Bar(
                BAR_TYPE,
                Price.from_str(o),
                Price.from_str(h),
                Price.from_str(l),
                Price.from_str(c),
                Quantity(float(v), decimals),
                ts,
                ts,
            )
        )
    return out


def main(argv: list[str]) -> None:
    """Read the spec, run once for the trades and ``repeats`` times for timings, write JSON."""
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    bars = nautilus_bars(spec)
    trades: list[Any] = []
    run_s, setup_s, loop_s = [], [], []
    for _ in range(max(1, spec["repeats"])):
        start = time.perf_counter()
        engine, strategy = build(spec, bars)
        ready = time.perf_counter()
        engine.run()
        done = time.perf_counter()
        setup_s.append(ready - start)
        run_s.append(done - ready)
        loop_s.append(strategy.stopped_at - ready)
        if trades and strategy.trades != trades:
            raise SystemExit("nautilus_trader gave different trades on a repeated run")
        trades = strategy.trades
        engine.dispose()
    import nautilus_trader

    with open(argv[1], "w", encoding="utf-8") as f:
        json.dump(
            {
                "version": nautilus_trader.__version__,
                "trades": trades,
                "run_s": run_s,
                "loop_s": loop_s,
                "setup_s": setup_s,
            },
            f,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
