"""Restart carry-over and start-time reconciliation (decision 0101).

A session that restarts after a stop or a crash does not start from a fresh account: its
journal (the decision log) says what it held, which orders it had made and which fills it had
seen. :func:`carry_from_log` replays one run of the journal into a :class:`CarryOver` (cash,
positions, the unfinished orders, the last trade seen), and a
:class:`~quant_exec.session.TradingSession` built with it opens its ledger with that state (a
``CARRY`` entry; the session header's ``carry`` key says so) and its order table with those
orders. :meth:`~quant_exec.session.TradingSession.reconcile` then asks the venue:

* an **intent** journaled before a crash (decision line, no ``OrderSubmitted`` line) whose
  order the venue has (open or closed, by client order id) is adopted, never sent again
  (``RECONCILE_ADOPTED``); one the venue provably never received is sent once if it is not
  older than :attr:`ReconcilePolicy.intent_max_age_ns` (``RECONCILE_RESENT``), else dropped
  (``RECONCILE_INTENT_STALE``);
* a **sent order** the venue does not know stays unresolved within
  :attr:`ReconcilePolicy.lost_order_ns` of its last event (``RECONCILE_ORDER_UNRESOLVED``) and
  is rejected as lost beyond it (``RECONCILE_ORDER_LOST``, the instrument halted);
* the venue's **fills** since the last trade seen are applied (idempotent by trade id; a fill
  of an order the session never made is the usual ``EXTERNAL_FILL``), then each known order
  takes the venue's status (an order the venue canceled on its own, e.g. its dead-man's
  switch, becomes ``CANCELED`` with ``RECONCILE_VENUE_CLOSED``);
* a working venue order the session never made halts its instrument
  (``RECONCILE_UNKNOWN_ORDER``), and each traded asset's venue balance is compared with the
  ledger (``RECONCILE_BALANCE_MISMATCH``).

Every finding is a ``risk`` line (``change: "reconcile"``) with its reason code. A fresh
session (no carry) against a venue that agrees with it writes no line at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from quant_core import CONVERTER, Clock, Instrument, structure, to_decimal
from quant_exec import reasons
from quant_exec.decisions._log import RiskChange
from quant_exec.decisions._read import LogRun
from quant_exec.errors import OrderError
from quant_exec.ledger._books import Position
from quant_exec.orders._model import (
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderState,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    apply,
    event_from_record,
    new_state,
)
from quant_exec.venues._paper import PaperBroker

if TYPE_CHECKING:
    from quant_exec.session._config import BacktestConfig
    from quant_exec.session._loop import TradingSession

_ZERO = Decimal(0)
RECONCILE = RiskChange.RECONCILE


@attrs.frozen
class ReconcilePolicy:
    """The age limits of start-time reconciliation (each boundary is inclusive: ``<=`` keeps).

    Attributes:
        intent_max_age_ns: an unsent intent at most this old (decision time to now) is sent
            once; an older one is dropped (order staleness).
        lost_order_ns: a sent order the venue does not know is unresolved while its last
            event is at most this old, and lost beyond it (the lost-order limit).

    Examples:
        >>> ReconcilePolicy().intent_max_age_ns // 10**9, ReconcilePolicy().lost_order_ns // 10**9
        (60, 300)
    """

    intent_max_age_ns: int = 60 * 10**9
    lost_order_ns: int = 300 * 10**9


@attrs.frozen
class CarryOver:
    """What a restarted session opens with: an earlier run's books and unfinished orders.

    Attributes:
        cash: free cash.
        positions: holdings (one per base).
        orders: the orders not finished: journaled intents (``INITIALIZED``) and orders
            still working, in the order they were made.
        last_trade_id: the last venue trade the run saw (``None``: none).
        sequence: the run's order sequence counter (new orders continue from it).
        trades: how many fills the run booked (a paper venue continues its trade ids there).

    Examples:
        >>> carry = CarryOver("100", (Position("BTC", Decimal(1), Decimal(50)),))
        >>> carry.to_record()["positions"]
        {'BTC': {'quantity': '1', 'cost_basis': '50'}}
        >>> CarryOver.from_record(carry.to_record()) == carry
        True
    """

    cash: Decimal = attrs.field(converter=to_decimal)
    positions: tuple[Position, ...] = ()
    orders: tuple[OrderState, ...] = ()
    last_trade_id: str | None = None
    sequence: int = 0
    trades: int = 0

    def to_record(self) -> dict[str, Any]:
        """The carry as plain data (the session header's ``carry``)."""
        return {
            "cash": str(self.cash),
            "positions": {
                p.base: {"quantity": str(p.quantity), "cost_basis": str(p.cost_basis)}
                for p in self.positions
            },
            "orders": [CONVERTER.unstructure(state) for state in self.orders],
            "last_trade_id": self.last_trade_id,
            "sequence": self.sequence,
            "trades": self.trades,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CarryOver:
        """The carry a :meth:`to_record` document describes."""
        positions = tuple(
            Position(base, to_decimal(p["quantity"]), to_decimal(p["cost_basis"]))
            for base, p in record["positions"].items()
        )
        return cls(
            record["cash"],
            positions,
            tuple(structure(state, OrderState) for state in record["orders"]),
            record["last_trade_id"],
            int(record["sequence"]),
            int(record["trades"]),
        )

    def balances(self, quote: str) -> dict[str, Decimal]:
        """The account this carry describes: cash in ``quote`` and each holding's quantity."""
        return {quote: self.cash, **{p.base: p.quantity for p in self.positions}}


def carry_from_log(run: LogRun) -> CarryOver:
    """Replay one run of a journal into what its restart opens with.

    The run's opening (its header's ``carry``, else its ``initial_cash``), then its fills (as
    :func:`~quant_exec.decisions.replay_ledger` books them), its intents (decision lines that
    made an order) and its order events, in log order; an intent its reconciliation dropped
    as stale is not carried again.

    Args:
        run: one run of the decision log (:func:`~quant_exec.decisions.read_log`).

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the run cannot be replayed.
        LedgerError: a fill cannot be booked.

    Examples:
        >>> from quant_exec.session import BacktestConfig, example_inputs, run_backtest
        >>> result = run_backtest(*example_inputs(n_bars=48), BacktestConfig.defaults())
        >>> run = LogRun(result.session, [r.to_record() for r in result.log.records],
        ...              list(result.log.orders))
        >>> carry = carry_from_log(run)
        >>> carry.cash > 0, carry.sequence > 0, carry.trades == len(result.fills)
        (True, True, True)
    """
    from quant_exec.decisions._read import replay_ledger

    ledger = replay_ledger(run)
    opening = run.session.get("carry")
    start = CarryOver.from_record(opening) if opening else CarryOver(_ZERO)
    states: dict[str, OrderState] = {s.client_order_id: s for s in start.orders}
    version = run.session.get("risk_profile", {}).get("version")
    lines: list[tuple[int, str, Mapping[str, Any]]] = [
        (int(d["seq"]), "decision", d) for d in run.decisions if d.get("order_id")
    ]
    lines += [(int(o["seq"]), "order", o) for o in run.orders]
    lines += [(int(r["seq"]), "halt", r) for r in run.risk if r["change"] == "instrument_halt"]
    dropped = {
        str(r["subject"])
        for r in run.risk
        if r["change"] == RECONCILE and r["reason_code"] == reasons.RECONCILE_INTENT_STALE
    }
    last, fills, sequence = start.last_trade_id, set(), start.sequence
    sequence += sum(d["action"] in ("buy", "sell", "rejected") for d in run.decisions)
    for _, kind, line in sorted(lines, key=lambda item: item[0]):
        if kind == "decision":
            base, quote = str(line["instrument"]).split("/")
            order = Order(str(line["order_id"]), Instrument(base, quote), line["action"],
                          line["quantity"], OrderType.MARKET, None, int(line["ts_ns"]),
                          profile_version=version, tag=line["reason_codes"][0])  # fmt: skip
            states[order.client_order_id] = new_state(order)
            continue
        event = event_from_record(line["fill"] if kind == "halt" else line["event"])
        if isinstance(event, OrderFilled):
            last = event.trade_id
            fills.add(event.trade_id)
        state = states.get(event.client_order_id)
        if kind == "order" and state is not None:
            states[event.client_order_id] = _fold(state, event)
    positions = tuple(ledger.positions.values())
    unfinished = tuple(s for k, s in states.items() if s.is_open and k not in dropped)
    return CarryOver(ledger.cash, positions, unfinished, last, sequence, start.trades + len(fills))


def _fold(state: OrderState, event: OrderEvent) -> OrderState:
    """``apply``, except that an event the session flagged (an overfill) finishes the order."""
    try:
        return apply(state, event)
    except OrderError:
        return attrs.evolve(state, status=OrderStatus.FILLED)


def paper_venue(
    config: BacktestConfig, clock: Clock, quote: str, carry: CarryOver | None
) -> PaperBroker:
    """The session's default venue: a paper broker built from ``config``.

    With a ``carry`` it holds the carried account and keeps working the carried orders that
    had been sent (its trade ids continue after the carried run's).
    """
    balances = carry.balances(quote) if carry is not None else {quote: config.initial_cash}
    broker = PaperBroker(
        clock,
        fees=config.fees,
        slippage=config.slippage,
        latency_ns=config.latency_ns,
        seed=config.seed,
        max_volume_share=config.max_volume_share,
        venue=config.venue,
        balances=balances,
    )
    if carry is not None:
        broker.restore(carry.orders, trades=carry.trades)
    return broker


@attrs.frozen
class Reconciliation:
    """What :meth:`~quant_exec.session.TradingSession.reconcile` found, by reason code.

    Attributes:
        findings: ``(reason code, order id or asset)`` per finding, in the order logged.
        fills: how many venue fills since the last trade seen were applied (new ones only).
    """

    findings: tuple[tuple[str, str], ...] = ()
    fills: int = 0

    def ids(self, code: str) -> list[str]:
        """The order ids (or assets) found with ``code``."""
        return [subject for found, subject in self.findings if found == code]


def reconcile(session: TradingSession, policy: ReconcilePolicy) -> Reconciliation:
    """Reconcile ``session`` with its venue (see the module docs); return the findings."""
    venue, now, log = session.venue, session.clock.now_ns(), session.log
    findings: list[tuple[str, str]] = []

    def flag(code: str, subject: str, **details: Any) -> None:
        findings.append((code, subject))
        log.add_risk(now, RECONCILE, {"reason_code": code, "subject": subject, **details})

    live = {s.client_order_id: s for s in venue.open_orders()}
    seen: dict[str, OrderState] = {}
    for oid, state in list(session.orders.items()):
        at_venue = live.get(oid) or venue.query(oid)
        if at_venue is not None:
            seen[oid] = at_venue
            if state.status is OrderStatus.INITIALIZED:
                flag(reasons.RECONCILE_ADOPTED, oid, venue_status=at_venue.status.value)
                session._apply(OrderSubmitted(oid, ts_event=now, ts_init=now))
        elif state.status is OrderStatus.INITIALIZED:
            if now - state.order.ts_init <= policy.intent_max_age_ns:
                flag(reasons.RECONCILE_RESENT, oid)
                for event in venue.submit(state.order):
                    session._apply(event)
            else:
                flag(reasons.RECONCILE_INTENT_STALE, oid, age_ns=now - state.order.ts_init)
                session.orders.pop(oid)
                session.done[oid] = state
        elif now - state.ts_last <= policy.lost_order_ns:
            flag(reasons.RECONCILE_ORDER_UNRESOLVED, oid, status=state.status.value)
        else:
            flag(reasons.RECONCILE_ORDER_LOST, oid, status=state.status.value)
            code = reasons.RECONCILE_ORDER_LOST
            session._apply(OrderRejected(oid, ts_event=now, ts_init=now, reason_code=code))
            session.guard.halt(state.order.instrument, code)
    fills = 0
    # A fresh session opens at the account as it is: the fills before it are in its opening
    # balances, not news (replaying them would book every past trade again as external).
    for fill in venue.trades_since(session.last_trade_id) if session.carried else ():
        fills += not session.ledger.has_trade(fill.trade_id)
        session._apply(fill)
    for oid, at_venue in seen.items():
        for event in _catch_up_events(session.orders.get(oid), at_venue, now):
            if isinstance(event, OrderCanceled | OrderExpired):
                flag(reasons.RECONCILE_VENUE_CLOSED, oid, venue_status=at_venue.status.value)
            session._apply(event)
    for oid, at_venue in live.items():
        if oid not in session.orders and oid not in session.done:
            flag(reasons.RECONCILE_UNKNOWN_ORDER, oid, instrument=str(at_venue.order.instrument))
            session.guard.halt(at_venue.order.instrument, reasons.RECONCILE_UNKNOWN_ORDER)
    _check_balances(session, venue.balances(), flag)
    return Reconciliation(tuple(findings), fills)


def _catch_up_events(ours: OrderState | None, venue: OrderState, now: int) -> list[OrderEvent]:
    """The events that take a still-open ``ours`` to the venue's status (fills aside)."""
    if ours is None:
        return []
    oid, status, code = ours.client_order_id, venue.status, venue.reason_code
    out: list[OrderEvent] = []
    if ours.status is OrderStatus.SUBMITTED and status is not OrderStatus.SUBMITTED:
        if status is OrderStatus.REJECTED:
            code = code or reasons.ORDER_INVALID
            return [OrderRejected(oid, ts_event=now, ts_init=now, reason_code=code)]
        out.append(OrderAccepted(oid, ts_event=now, ts_init=now, venue_order_id=oid))
    if status is OrderStatus.CANCELED:
        code = code or reasons.RECONCILE_VENUE_CLOSED
        out.append(OrderCanceled(oid, ts_event=now, ts_init=now, reason_code=code))
    elif status is OrderStatus.EXPIRED:
        out.append(OrderExpired(oid, ts_event=now, ts_init=now))
    return out


def _check_balances(session: TradingSession, balances: Mapping[str, Decimal], flag: Any) -> None:
    """Flag each traded asset whose venue balance differs from the ledger's."""
    ledger = session.ledger
    quote = ledger.quote.value
    held = {instrument.base: instrument for instrument in session.books}
    mine: dict[str, Decimal] = {quote: ledger.cash}
    mine.update({base: _held(ledger.positions.get(base)) for base in held})
    for asset, amount in mine.items():
        there = balances.get(asset, _ZERO)
        if there != amount:
            flag(reasons.RECONCILE_BALANCE_MISMATCH, asset, venue=str(there), ledger=str(amount))
            if asset in held:
                session.guard.halt(held[asset], reasons.RECONCILE_BALANCE_MISMATCH)


def _held(position: Position | None) -> Decimal:
    return _ZERO if position is None else position.quantity
