"""Builds the read model of a running session from its engine (see :mod:`.readmodel`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quant_apps.runtime.trading.readmodel import (
    Candle,
    Chart,
    CoinFreshness,
    DecisionView,
    FillView,
    ForecastView,
    GateUse,
    Holding,
    KillSwitchView,
    Marker,
    OpenOrder,
    PredictionPoint,
    PredictionView,
    ReadModel,
    Status,
)
from quant_core import Timeframe, unstructure
from quant_exec import Side

if TYPE_CHECKING:
    from quant_apps.runtime.trading.session import TradingRuntime
    from quant_exec.decisions import DecisionRecord
    from quant_exec.session import FillRecord

__all__ = [
    "CHART_BARS",
    "EQUITY_POINTS",
    "FILLS_KEPT",
    "ChartBook",
    "fill_kind",
    "fill_view",
    "read_model",
    "run_summary",
]

CHART_BARS = 500
"""Bars (and prediction points, and markers) a coin's chart keeps."""
EQUITY_POINTS = 2000
"""Points the equity series keeps."""
FILLS_KEPT = 500
"""Recent fills the read model keeps."""
PARTIAL_EXITS = frozenset({"TAKE_PROFIT_PARTIAL", "SEVERE_LOSS_DERISK"})
"""The strategy reasons whose sells leave part of the position."""


def fill_kind(side: str, reason_code: str) -> str:
    """``entry``, ``partial_exit`` or ``exit``: what a fill does to its position.

    Examples:
        >>> fill_kind("buy", "ENTRY"), fill_kind("sell", "TAKE_PROFIT_PARTIAL")
        ('entry', 'partial_exit')
        >>> fill_kind("sell", "EXIT_NEGATIVE_OUTLOOK")
        'exit'
    """
    if side == Side.BUY.value:
        return "entry"
    return "partial_exit" if reason_code in PARTIAL_EXITS else "exit"


def fill_view(fill: FillRecord) -> FillView:
    """The read model's view of an engine fill (with its :func:`fill_kind`)."""
    kind = fill_kind(fill.side, fill.reason_code)
    return FillView(fill.ts_ns, fill.instrument, fill.side, fill.price, fill.quantity, fill.fee,
                    fill.reason_code, kind)  # fmt: skip


class ChartBook:
    """What the read model's charts and fills keep between publishes (the runner's state).

    :meth:`add` takes each publish's new decisions and fills, so every publish costs what it
    added, never the whole history.

    Args:
        timeframe: the bar length (markers and predictions sit on the bar they fall in).

    Examples:
        >>> from quant_exec.session import FillRecord
        >>> book = ChartBook(Timeframe.H1)
        >>> book.add((), (FillRecord(3_600 * 10**9 + 5, "BTC/USD", "buy", Decimal(2),
        ...                          Decimal(1), Decimal(0), "ENTRY"),))
        >>> book.markers["BTC/USD"][0].time_s, book.fills[0].kind
        (3600, 'entry')
    """

    def __init__(self, timeframe: Timeframe) -> None:
        """An empty book."""
        self.timeframe = timeframe
        self.fills: deque[FillView] = deque(maxlen=FILLS_KEPT)
        self.markers: dict[str, deque[Marker]] = {}
        self.points: dict[str, deque[PredictionPoint]] = {}
        self._last_prediction: dict[str, int] = {}

    def add(self, decisions: Sequence[DecisionRecord], fills: Sequence[FillRecord]) -> None:
        """Take the decisions and fills one publish added."""
        step = self.timeframe.ns
        for f in fills:
            view = fill_view(f)
            self.fills.append(view)
            marker = Marker(self.timeframe.floor(f.ts_ns) // 10**9, view.kind, f.price,
                            f.quantity, f.reason_code)  # fmt: skip
            self.markers.setdefault(f.instrument, deque(maxlen=CHART_BARS)).append(marker)
        for record in decisions:
            inputs, instrument = record.inputs, record.instrument
            made = inputs.get("prediction_ts")
            p_up = inputs.get("p_up")
            if instrument is None or not isinstance(made, int) or not p_up:
                continue
            if self._last_prediction.get(instrument) == made:
                continue
            self._last_prediction[instrument] = made
            value = float(next(iter(p_up.values())))
            point = PredictionPoint((made - step) // 10**9, value)
            self.points.setdefault(instrument, deque(maxlen=CHART_BARS)).append(point)

    def chart(self, instrument: str, bars: Sequence[Candle]) -> Chart:
        """``instrument``'s chart over ``bars``."""
        markers = tuple(self.markers.get(instrument, ()))
        return Chart(instrument, tuple(bars), markers, tuple(self.points.get(instrument, ())))


def read_model(
    runtime: TradingRuntime,
    now_ns: int,
    *,
    recent: int,
    grace_ns: int,
    charts: ChartBook,
) -> ReadModel:
    """What ``runtime`` shows at ``now_ns``: status, gates, decisions, holdings, orders, charts.

    Args:
        runtime: the session.
        now_ns: the time the values are made at (freshness is measured against it).
        recent: how many of the latest decisions to include.
        grace_ns: how late a bar may be seen before its coin counts as stale.
        charts: the fills and chart points kept so far.
    """
    engine, switch = runtime.engine, runtime.kill_switch
    step = runtime.timeframe.ns
    snapshot = engine.ledger.snapshot()
    freshness = []
    for instrument, bars in sorted(engine.history.items(), key=lambda kv: str(kv[0])):
        close = bars[-1].open_time_ns + step if bars else None
        lag = None if close is None else now_ns - close
        stale = lag is None or lag > step + grace_ns
        freshness.append(CoinFreshness(str(instrument), close, lag, stale))
    last = switch.records[-1] if switch.records else None
    kill = KillSwitchView(
        engaged=switch.engaged,
        reason=last.reason if last is not None else "",
        actor=last.actor if last is not None else "",
        since_ns=switch.state.since_ns,
    )
    status = Status(
        mode=runtime.mode,
        health=runtime.health,
        now_ns=now_ns,
        run=runtime.header.get("paper", {}).get("run"),
        cycles=len(runtime.cycles),
        bars=engine.bars_seen,
        freshness=tuple(freshness),
        bundle=dict(runtime.bundle),
        kill_switch=kill,
        profile=engine.label,
        stream=runtime.stream_state(),
    )
    working = list(engine.orders.values())
    pending = {s.order.instrument.base for s in working if s.order.side is Side.BUY}
    profile = engine.config.risk.profile
    pv = snapshot.portfolio_value
    risk = (
        GateUse(
            "max_positions",
            Decimal(len(set(snapshot.positions) | pending)),
            Decimal(profile.max_concurrent_positions),
        ),
        GateUse("total_exposure", snapshot.positions_value, profile.max_total_exposure.cap(pv)),
        GateUse("drawdown", snapshot.drawdown_pct, profile.drawdown_limit_pct),
    )
    decisions = tuple(
        DecisionView(
            r.seq, r.ts_ns, r.trigger, r.instrument, r.action, tuple(r.reason_codes), r.order_id
        )
        for r in engine.log.records[-recent:]
    )
    holdings = tuple(
        Holding(
            base,
            position.quantity,
            position.avg_cost,
            snapshot.mark_of(base),
            snapshot.position_value(base),
        )
        for base, position in sorted(snapshot.positions.items())
    )
    orders = tuple(
        OpenOrder(
            order_id=oid,
            instrument=str(state.order.instrument),
            side=state.order.side.value,
            order_type=state.order.order_type.value,
            quantity=state.order.quantity,
            filled=state.filled_qty,
            limit_price=state.order.limit_price,
            status=state.status.value,
        )
        for oid, state in engine.orders.items()
    )
    predictions = tuple(
        PredictionView(
            str(instrument),
            p.ts_event,
            p.ts_init,
            p.model_id,
            tuple(
                ForecastView(f.horizon_ns, f.p_up, f.bucket_edges, f.bucket_probs)
                for f in p.forecasts
            ),
        )
        for instrument, p in sorted(engine.latest.items(), key=lambda kv: str(kv[0]))
    )
    chart_list: list[Chart] = []
    for instrument, bars in sorted(engine.history.items(), key=lambda kv: str(kv[0])):
        candles = [
            Candle(b.open_time_ns // 10**9, b.open, b.high, b.low, b.close, b.volume)
            for b in bars[-CHART_BARS:]
        ]
        chart_list.append(charts.chart(str(instrument), candles))
    books = runtime.profiles
    profiles = {
        "strategy": tuple(v.to_record() for v in books.strategy.versions),
        "risk": tuple(v.to_record() for v in books.risk.versions),
    }
    return ReadModel(
        status,
        risk,
        decisions,
        holdings,
        orders,
        snapshot.cash,
        pv,
        predictions=predictions,
        equity=tuple(engine.equity[-EQUITY_POINTS:]),
        fills=tuple(charts.fills),
        charts=tuple(chart_list),
        profiles=profiles,
    )


def run_summary(runtime: TradingRuntime, *, interrupted: bool) -> dict[str, Any]:
    """``runtime``'s final summary: totals, the run's log hash and its metrics.

    Args:
        runtime: the session (its log flushed and its read model published by the caller).
        interrupted: whether the run was stopped by the operator (Ctrl-C, a stop command).
    """
    engine = runtime.engine
    snapshot = engine.ledger.snapshot()
    return {
        "ok": True,
        "interrupted": interrupted,
        "run": runtime.header.get("paper", {}).get("run"),
        "kill_switch": [r.to_audit() for r in runtime.kill_switch.records],
        "log": str(runtime.writer.path),
        "log_hash": engine.log.log_hash(),
        "model_id": engine.session["model_id"],
        "cycles": [unstructure(c) for c in runtime.cycles],
        "bars": engine.bars_seen,
        "decisions": len(engine.log),
        "fills": len(engine.fills),
        "portfolio_value": str(snapshot.portfolio_value),
        "cash": str(snapshot.cash),
        "open_positions": snapshot.open_positions,
        "reason_counts": engine.log.reason_counts(),
        "backfilled": runtime.backfilled,
    }
