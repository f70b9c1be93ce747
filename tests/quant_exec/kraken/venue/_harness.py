"""Shared pieces of the venue tests: instruments, pairs, orders and executions items."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quant_core import Instrument, SimClock, ns_to_iso
from quant_exec.orders import Order, OrderEvent, OrderType, Side

BTC = Instrument("BTC", "USD")
ETH = Instrument("ETH", "USD")
PAIRS = {BTC: "XBTUSD", ETH: "ETHUSD"}
ASSETS = {"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"}

_sequence = [0]


def order(
    side: str = "buy",
    quantity: str = "0.1",
    *,
    instrument: Instrument = BTC,
    limit: str | None = None,
    clock: SimClock | None = None,
) -> Order:
    """A fresh order (a new client order id each call)."""
    _sequence[0] += 1
    return Order.create(
        instrument,
        Side(side),
        quantity,
        ts_init=clock.now_ns() if clock else 0,
        sequence=_sequence[0],
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=None if limit is None else Decimal(limit),
    )


def names(events: Any) -> list[str]:
    """The events' type names."""
    return [type(e).__name__ for e in events]


def execution(
    exec_type: str, order_id: str, cl_ord_id: str | None, ts_ns: int, **fields: Any
) -> dict[str, Any]:
    """One Kraken v2 ``executions`` item, as Kraken documents it."""
    item: dict[str, Any] = {
        "exec_type": exec_type,
        "order_id": order_id,
        "timestamp": ns_to_iso(ts_ns),
        **fields,
    }
    if cl_ord_id is not None:
        item["cl_ord_id"] = cl_ord_id
    return item


def only(events: list[OrderEvent], kind: type) -> list[Any]:
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]
