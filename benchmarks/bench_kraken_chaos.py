"""Kraken chaos run: a seeded random fault plan over 1,200 orders on the fake exchange.

A session-side harness (the session's order state machine and :class:`~quant_exec.ledger.Ledger`)
trades through :class:`quant_exec.venues.kraken.KrakenVenue` against the fake Kraken exchange
over real HTTP on 127.0.0.1, on a simulated clock: random market and limit orders, cancels
and price moves, while a seeded plan injects every :class:`FakeFault` kind (answers lost
after the exchange acted, 5xx, busy/unavailable, lockouts, throttles, timeouts) into every
private method the venue calls (a pause is waited out, as an operator would). At the end
the faults stop, the working orders are canceled and the venue is polled until every order
is settled (over 1,000 orders reach the exchange at full size). Printed:

* duplicates: venue orders sharing a ``cl_ord_id`` (must be 0);
* orphans: fills at the exchange whose order is not the session's, or that the ledger did not
  book (must be 0); unresolved: orders still of unknown outcome (must be 0);
* ledger == account: the ledger's cash and positions equal the exchange's balances exactly;
* orders/s with the fault plan and without it (the same orders), and their ratio.

The venue drains an emulated WebSocket ``executions`` feed as well as polling REST; under the
fault plan the feed duplicates, delays and reorders its messages.

Run: ``uv run python benchmarks/bench_kraken_chaos.py [--quick] [--json]``
"""

from __future__ import annotations

import logging
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quant_core import Instrument, SimClock, ns_to_iso
from quant_core.settings import Secret
from quant_exec.errors import OrderError
from quant_exec.ledger import Ledger
from quant_exec.orders import (
    Order,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderState,
    OrderType,
    Side,
    apply,
    new_state,
)
from quant_exec.venues.kraken import KrakenPrivateClient, KrakenStream, KrakenVenue, NonceSource
from quant_exec.venues.kraken.fake import (
    FakeFault,
    FakeKraken,
    FakeKrakenWs,
    FakeWsFault,
    serve_fake_kraken,
    serve_fake_kraken_ws,
)
from quant_net import ReadPolicy, WritePolicy

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli

START_NS = 1_700_000_000 * 10**9
CASH = Decimal(1_000_000)
MARKETS = (
    (Instrument("BTC", "USD"), "XBTUSD", "XXBT", Decimal(40_000), Decimal("0.01")),
    (Instrument("ETH", "USD"), "ETHUSD", "XETH", Decimal(2_000), Decimal("0.2")),
)
METHODS = (
    "AddOrder",
    "CancelOrder",
    "QueryOrders",
    "OpenOrders",
    "ClosedOrders",
    "TradesHistory",
    "Balance",
    "CancelAllOrdersAfter",
)
FAULTS = tuple(f for f in FakeFault if f.value != "insert_trades")
"""Every fault of the venue's own calls (fills of orders placed elsewhere are not one: the
session flags those as external fills, 0097)."""


class _Session:
    """The session's side: order states through the state machine, fills into the ledger."""

    def __init__(self) -> None:
        self.ledger = Ledger("USD", CASH)
        self.states: dict[str, OrderState] = {}
        self.refused = 0
        self.paused = False
        self.rejections: dict[str, int] = {}

    def take(self, events: Sequence[OrderEvent]) -> None:
        for event in events:
            state = self.states.get(event.client_order_id)
            if state is None:  # a fill of an order that is not ours: an orphan
                self.refused += 1
                continue
            try:
                self.states[event.client_order_id] = apply(state, event)
            except OrderError:
                self.refused += 1
                continue
            if isinstance(event, OrderFilled):
                self.ledger.apply(event)
            elif isinstance(event, OrderRejected):
                code = event.reason_code
                self.paused = self.paused or code == "KRAKEN_PAUSED"
                self.rejections[code] = self.rejections.get(code, 0) + 1

    def working(self) -> list[OrderState]:
        return [s for s in self.states.values() if s.is_open]

    def free(self, base: str) -> Decimal:
        """The position not already offered by a working sell."""
        held = self.ledger.positions.get(base)
        offered = sum(
            (s.leaves_qty for s in self.working()
             if s.order.side is Side.SELL and s.order.instrument.base == base),
            Decimal(0),
        )  # fmt: skip
        return (held.quantity if held else Decimal(0)) - offered


class _Stream:
    """A WebSocket ``executions`` feed emulated from the fake's account, with its faults.

    After each step it turns what changed at the fake (new orders, fills, cancels) into
    Kraken v2 ``executions`` items; with faults on, some items are delivered twice, some held
    back a few steps, and each batch is shuffled (duplicate, delayed and reordered messages).
    """

    def __init__(self, fake: FakeKraken, rng: random.Random, faults: bool) -> None:
        self.fake, self.rng, self.faults = fake, rng, faults
        self.trades: set[str] = set()
        self.status: dict[str, str] = {}
        self.held: list[tuple[int, dict[str, Any]]] = []

    def _item(self, exec_type: str, txid: str, **fields: Any) -> dict[str, Any]:
        placed = self.fake.book.orders[txid]
        return {"exec_type": exec_type, "order_id": txid, "cl_ord_id": placed["cl_ord_id"],
                "timestamp": ns_to_iso(self.fake.clock.now_ns()), **fields}  # fmt: skip

    def drain(self) -> list[dict[str, Any]]:
        book, items = self.fake.book, []
        for txid in book.orders:
            if txid not in self.status:
                items.append(self._item("new", txid, order_status="new"))
        for trade_id, trade in book.trades.items():
            if trade_id not in self.trades:
                self.trades.add(trade_id)
                items.append(self._item(
                    "trade", trade["ordertxid"], exec_id=trade_id, last_qty=trade["vol"],
                    last_price=trade["price"], side=trade["type"], liquidity_ind="t",
                    fees=[{"asset": "USD", "qty": trade["fee"]}]))  # fmt: skip
        for txid, placed in book.orders.items():
            status = placed["status"]
            if self.status.get(txid) != status:
                self.status[txid] = status
                kind = {"closed": "filled", "canceled": "canceled", "expired": "expired"}
                if status in kind:
                    items.append(self._item(kind[status], txid, order_status=status))
        if not self.faults:
            return items
        out: list[dict[str, Any]] = []
        for item in items:
            roll = self.rng.random()
            if roll < 0.1:
                self.held.append((self.rng.randint(1, 4), item))  # delayed
            else:
                out.append(item)
                if roll > 0.9:
                    out.append(item)  # delivered twice
        self.held = [(wait - 1, item) for wait, item in self.held]
        out += [item for wait, item in self.held if wait <= 0]
        self.held = [(wait, item) for wait, item in self.held if wait > 0]
        self.rng.shuffle(out)
        return out


def _order(rng: random.Random, session: _Session, seq: int, clock: SimClock) -> Order:
    instrument, _, _, price, lot = MARKETS[rng.randrange(len(MARKETS))]
    qty = lot * rng.randint(1, 5)
    side = Side.SELL if rng.random() < 0.45 and session.free(instrument.base) >= qty else Side.BUY
    limit = None
    if rng.random() < 0.5:  # a limit order near the price, crossing or resting
        limit = (price * Decimal(1 + rng.uniform(-0.02, 0.02))).quantize(Decimal("0.1"))
    return Order.create(instrument, side, qty, ts_init=clock.now_ns(), sequence=seq,
                        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                        limit_price=limit)  # fmt: skip


WS_FAULTS = (FakeWsFault.DUPLICATE, FakeWsFault.DELAY, FakeWsFault.REORDER)


def chaos(
    orders: int,
    seed: int,
    *,
    faults: bool = True,
    stream: bool = True,
    poll_every: int = 1,
    real_stream: bool = False,
) -> dict[str, Any]:
    """Run ``orders`` orders under the seeded fault plan (or none); the counts and timings.

    With ``stream`` the venue also drains an emulated ``executions`` feed (:class:`_Stream`).
    ``poll_every``: the venue is polled after every that many orders (a large value leaves
    more than Kraken's 50 fills a page between two polls: the history is read in pages).
    ``real_stream``: instead, the venue drains a real :class:`KrakenStream` over WebSocket on
    127.0.0.1 from the fake's attached WebSocket, with its faults (duplicated, delayed and
    reordered ``executions`` messages, dropped connections: each reconnection makes the
    venue reconcile through REST).
    """
    rng = random.Random(seed)
    clock = SimClock(START_NS)
    fake = FakeKraken(clock)
    for _, pair, asset, price, _ in MARKETS:
        fake.book.add_pair(pair, asset, "ZUSD", price)
    fake.book.balances["ZUSD"] = CASH
    session = _Session()
    injected = 0
    ws = FakeKrakenWs(clock, exchange=fake)
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve_fake_kraken(fake, hang_s=2.0) as server,
        serve_fake_kraken_ws(ws) as socket,
    ):
        client = KrakenPrivateClient(
            server.base_url, api_key=Secret(server.api_key), secret=Secret(server.secret),
            clock=clock, seed=seed, nonce=NonceSource(Path(tmp) / "nonce", clock),
            read_policy=ReadPolicy(timeout_s=0.3, rate_per_s=10_000.0, burst=10_000,
                                   max_attempts=3),
            write_policy=WritePolicy(timeout_s=0.3, rate_per_s=10_000.0, burst=10_000),
        )  # fmt: skip
        feed = _Stream(fake, random.Random(seed + 1), faults)
        venues: list[KrakenVenue] = []
        real = KrakenStream(
            socket.url, clock=clock, seed=seed, token=lambda: client.get_websockets_token().token,
            on_reconnect=lambda: venues[0].request_reconcile(), heartbeat_timeout_s=3600.0,
        )  # fmt: skip
        drain = real.drain_executions if real_stream else feed.drain
        venue = KrakenVenue(
            client, clock=clock, pairs={m[0]: m[1] for m in MARKETS},
            assets={"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"},
            executions=drain if stream or real_stream else None,
        )  # fmt: skip
        venues.append(venue)
        started = time.perf_counter()
        for seq in range(1, orders + 1):
            if faults and rng.random() < 0.15:
                fake.inject(rng.choice(METHODS), rng.choice(FAULTS))
                injected += 1
            if real_stream and faults and rng.random() < 0.2:
                roll = rng.random()
                if roll < 0.1:
                    ws.drop()  # the connection dies: events are lost, the venue reconciles
                elif roll < 0.3:
                    ws.release()  # the delayed messages arrive, late
                else:
                    ws.inject(rng.choice(WS_FAULTS))
                injected += 1
            order = _order(rng, session, seq, clock)
            session.states[order.client_order_id] = new_state(order)
            session.take(venue.submit(order))
            working = session.working()
            if working and rng.random() < 0.3:
                session.take(venue.cancel(rng.choice(working).client_order_id))
            if rng.random() < 0.3:
                _, pair, _, price, _ = MARKETS[rng.randrange(len(MARKETS))]
                fake.book.set_price(pair, price * Decimal(1 + rng.uniform(-0.02, 0.02)))
            clock.advance_by(rng.randint(1, 5) * 10**9)
            if seq % poll_every == 0:
                session.take(venue.poll())
            if session.paused:  # private calls are paused (lockout, throttle): wait it out
                clock.advance_to(max(clock.now_ns(), client.counter.paused_until_ns))
                session.paused = False
        fake.faults.clear()
        clock.advance_to(max(clock.now_ns(), fake.locked_until_ns) + 10**9)
        for _ in range(20):  # wind down: cancel what works, poll until all is settled
            for state in session.working():
                session.take(venue.cancel(state.client_order_id))
            clock.advance_by(10**9)
            session.take(venue.poll())
            if not session.working():
                break
        elapsed = time.perf_counter() - started
        ws.release()
        real.close()
        venue.close()
    kraken_ids = [o["cl_ord_id"] for o in fake.book.orders.values()]
    ours = {KrakenVenue.kraken_id(oid) for oid in session.states}
    booked = {e.fill.trade_id for e in session.ledger.entries if e.fill is not None}
    orphans = sum(
        fake.book.orders[t["ordertxid"]]["cl_ord_id"] not in ours or trade_id not in booked
        for trade_id, t in fake.book.trades.items()
    )
    balances = fake.book.balances
    account = {"USD": balances["ZUSD"], "BTC": balances["XXBT"], "ETH": balances["XETH"]}
    ledger = {"USD": session.ledger.cash}
    for base in ("BTC", "ETH"):
        held = session.ledger.positions.get(base)
        ledger[base] = held.quantity if held else Decimal(0)
    return {
        "orders": orders,
        "faults_injected": injected,
        "venue_orders": len(kraken_ids),
        "fills": len(fake.book.trades),
        "duplicates": len(kraken_ids) - len(set(kraken_ids)),
        "orphans": orphans,
        "refused_events": session.refused,
        "unresolved": len(session.working()),
        "ledger_equals_account": ledger == account,
        "alarms": len(venue.alarms),
        "stream_connections": real.connections,
        "resyncs": venue.resyncs,
        "rejections": dict(sorted(session.rejections.items())),
        "seconds": elapsed,
        "orders_per_s": orders / elapsed,
    }


def run(orders: int, seed: int) -> dict[str, Any]:
    plain = chaos(orders, seed, faults=False)
    faulted = chaos(orders, seed, faults=True)
    real = chaos(orders, seed, faults=True, real_stream=True)
    return {
        **faulted,
        "orders_per_s_without_faults": plain["orders_per_s"],
        "ratio": faulted["orders_per_s"] / plain["orders_per_s"],
        "real_stream": real,
    }


def _lines(sizes: tuple[int, int], result: dict[str, Any]) -> list[str]:
    orders, seed = sizes
    real = result["real_stream"]
    return [
        (
            f"Kraken chaos run: {orders:,} orders, seed {seed}, "
            f"{result['faults_injected']} faults injected, fake exchange over HTTP"
        ),
        (
            f"  venue orders {result['venue_orders']:,}, fills {result['fills']:,}, "
            f"alarms {result['alarms']}"
        ),
        (
            f"  duplicates {result['duplicates']}  orphans {result['orphans']}  "
            f"unresolved {result['unresolved']}  refused events {result['refused_events']}"
        ),
        f"  ledger == account: {result['ledger_equals_account']}",
        f"  rejections: {result['rejections']}",
        f"  quant    {result['orders_per_s']:,.1f} orders/s (with the fault plan)",
        f"  baseline {result['orders_per_s_without_faults']:,.1f} orders/s (no faults)",
        f"  ratio (with faults / without): {result['ratio']:.3f}",
        (
            f"  over the real stream (WebSocket on 127.0.0.1, duplicate/delay/reorder/drop): "
            f"{real['faults_injected']} faults, {real['stream_connections']} connections, "
            f"{real['resyncs']} REST reconciles; duplicates {real['duplicates']}  orphans "
            f"{real['orphans']}  unresolved {real['unresolved']}  ledger == account: "
            f"{real['ledger_equals_account']}; {real['orders_per_s']:,.1f} orders/s"
        ),
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    loggers = [logging.getLogger(name) for name in ("quant_net", "quant_exec")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # every fault is logged: too many lines here
        logger.setLevel(logging.CRITICAL)
    try:
        return run_cli(
            argv,
            description=__doc__,
            quick=(150, 7),
            full=(1_200, 7),
            run=lambda sizes: run(*sizes),
            lines=_lines,
        )
    finally:  # a caller's logging (a test run in the same process) is left as it was
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


if __name__ == "__main__":
    main(sys.argv[1:])
