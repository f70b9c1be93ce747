"""The fake exchange's event journal in Kraken WebSocket v2 item format.

:class:`FakeBook` reports every order state change, fill and balance change to its
listeners as ``(channel, item)``: ``channel`` is ``"executions"`` or ``"balances"`` and
``item`` is one element of that channel's ``data`` list exactly as Kraken's WebSocket v2
documents it (``executions``: ``exec_type``, ``order_id``, ``cl_ord_id``, ``symbol``,
``side``, ``order_type``, ``order_qty``, ``limit_price``, ``order_status``, ``cum_qty``,
``cum_cost``, ``avg_price``, ``timestamp`` and, on a trade, ``exec_id`` (= the REST trade id
of ``TradesHistory``), ``trade_id``, ``last_qty``, ``last_price``, ``cost``,
``liquidity_ind`` and ``fees``; ``balances``: ``ledger_id``, ``ref_id``, ``timestamp``,
``type``, ``asset``, ``asset_class``, ``amount``, ``fee``, ``balance``, ``wallet_type``,
``wallet_id``). Numbers are :class:`~decimal.Decimal` (JSON numbers on the wire: encode with
:func:`encode_v2`), times RFC 3339 with microseconds, symbols ``BTC/USD`` and assets ``BTC``
(Kraken's v2 names, from :func:`quant_net.kraken.symbol_of`).

Spot sequences, as Kraken documents them: a new order is ``pending_new`` then ``new``; each
fill is a ``trade`` event (``order_status`` ``partially_filled`` or ``filled``) and a
completed order then gets a separate ``filled`` event; a cancel is ``canceled`` with
``reason``.

Examples:
    >>> from decimal import Decimal
    >>> encode_v2({"channel": "balances", "data": [{"asset": "BTC", "amount": Decimal("0.10")}]})
    '{"channel": "balances", "data": [{"asset": "BTC", "amount": 0.10}]}'
    >>> rfc3339(1_700_000_000_123_456_789)
    '2023-11-14T22:13:20.123456Z'
    >>> v2_asset("XXBT"), v2_asset("ZUSD"), v2_asset("SOL")
    ('BTC', 'USD', 'SOL')
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from quant_core import NS_PER_SECOND
from quant_net import kraken as wire

__all__ = [
    "Listener",
    "balance_item",
    "balance_snapshot",
    "encode_v2",
    "execution_item",
    "order_status",
    "rfc3339",
    "trade_item",
    "v2_asset",
]

Listener = Callable[[str, Mapping[str, Any]], None]
"""A journal listener: called with ``("executions" | "balances", item)``."""

_MARK: Final = "\x00dec\x00"


def rfc3339(ts_ns: int) -> str:
    """``ts_ns`` as Kraken v2 writes times: RFC 3339, UTC, microseconds, ``Z``."""
    seconds, rest = divmod(ts_ns, NS_PER_SECOND)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=rest // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def v2_asset(asset_id: str) -> str:
    """Kraken's v2 name of a REST asset id (``XXBT`` → ``BTC``, ``ZUSD`` → ``USD``)."""
    return wire.symbol_of(asset_id)


def _marked(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _MARK + str(value) + _MARK
    if isinstance(value, Mapping):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_marked(v) for v in value]
    return value


def encode_v2(message: Any) -> str:
    """JSON text of a v2 message, :class:`~decimal.Decimal` values as exact JSON numbers."""
    text = json.dumps(_marked(message))
    quoted = json.dumps(_MARK)[1:-1]
    return text.replace('"' + quoted, "").replace(quoted + '"', "")


_STATUS: Final = {
    "pending": "pending_new",
    "closed": "filled",
    "canceled": "canceled",
    "expired": "expired",
}


def order_status(order: Mapping[str, Any]) -> str:
    """The v2 ``order_status`` of a REST order-info object."""
    status = str(order["status"])
    if status == "open":
        return "partially_filled" if Decimal(order["vol_exec"]) > 0 else "new"
    return _STATUS[status]


def execution_item(
    txid: str, order: Mapping[str, Any], *, exec_type: str, ts_ns: int, symbol: str
) -> dict[str, Any]:
    """One v2 ``executions`` item for an order-state event (no trade fields).

    Args:
        txid: the order's id (``order_id``).
        order: the REST order-info object (after the change).
        exec_type: ``pending_new``, ``new``, ``filled``, ``canceled``, ...
        ts_ns: when it happened.
        symbol: the pair's v2 symbol (``BTC/USD``).
    """
    descr = order["descr"]
    item: dict[str, Any] = {
        "exec_type": exec_type,
        "order_id": txid,
        "symbol": symbol,
        "side": descr["type"],
        "order_type": descr["ordertype"],
        "order_qty": Decimal(order["vol"]),
        "order_status": "pending_new" if exec_type == "pending_new" else order_status(order),
        "cum_qty": Decimal(order["vol_exec"]),
        "cum_cost": Decimal(order["cost"]),
        "avg_price": Decimal(order["price"]),
        "time_in_force": "GTC",
        "post_only": "post" in str(order.get("oflags", "")),
        "timestamp": rfc3339(ts_ns),
    }
    if order.get("cl_ord_id"):
        item["cl_ord_id"] = order["cl_ord_id"]
    if descr["ordertype"] == "limit":
        item["limit_price"] = Decimal(descr["price"])
    if exec_type in ("canceled", "expired") and order.get("reason"):
        item["reason"] = order["reason"]
    return item


def trade_item(
    txid: str,
    order: Mapping[str, Any],
    trade_id: str,
    trade: Mapping[str, Any],
    *,
    seq: int,
    maker: bool,
    fee_asset: str,
    ts_ns: int,
    symbol: str,
) -> dict[str, Any]:
    """One v2 ``executions`` item for a fill (``exec_type`` ``trade``).

    Args:
        txid: the order's id.
        order: the REST order-info object after the fill.
        trade_id: the REST trade id (``exec_id``: the key both paths deduplicate by).
        trade: the REST trade-info object.
        seq: the pair's trade sequence number (``trade_id``).
        maker: whether the order provided liquidity (``liquidity_ind`` ``m``, else ``t``).
        fee_asset: the v2 asset the fee was paid in.
        ts_ns: when it happened.
        symbol: the pair's v2 symbol.
    """
    item = execution_item(txid, order, exec_type="trade", ts_ns=ts_ns, symbol=symbol)
    left = Decimal(order["vol"]) - Decimal(order["vol_exec"])
    item.update(
        order_status="partially_filled" if left > 0 else "filled",
        exec_id=trade_id,
        trade_id=seq,
        last_qty=Decimal(trade["vol"]),
        last_price=Decimal(trade["price"]),
        cost=Decimal(trade["cost"]),
        liquidity_ind="m" if maker else "t",
        fees=[{"asset": fee_asset, "qty": Decimal(trade["fee"])}],
    )
    return item


def balance_item(
    *,
    ledger_id: str,
    ref_id: str,
    kind: str,
    asset: str,
    amount: Decimal,
    fee: Decimal,
    balance: Decimal,
    ts_ns: int,
) -> dict[str, Any]:
    """One v2 ``balances`` update item (a ledger entry of the spot wallet).

    Args:
        ledger_id: the ledger entry's id.
        ref_id: what caused it (the trade id of a fill).
        kind: the ledger ``type`` (``trade``, ``deposit``, ...).
        asset: the v2 asset name (``BTC``).
        amount: the change before fees.
        fee: the fee taken from this asset.
        balance: the balance after the change.
        ts_ns: when it happened.
    """
    return {
        "ledger_id": ledger_id,
        "ref_id": ref_id,
        "timestamp": rfc3339(ts_ns),
        "type": kind,
        "subtype": "",
        "category": kind,
        "asset": asset,
        "asset_class": "currency",
        "amount": amount,
        "fee": fee,
        "balance": balance,
        "wallet_type": "spot",
        "wallet_id": "main",
    }


def balance_snapshot(balances: Mapping[str, Decimal]) -> list[dict[str, Any]]:
    """The v2 ``balances`` snapshot items of REST balances (asset id → amount)."""
    return [
        {
            "asset": v2_asset(asset),
            "asset_class": "currency",
            "balance": amount,
            "wallets": [{"type": "spot", "id": "main", "balance": amount}],
        }
        for asset, amount in sorted(balances.items())
    ]
