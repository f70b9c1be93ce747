"""The venue seam's ``trades_since``: the account's fills after a given trade, oldest first."""

from __future__ import annotations

from decimal import Decimal

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_exec.orders import Order, OrderFilled, Side
from quant_exec.venues import ExecutionVenue, PaperBroker

BTC = Instrument("BTC", "USD")
H = Timeframe.H1.ns


def _fills(broker: PaperBroker, clock: SimClock, n: int) -> list[OrderFilled]:
    out: list[OrderFilled] = []
    for i in range(n):
        order = Order.create(BTC, Side.BUY, "0.1", ts_init=clock.now_ns(), sequence=i)
        broker.submit(order)
        bar = Bar(BTC, Timeframe.H1, clock.now_ns(), "100", "101", "99", "100", "1000")
        clock.advance_to(bar.close_time_ns)
        out += [e for e in broker.on_bar(bar) if isinstance(e, OrderFilled)]
    return out


def test_trades_since_answers_the_fills_after_the_given_trade_oldest_first() -> None:
    clock = SimClock(H)
    broker = PaperBroker(clock, seed=3, balances={"USD": Decimal(1_000)})
    venue: ExecutionVenue = broker
    assert venue.trades_since(None) == ()
    fills = _fills(broker, clock, 3)
    assert len(fills) == 3
    assert list(venue.trades_since(None)) == fills
    assert list(venue.trades_since(fills[0].trade_id)) == fills[1:]
    assert venue.trades_since(fills[-1].trade_id) == ()
    assert list(venue.trades_since("T-never-issued")) == fills  # unknown id: every fill
