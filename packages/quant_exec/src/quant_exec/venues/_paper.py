"""The paper broker: deterministic, realistic simulated fills on subsequent bars.

:class:`PaperBroker` accepts orders and answers with :class:`~quant_exec.orders.OrderEvent`
values that a :class:`~quant_exec.ledger.Ledger` folds. Every event also passes through the
order state machine (:func:`~quant_exec.orders.apply`), so the broker can never emit a
sequence the lifecycle table forbids.

Fill model (all of it pure arithmetic on the bar, so the same inputs and seed give the same
events, byte for byte):

* **latency**: an order sent at clock time ``t`` reaches the venue at ``t + latency`` (plus a
  seeded jitter when ``latency_jitter_ns`` is set); its acknowledgement carries that time, and
  a cancel takes effect ``latency`` after it was requested (fills in between still happen:
  the "fill after cancel request" case);
* **no look-ahead**: an order trades only on bars that *open* at or after it was sent, and
  that close after it reached the venue;
* **price**: market orders fill at the bar's open moved by the
  :class:`~quant_exec.venues.SlippageModel`; limit orders fill when the bar trades through
  the limit: at the open (taker, slipped but never beyond the limit) if the open is already
  marketable, otherwise at the limit (maker); prices are rounded to the tick against the
  trader;
* **partial fills**: at most ``max_volume_share`` of a bar's volume is filled per bar (shared
  by all orders on that instrument), rounded down to the lot; the rest waits for later bars;
* **fees** from the :class:`~quant_exec.venues.FeeSchedule` (maker or taker);
* **cash**: given ``cash_available``, buys are cut to what cash can pay, fee included, and the
  rest is canceled with ``ORDER_INSUFFICIENT_FUNDS``, so the ledger can never go negative;
* **expiry**: an order with ``expire_ns`` expires on the first bar opening at or after it;
* **throttle**: with a :class:`~quant_exec.venues.RateLimit`, a submit or cancel beyond the
  venue's budget is queued until the budget allows it (its latency counts from then);
* **balances**: the account the broker was given at the start, moved by every fill (the
  venue's side of what the session's ledger books), for reconciliation;
* **trades**: every fill, in the order it happened, for :meth:`PaperBroker.trades_since`.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core import Bar, Instrument, SimClock, Timeframe
    >>> from quant_exec.venues import PaperBroker
    >>> from quant_exec.ledger import Ledger
    >>> from quant_exec.orders import Order, Side
    >>> btc = Instrument("BTC", "USD")
    >>> clock = SimClock(3_600 * 10**9)
    >>> broker = PaperBroker(clock, seed=7)
    >>> ledger = Ledger("USD", Decimal(10_000))
    >>> order = Order.create(btc, Side.BUY, "0.1", ts_init=clock.now_ns(), sequence=1)
    >>> [type(e).__name__ for e in broker.submit(order)]
    ['OrderSubmitted']
    >>> bar = Bar(btc, Timeframe.H1, 3_600 * 10**9, "40000", "40500", "39800", "40100", "50")
    >>> clock.advance_to(bar.close_time_ns)
    >>> events = broker.on_bar(bar, cash_available=ledger.cash)
    >>> [type(e).__name__ for e in events]
    ['OrderAccepted', 'OrderFilled']
    >>> events[1].price       # the open, 5 bps spread + 0.1 bps impact, rounded up to the tick
    Decimal('40020.4')
    >>> for event in events:
    ...     _ = ledger.apply(event)
    >>> ledger.positions["BTC"].quantity, ledger.cash
    (Decimal('0.1'), Decimal('5981.9518'))
    >>> [f.trade_id == events[1].trade_id for f in broker.trades_since(None)]
    [True]
    >>> broker.trades_since(events[1].trade_id)
    ()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal

import attrs

from quant_core import Bar, Clock, Instrument, derive_seed, generator, to_decimal
from quant_exec import reasons
from quant_exec.errors import OrderError, UnknownOrderError
from quant_exec.orders._model import (
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderState,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
    apply,
    new_state,
)
from quant_exec.venues._fees import KRAKEN_SPOT_FEES, FeeSchedule
from quant_exec.venues._rules import KRAKEN_SPOT_RULES, VenueRulebook, VenueRules
from quant_exec.venues._slippage import SlippageModel
from quant_exec.venues._throttle import RateLimit, Throttle

_ZERO = Decimal(0)


@attrs.define
class _Working:
    """The broker's bookkeeping of one order."""

    state: OrderState
    sent_ns: int
    arrive_ns: int
    cancel_ns: int | None = None
    acked: bool = False


@attrs.frozen
class _Quote:
    """A candidate execution."""

    price: Decimal
    liquidity: Liquidity


class PaperBroker:
    """A simulated venue that fills orders on subsequent bars.

    Args:
        clock: the (simulated) clock; ``ts_init`` of every event and the send time of orders.
        fees: fee schedule.
        slippage: slippage model.
        latency_ns: one-way latency between the broker and the venue.
        latency_jitter_ns: extra latency, drawn per order in ``[0, jitter]`` from ``seed``.
        seed: root seed for the jitter and the trade ids.
        max_volume_share: the largest share of a bar's volume filled per bar, in (0, 1].
        venue: lot and tick rules used to round fills (``None``: no rounding).
        volume_30d: 30-day volume that selects the fee tier.
        balances: the account's balance per asset at the start (what :meth:`balances`
            reports before any fill).
        rate_limit: the venue's request budget (``None``: none; a backtest never waits).

    Raises:
        OrderError: ``ORDER_INVALID`` for negative latency or a volume share outside (0, 1].
    """

    def __init__(
        self,
        clock: Clock,
        *,
        fees: FeeSchedule = KRAKEN_SPOT_FEES,
        slippage: SlippageModel | None = None,
        latency_ns: int = 0,
        latency_jitter_ns: int = 0,
        seed: int = 0,
        max_volume_share: Decimal | str = Decimal("0.1"),
        venue: VenueRulebook | None = KRAKEN_SPOT_RULES,
        volume_30d: Decimal | int | str = 0,
        balances: Mapping[str, Decimal | int | str] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        share = to_decimal(max_volume_share)
        if latency_ns < 0 or latency_jitter_ns < 0 or not 0 < share <= 1:
            raise OrderError("latency must be >= 0 and max_volume_share within (0, 1]")
        self._clock = clock
        self._fees = fees
        self._slippage = slippage if slippage is not None else SlippageModel()
        self._latency = latency_ns
        self._jitter = latency_jitter_ns
        self._seed = seed
        self._rng = generator(seed, "paper-broker", "latency")
        self._share = share
        self._venue = venue
        self._volume_30d = to_decimal(volume_30d)
        self._orders: dict[str, _Working] = {}
        self._open: dict[str, _Working] = {}  # the working subset, so a bar costs O(open)
        self._trades = 0
        self._fills: list[OrderFilled] = []
        self._fill_index: dict[str, int] = {}  # trade id -> position in _fills
        self._balances = {k: to_decimal(v) for k, v in (balances or {}).items()}
        self._throttle = Throttle(clock, rate_limit)

    def __repr__(self) -> str:
        return f"PaperBroker(orders={len(self._orders)}, latency_ns={self._latency})"

    # -- reading --------------------------------------------------------------------------

    @property
    def states(self) -> Mapping[str, OrderState]:
        """Every order's current state by client order id (submission order)."""
        return {k: w.state for k, w in self._orders.items()}

    @property
    def throttle(self) -> Throttle:
        """The venue's request budget on the broker's clock."""
        return self._throttle

    def query(self, client_order_id: str) -> OrderState | None:
        """One order's state by its client order id, or ``None`` when it was never submitted."""
        work = self._orders.get(client_order_id)
        return None if work is None else work.state

    def balances(self) -> dict[str, Decimal]:
        """The account's balance per asset: the start's, moved by every fill so far."""
        return dict(sorted(self._balances.items()))

    def trades_since(self, after_trade_id: str | None) -> tuple[OrderFilled, ...]:
        """The fills after the one with ``after_trade_id``, oldest first.

        Args:
            after_trade_id: the last trade the caller has seen; ``None`` (or an id this
                broker never issued) answers every fill.

        Examples:
            >>> from quant_core import SimClock
            >>> PaperBroker(SimClock(0)).trades_since(None)
            ()
        """
        start = 0 if after_trade_id is None else self._fill_index.get(after_trade_id, -1) + 1
        return tuple(self._fills[start:])

    def restore(self, states: Sequence[OrderState], *, trades: int = 0) -> None:
        """Keep working the orders an earlier run of this account had sent (a restart).

        Intents never sent (``INITIALIZED``) and finished orders are left out; an order whose
        cancel was requested is canceled ``latency`` after its last event. Trade ids continue
        after the earlier run's ``trades`` fills.

        Args:
            states: the earlier run's orders as its journal left them.
            trades: how many fills the earlier run had.

        Examples:
            >>> from quant_core import SimClock
            >>> from quant_exec.orders import OrderSubmitted, apply, new_state
            >>> order = Order.create(Instrument("BTC", "USD"), "buy", "1", ts_init=0, sequence=1)
            >>> sent = apply(new_state(order), OrderSubmitted(order.client_order_id,
            ...                                               ts_event=0, ts_init=0))
            >>> broker = PaperBroker(SimClock(0))
            >>> broker.restore([new_state(order), sent])
            >>> [s.status.value for s in broker.open_orders()]
            ['submitted']
        """
        for state in states:
            if state.status is OrderStatus.INITIALIZED or not state.is_open:
                continue
            order, acked = state.order, state.status is not OrderStatus.SUBMITTED
            work = _Working(state, order.ts_init, order.ts_init + self._latency, acked=acked)
            if state.status is OrderStatus.PENDING_CANCEL:
                work.cancel_ns = state.ts_last + self._latency
            self._orders[order.client_order_id] = self._open[order.client_order_id] = work
        self._trades = max(self._trades, trades)

    def open_orders(self, instrument: Instrument | None = None) -> tuple[OrderState, ...]:
        """Orders still working, optionally of one instrument, in submission order."""
        return tuple(
            w.state
            for w in self._open.values()
            if instrument is None or w.state.order.instrument == instrument
        )

    # -- commands -------------------------------------------------------------------------

    def _working(self, client_order_id: str) -> _Working:
        try:
            return self._orders[client_order_id]
        except KeyError:
            raise UnknownOrderError(f"no order {client_order_id!r}") from None

    def _emit(self, work: _Working, event: OrderEvent, out: list[OrderEvent]) -> None:
        work.state = apply(work.state, event)
        if not work.state.is_open:
            self._open.pop(work.state.order.client_order_id, None)
        out.append(event)

    def submit(self, order: Order) -> list[OrderEvent]:
        """Send ``order`` to the venue; returns ``[OrderSubmitted]``.

        The acknowledgement follows from :meth:`poll` or :meth:`on_bar` once the latency
        has passed.

        Raises:
            OrderError: ``ORDER_DUPLICATE`` when the id was already submitted.
        """
        if order.client_order_id in self._orders:
            raise OrderError(
                f"order {order.client_order_id} was already submitted",
                reason_code=reasons.ORDER_DUPLICATE,
            )
        now = self._clock.now_ns()
        sent = now + self._throttle.acquire()
        delay = self._latency
        if self._jitter:
            delay += int(self._rng.integers(0, self._jitter + 1))
        work = _Working(new_state(order), sent, sent + delay)
        self._orders[order.client_order_id] = work
        self._open[order.client_order_id] = work
        out: list[OrderEvent] = []
        self._emit(work, OrderSubmitted(order.client_order_id, ts_event=now, ts_init=now), out)
        return out

    def cancel(self, client_order_id: str) -> list[OrderEvent]:
        """Request a cancel; it takes effect after the latency. ``[]`` if already closed.

        Raises:
            UnknownOrderError: no such order.
        """
        work = self._working(client_order_id)
        out: list[OrderEvent] = []
        if work.state.is_open and work.cancel_ns is None:
            now = self._clock.now_ns()
            work.cancel_ns = now + self._throttle.acquire() + self._latency
            self._emit(work, OrderCancelRequested(client_order_id, ts_event=now, ts_init=now), out)
        return out

    def cancel_all(self, side: Side | None = None) -> list[OrderEvent]:
        """Request a cancel of every open order (of one side, if given)."""
        out: list[OrderEvent] = []
        for key, work in list(self._open.items()):
            if side is None or work.state.order.side is side:
                out.extend(self.cancel(key))
        return out

    def poll(self) -> list[OrderEvent]:
        """Emit the acknowledgements and cancels whose time has come on the clock."""
        out: list[OrderEvent] = []
        if not self._open:
            return out
        now = self._clock.now_ns()
        for work in list(self._open.values()):
            self._acknowledge(work, now, out)
            if work.cancel_ns is not None and work.cancel_ns <= now:
                self._cancel(work, work.cancel_ns, None, out)
        return out

    def _acknowledge(self, work: _Working, horizon: int, out: list[OrderEvent]) -> None:
        if not work.acked and work.arrive_ns <= horizon:
            work.acked = True
            key = work.state.order.client_order_id
            event = OrderAccepted(
                key, ts_event=work.arrive_ns, ts_init=self._clock.now_ns(), venue_order_id=key
            )
            self._emit(work, event, out)

    def _cancel(self, work: _Working, ts: int, reason: str | None, out: list[OrderEvent]) -> None:
        key = work.state.order.client_order_id
        event = OrderCanceled(key, ts_event=ts, ts_init=self._clock.now_ns(), reason_code=reason)
        self._emit(work, event, out)

    def on_bar(self, bar: Bar, *, cash_available: Decimal | None = None) -> list[OrderEvent]:
        """Work every open order of ``bar.instrument`` against ``bar``.

        Args:
            bar: a closed bar; orders sent at or before its open may trade on it.
            cash_available: free cash; buy fills are limited to it (fees included).

        Returns:
            The events, in the order they happened.
        """
        out: list[OrderEvent] = []
        if not self._open:  # nothing is working: the bar changes nothing
            return out
        rules = self._venue.for_instrument(bar.instrument) if self._venue else None
        volume_left = bar.volume * self._share
        cash = cash_available
        for work in list(self._open.values()):
            order = work.state.order
            if order.instrument != bar.instrument:
                continue
            self._acknowledge(work, bar.close_time_ns, out)
            if work.cancel_ns is not None and work.cancel_ns <= bar.open_time_ns:
                self._cancel(work, work.cancel_ns, None, out)
                continue
            if order.expire_ns is not None and order.expire_ns <= bar.open_time_ns:
                self._emit(
                    work,
                    OrderExpired(
                        order.client_order_id,
                        ts_event=order.expire_ns,
                        ts_init=self._clock.now_ns(),
                    ),
                    out,
                )
                continue
            if work.sent_ns <= bar.open_time_ns and work.arrive_ns <= bar.close_time_ns:
                volume_left, cash = self._trade(work, bar, rules, volume_left, cash, out)
            if (
                work.state.is_open
                and work.cancel_ns is not None
                and work.cancel_ns <= bar.close_time_ns
            ):
                self._cancel(work, max(work.cancel_ns, work.state.ts_last), None, out)
        return out

    # -- the fill model -------------------------------------------------------------------

    def _quote(
        self, order: Order, bar: Bar, qty: Decimal, rules: VenueRules | None
    ) -> _Quote | None:
        buy = order.side is Side.BUY
        slipped = self._slippage.fill_price(order.side, bar.open, qty, bar.volume)
        if rules is not None:
            slipped = rules.round_price(slipped, up=buy)
        limit = order.limit_price
        if order.order_type is OrderType.MARKET or limit is None:
            return _Quote(slipped, Liquidity.TAKER)
        if buy:
            if bar.low > limit:
                return None
            if bar.open <= limit:
                return _Quote(min(limit, slipped), Liquidity.TAKER)
            return _Quote(limit, Liquidity.MAKER)
        if bar.high < limit:
            return None
        if bar.open >= limit:
            return _Quote(max(limit, slipped), Liquidity.TAKER)
        return _Quote(limit, Liquidity.MAKER)

    def _affordable(
        self, qty: Decimal, quote: _Quote, cash: Decimal, rules: VenueRules | None
    ) -> Decimal:
        """The largest quantity up to ``qty`` whose cost plus fee fits in ``cash``."""
        rate = self._fees.rate_pct(self._volume_30d, quote.liquidity) / 100
        step = rules.lot_size if rules is not None else Decimal("1e-8")
        fit = min(
            qty,
            (cash / (quote.price * (1 + rate)) / step).to_integral_value(rounding=ROUND_FLOOR)
            * step,
        )
        while fit > 0 and fit * quote.price + self._fee(fit * quote.price, quote) > cash:
            fit -= step
        return max(fit, _ZERO)

    def _book(self, fill: OrderFilled) -> None:
        """Move the account's balances by ``fill`` (the fee is paid in the quote currency)."""
        base, quote, balances = fill.instrument.base, fill.instrument.quote.value, self._balances
        sign = 1 if fill.side is Side.BUY else -1
        balances[base] = balances.get(base, _ZERO) + sign * fill.quantity
        balances[quote] = balances.get(quote, _ZERO) - sign * fill.notional - fill.fee

    def _fee(self, notional: Decimal, quote: _Quote) -> Decimal:
        return self._fees.fee(notional, self._volume_30d, quote.liquidity)

    def _trade(
        self,
        work: _Working,
        bar: Bar,
        rules: VenueRules | None,
        volume_left: Decimal,
        cash: Decimal | None,
        out: list[OrderEvent],
    ) -> tuple[Decimal, Decimal | None]:
        order = work.state.order
        qty = min(work.state.leaves_qty, volume_left)
        if rules is not None:
            qty = rules.round_quantity(qty)
        if qty <= 0:
            return volume_left, cash
        quote = self._quote(order, bar, qty, rules)
        if quote is None:
            return volume_left, cash
        short_of_cash = False
        if cash is not None and order.side is Side.BUY:
            fit = self._affordable(qty, quote, cash, rules)
            short_of_cash = fit < qty
            qty = fit
        if qty > 0:
            notional = qty * quote.price
            fee = self._fee(notional, quote)
            self._trades += 1
            trade_id = f"T-{derive_seed(self._seed, 'trade', str(self._trades)):016x}"
            fill = OrderFilled(
                order.client_order_id,
                order.instrument,
                order.side,
                trade_id,
                quote.price,
                qty,
                fee,
                ts_event=max(bar.open_time_ns, work.arrive_ns),
                ts_init=self._clock.now_ns(),
                liquidity=quote.liquidity,
            )
            self._emit(work, fill, out)
            self._book(fill)
            self._fill_index[trade_id] = len(self._fills)
            self._fills.append(fill)
            volume_left -= qty
            if cash is not None and order.side is Side.BUY:
                cash -= notional + fee
        if short_of_cash and work.state.is_open:
            ts = max(bar.open_time_ns, work.arrive_ns)
            self._cancel(work, ts, reasons.ORDER_INSUFFICIENT_FUNDS, out)
        return volume_left, cash
