"""The Kraken venue's own book: the orders it tracks and the events it emits (internal).

:class:`VenueState` holds what :class:`~quant_exec.venues.kraken.KrakenVenue` knows (the
orders it sent or adopted, Kraken's txids, the trade ids already emitted, its alarms) and the
one way events leave it: each passes the order table on the venue's copy first, a fill goes
out once by trade id. The WebSocket ``executions`` items are folded in here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from quant_core import NS_PER_SECOND, Clock, Instrument
from quant_exec.errors import OrderError
from quant_exec.orders._model import (
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    Side,
    apply,
)
from quant_exec.venues._throttle import Throttle
from quant_exec.venues.kraken import _venue_reasons as codes
from quant_exec.venues.kraken._client import KrakenPrivateClient
from quant_exec.venues.kraken._venue_wire import Execution, Tracked, VenueAlarm, execution_from
from quant_net import kraken as wire

__all__ = ["VenueState"]

_log = logging.getLogger("quant_exec.venues.kraken")


class VenueState:
    """The tracked orders and the event helpers of a Kraken venue (its arguments: there)."""

    def __init__(
        self,
        client: KrakenPrivateClient,
        *,
        clock: Clock,
        pairs: Mapping[Instrument, str],
        assets: Mapping[str, str],
        dead_man_s: int = 60,
        refresh_s: int = 20,
        executions: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._pairs = dict(pairs)
        self._instruments: dict[str, Instrument] = {}  # every name Kraken gives a pair
        for instrument, pair in self._pairs.items():
            names = wire.pair_names(instrument.base, instrument.quote.value)
            for alias in (names.key, names.altname, names.wsname, str(instrument), pair):
                self._instruments[alias] = instrument
        self._assets = dict(assets)
        self._dead_man_s = dead_man_s
        self._refresh_ns = refresh_s * NS_PER_SECOND
        self._executions = executions
        self._throttle = Throttle(clock)
        self._orders: dict[str, Tracked] = {}
        self._by_txid: dict[str, str] = {}
        self._trades_seen: set[str] = set()
        self._armed_ns: int | None = None
        self._closed = False
        self._balances: dict[str, Decimal] = {}
        self._resync = False
        self.resyncs = 0
        """How many times a stream reconnection made a poll reconcile through REST."""
        self.alarms: list[VenueAlarm] = []
        """Reason-coded problems met so far, oldest first."""

    # --- the events ---------------------------------------------------------------------------

    def _alarm(self, code: str, detail: str) -> None:
        self.alarms.append(VenueAlarm(self._clock.now_ns(), code, detail))
        _log.warning("[%s] %s", code, detail)

    def _emit(self, tracked: Tracked, event: OrderEvent, out: list[OrderEvent]) -> None:
        """Apply ``event`` to the venue's copy; emit it only when the table allows it."""
        try:
            tracked.state = apply(tracked.state, event)
        except OrderError:
            return
        out.append(event)

    def _fill(self, tracked: Tracked | None, fill: OrderFilled, out: list[OrderEvent]) -> None:
        """Emit a fill once by trade id, even one the order cannot take (the session flags it)."""
        if fill.trade_id in self._trades_seen:
            return
        self._trades_seen.add(fill.trade_id)
        if tracked is not None:
            try:
                tracked.state = apply(tracked.state, fill)
            except OrderError as error:
                _log.warning("fill %s: %s", fill.trade_id, error)
        out.append(fill)

    def _accepted(self, tracked: Tracked, txid: str, ts: int, out: list[OrderEvent]) -> None:
        """Kraken has the order as ``txid`` (called once per order: when the txid is news)."""
        tracked.txid, tracked.unknown = txid, False
        oid = tracked.state.client_order_id
        self._by_txid[txid] = oid
        now = self._clock.now_ns()
        self._emit(tracked, OrderAccepted(oid, ts_event=ts, ts_init=now, venue_order_id=txid), out)

    def _reject(self, tracked: Tracked, code: str, detail: str, out: list[OrderEvent]) -> None:
        tracked.unknown, tracked.settled = False, True
        now = self._clock.now_ns()
        oid = tracked.state.client_order_id
        self._emit(
            tracked, OrderRejected(oid, ts_event=now, ts_init=now, reason_code=code, detail=detail),
            out,
        )  # fmt: skip

    # --- WebSocket executions -------------------------------------------------------------------

    def _on_item(self, item: Mapping[str, Any], out: list[OrderEvent]) -> None:
        """One drained item (or a whole ``executions`` message: its ``data`` items)."""
        data = item.get("data")
        if item.get("channel") == "executions" and isinstance(data, list):
            for entry in data:
                self._on_item(entry, out)
            return
        try:
            execution = execution_from(item)
        except (KeyError, ValueError, TypeError) as error:
            self._alarm(codes.KRAKEN_EXECUTION_INVALID, f"{type(error).__name__}: {error}")
            return
        self._on_execution(execution, out)

    def _on_execution(self, ex: Execution, out: list[OrderEvent]) -> None:
        oid = ex.cl_ord_id if ex.cl_ord_id in self._orders else self._by_txid.get(ex.order_id)
        tracked = self._orders.get(oid) if oid is not None else None
        now = self._clock.now_ns()
        ts = ex.ts_ns if ex.ts_ns is not None else now
        if tracked is None:
            if ex.exec_type == "trade":
                self._external(ex, out)
            return
        if tracked.txid is None and ex.order_id:
            self._accepted(tracked, ex.order_id, ts, out)  # the stream proves acceptance
        oid = tracked.state.client_order_id
        if ex.exec_type == "trade":
            order = tracked.state.order
            self._fill(tracked, ex.fill(oid, order.instrument, order.side, now), out)
        elif ex.exec_type == "canceled":
            self._emit(tracked, OrderCanceled(oid, ts_event=ts, ts_init=now), out)
        elif ex.exec_type == "expired":
            self._emit(tracked, OrderExpired(oid, ts_event=ts, ts_init=now), out)

    def _external(self, ex: Execution, out: list[OrderEvent]) -> None:
        """A fill of an order the venue does not know: emitted for the session to flag."""
        instrument = self._instruments.get(ex.symbol or "")
        if instrument is None or ex.side not in ("buy", "sell"):
            self._alarm(codes.KRAKEN_PAIR_UNKNOWN, f"fill {ex.exec_id} on {ex.symbol}")
            return
        fill = ex.fill(ex.cl_ord_id or "", instrument, Side(ex.side), self._clock.now_ns())
        self._fill(None, fill, out)
