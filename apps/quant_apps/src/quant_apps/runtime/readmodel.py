"""The runtime's read model: frozen values an operator API or UI shows, JSON through cattrs.

A :class:`~quant_apps.runtime.session.TradingRuntime` publishes one :class:`ReadModel` after
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
from typing import Any

import attrs


class Mode(enum.StrEnum):
    """How a session trades."""

    PAPER = "paper"
    """Live bars, the paper broker."""


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
    """

    status: Status
    risk: tuple[GateUse, ...]
    decisions: tuple[DecisionView, ...]
    holdings: tuple[Holding, ...]
    open_orders: tuple[OpenOrder, ...]
    cash: Decimal
    portfolio_value: Decimal
