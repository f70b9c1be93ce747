"""The fake Kraken exchange's account: balances, orders, fills, fees and the dead-man's switch.

No HTTP here (that is :mod:`._fake_server`): each method takes the already-authenticated
call's parameters and returns Kraken's ``result`` object or raises :class:`FakeRefusal` with
Kraken's error string. Market orders, and limit orders that cross, fill at once at the pair's
settable price as takers; other limit orders rest and fill as makers when
:meth:`FakeBook.set_price` crosses them. ``partial_fill`` (a fraction) makes a crossing order
fill only that part at once, the rest resting.

Served bars (:meth:`FakeBook.on_bar`) match too: resting limit orders the bar's range crosses
fill at their limit as makers, and (with ``market_on_bar``) market orders wait for the next
bar and fill at its open as takers; together they take at most ``bar_volume_share`` of the
bar's volume, in time priority, so a thin bar fills orders partially.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core import SimClock
    >>> book = FakeBook(SimClock(0))
    >>> book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("100"))
    >>> book.balances["ZUSD"] = Decimal("1000")
    >>> book.add_order({"pair": "XBTUSD", "type": "buy", "ordertype": "market",
    ...                 "volume": "2"})["descr"]["order"]
    'buy 2 XBTUSD @ market'
    >>> book.balances["XXBT"], book.balances["ZUSD"]
    (Decimal('2'), Decimal('799.4800'))
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from quant_core import NS_PER_SECOND, Clock
from quant_exec.venues.kraken.fake._events import (
    Listener,
    balance_item,
    balance_snapshot,
    execution_item,
    rfc3339,
    trade_item,
    v2_asset,
)
from quant_exec.venues.kraken.fake._pages import INVALID_ARGUMENTS, FakeRefusal, window

__all__ = ["FakeBook", "FakePair", "FakeRefusal"]


@attrs.define
class FakePair:
    """One tradable pair: its asset ids, price and minimum order volume."""

    base_id: str
    quote_id: str
    price: Decimal
    min_volume: Decimal = Decimal("0.0001")
    trades: int = 0

    @property
    def symbol(self) -> str:
        """Kraken's WebSocket v2 symbol (``BTC/USD``)."""
        return f"{v2_asset(self.base_id)}/{v2_asset(self.quote_id)}"


def _seconds(ts_ns: int) -> Decimal:
    """A time as Kraken's REST writes it: Unix seconds, a JSON number with a fraction."""
    return Decimal(ts_ns) / NS_PER_SECOND


def _rfc3339_s(ts_ns: int) -> str:
    """A time as ``CancelAllOrdersAfter`` writes it: RFC 3339 to the second."""
    return rfc3339(ts_ns).split(".")[0] + "Z"


def _dec(form: dict[str, str], key: str) -> Decimal:
    try:
        value = Decimal(form[key])
    except (KeyError, InvalidOperation):
        raise FakeRefusal(f"{INVALID_ARGUMENTS}:{key}") from None
    if not value.is_finite() or value <= 0:
        raise FakeRefusal(f"{INVALID_ARGUMENTS}:{key}")
    return value


class FakeBook:
    """One account on the fake exchange.

    Attributes:
        balances: asset id → amount (set them directly to fund the account).
        pairs: pair name → :class:`FakePair`.
        orders: txid → Kraken's order-info object (open and closed).
        trades: trade id → Kraken's trade-info object.
        taker_fee, maker_fee: fee rates charged in the quote asset.
        partial_fill: fraction of a crossing order filled at once (``None``: all of it).
        market_on_bar: market orders rest until the next served bar (default: fill at once).
        bar_volume_share: the share of a served bar's volume this account's orders can take.
        listeners: called with ``(channel, item)`` on every order state change, fill and
            balance change (Kraken WebSocket v2 items, :mod:`._events`), under the fake's
            lock: they must return quickly and not call the fake. Setting ``balances``
            directly reports nothing; :meth:`fund` does.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.balances: dict[str, Decimal] = {}
        self.pairs: dict[str, FakePair] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: dict[str, dict[str, Any]] = {}
        self.taker_fee = Decimal("0.0026")
        self.maker_fee = Decimal("0.0016")
        self.partial_fill: Decimal | None = None
        self.market_on_bar = False
        self.bar_volume_share = Decimal("0.1")
        self.cancel_at_ns: int | None = None
        self.listeners: list[Listener] = []
        self._seq = 0
        self._ledger_seq = 0

    # --- the event journal ------------------------------------------------------------------

    def _emit(self, channel: str, item: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(channel, item)

    def _order_event(self, txid: str, exec_type: str) -> None:
        order = self.orders[txid]
        symbol = self.pairs[order["descr"]["pair"]].symbol
        now = self.clock.now_ns()
        self._emit(
            "executions",
            execution_item(txid, order, exec_type=exec_type, ts_ns=now, symbol=symbol),
        )

    def _ledger(self, ref_id: str, kind: str, asset: str, amount: Decimal, fee: Decimal) -> None:
        self._ledger_seq += 1
        item = balance_item(
            ledger_id=f"L{self._ledger_seq:06d}-FAKE",
            ref_id=ref_id,
            kind=kind,
            asset=v2_asset(asset),
            amount=amount,
            fee=fee,
            balance=self.balances[asset],
            ts_ns=self.clock.now_ns(),
        )
        self._emit("balances", item)

    def fund(self, asset_id: str, amount: Decimal) -> None:
        """Deposit ``amount`` of ``asset_id`` (negative: withdraw), reported to listeners."""
        self.balances[asset_id] = self.balances.get(asset_id, Decimal(0)) + amount
        ref_id = f"D{self._ledger_seq + 1:06d}-FAKE"
        self._ledger(ref_id, "deposit", asset_id, amount, Decimal(0))

    def executions_snapshot(self) -> list[dict[str, Any]]:
        """The v2 ``executions`` snapshot: every open order (``exec_type`` ``new``)."""
        now = self.clock.now_ns()
        return [
            execution_item(
                txid,
                order,
                exec_type="new",
                ts_ns=now,
                symbol=self.pairs[order["descr"]["pair"]].symbol,
            )
            for txid, order in sorted(self.orders.items())
            if order["status"] == "open"
        ]

    def balances_snapshot(self) -> list[dict[str, Any]]:
        """The v2 ``balances`` snapshot: every asset's balance."""
        return balance_snapshot(self.balances)

    # --- setup ----------------------------------------------------------------------------

    def add_pair(self, name: str, base_id: str, quote_id: str, price: Decimal) -> None:
        """List ``name`` (assets ``base_id``/``quote_id``) at ``price``."""
        self.pairs[name] = FakePair(base_id, quote_id, price)
        self.balances.setdefault(base_id, Decimal(0))
        self.balances.setdefault(quote_id, Decimal(0))

    def set_price(self, name: str, price: Decimal) -> None:
        """Move ``name``'s price; resting limit orders it crosses fill (as makers)."""
        self.pairs[name].price = price
        for txid in sorted(self.orders):
            order = self.orders[txid]
            if order["status"] == "open" and order["descr"]["pair"] == name:
                limit = Decimal(order["descr"]["price"])
                if self._crosses(order["descr"]["type"], limit, price):
                    self._fill(txid, self._remaining(order), limit, maker=True)

    # --- matching -------------------------------------------------------------------------

    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:06d}-FAKE"

    @staticmethod
    def _crosses(side: str, limit: Decimal, price: Decimal) -> bool:
        return limit >= price if side == "buy" else limit <= price

    @staticmethod
    def _remaining(order: dict[str, Any]) -> Decimal:
        return Decimal(order["vol"]) - Decimal(order["vol_exec"])

    def _fill(
        self, txid: str, volume: Decimal, price: Decimal, *, maker: bool, at_ns: int | None = None
    ) -> str:
        order = self.orders[txid]
        descr = order["descr"]
        pair = self.pairs[descr["pair"]]
        cost = volume * price
        fee = cost * (self.maker_fee if maker else self.taker_fee)
        sign = 1 if descr["type"] == "buy" else -1
        self.balances[pair.base_id] += sign * volume
        self.balances[pair.quote_id] -= sign * cost + fee
        trade_id = self._next("T")
        now = self.clock.now_ns() if at_ns is None else at_ns
        pair.trades += 1
        self.trades[trade_id] = {
            "ordertxid": txid,
            "postxid": "",
            "pair": descr["pair"],
            "time": _seconds(now),
            "type": descr["type"],
            "ordertype": descr["ordertype"],
            "price": str(price),
            "cost": str(cost),
            "fee": str(fee),
            "vol": str(volume),
            "margin": "0.00000",
            "misc": "",
            "trade_id": pair.trades,
            "maker": maker,
        }
        executed = Decimal(order["vol_exec"]) + volume
        total_cost = Decimal(order["cost"]) + cost
        order.update(
            vol_exec=str(executed),
            cost=str(total_cost),
            fee=str(Decimal(order["fee"]) + fee),
            price=str(total_cost / executed),
        )
        if executed >= Decimal(order["vol"]):
            order.update(status="closed", closetm=_seconds(now), reason=None)
        self._emit(
            "executions",
            trade_item(
                txid,
                order,
                trade_id,
                self.trades[trade_id],
                seq=pair.trades,
                maker=maker,
                fee_asset=v2_asset(pair.quote_id),
                ts_ns=now,
                symbol=pair.symbol,
            ),
        )
        self._ledger(trade_id, "trade", pair.base_id, sign * volume, Decimal(0))
        self._ledger(trade_id, "trade", pair.quote_id, -sign * cost, fee)
        if order["status"] == "closed":
            self._order_event(txid, "filled")
        return trade_id

    def _check_funds(self, pair: FakePair, side: str, volume: Decimal, price: Decimal) -> None:
        reserved_quote = reserved_base = Decimal(0)
        for order in self.orders.values():
            if order["status"] == "open":
                descr = order["descr"]
                other = self.pairs[descr["pair"]]
                left = self._remaining(order)
                if descr["type"] == "buy" and other.quote_id == pair.quote_id:
                    at = Decimal(descr["price"]) or other.price  # a waiting market order
                    reserved_quote += left * at * (1 + self.taker_fee)
                elif descr["type"] == "sell" and other.base_id == pair.base_id:
                    reserved_base += left
        if side == "buy":
            need = volume * price * (1 + self.taker_fee)
            short = need > self.balances[pair.quote_id] - reserved_quote
        else:
            short = volume > self.balances[pair.base_id] - reserved_base
        if short:
            raise FakeRefusal("EOrder:Insufficient funds")

    def add_order(self, form: dict[str, str]) -> dict[str, Any]:
        """``AddOrder``: validate, check funds, place and match (or only validate)."""
        name = form.get("pair", "")
        if name not in self.pairs:
            raise FakeRefusal("EQuery:Unknown asset pair")
        pair = self.pairs[name]
        side, kind = form.get("type"), form.get("ordertype")
        if side not in ("buy", "sell") or kind not in ("market", "limit"):
            raise FakeRefusal(INVALID_ARGUMENTS)
        volume = _dec(form, "volume")
        limit = _dec(form, "price") if kind == "limit" else None
        if volume < pair.min_volume:
            raise FakeRefusal("EOrder:Order minimum not met")
        self._check_funds(pair, side, volume, limit or pair.price)
        text = f"{side} {volume} {name} @ " + (f"limit {limit}" if limit else "market")
        if form.get("validate") == "true":
            return {"descr": {"order": text}}
        txid = self._next("O")
        self.orders[txid] = {
            "cl_ord_id": form.get("cl_ord_id"),
            "status": "open",
            "opentm": _seconds(self.clock.now_ns()),
            "descr": {
                "pair": name,
                "type": side,
                "ordertype": kind,
                "price": str(limit or 0),
                "order": text,
            },
            "vol": str(volume),
            "vol_exec": "0",
            "cost": "0",
            "fee": "0",
            "price": "0",
            "oflags": form.get("oflags", ""),
        }
        self._order_event(txid, "pending_new")
        if (
            limit is not None
            and "post" in form.get("oflags", "")
            and self._crosses(side, limit, pair.price)
        ):
            self._cancel(txid, "Post only order")
            return {"descr": {"order": text}, "txid": [txid]}
        self._order_event(txid, "new")
        if limit is None and self.market_on_bar:
            return {"descr": {"order": text}, "txid": [txid]}
        if limit is None or self._crosses(side, limit, pair.price):
            part = volume * self.partial_fill if self.partial_fill else volume
            self._fill(txid, part, pair.price, maker=False)
        return {"descr": {"order": text}, "txid": [txid]}

    def _find(self, form: dict[str, str]) -> list[str]:
        if "cl_ord_id" in form:
            return [
                t for t, o in sorted(self.orders.items()) if o["cl_ord_id"] == form["cl_ord_id"]
            ]
        wanted = [t for t in form.get("txid", "").split(",") if t]
        return [t for t in wanted if t in self.orders]

    def cancel_all(self, form: dict[str, str]) -> dict[str, Any]:
        """``CancelAll``: cancel every open order."""
        hits = [t for t in sorted(self.orders) if self.orders[t]["status"] == "open"]
        for txid in hits:
            self._cancel(txid, "User requested")
        return {"count": len(hits)}

    def place_elsewhere(self, name: str, side: str, volume: Decimal) -> str:
        """Fill a market order placed outside the client (the website, another bot).

        No funds check and no ``cl_ord_id``: the account's balances change as the fill says.
        Returns the new trade's id.
        """
        txid = self._next("O")
        self.orders[txid] = {
            "cl_ord_id": None,
            "status": "open",
            "opentm": _seconds(self.clock.now_ns()),
            "descr": {
                "pair": name,
                "type": side,
                "ordertype": "market",
                "price": "0",
                "order": f"{side} {volume} {name} @ market",
            },
            "vol": str(volume),
            "vol_exec": "0",
            "cost": "0",
            "fee": "0",
            "price": "0",
            "oflags": "",
        }
        self._order_event(txid, "pending_new")
        self._order_event(txid, "new")
        return self._fill(txid, volume, self.pairs[name].price, maker=False)

    def on_bar(
        self,
        name: str,
        open_: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal,
        ts_ns: int | None = None,
    ) -> None:
        """Match ``name``'s open orders against one served bar, then move its price to ``close``.

        Args:
            name: the pair.
            open_: the bar's open (waiting market orders fill there).
            high: the bar's high (resting sells at or below it fill at their limit).
            low: the bar's low (resting buys at or above it fill at their limit).
            close: the bar's close (the pair's price afterwards).
            volume: the bar's base volume (this account takes at most ``bar_volume_share``).
            ts_ns: the fills' time (default: the clock's now).
        """
        room = volume * self.bar_volume_share
        for txid in sorted(self.orders):
            order = self.orders[txid]
            descr = order["descr"]
            if order["status"] != "open" or descr["pair"] != name or room <= 0:
                continue
            if descr["ordertype"] == "market":
                price, maker = open_, False
            else:
                price, maker = Decimal(descr["price"]), True
                touched = low if descr["type"] == "buy" else high
                if not self._crosses(descr["type"], price, touched):
                    continue
            part = min(self._remaining(order), room)
            room -= part
            self._fill(txid, part, price, maker=maker, at_ns=ts_ns)
        self.pairs[name].price = close

    def cancel_order(self, form: dict[str, str]) -> dict[str, Any]:
        """``CancelOrder`` by ``txid`` or ``cl_ord_id``."""
        hits = [t for t in self._find(form) if self.orders[t]["status"] == "open"]
        if not hits:
            raise FakeRefusal("EOrder:Unknown order")
        for txid in hits:
            self._cancel(txid, "User requested")
        return {"count": len(hits)}

    def _cancel(self, txid: str, reason: str) -> None:
        self.orders[txid].update(
            status="canceled", closetm=_seconds(self.clock.now_ns()), reason=reason
        )
        self._order_event(txid, "canceled")

    def check_dead_mans_switch(self) -> None:
        """Cancel every open order once the armed switch's time has come."""
        if self.cancel_at_ns is not None and self.clock.now_ns() >= self.cancel_at_ns:
            self.cancel_at_ns = None
            for txid in sorted(self.orders):
                if self.orders[txid]["status"] == "open":
                    self._cancel(txid, "Dead man's switch")

    def cancel_all_orders_after(self, form: dict[str, str]) -> dict[str, Any]:
        """``CancelAllOrdersAfter``: arm for ``timeout`` seconds, or disarm with 0."""
        timeout = form.get("timeout", "")
        if not timeout.isdigit():
            raise FakeRefusal(f"{INVALID_ARGUMENTS}:timeout")
        now = self.clock.now_ns()
        self.cancel_at_ns = now + int(timeout) * NS_PER_SECOND if int(timeout) else None
        trigger = _rfc3339_s(self.cancel_at_ns) if self.cancel_at_ns else "0"
        return {"currentTime": _rfc3339_s(now), "triggerTime": trigger}

    # --- queries --------------------------------------------------------------------------

    def _table(self, form: dict[str, str], open_: bool) -> dict[str, Any]:
        cl = form.get("cl_ord_id")
        return {
            txid: order
            for txid, order in sorted(self.orders.items())
            if (order["status"] == "open") == open_ and (cl is None or order["cl_ord_id"] == cl)
        }

    def open_orders(self, form: dict[str, str]) -> dict[str, Any]:
        """``OpenOrders``."""
        return {"open": self._table(form, True)}

    def closed_orders(self, form: dict[str, str]) -> dict[str, Any]:
        """``ClosedOrders``: newest first by close time, 50 a page (``start``/``end``/``ofs``)."""
        table, count = window(self._table(form, False), "closetm", form)
        return {"closed": table, "count": count}

    def query_orders(self, form: dict[str, str]) -> dict[str, Any]:
        """``QueryOrders`` by ``txid`` list or ``cl_ord_id``."""
        return {txid: self.orders[txid] for txid in self._find(form)}

    def trades_history(self, form: dict[str, str]) -> dict[str, Any]:
        """``TradesHistory``: newest first, 50 a page (``start``/``end``/``ofs``)."""
        table, count = window(self.trades, "time", form)
        return {"trades": table, "count": count}

    def balance(self, form: dict[str, str]) -> dict[str, Any]:
        """``Balance``."""
        return {asset: str(amount) for asset, amount in sorted(self.balances.items())}
