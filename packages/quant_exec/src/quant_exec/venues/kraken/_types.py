"""Typed results of Kraken's private endpoints: amounts as :class:`~decimal.Decimal`, times in ns.

Each ``*_from`` function turns one ``result`` object into its type, or raises the retryable
``PROVIDER_RESPONSE_INVALID`` :class:`~quant_net.ProviderError` for a malformed one (a read is
then retried; on a write it is an unknown outcome).

Examples:
    >>> order = order_from("OABC-1", {"status": "open", "cl_ord_id": "c1", "vol": "1.5",
    ...     "vol_exec": "0.5", "cost": "50", "fee": "0.13", "price": "100", "opentm": 1.25,
    ...     "descr": {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "100"}})
    >>> order.volume_remaining, order.opened_at_ns, order.is_done
    (Decimal('1.0'), 1250000000, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from quant_core import NS_PER_SECOND
from quant_core.settings import Secret
from quant_exec.venues.kraken._errors import KeyScopeError
from quant_net import PROVIDER_RESPONSE_INVALID, ProviderError

__all__ = [
    "FORBIDDEN_PERMISSIONS",
    "TRADING_PERMISSIONS",
    "ApiKeyInfo",
    "DeadMansSwitch",
    "KrakenOrder",
    "KrakenTrade",
    "OrderAck",
    "OrdersPage",
    "ServerTime",
    "TradesPage",
    "WebSocketsToken",
    "ack_from",
    "balance_from",
    "key_info_from",
    "order_from",
    "orders_from",
    "server_time_from",
    "trade_from",
    "trades_from",
]

TRADING_PERMISSIONS: Final = (
    "query_funds",
    "query_open_orders",
    "query_closed_orders",
    "create_orders",
    "cancel_orders",
)
"""The permissions an algorithmic spot trading key needs (Kraken's "API key permissions")."""

FORBIDDEN_PERMISSIONS: Final = ("withdraw_funds",)
"""Permissions a trading key must not have: such a key is refused."""

_DONE: Final = frozenset({"closed", "canceled", "expired"})


def _invalid(why: str) -> ProviderError:
    return ProviderError(
        f"kraken: malformed private answer: {why}",
        provider="kraken",
        retryable=True,
        reason_code=PROVIDER_RESPONSE_INVALID,
    )


def _dec(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _invalid(f"{field} is not a number: {value!r}") from None


def _ns(value: Any, field: str) -> int:
    return int(_dec(value, field) * NS_PER_SECOND)


@attrs.frozen
class OrderAck:
    """``AddOrder``'s answer.

    Attributes:
        txids: the venue order ids (empty for a ``validate`` dry run: nothing was placed).
        description: Kraken's text of the order (``"buy 1.25 XBTUSD @ limit 37500"``).
        cl_ord_id: the client order id sent with it.
    """

    txids: tuple[str, ...]
    description: str
    cl_ord_id: str | None

    @property
    def placed(self) -> bool:
        """Whether an order was placed (``False`` for a dry run)."""
        return bool(self.txids)


def ack_from(found: Mapping[str, Any], cl_ord_id: str | None) -> OrderAck:
    """The :class:`OrderAck` of an ``AddOrder`` result."""
    descr = found.get("descr")
    txids = found.get("txid", [])
    if not isinstance(descr, dict) or not isinstance(txids, list):
        raise _invalid("AddOrder result without descr/txid")
    return OrderAck(tuple(str(t) for t in txids), str(descr.get("order", "")), cl_ord_id)


@attrs.frozen
class KrakenOrder:
    """One order as ``QueryOrders``/``OpenOrders``/``ClosedOrders`` describe it.

    Attributes:
        txid: the venue order id.
        cl_ord_id: the client order id, if one was sent.
        status: ``pending``, ``open``, ``closed``, ``canceled`` or ``expired``.
        pair, side, order_type: from ``descr`` (``XBTUSD``, ``buy``, ``limit``).
        limit_price: the limit price (``None`` for a market order).
        volume, volume_executed: ordered and filled base quantity.
        cost, fee: quote value filled and fee paid.
        avg_price: average fill price (0 when nothing filled).
        opened_at_ns, closed_at_ns: open and close times (``None`` while open).
        reason: why it was closed or canceled, if Kraken says.
    """

    txid: str
    cl_ord_id: str | None
    status: str
    pair: str
    side: str
    order_type: str
    limit_price: Decimal | None
    volume: Decimal
    volume_executed: Decimal
    cost: Decimal
    fee: Decimal
    avg_price: Decimal
    opened_at_ns: int
    closed_at_ns: int | None
    reason: str | None

    @property
    def volume_remaining(self) -> Decimal:
        """Ordered minus filled volume."""
        return self.volume - self.volume_executed

    @property
    def is_done(self) -> bool:
        """Whether the order can change no more (closed, canceled, expired)."""
        return self.status in _DONE


def order_from(txid: str, info: Mapping[str, Any]) -> KrakenOrder:
    """The :class:`KrakenOrder` of one order-info object."""
    descr = info.get("descr")
    if not isinstance(descr, dict) or "status" not in info:
        raise _invalid(f"order {txid} without descr/status")
    price = descr.get("price")
    closed = info.get("closetm")
    return KrakenOrder(
        txid=txid,
        cl_ord_id=info.get("cl_ord_id") or None,
        status=str(info["status"]),
        pair=str(descr.get("pair", "")),
        side=str(descr.get("type", "")),
        order_type=str(descr.get("ordertype", "")),
        limit_price=_dec(price, "price") if descr.get("ordertype") == "limit" else None,
        volume=_dec(info.get("vol", "0"), "vol"),
        volume_executed=_dec(info.get("vol_exec", "0"), "vol_exec"),
        cost=_dec(info.get("cost", "0"), "cost"),
        fee=_dec(info.get("fee", "0"), "fee"),
        avg_price=_dec(info.get("price", "0"), "price"),
        opened_at_ns=_ns(info.get("opentm", 0), "opentm"),
        closed_at_ns=None if closed is None else _ns(closed, "closetm"),
        reason=info.get("reason") or None,
    )


@attrs.frozen
class OrdersPage:
    """Orders from one answer, sorted by txid, and the total Kraken reports (``count``)."""

    orders: tuple[KrakenOrder, ...]
    count: int

    def by_cl_ord_id(self, cl_ord_id: str) -> tuple[KrakenOrder, ...]:
        """The orders carrying ``cl_ord_id``."""
        return tuple(o for o in self.orders if o.cl_ord_id == cl_ord_id)


def orders_from(found: Mapping[str, Any], key: str | None) -> OrdersPage:
    """The :class:`OrdersPage` of an order-table result.

    ``key`` is ``None`` for ``QueryOrders``, ``"open"`` for ``OpenOrders`` and ``"closed"``
    for ``ClosedOrders``.
    """
    table = found if key is None else found.get(key)
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise _invalid(f"no order table under {key!r}")
    orders = tuple(order_from(txid, table[txid]) for txid in sorted(table))
    count = found.get("count", len(orders)) if key is not None else len(orders)
    return OrdersPage(orders, int(count))


@attrs.frozen
class KrakenTrade:
    """One fill from ``TradesHistory``.

    Attributes:
        trade_id: the venue trade id (the key that makes applying a fill idempotent).
        order_txid: the order it filled.
        pair, side, order_type: as on the order.
        price, volume, cost, fee: the fill.
        time_ns: when it happened.
        maker: whether the order provided liquidity (``None`` when Kraken does not say).
    """

    trade_id: str
    order_txid: str
    pair: str
    side: str
    order_type: str
    price: Decimal
    volume: Decimal
    cost: Decimal
    fee: Decimal
    time_ns: int
    maker: bool | None = None


def trade_from(trade_id: str, info: Mapping[str, Any]) -> KrakenTrade:
    """The :class:`KrakenTrade` of one trade-info object."""
    try:
        return KrakenTrade(
            trade_id=trade_id,
            order_txid=str(info["ordertxid"]),
            pair=str(info["pair"]),
            side=str(info["type"]),
            order_type=str(info.get("ordertype", "")),
            price=_dec(info["price"], "price"),
            volume=_dec(info["vol"], "vol"),
            cost=_dec(info["cost"], "cost"),
            fee=_dec(info["fee"], "fee"),
            time_ns=_ns(info["time"], "time"),
            maker=info["maker"] if isinstance(info.get("maker"), bool) else None,
        )
    except KeyError as exc:
        raise _invalid(f"trade {trade_id} without {exc}") from None


@attrs.frozen
class TradesPage:
    """Fills from one ``TradesHistory`` answer, sorted by time then id, and its ``count``."""

    trades: tuple[KrakenTrade, ...]
    count: int


def trades_from(found: Mapping[str, Any]) -> TradesPage:
    """The :class:`TradesPage` of a ``TradesHistory`` result."""
    table = found.get("trades")
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise _invalid("no trades table")
    trades = sorted(
        (trade_from(k, v) for k, v in table.items()), key=lambda t: (t.time_ns, t.trade_id)
    )
    return TradesPage(tuple(trades), int(found.get("count", len(trades))))


def balance_from(found: Mapping[str, Any]) -> dict[str, Decimal]:
    """``Balance``'s asset → amount, sorted by asset id."""
    return {asset: _dec(found[asset], asset) for asset in sorted(found)}


@attrs.frozen
class ApiKeyInfo:
    """``GetApiKeyInfo``'s answer.

    Attributes:
        name: the key's name on the account.
        permissions: the permission names it holds.
    """

    name: str
    permissions: frozenset[str]

    def check_trading_scope(self, needed: tuple[str, ...] = TRADING_PERMISSIONS) -> None:
        """Refuse a key that may withdraw or lacks a permission trading needs.

        Raises:
            KeyScopeError: naming the forbidden and the missing permissions.

        Examples:
            >>> ApiKeyInfo("bot", frozenset(TRADING_PERMISSIONS)).check_trading_scope()
            >>> ApiKeyInfo("bot", frozenset({"query_funds", "withdraw_funds"})
            ...            ).check_trading_scope()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            quant_exec.venues.kraken._errors.KeyScopeError: [KRAKEN_KEY_SCOPE] API key 'bot' refused: may withdraw (withdraw_funds); lacks query_open_orders, ...
        """  # noqa: E501
        forbidden = tuple(p for p in FORBIDDEN_PERMISSIONS if p in self.permissions)
        missing = tuple(p for p in needed if p not in self.permissions)
        if forbidden or missing:
            parts = [f"may withdraw ({', '.join(forbidden)})"] if forbidden else []
            parts += [f"lacks {', '.join(missing)}"] if missing else []
            raise KeyScopeError(
                f"API key {self.name!r} refused: {'; '.join(parts)}",
                missing=missing,
                forbidden=forbidden,
            )


def key_info_from(found: Mapping[str, Any]) -> ApiKeyInfo:
    """The :class:`ApiKeyInfo` of a ``GetApiKeyInfo`` result."""
    permissions = found.get("permissions")
    if not isinstance(permissions, list):
        raise _invalid("GetApiKeyInfo result without a permissions list")
    return ApiKeyInfo(str(found.get("name", "")), frozenset(str(p) for p in permissions))


@attrs.frozen
class DeadMansSwitch:
    """``CancelAllOrdersAfter``'s answer: Kraken's time now and when it will cancel.

    ``trigger_time`` is ``"0"`` when the switch was disarmed (``timeout=0``).
    """

    current_time: str
    trigger_time: str


@attrs.frozen
class WebSocketsToken:
    """A token for the authenticated websocket (a secret: never shown), valid ``expires_s``."""

    token: Secret
    expires_s: int


@attrs.frozen
class ServerTime:
    """``/0/public/Time``'s answer: Kraken's clock, to the second.

    Attributes:
        unixtime: Unix seconds (truncated).
        rfc1123: the same moment as Kraken writes it (``Tue, 11 Nov 25 00:17:04 +0000``).
    """

    unixtime: int
    rfc1123: str


def server_time_from(found: Mapping[str, Any]) -> ServerTime:
    """The :class:`ServerTime` of a ``Time`` result.

    Examples:
        >>> server_time_from({"unixtime": 1762820224, "rfc1123": "Tue, 11 Nov 25 00:17:04 +0000"})
        ServerTime(unixtime=1762820224, rfc1123='Tue, 11 Nov 25 00:17:04 +0000')
        >>> server_time_from({"unixtime": True})
        Traceback (most recent call last):
        ...
        quant_net._errors.ProviderError: [PROVIDER_RESPONSE_INVALID] kraken: malformed private answer: Time result without an integer unixtime
    """  # noqa: E501
    unixtime = found.get("unixtime")
    if not isinstance(unixtime, int) or isinstance(unixtime, bool):
        raise _invalid("Time result without an integer unixtime")
    return ServerTime(unixtime, str(found.get("rfc1123", "")))
