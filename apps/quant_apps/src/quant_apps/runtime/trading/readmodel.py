"""The runtime's read model: frozen values an operator API or UI shows, JSON through cattrs.

A :class:`~quant_apps.runtime.trading.session.TradingRuntime` publishes one :class:`ReadModel` after
every step (a cycle, or commands applied between cycles); readers take the last published
one and never touch the engine. Every value unstructures to plain JSON data through the
project's converter (:func:`quant_core.unstructure`; decimals travel as strings).

Examples:
    >>> from quant_core import unstructure
    >>> view = KillSwitchView(engaged=True, reason="drill", actor="ops", since_ns=5)
    >>> unstructure(view)
    {'engaged': True, 'reason': 'drill', 'actor': 'ops', 'since_ns': 5}
    >>> unstructure(GateUse("max_positions", Decimal(1), Decimal(4)))["utilisation_pct"]
    '25'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from quant_exec.decisions import DecisionRecord
    from quant_exec.session import FillRecord


class Mode(enum.StrEnum):
    """How a session trades."""

    PAPER = "paper"
    """Live bars, the paper broker."""
    LIVE = "live"
    """Live bars, a real exchange (Kraken): real orders, real money."""


class Health(enum.StrEnum):
    """Where a session is in its life."""

    STARTING = "starting"
    """Built; the history is not loaded yet."""
    RUNNING = "running"
    """Trading: bars are handed to the engine."""
    HALTED = "halted"
    """Running with the kill switch engaged: no new risk."""
    STOPPED = "stopped"
    """The loop ended; the log is closed."""


@attrs.frozen
class CoinFreshness:
    """How fresh one instrument's data is.

    Attributes:
        instrument: ``"BTC/USD"``.
        last_close_ns: the close time of the newest bar handed to the engine (``None``: none).
        lag_ns: how long before the read model's time that bar closed (``None``: no bar).
        stale: whether the newest bar is older than one bar length (a bar is missing).
    """

    instrument: str
    last_close_ns: int | None
    lag_ns: int | None
    stale: bool


@attrs.frozen
class KillSwitchView:
    """The kill switch as an operator sees it.

    Attributes:
        engaged: whether new risk is halted.
        reason: why it was last engaged or released.
        actor: who last engaged or released it (empty: never touched).
        since_ns: when it was engaged (``None`` when released).
    """

    engaged: bool
    reason: str = ""
    actor: str = ""
    since_ns: int | None = None


@attrs.frozen
class Status:
    """The session at a glance.

    Attributes:
        mode: how it trades.
        health: where it is in its life.
        now_ns: when this status was made (the session's time, UTC ns).
        run: the run number in the decision log file.
        cycles: cycles done.
        bars: bars handed to the engine.
        freshness: per instrument, how fresh its data is.
        bundle: the active model bundle (its identity, or why none is active).
        kill_switch: the kill switch.
        profile: the active profile label.
        stream: the reason code of a live session's lost exchange stream (``KRAKEN_WS_LOST``:
            REST polling carries on, fills arrive a cycle later); ``None`` while it is
            healthy, or where there is none (paper).
    """

    mode: Mode
    health: Health
    now_ns: int
    run: int | None
    cycles: int
    bars: int
    freshness: tuple[CoinFreshness, ...]
    bundle: Mapping[str, Any]
    kill_switch: KillSwitchView
    profile: str
    stream: str | None = None


@attrs.frozen
class GateUse:
    """How much of one risk gate's limit is in use.

    Attributes:
        gate: the gate (``max_positions``, ``total_exposure``, ``drawdown``).
        used: what is in use (positions, quote amount, percent).
        limit: the gate's limit in the same unit.
        utilisation_pct: ``used / limit`` in percent.
    """

    gate: str
    used: Decimal
    limit: Decimal
    utilisation_pct: Decimal = attrs.field()

    @utilisation_pct.default
    def _percent(self) -> Decimal:
        return self.used * 100 / self.limit if self.limit else Decimal(0)


@attrs.frozen
class DecisionView:
    """One recent decision with its reason codes.

    Attributes:
        seq: its position in the run's log.
        ts_ns: when it was made.
        trigger: ``bar``, ``heartbeat``, ``fill`` or ``risk``.
        instrument: the instrument, or ``None``.
        action: ``none``, ``buy``, ``sell`` or ``rejected``.
        reason_codes: the strategy's reason first, then any risk rejection.
        order_id: the order it created, if any.
    """

    seq: int
    ts_ns: int
    trigger: str
    instrument: str | None
    action: str
    reason_codes: tuple[str, ...]
    order_id: str | None


@attrs.frozen
class Holding:
    """One position held.

    Attributes:
        base: the asset.
        quantity: units held.
        avg_cost: average cost per unit (fees included).
        mark: the latest mark (``None``: none yet).
        value: market value at the mark (at cost without one).
    """

    base: str
    quantity: Decimal
    avg_cost: Decimal
    mark: Decimal | None
    value: Decimal


@attrs.frozen
class OpenOrder:
    """One working order.

    Attributes:
        order_id: the client order id.
        instrument: ``"BTC/USD"``.
        side: ``buy`` or ``sell``.
        order_type: ``market`` or ``limit``.
        quantity: ordered quantity.
        filled: filled so far.
        limit_price: the limit, for a limit order.
        status: the lifecycle status.
    """

    order_id: str
    instrument: str
    side: str
    order_type: str
    quantity: Decimal
    filled: Decimal
    limit_price: Decimal | None
    status: str


@attrs.frozen
class ForecastView:
    """One horizon of a prediction.

    Attributes:
        horizon_ns: how far ahead of the prediction's time.
        p_up: probability of a higher close then.
        bucket_edges: inner edges of the log-return buckets (may be empty).
        bucket_probs: each bucket's probability (may be empty).
    """

    horizon_ns: int
    p_up: float
    bucket_edges: tuple[float, ...] = ()
    bucket_probs: tuple[float, ...] = ()


@attrs.frozen
class PredictionView:
    """The latest prediction for one coin.

    Attributes:
        instrument: ``"BTC/USD"``.
        ts_ns: the close time of the last bar the model saw.
        made_ns: when the prediction was made.
        model_id: the model (bundle) that made it.
        forecasts: one per horizon, nearest first.
    """

    instrument: str
    ts_ns: int
    made_ns: int
    model_id: str
    forecasts: tuple[ForecastView, ...]


@attrs.frozen
class FillView:
    """One fill booked by the ledger.

    Attributes:
        ts_ns: when it filled.
        instrument: ``"BTC/USD"``.
        side: ``buy`` or ``sell``.
        price: the fill price.
        quantity: the filled quantity.
        fee: the fee paid (quote currency).
        reason_code: the strategy reason behind the order.
        kind: ``entry`` (a buy), ``partial_exit`` (profit-taking or de-risking) or ``exit``.
    """

    ts_ns: int
    instrument: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    reason_code: str
    kind: str


@attrs.frozen
class Candle:
    """One bar on a chart (``time_s``: its open time in Unix seconds)."""

    time_s: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@attrs.frozen
class Marker:
    """An entry, partial exit or exit on a chart, at the bar its fill happened in."""

    time_s: int
    kind: str
    price: Decimal
    qty: Decimal
    reason_code: str


@attrs.frozen
class PredictionPoint:
    """A prediction on a chart: the near-term ``p_up`` made at the close of bar ``time_s``."""

    time_s: int
    value: float


@attrs.frozen
class Chart:
    """One coin's chart: recent bars, its fills as markers, and the prediction overlay."""

    instrument: str
    bars: tuple[Candle, ...]
    markers: tuple[Marker, ...]
    predictions: tuple[PredictionPoint, ...]


@attrs.frozen
class ReadModel:
    """Everything a reader sees, made at one moment.

    Attributes:
        status: the session at a glance.
        risk: utilisation of the position, exposure and drawdown gates.
        decisions: the most recent decisions, oldest first.
        holdings: the positions held.
        open_orders: the working orders.
        cash: free cash.
        portfolio_value: cash plus holdings at their marks.
        predictions: the latest prediction per coin.
        equity: ``(ts_ns, portfolio value)`` after each recent bar close.
        fills: the most recent fills, oldest first.
        charts: per coin, its chart.
        profiles: ``{"strategy": [...], "risk": [...]}``: every version's record, oldest first.
    """

    status: Status
    risk: tuple[GateUse, ...]
    decisions: tuple[DecisionView, ...]
    holdings: tuple[Holding, ...]
    open_orders: tuple[OpenOrder, ...]
    cash: Decimal
    portfolio_value: Decimal
    predictions: tuple[PredictionView, ...] = ()
    equity: tuple[tuple[int, Decimal], ...] = ()
    fills: tuple[FillView, ...] = ()
    charts: tuple[Chart, ...] = ()
    profiles: Mapping[str, tuple[Mapping[str, Any], ...]] = attrs.field(factory=dict)


@attrs.frozen
class Publication:
    """What one publish added, as the runtime's listeners hear it (in the runner's thread).

    Attributes:
        model: the read model just published.
        decisions: the decisions logged since the previous publish.
        fills: the fills booked since then.
        risk: the risk lines (kill switch, profile, bundle) logged since then.
    """

    model: ReadModel
    decisions: tuple[DecisionRecord, ...]
    fills: tuple[FillRecord, ...]
    risk: tuple[Mapping[str, Any], ...]
