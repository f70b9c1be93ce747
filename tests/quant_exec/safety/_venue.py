"""A venue that misbehaves on cue: the paper broker plus events a test slips into ``poll``.

It is a real :class:`~quant_exec.venues.ExecutionVenue`: every command goes to the project's
own :class:`~quant_exec.venues.PaperBroker`; :meth:`ScriptedVenue.inject` queues extra venue
events (an external fill, an overfill, a duplicate, a late acknowledgement) that the session
receives on its next ``poll``, the way a live adapter would hand them over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from quant_core import Bar, Instrument, SimClock
from quant_exec.orders import Order, OrderEvent, OrderFilled, OrderState
from quant_exec.session import BacktestConfig, TradingSession, example_inputs
from quant_exec.venues import PaperBroker, Throttle

ETH = Instrument("ETH", "USD")


class ScriptedVenue:
    """The paper broker, plus injected events delivered on the next ``poll``."""

    def __init__(self, broker: PaperBroker) -> None:
        self.broker = broker
        self.pending: list[OrderEvent] = []

    def inject(self, *events: OrderEvent) -> None:
        self.pending.extend(events)

    @property
    def throttle(self) -> Throttle:
        return self.broker.throttle

    def submit(self, order: Order) -> Sequence[OrderEvent]:
        return self.broker.submit(order)

    def cancel(self, client_order_id: str) -> Sequence[OrderEvent]:
        return self.broker.cancel(client_order_id)

    def query(self, client_order_id: str) -> OrderState | None:
        return self.broker.query(client_order_id)

    def open_orders(self) -> Sequence[OrderState]:
        return self.broker.open_orders()

    def trades_since(self, after_trade_id: str | None) -> Sequence[OrderFilled]:
        return self.broker.trades_since(after_trade_id)

    def balances(self) -> Mapping[str, Decimal]:
        return self.broker.balances()

    def poll(self) -> Sequence[OrderEvent]:
        events = [*self.broker.poll(), *self.pending]
        self.pending.clear()
        return events

    def on_bar(self, bar: Bar, *, cash_available: Decimal | None = None) -> Sequence[OrderEvent]:
        return self.broker.on_bar(bar, cash_available=cash_available)


def scripted_session(n_bars: int = 72) -> tuple[TradingSession, ScriptedVenue, list[list[Bar]]]:
    """A session on the example inputs over a :class:`ScriptedVenue`, and its bars by time."""
    feed, predictor = example_inputs(n_bars=n_bars)
    config = BacktestConfig.defaults()
    clock = SimClock()
    broker = PaperBroker(
        clock,
        fees=config.fees,
        slippage=config.slippage,
        latency_ns=config.latency_ns,
        seed=config.seed,
        max_volume_share=config.max_volume_share,
        venue=config.venue,
        balances={"USD": config.initial_cash},
    )
    venue = ScriptedVenue(broker)
    session = TradingSession(
        feed.instruments, feed.timeframe, predictor, config, venue=venue, clock=clock
    )
    by_time: dict[int, list[Bar]] = {}
    for bar in feed.bars(0, 2**62):
        by_time.setdefault(bar.open_time_ns, []).append(bar)
    return session, venue, [by_time[t] for t in sorted(by_time)]


def external_fill(
    trade_id: str, side: str = "buy", quantity: str = "0.01", *, oid: str = "O-not-ours"
) -> OrderFilled:
    """An ETH/USD fill (the example run trades ETH) for an order the session never made."""
    return OrderFilled(oid, ETH, side, trade_id, "100", quantity, "0.01", ts_event=1, ts_init=1)
