"""Session safety: what a session does with venue events its order table cannot take.

A real venue can report a fill for an order the session never made (another client on the
same account, a manual trade, a lost journal), more fill than an order asked for, or an event
the lifecycle table does not allow. None of these may stop a session (decision 0097):

* a fill the session cannot match to one of its orders (unknown order id, or an order of
  another instrument or side, or an order that was refused or never sent) is flagged
  ``EXTERNAL_FILL``;
* a fill beyond an order's quantity is flagged ``OVERFILL``; the order's state takes the
  fill (its filled quantity then exceeds its quantity) and the order is done;
* either flag halts new orders on the fill's instrument for the rest of the session (the
  risk path refuses every later intent there with the flag's reason code) and is logged as a
  ``risk`` line (``change: "instrument_halt"``) with the fill, whether it was booked and why;
* the fill is booked in the ledger when the ledger can fold it, so the ledger keeps matching
  the venue's account (the venue did trade); one the ledger refuses (a sell of more than it
  holds, cash it does not have, another quote currency) is kept as an *unreconciled* item
  with the ledger's reason code, for reconciliation against the venue's balances;
* a fill of a known order that the ledger refuses (the venue sold more than the ledger
  holds, or bought with cash the ledger does not have) is kept as unreconciled too and halts
  the instrument with the ledger's reason code (``LEDGER_SHORT_POSITION``,
  ``LEDGER_INSUFFICIENT_CASH``, ``LEDGER_CURRENCY_MISMATCH``);
* any other refused event (a non-fill for an unknown order, an illegal transition) changes
  nothing and is logged as a ``risk`` line (``change: "order_event_refused"``).

Fills are idempotent by venue trade id here too: a trade id already booked or flagged is
ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import attrs

from quant_core import Instrument
from quant_exec import reasons
from quant_exec.decisions._log import DecisionLog, RiskChange
from quant_exec.errors import LedgerError, OrderError
from quant_exec.ledger._books import Ledger
from quant_exec.orders._model import OrderEvent, OrderFilled, OrderState, OrderStatus
from quant_exec.session._result import FillRecord
from quant_exec.venues._protocol import ExecutionVenue


@attrs.define
class SessionGuard:
    """One session's instrument halts and unreconciled fills.

    Attributes:
        halted: instrument -> the reason code that halted new orders on it (the first one).
        unreconciled: fills the venue reported that the ledger could not book, in arrival
            order (each logged with the ledger's reason code).
        flagged: trade ids of every flagged fill (booked or not), for deduplication.

    Examples:
        >>> from quant_core import Instrument
        >>> guard = SessionGuard()
        >>> guard.halt(Instrument("BTC", "USD"), "EXTERNAL_FILL")
        >>> guard.halt(Instrument("BTC", "USD"), "OVERFILL")  # the first reason stays
        >>> {str(i): code for i, code in guard.halted.items()}
        {'BTC/USD': 'EXTERNAL_FILL'}
    """

    halted: dict[Instrument, str] = attrs.field(factory=dict)
    unreconciled: list[OrderFilled] = attrs.field(factory=list)
    flagged: set[str] = attrs.field(factory=set)

    def halt(self, instrument: Instrument, code: str) -> None:
        """Halt new orders on ``instrument`` with ``code`` (a later code does not replace it)."""
        self.halted.setdefault(instrument, code)

    def unbooked(
        self, log: DecisionLog, now_ns: int, fill: OrderFilled, error: LedgerError
    ) -> bool:
        """Take a fill of a known order that the ledger refused (``error``); return ``False``.

        The venue filled what the ledger cannot fold (a sell of more than it holds, cash it
        does not have): the ledger no longer matches the venue's account. The fill is kept as
        unreconciled, the instrument halted with the ledger's reason code, and a ``risk``
        line logged (``booked: false``). The same trade delivered again changes nothing.

        Args:
            log: the session's decision log.
            now_ns: the session's clock.
            fill: the fill the ledger refused.
            error: the ledger's refusal.
        """
        if fill.trade_id in self.flagged:
            return False  # redelivered: held already
        self.flagged.add(fill.trade_id)
        self.halt(fill.instrument, error.reason_code)
        self.unreconciled.append(fill)
        details = {
            "reason_code": error.reason_code,
            "instrument": str(fill.instrument),
            "booked": False,
            "fill": fill.to_record(),
            "ledger_reason_code": error.reason_code,
        }
        log.add_risk(now_ns, RiskChange.INSTRUMENT_HALT, details)
        return False

    def refused(
        self,
        log: DecisionLog,
        ledger: Ledger,
        now_ns: int,
        current: OrderState | None,
        event: OrderEvent,
        error: OrderError | None,
        fills: list[FillRecord],
    ) -> tuple[OrderState | None, bool]:
        """Take an event that ``apply`` refused (``error``) or that names no known order.

        Args:
            log: the session's decision log.
            ledger: the session's ledger (a flagged fill is booked there when it can be).
            now_ns: the session's clock.
            current: the order's state, ``None`` for an unknown order.
            event: the venue's event.
            error: ``apply``'s refusal, ``None`` for an unknown order.
            fills: the session's fill records (a booked flagged fill joins them).

        Returns:
            ``(the order's new state, or None when it does not change; whether a fill was
            booked)``.
        """
        if not isinstance(event, OrderFilled):
            code = reasons.ORDER_UNKNOWN if error is None else error.reason_code
            line = {"reason_code": code, "event": event.to_record()}
            log.add_risk(now_ns, RiskChange.ORDER_EVENT_REFUSED, line)
            return None, False
        if event.trade_id in self.flagged or ledger.has_trade(event.trade_id):
            return None, False  # the same trade again: it was flagged or booked already
        self.flagged.add(event.trade_id)
        state = None
        overfill = current is not None and _overfills(current, event, error)
        if overfill and current is not None:  # the venue's fill is a fact: the order takes it
            state = _overfilled(current, event)
            log.add_order(now_ns, event, state.status)
        code = reasons.OVERFILL if overfill else reasons.EXTERNAL_FILL
        self.halt(event.instrument, code)
        booked, ledger_code = _book(ledger, event)
        details: dict[str, object] = {
            "reason_code": code,
            "instrument": str(event.instrument),
            "booked": booked,
            "fill": event.to_record(),
        }
        if ledger_code is not None:
            details["ledger_reason_code"] = ledger_code
            self.unreconciled.append(event)
        log.add_risk(now_ns, RiskChange.INSTRUMENT_HALT, details)
        if booked:
            fills.append(fill_record(event, code))
        return state, booked


def _overfills(state: OrderState, fill: OrderFilled, error: OrderError | None) -> bool:
    """Whether ``fill`` is one of ``state``'s order's but more than it asked for."""
    order = state.order
    if error is None or fill.instrument != order.instrument or fill.side is not order.side:
        return False  # another instrument or side: not this order's fill at all
    return error.reason_code == reasons.ORDER_OVERFILL or state.status is OrderStatus.FILLED


def _overfilled(state: OrderState, fill: OrderFilled) -> OrderState:
    """``state`` with ``fill`` folded in beyond the order's quantity (status ``FILLED``)."""
    filled = state.filled_qty + fill.quantity
    prior = state.filled_qty * (state.avg_price or Decimal(0))
    return attrs.evolve(
        state,
        status=OrderStatus.FILLED,
        filled_qty=filled,
        avg_price=(prior + fill.notional) / filled,
        fees=state.fees + fill.fee,
        trade_ids=(*state.trade_ids, fill.trade_id),
        reason_code=reasons.OVERFILL,
        ts_last=fill.ts_event,
    )


def _book(ledger: Ledger, fill: OrderFilled) -> tuple[bool, str | None]:
    """Book ``fill`` if the ledger can; else ``(False, the ledger's reason code)``."""
    try:
        ledger.apply_fill(fill)
    except LedgerError as error:
        return False, error.reason_code
    return True, None


def fill_record(fill: OrderFilled, reason: str) -> FillRecord:
    """The report's record of a booked ``fill``, with the ``reason`` it was booked for."""
    return FillRecord(
        fill.ts_event,
        str(fill.instrument),
        fill.side.value,
        fill.price,
        fill.quantity,
        fill.fee,
        reason,
    )


def pull_orders(
    venue: ExecutionVenue, pulled: Sequence[str], apply: Callable[[OrderEvent], object]
) -> None:
    """Ask ``venue`` to cancel each of ``pulled`` (the kill switch), applying what it answers.

    Then the venue is polled once, so cancels it confirms at once are booked before the
    verification reads its open orders.
    """
    for oid in pulled:
        for event in venue.cancel(oid):
            apply(event)
    for event in venue.poll():
        apply(event)


def verify_pulled(
    venue: ExecutionVenue, log: DecisionLog, now_ns: int, pulled: Sequence[str]
) -> list[str]:
    """Check the kill switch's cancels against the venue's open orders; the ones still open.

    Logs a ``kill_switch_verify`` risk line: ``KILL_SWITCH_VERIFIED`` once none of
    ``pulled`` is open at the venue, else ``KILL_SWITCH_CANCEL_PENDING`` with the ones still
    open (the session checks again after each poll, and logs each change once).

    Args:
        venue: where the orders were canceled.
        log: the session's decision log.
        now_ns: the session's clock.
        pulled: the orders the kill switch pulled and not yet seen gone.
    """
    open_ids = {state.client_order_id for state in venue.open_orders()}
    left = [oid for oid in pulled if oid in open_ids]
    if left == list(pulled) and len(log.risk) and log.risk[-1].get("open") == left:
        return left  # nothing changed since the last check: no new line
    code = reasons.KILL_SWITCH_CANCEL_PENDING if left else reasons.KILL_SWITCH_VERIFIED
    details = {"reason_code": code, "subject": "venue", "pulled": list(pulled), "open": left}
    log.add_risk(now_ns, RiskChange.KILL_SWITCH_VERIFY, details)
    return left
