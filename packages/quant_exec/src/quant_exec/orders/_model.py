"""Orders and their lifecycle: an explicit ``(status, event kind) -> status`` table.

An :class:`Order` is an immutable request (instrument, side, quantity, type, limit price).
Everything that happens to it afterwards is an :class:`OrderEvent`, and the order's current
:class:`OrderState` is the fold of its events through :func:`apply`. :data:`TRANSITIONS` is
the whole lifecycle, written out as data in the style of nautilus_trader's order state table:
any pair missing from it is an invalid transition and :func:`apply` raises
:class:`~quant_exec.errors.InvalidTransitionError`, leaving the state unchanged.

The table covers the oddities of a real venue:

* a fill may arrive after a cancel request (``PENDING_CANCEL + FILL``) and even after the
  cancel or expiry was confirmed: a fill is a fact and is always booked;
* a fill may overtake the venue's acknowledgement (``SUBMITTED + FILL``), and a late
  acknowledgement after fills, a cancel or an expiry changes nothing;
* a cancel may lose the race to the last fill: its refusal after ``FILLED`` (or a refused
  repeat after ``CANCELED``) changes nothing;
* the same fill may be delivered twice: fills are deduplicated by ``trade_id`` (the second
  copy returns the state unchanged).

There is a single fill event, :class:`OrderFilled`; whether it is a partial or a final fill is
decided by :func:`apply` from the quantity still open (``FILL_PARTIAL`` / ``FILL_FINAL`` in the
table), so reordered fills can never disagree with their own labels.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core import Instrument
    >>> from quant_exec.orders import (Order, OrderAccepted, OrderFilled, OrderStatus,
    ...                                OrderSubmitted, Side, apply, new_state)
    >>> btc = Instrument("BTC", "USD")
    >>> order = Order.create(btc, Side.BUY, "0.5", ts_init=0, sequence=1)
    >>> state = new_state(order)
    >>> state = apply(state, OrderSubmitted(order.client_order_id, ts_event=1, ts_init=1))
    >>> state = apply(state, OrderAccepted(order.client_order_id, ts_event=2, ts_init=2))
    >>> fill = OrderFilled(order.client_order_id, btc, Side.BUY, "t1", "100", "0.2", "0.01",
    ...                    ts_event=3, ts_init=3)
    >>> state = apply(state, fill)
    >>> state.status, state.filled_qty, state.leaves_qty
    (<OrderStatus.PARTIALLY_FILLED: 'partially_filled'>, Decimal('0.2'), Decimal('0.3'))
    >>> apply(state, fill) is state          # the same trade delivered twice
    True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, get_args

import attrs

from quant_core import CONVERTER, Instrument, content_hash, structure, to_decimal
from quant_core import reasons as core_reasons
from quant_core.errors import ValidationError
from quant_exec import reasons
from quant_exec.errors import InvalidTransitionError, OrderError


class Side(enum.Enum):
    """Order side. Spot is long-only: a SELL can only reduce a held position."""

    BUY = "buy"
    SELL = "sell"


class OrderType(enum.Enum):
    """Order type."""

    MARKET = "market"
    LIMIT = "limit"


class Liquidity(enum.Enum):
    """Whether a fill added liquidity to the book (maker) or took it (taker)."""

    MAKER = "maker"
    TAKER = "taker"


class OrderStatus(enum.Enum):
    """Where an order is in its lifecycle."""

    INITIALIZED = "initialized"
    """Created locally, not yet sent."""
    DENIED = "denied"
    """Refused before submission (a risk gate rejected it). Terminal."""
    SUBMITTED = "submitted"
    """Sent to the venue, not yet acknowledged."""
    ACCEPTED = "accepted"
    """Acknowledged and working at the venue."""
    REJECTED = "rejected"
    """Refused by the venue. Terminal."""
    PENDING_CANCEL = "pending_cancel"
    """A cancel was requested; fills may still arrive."""
    PARTIALLY_FILLED = "partially_filled"
    """Some but not all of the quantity is filled; still working."""
    FILLED = "filled"
    """The whole quantity is filled. Terminal."""
    CANCELED = "canceled"
    """Canceled with some or none of the quantity filled. Terminal except for late fills."""
    EXPIRED = "expired"
    """Its time in force ran out. Terminal except for late fills."""


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.DENIED,
        OrderStatus.REJECTED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
    }
)
"""Statuses in which an order no longer works at the venue (late fills are still booked)."""


class EventKind(enum.Enum):
    """The key an event contributes to :data:`TRANSITIONS`."""

    DENY = "deny"
    SUBMIT = "submit"
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL_REQUEST = "cancel_request"
    CANCEL_REJECT = "cancel_reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    FILL_PARTIAL = "fill_partial"
    """A fill that leaves quantity open."""
    FILL_FINAL = "fill_final"
    """A fill that completes the order."""


_S = OrderStatus
_E = EventKind

TRANSITIONS: Mapping[tuple[OrderStatus, EventKind], OrderStatus] = MappingProxyType(
    {
        (_S.INITIALIZED, _E.DENY): _S.DENIED,
        (_S.INITIALIZED, _E.SUBMIT): _S.SUBMITTED,
        (_S.SUBMITTED, _E.ACCEPT): _S.ACCEPTED,
        (_S.SUBMITTED, _E.REJECT): _S.REJECTED,
        (_S.SUBMITTED, _E.CANCEL_REQUEST): _S.PENDING_CANCEL,
        (_S.SUBMITTED, _E.CANCEL): _S.CANCELED,
        (_S.SUBMITTED, _E.EXPIRE): _S.EXPIRED,
        (_S.SUBMITTED, _E.FILL_PARTIAL): _S.PARTIALLY_FILLED,  # fill overtook the ack
        (_S.SUBMITTED, _E.FILL_FINAL): _S.FILLED,
        (_S.ACCEPTED, _E.ACCEPT): _S.ACCEPTED,  # duplicated ack
        (_S.ACCEPTED, _E.CANCEL_REQUEST): _S.PENDING_CANCEL,
        (_S.ACCEPTED, _E.CANCEL): _S.CANCELED,  # venue-initiated cancel
        (_S.ACCEPTED, _E.EXPIRE): _S.EXPIRED,
        (_S.ACCEPTED, _E.FILL_PARTIAL): _S.PARTIALLY_FILLED,
        (_S.ACCEPTED, _E.FILL_FINAL): _S.FILLED,
        (_S.PARTIALLY_FILLED, _E.ACCEPT): _S.PARTIALLY_FILLED,  # late ack
        (_S.PARTIALLY_FILLED, _E.CANCEL_REQUEST): _S.PENDING_CANCEL,
        (_S.PARTIALLY_FILLED, _E.CANCEL): _S.CANCELED,
        (_S.PARTIALLY_FILLED, _E.EXPIRE): _S.EXPIRED,
        (_S.PARTIALLY_FILLED, _E.FILL_PARTIAL): _S.PARTIALLY_FILLED,
        (_S.PARTIALLY_FILLED, _E.FILL_FINAL): _S.FILLED,
        (_S.PENDING_CANCEL, _E.ACCEPT): _S.PENDING_CANCEL,  # late ack
        (_S.PENDING_CANCEL, _E.CANCEL_REQUEST): _S.PENDING_CANCEL,  # repeated request
        (_S.PENDING_CANCEL, _E.CANCEL): _S.CANCELED,
        (_S.PENDING_CANCEL, _E.CANCEL_REJECT): _S.ACCEPTED,  # PARTIALLY_FILLED if filled
        (_S.PENDING_CANCEL, _E.EXPIRE): _S.EXPIRED,
        (_S.PENDING_CANCEL, _E.REJECT): _S.REJECTED,  # the order itself was refused
        (_S.PENDING_CANCEL, _E.FILL_PARTIAL): _S.PENDING_CANCEL,  # fill after cancel request
        (_S.PENDING_CANCEL, _E.FILL_FINAL): _S.FILLED,
        (_S.FILLED, _E.ACCEPT): _S.FILLED,  # late ack after the fill
        (_S.FILLED, _E.CANCEL_REJECT): _S.FILLED,  # the cancel lost the race to the last fill
        (_S.CANCELED, _E.ACCEPT): _S.CANCELED,  # late ack after the cancel confirm
        (_S.CANCELED, _E.CANCEL_REJECT): _S.CANCELED,  # a repeated cancel, refused
        (_S.CANCELED, _E.FILL_PARTIAL): _S.CANCELED,  # late fill after the cancel confirm
        (_S.CANCELED, _E.FILL_FINAL): _S.FILLED,
        (_S.EXPIRED, _E.ACCEPT): _S.EXPIRED,  # late ack after the expiry
        (_S.EXPIRED, _E.FILL_PARTIAL): _S.EXPIRED,
        (_S.EXPIRED, _E.FILL_FINAL): _S.FILLED,
    }
)
"""Every allowed ``(status, event kind) -> next status``; anything else is invalid."""


def _positive(_inst: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise OrderError(f"{attribute.name} must be positive, got {value}")


def _optional_decimal(value: Decimal | int | str | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


@attrs.frozen
class Order:
    """An immutable order request.

    Build orders with :meth:`create`, which derives ``client_order_id`` from the order's
    content and a caller-supplied ``sequence``, so the same decisions give the same ids in
    every run.

    Attributes:
        client_order_id: unique id derived from content and sequence.
        instrument: what is traded.
        side: BUY or SELL.
        quantity: base-asset quantity, positive.
        order_type: MARKET or LIMIT.
        limit_price: the limit for LIMIT orders, ``None`` for MARKET.
        ts_init: when the order was created (UTC ns).
        expire_ns: optional instant after which the order expires (UTC ns).
        profile_version: the risk profile version the order was decided under, if known.
        tag: free text the strategy attaches (a reason code, for example).

    Raises:
        OrderError: ``ORDER_INVALID`` for a non-positive quantity or price, a LIMIT order
            without a price or a MARKET order with one.
    """

    client_order_id: str
    instrument: Instrument
    side: Side = attrs.field(converter=Side)
    quantity: Decimal = attrs.field(converter=to_decimal, validator=_positive)
    order_type: OrderType = attrs.field(converter=OrderType)
    limit_price: Decimal | None = attrs.field(converter=_optional_decimal)
    ts_init: int
    expire_ns: int | None = None
    profile_version: int | None = None
    tag: str = ""

    def __attrs_post_init__(self) -> None:
        if (self.order_type is OrderType.LIMIT) != (self.limit_price is not None):
            raise OrderError("a LIMIT order needs a limit price and a MARKET order must not")
        if self.limit_price is not None and self.limit_price <= 0:
            raise OrderError(f"limit price must be positive, got {self.limit_price}")

    @classmethod
    def create(
        cls,
        instrument: Instrument,
        side: Side | str,
        quantity: Decimal | int | str,
        *,
        ts_init: int,
        sequence: int,
        order_type: OrderType | str = OrderType.MARKET,
        limit_price: Decimal | int | str | None = None,
        expire_ns: int | None = None,
        profile_version: int | None = None,
        tag: str = "",
    ) -> Order:
        """Create an order whose id is a hash of its content and ``sequence``.

        Examples:
            >>> from quant_core import Instrument
            >>> a = Order.create(Instrument("ETH", "USD"), "buy", "1", ts_init=5, sequence=7)
            >>> b = Order.create(Instrument("ETH", "USD"), "buy", "1", ts_init=5, sequence=7)
            >>> a.client_order_id == b.client_order_id, a.client_order_id[:2]
            (True, 'O-')
        """
        side = Side(side)
        order_type = OrderType(order_type)
        qty = to_decimal(quantity)
        price = _optional_decimal(limit_price)
        digest = content_hash(
            {
                "instrument": str(instrument),
                "side": side.value,
                "quantity": qty,
                "type": order_type.value,
                "limit": price,
                "ts_init": ts_init,
                "sequence": sequence,
                "expire_ns": expire_ns,
                "tag": tag,
            }
        )
        return cls(
            client_order_id=f"O-{digest.partition(':')[2][:20]}",
            instrument=instrument,
            side=side,
            quantity=qty,
            order_type=order_type,
            limit_price=price,
            ts_init=ts_init,
            expire_ns=expire_ns,
            profile_version=profile_version,
            tag=tag,
        )


@attrs.frozen
class _Event:
    """Fields every order event has."""

    KIND: ClassVar[EventKind]
    client_order_id: str
    ts_event: int = attrs.field(kw_only=True)
    ts_init: int = attrs.field(kw_only=True)

    def kind(self, state: OrderState) -> EventKind:
        """The event's key in :data:`TRANSITIONS`, given the state it is applied to."""
        return self.KIND

    def to_record(self) -> dict[str, Any]:
        """The event as plain data tagged with its type, for logs and hashes.

        Examples:
            >>> OrderSubmitted("O-1", ts_event=5, ts_init=6).to_record()
            {'event': 'OrderSubmitted', 'client_order_id': 'O-1', 'ts_event': 5, 'ts_init': 6}
        """
        return {"event": type(self).__name__, **CONVERTER.unstructure(self)}


@attrs.frozen
class _Refusal(_Event):
    """An event that refuses the order: a reason code and, in words, why."""

    reason_code: str = attrs.field(default=reasons.ORDER_INVALID, kw_only=True)
    detail: str = attrs.field(default="", kw_only=True)


@attrs.frozen
class OrderDenied(_Refusal):
    """A risk gate refused the order before it was submitted."""

    KIND: ClassVar[EventKind] = EventKind.DENY


@attrs.frozen
class OrderSubmitted(_Event):
    """The order was sent to the venue."""

    KIND: ClassVar[EventKind] = EventKind.SUBMIT


@attrs.frozen
class OrderAccepted(_Event):
    """The venue acknowledged the order."""

    KIND: ClassVar[EventKind] = EventKind.ACCEPT
    venue_order_id: str = attrs.field(default="", kw_only=True)


@attrs.frozen
class OrderRejected(_Refusal):
    """The venue refused the order."""

    KIND: ClassVar[EventKind] = EventKind.REJECT


@attrs.frozen
class OrderCancelRequested(_Event):
    """A cancel was sent; the order may still fill until the venue confirms."""

    KIND: ClassVar[EventKind] = EventKind.CANCEL_REQUEST


@attrs.frozen
class OrderCancelRejected(_Event):
    """The venue refused a cancel request; the order keeps working."""

    KIND: ClassVar[EventKind] = EventKind.CANCEL_REJECT
    reason_code: str = attrs.field(default=reasons.ORDER_INVALID_TRANSITION, kw_only=True)


@attrs.frozen
class OrderCanceled(_Event):
    """The venue confirmed the cancel (or canceled the order on its own)."""

    KIND: ClassVar[EventKind] = EventKind.CANCEL
    reason_code: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class OrderExpired(_Event):
    """The order's time in force ran out."""

    KIND: ClassVar[EventKind] = EventKind.EXPIRE


@attrs.frozen
class OrderFilled(_Event):
    """One execution (trade) against the order.

    Partial or final is decided when the fill is applied (see :func:`apply`). Fills carry
    instrument and side so a ledger can fold them without looking the order up.

    Attributes:
        trade_id: the venue's unique id of this execution; fills are deduplicated by it.
        price: execution price in the quote currency.
        quantity: executed base quantity, positive.
        fee: fee charged in the quote currency, non-negative.
        liquidity: maker or taker.
    """

    KIND: ClassVar[EventKind] = EventKind.FILL_PARTIAL
    instrument: Instrument
    side: Side = attrs.field(converter=Side)
    trade_id: str
    price: Decimal = attrs.field(converter=to_decimal, validator=_positive)
    quantity: Decimal = attrs.field(converter=to_decimal, validator=_positive)
    fee: Decimal = attrs.field(converter=to_decimal)
    liquidity: Liquidity = attrs.field(default=Liquidity.TAKER, converter=Liquidity, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.fee < 0:
            raise OrderError(f"fee must not be negative, got {self.fee}")

    @property
    def notional(self) -> Decimal:
        """``price * quantity`` in the quote currency (fee excluded)."""
        return self.price * self.quantity

    def kind(self, state: OrderState) -> EventKind:
        """``FILL_FINAL`` when this fill completes the order, else ``FILL_PARTIAL``."""
        if self.quantity >= state.leaves_qty:
            return EventKind.FILL_FINAL
        return EventKind.FILL_PARTIAL


OrderEvent = (
    OrderDenied
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderCancelRequested
    | OrderCancelRejected
    | OrderCanceled
    | OrderExpired
    | OrderFilled
)
"""Any order event."""

_EVENT_TYPES: Mapping[str, type[OrderEvent]] = MappingProxyType(
    {cls.__name__: cls for cls in get_args(OrderEvent)}
)


def event_from_record(record: Mapping[str, Any]) -> OrderEvent:
    """The event a ``to_record()`` document describes (its inverse; a log line's ``event``).

    Raises:
        ValidationError: ``INVALID_INPUT`` for an unknown ``event`` type or a field of the
            wrong type, ``UNKNOWN_KEY`` for a field the event does not have.

    Examples:
        >>> event = OrderSubmitted("O-1", ts_event=5, ts_init=6)
        >>> event_from_record(event.to_record()) == event
        True
    """
    data = dict(record)
    cls = _EVENT_TYPES.get(str(data.pop("event", None)))
    if cls is None:
        raise ValidationError(
            f"not an order event record: {record.get('event')!r}",
            reason_code=core_reasons.INVALID_INPUT,
        )
    return structure(data, cls)


@attrs.frozen
class OrderState:
    """An order and the fold of its events so far.

    Attributes:
        order: the request.
        status: the current lifecycle status.
        filled_qty: total filled quantity.
        avg_price: quantity-weighted average fill price (``None`` before the first fill).
        fees: total fees charged.
        trade_ids: ids of the fills applied, in arrival order.
        reason_code: the last rejection, denial or cancel reason, if any.
        ts_last: ``ts_event`` of the last applied event.
    """

    order: Order
    status: OrderStatus = OrderStatus.INITIALIZED
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    trade_ids: tuple[str, ...] = ()
    reason_code: str | None = None
    ts_last: int = 0

    @property
    def leaves_qty(self) -> Decimal:
        """Quantity not yet filled."""
        return self.order.quantity - self.filled_qty

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill by working at the venue."""
        return self.status not in TERMINAL_STATUSES

    @property
    def client_order_id(self) -> str:
        """The order's id."""
        return self.order.client_order_id


def new_state(order: Order) -> OrderState:
    """The state of a freshly created order (``INITIALIZED``)."""
    return OrderState(order=order, ts_last=order.ts_init)


def _check_fill(state: OrderState, event: OrderFilled) -> None:
    order = state.order
    if event.instrument != order.instrument or event.side is not order.side:
        raise OrderError(
            f"fill {event.trade_id} is {event.side.value} {event.instrument}, the order is "
            f"{order.side.value} {order.instrument}",
            reason_code=reasons.ORDER_EVENT_MISMATCH,
        )
    if event.quantity > state.leaves_qty:
        raise OrderError(
            f"fill {event.trade_id} of {event.quantity} exceeds the open {state.leaves_qty}",
            reason_code=reasons.ORDER_OVERFILL,
        )


def apply(state: OrderState, event: OrderEvent) -> OrderState:
    """Apply one event and return the new state; ``state`` itself never changes.

    A fill whose ``trade_id`` was already applied returns ``state`` unchanged (deduplication).

    Raises:
        InvalidTransitionError: ``(status, event kind)`` is not in :data:`TRANSITIONS`.
        OrderError: the event names another order (``ORDER_EVENT_MISMATCH``) or a fill
            exceeds the open quantity (``ORDER_OVERFILL``).
    """
    if event.client_order_id != state.order.client_order_id:
        raise OrderError(
            f"event for {event.client_order_id} applied to {state.order.client_order_id}",
            reason_code=reasons.ORDER_EVENT_MISMATCH,
        )
    if isinstance(event, OrderFilled) and event.trade_id in state.trade_ids:
        return state
    kind = event.kind(state)
    target = TRANSITIONS.get((state.status, kind))
    if target is None:
        raise InvalidTransitionError(
            f"order {state.order.client_order_id}: {kind.value} is not allowed when "
            f"{state.status.value}"
        )
    if isinstance(event, OrderFilled):
        _check_fill(state, event)
        filled = state.filled_qty + event.quantity
        prior = state.filled_qty * (state.avg_price or Decimal(0))
        return attrs.evolve(
            state,
            status=target,
            filled_qty=filled,
            avg_price=(prior + event.notional) / filled,
            fees=state.fees + event.fee,
            trade_ids=(*state.trade_ids, event.trade_id),
            ts_last=event.ts_event,
        )
    if target is OrderStatus.ACCEPTED and state.filled_qty > 0:
        target = OrderStatus.PARTIALLY_FILLED  # a refused cancel on a partly filled order
    reason = state.reason_code
    if state.is_open:  # a late ack or refused cancel on a finished order keeps its reason
        reason = getattr(event, "reason_code", None) or reason
    return attrs.evolve(state, status=target, reason_code=reason, ts_last=event.ts_event)
