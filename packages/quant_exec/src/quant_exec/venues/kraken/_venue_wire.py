"""Kraken's order, trade and executions shapes turned into the session's order values.

Pure functions, no I/O: :func:`state_from_order` (a ``QueryOrders``/``OpenOrders`` order as an
:class:`~quant_exec.orders.OrderState`), :func:`fill_from_trade` (a ``TradesHistory`` fill as
an :class:`~quant_exec.orders.OrderFilled`), :func:`execution_from` (one WebSocket v2
``executions`` item, as Kraken documents it, as an :class:`Execution`) and the ``cl_ord_id``
mapping (:func:`to_kraken_id`, :func:`from_kraken_id`); and the venue's small types
(:class:`VenueAlarm`, :class:`Tracked`).

Examples:
    >>> item = {"exec_type": "trade", "order_id": "O1", "cl_ord_id": "c1", "exec_id": "T1",
    ...         "symbol": "BTC/USD", "side": "buy", "last_qty": 0.5, "last_price": 100.0,
    ...         "liquidity_ind": "m", "fees": [{"asset": "USD", "qty": 0.08}],
    ...         "order_status": "partially_filled", "timestamp": "2024-01-01T00:00:01.5Z"}
    >>> ex = execution_from(item)
    >>> ex.last_qty, ex.fee_in("USD"), ex.liquidity.value, ex.ts_ns % 10**9
    (Decimal('0.5'), Decimal('0.08'), 'maker', 500000000)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from quant_core import Instrument, iso_to_ns
from quant_core.errors import ValidationError
from quant_exec.orders._model import (
    Liquidity,
    Order,
    OrderFilled,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
)
from quant_exec.venues.kraken._types import KrakenOrder, KrakenTrade

__all__ = [
    "Execution",
    "Tracked",
    "VenueAlarm",
    "execution_from",
    "fill_from_trade",
    "from_kraken_id",
    "state_from_order",
    "to_kraken_id",
]

_ZERO = Decimal(0)
_HEX: Final = frozenset("0123456789abcdef")
_OURS: Final = "4f2d"  # "O-" in hex: the session's ids travel as Kraken short UUIDs
_PAD: Final = "0" * 8
_FREE_TEXT_MAX: Final = 18


def to_kraken_id(client_order_id: str) -> str:
    """The ``cl_ord_id`` Kraken accepts for one of the session's client order ids.

    Kraken takes a long UUID (36 characters with hyphens), a short UUID (32 hex digits) or
    free text of at most 18 characters. The session's ids (``O-`` and 20 hex digits, 22
    characters) travel as a short UUID: ``4f2d`` (``O-`` in hex), the 20 digits, 8 zeros;
    :func:`from_kraken_id` reads them back. Shorter ids travel as they are.

    Raises:
        ValueError: an id that fits none of Kraken's formats.

    Examples:
        >>> to_kraken_id("O-0123456789abcdef0123")
        '4f2d0123456789abcdef012300000000'
        >>> to_kraken_id("intent-7")
        'intent-7'
    """
    digits = client_order_id[2:]
    if client_order_id.startswith("O-") and len(digits) == 20 and set(digits) <= _HEX:
        return f"{_OURS}{digits}{_PAD}"
    if 0 < len(client_order_id) <= _FREE_TEXT_MAX and client_order_id.isascii():
        return client_order_id
    raise ValueError(f"client order id {client_order_id!r} fits no Kraken cl_ord_id format")


def from_kraken_id(cl_ord_id: str) -> str:
    """The session's client order id behind a Kraken ``cl_ord_id``.

    The inverse of :func:`to_kraken_id`; a UUID Kraken writes with hyphens or in capitals is
    read too.

    Examples:
        >>> from_kraken_id("4F2D0123-4567-89AB-CDEF-012300000000")
        'O-0123456789abcdef0123'
        >>> from_kraken_id("intent-7")
        'intent-7'
    """
    digits = cl_ord_id.replace("-", "").lower()
    if (
        len(digits) == 32
        and set(digits) <= _HEX
        and digits.startswith(_OURS)
        and digits.endswith(_PAD)
    ):
        return f"O-{digits[4:24]}"
    return cl_ord_id


def state_from_order(
    order: KrakenOrder, instrument: Instrument, trade_ids: Sequence[str] = ()
) -> OrderState:
    """What Kraken knows of ``order`` as an :class:`OrderState` under its client order id.

    The session's client order id is :func:`from_kraken_id` of Kraken's ``cl_ord_id``; an
    order without one (placed elsewhere) gets ``""``. Order types other than
    limit are read as market orders.

    Args:
        order: the order as Kraken reports it.
        instrument: the instrument of its pair.
        trade_ids: the ids of its fills that are known (``TradesHistory``).

    Examples:
        >>> from quant_exec.venues.kraken._types import order_from
        >>> kraken = order_from("O1", {"status": "open", "cl_ord_id": "c1", "vol": "2",
        ...     "vol_exec": "0.5", "cost": "50", "fee": "0.1", "price": "100", "opentm": 3,
        ...     "descr": {"pair": "XBTUSD", "type": "sell", "ordertype": "limit",
        ...               "price": "99"}})
        >>> state = state_from_order(kraken, Instrument("BTC", "USD"), ["T1"])
        >>> state.status.value, state.filled_qty, state.order.limit_price, state.trade_ids
        ('partially_filled', Decimal('0.5'), Decimal('99'), ('T1',))
    """
    limit = order.limit_price if order.order_type == "limit" else None
    request = Order(
        client_order_id=from_kraken_id(order.cl_ord_id) if order.cl_ord_id else "",
        instrument=instrument,
        side=Side(order.side),
        quantity=order.volume,
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=limit,
        ts_init=order.opened_at_ns,
    )
    filled = order.volume_executed
    if order.status == "canceled":
        status = OrderStatus.CANCELED
    elif order.status == "expired":
        status = OrderStatus.EXPIRED
    elif order.status == "pending":
        status = OrderStatus.SUBMITTED
    elif filled >= order.volume:
        status = OrderStatus.FILLED
    else:
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    return OrderState(
        order=request,
        status=status,
        filled_qty=filled,
        avg_price=order.avg_price if filled > 0 else None,
        fees=order.fee,
        trade_ids=tuple(trade_ids),
        reason_code=None,
        ts_last=order.closed_at_ns or order.opened_at_ns,
    )


def fill_from_trade(
    trade: KrakenTrade, client_order_id: str, instrument: Instrument, ts_init: int
) -> OrderFilled:
    """One ``TradesHistory`` fill as an :class:`OrderFilled` of ``client_order_id``.

    Args:
        trade: the fill as Kraken reports it.
        client_order_id: the order's client order id (``""`` for an order placed elsewhere).
        instrument: the instrument of its pair.
        ts_init: when the venue learnt of it (the clock now).
    """
    return OrderFilled(
        client_order_id,
        instrument,
        Side(trade.side),
        trade.trade_id,
        trade.price,
        trade.volume,
        trade.fee,
        ts_event=trade.time_ns,
        ts_init=ts_init,
        liquidity=Liquidity.MAKER if _maker(trade) else Liquidity.TAKER,
    )


def _maker(trade: KrakenTrade) -> bool:
    """Whether the fill made liquidity: Kraken's ``maker`` when it says, else a limit order's."""
    said = getattr(trade, "maker", None)  # a newer KrakenTrade carries Kraken's flag
    return bool(said) if said is not None else trade.order_type != "market"


def _dec(value: Any) -> Decimal:
    """A Kraken number (a JSON number or string) as an exact Decimal."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return amount


@attrs.frozen
class Execution:
    """One WebSocket v2 ``executions`` item, read.

    Attributes:
        exec_type: ``pending_new``, ``new``, ``trade``, ``filled``, ``canceled``, ``expired``...
        order_id: Kraken's order id.
        cl_ord_id: the session's client order id of the order (:func:`from_kraken_id` of
            Kraken's ``cl_ord_id``), if it carried one.
        exec_id: the fill's trade id (``trade`` only).
        symbol: the pair as ``BASE/QUOTE`` (``BTC/USD``), if given.
        side: ``buy`` or ``sell``, if given.
        last_qty, last_price: the fill (``trade`` only; zero otherwise).
        fees: ``(asset, amount)`` of each fee charged for the fill.
        liquidity: maker (``liquidity_ind`` ``m``) or taker.
        reason: Kraken's reason text (cancels), if any.
        ts_ns: the event's time (``timestamp``), or ``None`` when absent.
    """

    exec_type: str
    order_id: str
    cl_ord_id: str | None
    exec_id: str | None
    symbol: str | None
    side: str | None
    last_qty: Decimal
    last_price: Decimal
    fees: tuple[tuple[str, Decimal], ...]
    liquidity: Liquidity
    reason: str | None
    ts_ns: int | None

    def fee_in(self, asset: str) -> Decimal:
        """The fees charged in ``asset`` (the quote currency: what the ledger books)."""
        return sum((qty for name, qty in self.fees if name == asset), _ZERO)

    def fill(
        self, client_order_id: str, instrument: Instrument, side: Side, ts_init: int
    ) -> OrderFilled:
        """This ``trade`` item as the session's fill (its fee in the quote currency).

        Args:
            client_order_id: the order's client order id (``""``: an order placed elsewhere).
            instrument: the order's instrument.
            side: the order's side.
            ts_init: when the venue learnt of it (the event time is the item's, or this).
        """
        return OrderFilled(
            client_order_id,
            instrument,
            side,
            str(self.exec_id),
            self.last_price,
            self.last_qty,
            self.fee_in(instrument.quote.value),
            ts_event=self.ts_ns if self.ts_ns is not None else ts_init,
            ts_init=ts_init,
            liquidity=self.liquidity,
        )


def execution_from(item: Mapping[str, Any]) -> Execution:
    """Read one ``executions`` item.

    Raises:
        KeyError: ``exec_type`` (or a fill's ``last_qty``/``last_price``, a fee's field) is
            missing.
        ValueError: a field is malformed (a fill without a positive quantity and price or
            its trade id; a number that is not one; a bad timestamp).
    """
    exec_type = str(item["exec_type"])
    trade = exec_type == "trade"
    stamp = item.get("timestamp")
    try:
        ts_ns = iso_to_ns(str(stamp)) if stamp is not None else None
    except ValidationError as error:
        raise ValueError(str(error)) from None
    fees = tuple((str(f["asset"]), _dec(f["qty"])) for f in item.get("fees") or ())
    qty = _dec(item["last_qty"]) if trade else _ZERO
    price = _dec(item["last_price"]) if trade else _ZERO
    if trade and (qty <= 0 or price <= 0 or not item.get("exec_id")):
        raise ValueError("a trade without a positive last_qty/last_price or an exec_id")
    return Execution(
        exec_type=exec_type,
        order_id=str(item.get("order_id") or ""),
        cl_ord_id=from_kraken_id(str(item["cl_ord_id"])) if item.get("cl_ord_id") else None,
        exec_id=str(item["exec_id"]) if item.get("exec_id") else None,
        symbol=str(item["symbol"]) if item.get("symbol") else None,
        side=str(item["side"]) if item.get("side") else None,
        last_qty=qty,
        last_price=price,
        fees=fees,
        liquidity=Liquidity.MAKER if item.get("liquidity_ind") == "m" else Liquidity.TAKER,
        reason=str(item["reason"]) if item.get("reason") else None,
        ts_ns=ts_ns,
    )


@attrs.frozen
class VenueAlarm:
    """A reason-coded problem the venue met that is not an order's own refusal.

    Attributes:
        ts_ns: when (the venue's clock).
        reason_code: what (``KRAKEN_BUG_ALARM``, ``KRAKEN_POLL_FAILED``, ...).
        detail: in words (Kraken's error text; never a credential).
    """

    ts_ns: int
    reason_code: str
    detail: str


@attrs.define
class Tracked:
    """The venue's bookkeeping of one order it sent (or adopted)."""

    state: OrderState
    pair: str
    sent_ns: int
    txid: str | None = None
    unknown: bool = False  # AddOrder's outcome is unknown: nothing is sent for it until resolved
    settled: bool = False  # Kraken says it is done and every fill of it was emitted
