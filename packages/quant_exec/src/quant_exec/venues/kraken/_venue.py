"""The live Kraken venue: the session's :class:`~quant_exec.venues.ExecutionVenue` on Kraken.

:class:`KrakenVenue` turns the session's orders into Kraken calls through a
:class:`KrakenPrivateClient` and Kraken's truth back into order events:

- **submit** sends ``AddOrder`` once, with the order's client order id as ``cl_ord_id`` (as
  a short UUID: :meth:`~KrakenVenue.kraken_id`), and answers ``[OrderSubmitted,
  OrderAccepted]`` (the venue order id is Kraken's txid). A definitive refusal answers
  ``OrderRejected`` with Kraken's reason code at once, with zero retries
  (``VENUE_INSUFFICIENT_FUNDS`` also refreshes the balances; ``EGeneral:Invalid arguments``
  raises a ``KRAKEN_BUG_ALARM`` alarm); a pause, a counter refusal or a write that never left
  answers ``OrderRejected`` with that reason (nothing was sent).
- **unknown outcome** (a timeout, a 5xx, ``EService:*`` after sending): the order stays
  ``SUBMITTED`` and nothing is sent for it again; each :meth:`~KrakenVenue.poll` asks
  :meth:`KrakenPrivateClient.find_order` (open and closed orders) until the answer proves
  acceptance (the order is adopted: accepted, its fills follow) or non-acceptance (rejected,
  ``KRAKEN_ORDER_ABSENT``; the session may decide a new order).
- **poll** drains the WebSocket ``executions`` items when a source was given, then reads
  REST (``QueryOrders`` for the orders not yet settled; ``TradesHistory`` when Kraken
  executed more than was emitted, paged by the client's pinned window
  (:meth:`KrakenPrivateClient.all_trades`) so no fill past Kraken's 50 a page is missed):
  fills first (each trade id once, whichever path saw it first), then cancels and expiries.
  It refreshes the dead-man's switch (``CancelAllOrdersAfter(dead_man_s)``) every
  ``refresh_s`` on the clock; :meth:`~KrakenVenue.close` disarms it.

Every event passes the order table on the venue's own copy first (no forbidden transition is
emitted); a fill is emitted once by trade id even when it cannot apply, for the session to
flag. Other problems are reason-coded :class:`VenueAlarm` values in
:attr:`~KrakenVenue.alarms` (decisions 0099, 0100).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal

from quant_core import NS_PER_SECOND, Bar
from quant_exec import reasons
from quant_exec.errors import OrderError, UnknownOrderError
from quant_exec.orders._model import (
    Order,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderState,
    OrderSubmitted,
    new_state,
)
from quant_exec.venues._throttle import Throttle
from quant_exec.venues.kraken import _venue_reasons as codes
from quant_exec.venues.kraken._types import KrakenOrder, KrakenTrade
from quant_exec.venues.kraken._venue_reads import client_ids, query_many
from quant_exec.venues.kraken._venue_state import VenueState
from quant_exec.venues.kraken._venue_wire import (
    Tracked,
    fill_from_trade,
    from_kraken_id,
    state_from_order,
    to_kraken_id,
)
from quant_net import PROVIDER_BAD_REQUEST, ProviderError, UnknownOutcomeError

__all__ = ["KrakenVenue"]

_log = logging.getLogger("quant_exec.venues.kraken")


class KrakenVenue(VenueState):
    """Kraken spot as the session's venue (see the module text for the semantics).

    Args:
        client: the key's private REST client (the venue closes it in :meth:`close`).
        clock: the session's clock (event times, the dead-man refresh).
        pairs: instrument → Kraken pair name (``Instrument("BTC", "USD")`` → ``"XBTUSD"``);
            Kraken's other names of the pair (``XXBTZUSD``, ``XBT/USD``, ``BTC/USD``) are
            known too.
        assets: Kraken asset id → the session's asset code (``"XXBT"`` → ``"BTC"``).
        dead_man_s: the dead-man's switch timeout armed with ``CancelAllOrdersAfter``
            (``0``: never armed).
        refresh_s: how often (clock seconds) :meth:`poll` re-arms the switch.
        executions: drains the WebSocket ``executions`` items received since the last call
            (Kraken's v2 wire dicts), e.g. a stream's ``drain_executions``; ``None``: REST only.

    Examples:
        >>> import tempfile, pathlib
        >>> from decimal import Decimal
        >>> from quant_core import Instrument, SimClock
        >>> from quant_core.settings import Secret
        >>> from quant_exec.orders import Order
        >>> from quant_exec.venues.kraken import KrakenPrivateClient, NonceSource
        >>> from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken
        >>> clock = SimClock(1_700_000_000 * 10**9)
        >>> fake = FakeKraken(clock)
        >>> fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
        >>> fake.book.balances["ZUSD"] = Decimal("10000")
        >>> btc = Instrument("BTC", "USD")
        >>> with serve_fake_kraken(fake) as server:
        ...     client = KrakenPrivateClient(
        ...         server.base_url, api_key=Secret(server.api_key),
        ...         secret=Secret(server.secret), clock=clock, seed=7,
        ...         nonce=NonceSource(pathlib.Path(tempfile.mkdtemp()) / "nonce", clock))
        ...     venue = KrakenVenue(client, clock=clock, pairs={btc: "XBTUSD"},
        ...                         assets={"XXBT": "BTC", "ZUSD": "USD"})
        ...     order = Order.create(btc, "buy", "0.1", ts_init=clock.now_ns(), sequence=1)
        ...     sent = [type(e).__name__ for e in venue.submit(order)]
        ...     polled = [type(e).__name__ for e in venue.poll()]
        ...     balances = venue.balances()
        ...     venue.close()
        >>> sent, polled, balances["BTC"]
        (['OrderSubmitted', 'OrderAccepted'], ['OrderFilled'], Decimal('0.1'))
    """

    def __repr__(self) -> str:
        return f"KrakenVenue(orders={len(self._orders)}, pairs={sorted(self._pairs.values())})"

    # --- reading ----------------------------------------------------------------------------

    @staticmethod
    def kraken_id(client_order_id: str) -> str:
        """The ``cl_ord_id`` an order travels under at Kraken (a short UUID for the session's ids).

        Kraken takes a UUID or free text of at most 18 characters; the session's ids are 22.

        Args:
            client_order_id: the session's client order id.

        Raises:
            ValueError: an id no Kraken format fits.

        Examples:
            >>> KrakenVenue.kraken_id("O-0123456789abcdef0123")
            '4f2d0123456789abcdef012300000000'
        """
        return to_kraken_id(client_order_id)

    @property
    def throttle(self) -> Throttle:
        """No budget of its own: the client keeps Kraken's call and order counters."""
        return self._throttle

    def query(self, client_order_id: str) -> OrderState | None:
        """The order's state: the venue's own for an order it sent, else Kraken's.

        An order Kraken has under ``client_order_id`` that this venue did not send (one of an
        earlier process) is adopted: later polls follow it.

        Args:
            client_order_id: the session's client order id.

        Raises:
            ProviderError: Kraken could not be asked.
        """
        tracked = self._orders.get(client_order_id)
        if tracked is not None:
            return tracked.state
        try:
            kraken_id = to_kraken_id(client_order_id)
        except ValueError:
            return None  # no order of Kraken's can carry it
        found = self._client.find_order(kraken_id)
        if found is None:
            return None
        return self._adopt([found])[0]

    def open_orders(self) -> Sequence[OrderState]:
        """The orders open at Kraken now (``OpenOrders``), oldest first.

        Orders this venue tracks are given in its own state; others are built from Kraken's
        answer (adopted when they carry a client order id; ``""`` when they do not).

        Raises:
            ProviderError: Kraken could not be asked.
        """
        page = self._client.open_orders()
        ordered = sorted(page.orders, key=lambda o: (o.opened_at_ns, o.txid))
        return self._adopt(ordered)

    def balances(self) -> Mapping[str, Decimal]:
        """The account's balances (``Balance``) under the session's asset codes.

        Assets without a code in ``assets`` keep Kraken's id.

        Raises:
            ProviderError: Kraken could not be asked.
        """
        found = self._client.balance()
        self._balances = {self._assets.get(k, k): v for k, v in sorted(found.items())}
        return dict(self._balances)

    def trades_since(self, after_trade_id: str | None) -> Sequence[OrderFilled]:
        """The account's fills after ``after_trade_id``, oldest first (all: ``None`` or unknown).

        A fill of an order this venue does not know carries Kraken's client order id of its
        order, or ``""`` for an order placed without one; a fill on a pair without an
        instrument is left out (a ``KRAKEN_PAIR_UNKNOWN`` alarm). Applying a fill twice changes
        nothing (trade ids), so these may overlap what :meth:`poll` emits.

        Args:
            after_trade_id: the last trade id the caller has booked.

        Raises:
            ProviderError: Kraken could not be asked.
        """
        trades = self._trades_after(after_trade_id)
        names = client_ids(self._client, self._by_txid, {t.order_txid for t in trades})
        out: list[OrderFilled] = []
        now = self._clock.now_ns()
        for trade in trades:
            instrument = self._instruments.get(trade.pair)
            if instrument is None:
                self._alarm(codes.KRAKEN_PAIR_UNKNOWN, f"fill {trade.trade_id} on {trade.pair}")
                continue
            out.append(fill_from_trade(trade, names.get(trade.order_txid, ""), instrument, now))
        return out

    def _trades_after(self, after_trade_id: str | None) -> Sequence[KrakenTrade]:
        """Kraken's fills after the trade (the client's windowed paging), all when unknown."""
        if after_trade_id is not None:
            try:
                return self._client.all_trades(start=after_trade_id).trades
            except ProviderError as error:
                if error.reason_code != PROVIDER_BAD_REQUEST:  # Kraken knows no such trade
                    raise
        return self._client.all_trades().trades

    # --- commands ---------------------------------------------------------------------------

    def submit(self, order: Order) -> Sequence[OrderEvent]:
        """Send ``order`` once (``AddOrder`` with its client order id).

        Returns ``[OrderSubmitted, OrderAccepted]``, ``[OrderSubmitted, OrderRejected]``, or
        ``[OrderSubmitted]`` alone when the outcome is unknown (resolved by :meth:`poll`).

        Args:
            order: the approved order (its client order id travels as ``cl_ord_id``).

        Raises:
            OrderError: ``ORDER_DUPLICATE`` when the id was already submitted.
        """
        oid = order.client_order_id
        if oid in self._orders:
            raise OrderError(
                f"order {oid} was already submitted", reason_code=reasons.ORDER_DUPLICATE
            )
        now = self._clock.now_ns()
        pair = self._pairs.get(order.instrument)
        tracked = Tracked(new_state(order), pair or "", now)
        self._orders[oid] = tracked
        out: list[OrderEvent] = []
        self._emit(tracked, OrderSubmitted(oid, ts_event=now, ts_init=now), out)
        if pair is None:
            self._reject(tracked, codes.KRAKEN_PAIR_UNKNOWN, f"no pair for {order.instrument}", out)
            return out
        try:
            kraken_id = to_kraken_id(oid)
        except ValueError as error:
            self._reject(tracked, codes.KRAKEN_ORDER_ID_UNFIT, str(error), out)
            return out
        self._keep_alive()
        try:
            ack = self._client.add_order(
                pair=pair,
                side=order.side.value,
                order_type=order.order_type.value,
                volume=order.quantity,
                price=order.limit_price,
                cl_ord_id=kraken_id,
            )
        except UnknownOutcomeError as error:
            tracked.unknown = True
            _log.warning("%s: %s; resolved by query before anything is resent", oid, error)
            return out
        except ProviderError as error:
            self._refused(tracked, error, out)
            return out
        if not ack.txids:  # an answer without a txid proves nothing: resolve by query
            tracked.unknown = True
            return out
        self._accepted(tracked, ack.txids[0], self._clock.now_ns(), out)
        return out

    def cancel(self, client_order_id: str) -> Sequence[OrderEvent]:
        """Ask Kraken to cancel the order (``CancelOrder`` by its client order id), once.

        Returns ``[OrderCancelRequested]`` (the cancel itself comes from :meth:`poll`, after
        any fills that beat it), ``[OrderCancelRequested, OrderCancelRejected]`` when Kraken
        refuses, or ``[]`` when the order is done. A cancel may be asked again while one is
        pending (one whose answer was lost, say): cancelling is safe to repeat.

        Args:
            client_order_id: the order's client order id.

        An order of an earlier process is looked up at Kraken first (and adopted).

        Raises:
            UnknownOrderError: neither this venue nor Kraken has such an order.
            ProviderError: the look-up at Kraken failed (nothing was canceled).
        """
        if client_order_id not in self._orders and self.query(client_order_id) is None:
            raise UnknownOrderError(f"no order {client_order_id!r}")
        tracked = self._orders[client_order_id]
        out: list[OrderEvent] = []
        if not tracked.state.is_open:
            return out
        now = self._clock.now_ns()
        self._emit(tracked, OrderCancelRequested(client_order_id, ts_event=now, ts_init=now), out)
        try:
            self._client.cancel_order(
                cl_ord_id=to_kraken_id(client_order_id),
                pair=tracked.pair,
                age_s=(now - tracked.sent_ns) / NS_PER_SECOND,
            )
        except UnknownOutcomeError as error:
            _log.warning("%s: cancel %s; the poll reads what happened", client_order_id, error)
        except ProviderError as error:
            # ``EOrder:Unknown order``: not open at Kraken (done, or never placed): the poll
            # finds out which; any other refusal leaves the order working.
            if error.reason_code != "VENUE_UNKNOWN_ORDER" and not tracked.unknown:
                rejected = OrderCancelRejected(
                    client_order_id, ts_event=now, ts_init=now, reason_code=error.reason_code
                )
                self._emit(tracked, rejected, out)
        return out

    def poll(self) -> Sequence[OrderEvent]:
        """Kraken's news since the last poll, as order events (see the module text).

        Never raises for Kraken's failures: a read that fails leaves its orders for the next
        poll (a ``KRAKEN_POLL_FAILED`` alarm).
        """
        out: list[OrderEvent] = []
        self._keep_alive()
        if self._executions is not None:
            for item in self._executions():
                self._on_item(item, out)
        try:
            if self._resync:  # the stream reconnected: what it missed is read through REST
                self._resync = False
                self.resyncs += 1
                self._reconcile(out, everything=True)
                self.balances()
            else:
                self._reconcile(out)
        except ProviderError as error:
            self._alarm(codes.KRAKEN_POLL_FAILED, str(error))
        return out

    def request_reconcile(self) -> None:
        """The stream reconnected: the next :meth:`poll` reconciles through REST.

        Only a flag, so that it is safe as the stream's ``on_reconnect``, which may run inside
        :meth:`poll` (a drain pumps, a pump reconnects). That poll re-reads every unsettled
        order and the fills since the oldest of them (``TradesHistory``, paged) and the
        balances; the snapshot items the new subscription sends (``exec_type`` ``new`` for
        orders already known, fills already seen) are state, never news: they emit nothing.
        """
        self._resync = True

    def on_bar(self, bar: Bar, *, cash_available: Decimal | None = None) -> Sequence[OrderEvent]:
        """``[]``: a real venue trades on its own; its news comes from :meth:`poll`.

        Args:
            bar: the closed bar (unused).
            cash_available: the free cash (unused).
        """
        return []

    def close(self) -> None:
        """Disarm the dead-man's switch (``timeout=0``) and close the client (once)."""
        if self._closed:
            return
        self._closed = True
        if self._armed_ns is not None:
            try:
                self._client.cancel_all_orders_after(0)
                self._armed_ns = None
            except ProviderError as error:
                self._alarm(codes.KRAKEN_DEAD_MAN_FAILED, f"disarm: {error}")
        self._client.close()

    def _refused(self, tracked: Tracked, error: ProviderError, out: list[OrderEvent]) -> None:
        code = error.reason_code
        if code == "VENUE_INSUFFICIENT_FUNDS":
            try:
                self.balances()
            except ProviderError as failed:
                self._alarm(codes.KRAKEN_POLL_FAILED, f"balance refresh: {failed}")
        elif code == PROVIDER_BAD_REQUEST:
            self._alarm(codes.KRAKEN_BUG_ALARM, f"{tracked.state.client_order_id}: {error}")
        self._reject(tracked, code, str(error), out)

    # --- Kraken's truth -------------------------------------------------------------------------

    def _keep_alive(self) -> None:
        """Arm or re-arm the dead-man's switch when ``refresh_s`` has passed."""
        now = self._clock.now_ns()
        if self._dead_man_s <= 0 or (
            self._armed_ns is not None and now - self._armed_ns < self._refresh_ns
        ):
            return
        try:
            self._client.cancel_all_orders_after(self._dead_man_s)
        except ProviderError as error:
            self._alarm(codes.KRAKEN_DEAD_MAN_FAILED, str(error))
            return
        self._armed_ns = now

    def _resolve(self, tracked: Tracked, out: list[OrderEvent]) -> None:
        """Settle an unknown AddOrder outcome by asking for the order by its client order id."""
        oid = tracked.state.client_order_id
        found = self._client.find_order(to_kraken_id(oid))
        if found is None:
            detail = "no open or closed order carries this client order id"
            self._reject(tracked, codes.KRAKEN_ORDER_ABSENT, detail, out)
            return
        self._accepted(tracked, found.txid, found.opened_at_ns, out)

    def _reconcile(self, out: list[OrderEvent], *, everything: bool = False) -> None:
        """Resolve unknown outcomes, then read the unsettled orders and their fills.

        ``everything``: read the fills of every unsettled order even when ``QueryOrders`` says
        none is behind (after a stream gap, fills are not trusted to be all there).
        """
        for tracked in [t for t in self._orders.values() if t.unknown]:
            self._resolve(tracked, out)
        pending = [t for t in self._orders.values() if not t.settled and t.txid is not None]
        if not pending:
            return
        found = query_many(self._client, [str(t.txid) for t in pending])
        behind = [
            t for t in pending
            if str(t.txid) in found and found[str(t.txid)].volume_executed > t.state.filled_qty
        ]  # fmt: skip
        if everything:
            behind = pending
        if behind:  # Kraken filled more than was emitted: read the fills (TradesHistory)
            self._fills_of(behind, out)
        for tracked in pending:
            order = found.get(str(tracked.txid))
            if order is not None:
                self._settle(tracked, order, out)

    def _fills_of(self, behind: list[Tracked], out: list[OrderEvent]) -> None:
        """Emit the fills not yet emitted of every tracked order, reading since ``behind``'s."""
        start = min(t.sent_ns for t in behind) // NS_PER_SECOND - 1
        now = self._clock.now_ns()
        for trade in self._client.all_trades(start=start).trades:
            oid = self._by_txid.get(trade.order_txid)
            if oid is not None:
                tracked = self._orders[oid]
                fill = fill_from_trade(trade, oid, tracked.state.order.instrument, now)
                self._fill(tracked, fill, out)

    def _settle(self, tracked: Tracked, order: KrakenOrder, out: list[OrderEvent]) -> None:
        """Emit what ``order``'s status says beyond its fills; mark it settled when done."""
        oid, now = tracked.state.client_order_id, self._clock.now_ns()
        ts = order.closed_at_ns or now
        if order.status == "canceled":
            canceled = OrderCanceled(oid, ts_event=ts, ts_init=now, reason_code=None)
            self._emit(tracked, canceled, out)
        elif order.status == "expired":
            self._emit(tracked, OrderExpired(oid, ts_event=ts, ts_init=now), out)
        tracked.settled = order.is_done and tracked.state.filled_qty >= order.volume_executed

    def _adopt(self, orders: Sequence[KrakenOrder]) -> list[OrderState]:
        """States of Kraken's ``orders``; those with a client order id are tracked from now on."""
        states: list[OrderState] = []
        trades: Sequence[KrakenTrade] | None = None
        for order in orders:
            oid = from_kraken_id(order.cl_ord_id) if order.cl_ord_id else None
            oid = oid or self._by_txid.get(order.txid)
            if oid is not None and oid in self._orders:
                states.append(self._orders[oid].state)
                continue
            instrument = self._instruments.get(order.pair)
            if instrument is None:
                self._alarm(codes.KRAKEN_PAIR_UNKNOWN, f"order {order.txid} on {order.pair}")
                continue
            ids: list[str] = []
            if order.volume_executed > 0:
                trades = self._client.all_trades().trades if trades is None else trades
                ids = [t.trade_id for t in trades if t.order_txid == order.txid]
            state = state_from_order(order, instrument, ids)
            if oid is not None:
                tracked = Tracked(state, order.pair, order.opened_at_ns, txid=order.txid)
                self._orders[oid] = tracked
                self._by_txid[order.txid] = oid
                self._trades_seen.update(ids)
            states.append(state)
        return states
