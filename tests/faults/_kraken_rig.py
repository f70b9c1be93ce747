"""The RT fault tests' rig on the fake Kraken: REST over HTTP and the executions WebSocket.

:func:`ws_rig` serves the fake exchange (REST) and a fake WebSocket attached to it (every order
event and fill the exchange journals is published on ``executions``), opens a real
:class:`KrakenStream` on it and hands out venues whose ``poll`` drains that stream. A drain
first publishes a ``balances`` sentinel and pumps until it arrives: every ``executions``
message sent before it has then been received (no timed waits).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from tests.quant_exec.kraken.venue._harness import Rig, kraken_rig

from quant_core import Bar, SimClock
from quant_exec.session import TradingSession
from quant_exec.venues.kraken import KrakenStream, KrakenVenue
from quant_exec.venues.kraken.fake import FakeKraken, FakeKrakenWs, serve_fake_kraken_ws

SENTINEL = "SENTINEL"


@attrs.define
class WsRig:
    """A :class:`Rig` plus the fake WebSocket and a stream subscribed to it."""

    rig: Rig
    ws: FakeKrakenWs
    stream: KrakenStream
    marks: int = 0
    received: list[dict[str, Any]] = attrs.Factory(list)

    def drain(self) -> list[dict[str, Any]]:
        """The ``executions`` items received so far, once everything sent before is in."""
        self.marks += 1
        mark = Decimal(self.marks)
        self.ws.publish_balance({"asset": SENTINEL, "balance": mark})
        for _ in range(400):
            if any(b.get("asset") == SENTINEL and Decimal(str(b.get("balance"))) == mark
                   for b in self.stream.drain_balances()):  # fmt: skip
                break
            self.stream.pump(0.05)
        else:
            raise AssertionError("the sentinel never arrived")
        items = self.stream.drain_executions()
        self.received += items
        return items

    def venue(self, **options: Any) -> KrakenVenue:
        """A venue on the fake whose ``poll`` drains the WebSocket first."""
        return self.rig.venue(executions=self.drain, **options)


@contextlib.contextmanager
def ws_rig(clock: SimClock, directory: Path, fake: FakeKraken | None = None) -> Iterator[WsRig]:
    """Serve ``fake`` over REST and WebSocket and open a stream on it for the block."""
    with kraken_rig(clock, directory, fake) as rig:
        ws = FakeKrakenWs(clock, exchange=rig.fake)
        with serve_fake_kraken_ws(ws) as server:
            client = rig.client()
            stream = KrakenStream(
                server.url,
                clock=clock,
                seed=11,
                token=lambda: client.get_websockets_token().token,
                heartbeat_timeout_s=10**7,  # the SimClock jumps; silence is not a drop here
                open_timeout_s=5.0,
            )
            stream.open()
            try:
                yield WsRig(rig, ws, stream)
            finally:
                stream.close()


PAIR = {"BTC": "XBTUSD", "ETH": "ETHUSD"}
ASSET = {"BTC": "XXBT", "ETH": "XETH"}


def session_fake(clock: SimClock, start: list[Bar], cash: Decimal) -> FakeKraken:
    """A fake listing the example instruments at ``start``'s opens, funded with ``cash``."""
    fake = FakeKraken(clock)
    for bar in start:
        fake.book.add_pair(PAIR[bar.instrument.base], ASSET[bar.instrument.base], "ZUSD", bar.open)
    fake.book.balances["ZUSD"] = cash
    return fake


def move_prices(fake: FakeKraken, group: list[Bar]) -> None:
    """Set the fake's prices to ``group``'s closes (resting limits it crosses fill)."""
    for bar in group:
        fake.book.set_price(PAIR[bar.instrument.base], bar.close)


def assert_ledger_is_the_account(session: TradingSession, fake: FakeKraken) -> None:
    """Every fake trade booked once, and the session's cash and holdings are the account's."""
    booked = [e.fill.trade_id for e in session.ledger.entries if e.fill is not None]
    assert sorted(booked) == sorted(fake.book.trades)
    assert session.ledger.cash == fake.book.balances["ZUSD"]
    for base, asset in ASSET.items():
        held = session.ledger.positions.get(base)
        assert (held.quantity if held else Decimal(0)) == fake.book.balances[asset]
