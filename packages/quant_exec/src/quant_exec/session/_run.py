"""A backtest: one :class:`~quant_exec.session.TradingSession` driven over a feed."""

from __future__ import annotations

from collections.abc import Iterator

from quant_core import Bar, SimClock
from quant_core.events import MarketDataFeed, Predictor
from quant_exec.errors import EngineInputError
from quant_exec.risk._killswitch import KillSwitch
from quant_exec.session._config import BacktestConfig
from quant_exec.session._loop import TradingSession
from quant_exec.session._result import BacktestResult
from quant_exec.venues._protocol import ExecutionVenue


def _groups(bars: Iterator[Bar], bar_ns: int) -> Iterator[tuple[int, list[Bar]]]:
    """Runs of consecutive bars that close at the same time, with that close time."""
    group: list[Bar] = []
    ts = -1  # no bar closes before the epoch
    for bar in bars:
        close = bar.open_time_ns + bar_ns
        if close != ts:
            if group:
                yield ts, group
            group, ts = [], close
        group.append(bar)
    if group:
        yield ts, group


def run_backtest(
    feed: MarketDataFeed,
    predictor: Predictor,
    config: BacktestConfig,
    *,
    venue: ExecutionVenue | None = None,
    clock: SimClock | None = None,
    kill_switch: KillSwitch | None = None,
    start_ns: int = 0,
    end_ns: int | None = None,
) -> BacktestResult:
    """Run the engine over ``feed`` and return the result (see the module docs).

    Args:
        feed: the bars, in event order.
        predictor: the predictions (``RecordedPredictor`` for a recorded file).
        config: profiles, cash, fees, venue rules, dataset hash.
        venue: where approved orders go (default: a
            :class:`~quant_exec.venues.PaperBroker` on ``clock`` built from the config's fees,
            slippage, latency, volume share, seed and venue rules).
        clock: the simulated clock (default: a new one at ``start_ns``); a kill switch made on
            the same clock is timestamped in simulated time.
        kill_switch: halts new risk while engaged (the risk gates read it before every order).
        start_ns: first bar open time included.
        end_ns: bars opened at or after this are excluded (default: no end).

    Raises:
        EngineInputError: ``ENGINE_INPUT_INVALID`` for a feed with several quote currencies,
            no bars in the window, or an instrument without venue rules.
    """
    session = TradingSession(
        feed.instruments,
        feed.timeframe,
        predictor,
        config,
        venue=venue,
        clock=clock or SimClock(start_ns),
        kill_switch=kill_switch,
    )
    end = end_ns if end_ns is not None else 2**63 - 1
    step, last = config.heartbeat_ns, None
    for ts, group in _groups(feed.bars(start_ns, end), feed.timeframe.ns):
        if step is not None and last is not None:  # liveness only where the market is silent
            for beat in range(last + step, ts, step):
                session.heartbeat(beat)
        session.on_bars(group)
        last = ts
    if session.bars_seen == 0:
        raise EngineInputError("the feed has no bars in the requested window")
    return session.result()
