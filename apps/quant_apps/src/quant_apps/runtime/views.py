"""Builds the read model of a running session from its engine (see :mod:`.readmodel`)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from quant_apps.runtime.readmodel import (
    CoinFreshness,
    DecisionView,
    GateUse,
    Holding,
    KillSwitchView,
    OpenOrder,
    ReadModel,
    Status,
)
from quant_exec import Side

if TYPE_CHECKING:
    from quant_apps.runtime.session import TradingRuntime

__all__ = ["read_model"]


def read_model(runtime: TradingRuntime, now_ns: int, *, recent: int, grace_ns: int) -> ReadModel:
    """What ``runtime`` shows at ``now_ns``: status, gate use, decisions, holdings, orders.

    Args:
        runtime: the session.
        now_ns: the time the values are made at (freshness is measured against it).
        recent: how many of the latest decisions to include.
        grace_ns: how late a bar may be seen before its coin counts as stale.
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
    return ReadModel(status, risk, decisions, holdings, orders, snapshot.cash, pv)
