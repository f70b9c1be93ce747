"""RT-02 with the whole session: a trading session on KrakenVenue, the fake over real HTTP.

Seeded faults hit the session's AddOrder calls: some act on the order and then fail (an
unknown outcome that did place it), some fail before acting (an unknown outcome that did
not). Pass criterion: every order is sent exactly once (no resubmission), each unknown outcome
is resolved by query — adopted when Kraken has it, rejected ``KRAKEN_ORDER_ABSENT`` when it
does not — 0 duplicate venue orders, 0 orphan fills, and the session's ledger equals the
account at the end. Beside the whole-session runs, 1,000 fuzzed intents go through the venue
alone (RT-02's fuzz, with read failures on the resolving queries too).
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest
from tests.quant_exec.kraken.venue._harness import Rig, kraken_rig, order

from quant_core import Bar, SimClock
from quant_exec.orders import OrderFilled
from quant_exec.session import BacktestConfig, TradingSession, example_inputs
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken

ACTING = (FakeFault.ACCEPT_THEN_500,)
NOT_ACTING = (FakeFault.HTTP_500, FakeFault.SERVICE_BUSY, FakeFault.SERVICE_UNAVAILABLE)
PAIR = {"BTC": "XBTUSD", "ETH": "ETHUSD"}


def _bars_by_time(n_bars: int) -> list[list[Bar]]:
    feed, _ = example_inputs(n_bars=n_bars)
    by_time: dict[int, list[Bar]] = {}
    for bar in feed.bars(0, 2**62):
        by_time.setdefault(bar.open_time_ns, []).append(bar)
    return [by_time[t] for t in sorted(by_time)]


def _run(rig: Rig, seed: int, n_bars: int = 96) -> tuple[TradingSession, list[FakeFault]]:
    feed, predictor = example_inputs(n_bars=n_bars)
    config = BacktestConfig.defaults()
    rig.fake.book.balances["ZUSD"] = config.initial_cash
    venue = rig.venue()
    session = TradingSession(
        feed.instruments, feed.timeframe, predictor, config, venue=venue, clock=rig.clock
    )
    rng = random.Random(seed)
    injected: list[FakeFault] = []
    for group in _bars_by_time(n_bars):
        for bar in group:
            rig.fake.book.set_price(PAIR[bar.instrument.base], bar.close)
        if rng.random() < 0.5:
            fault = rng.choice(ACTING + NOT_ACTING)
            rig.fake.inject("AddOrder", fault)
            injected.append(fault)
        session.on_bars(group)
    session.heartbeat(rig.clock.now_ns() + 60 * 10**9)  # the last orders' fills
    return session, injected


def _fake(clock: SimClock, start: list[Bar]) -> FakeKraken:
    fake = FakeKraken(clock)
    for bar in start:
        base = "XXBT" if bar.instrument.base == "BTC" else "XETH"
        fake.book.add_pair(PAIR[bar.instrument.base], base, "ZUSD", bar.open)
    return fake


@pytest.mark.parametrize("seed", range(3))
def test_rt_02_a_session_never_resends_an_order_of_unknown_outcome(
    tmp_path: Path, seed: int
) -> None:
    first = _bars_by_time(96)[0]
    clock = SimClock(first[0].open_time_ns)
    with kraken_rig(clock, tmp_path, _fake(clock, first)) as rig:
        session, injected = _run(rig, seed)
        fake = rig.fake
        submitted = [
            line["order_id"]
            for line in session.log.orders
            if line["event"]["event"] == "OrderSubmitted"
        ]
        assert len(submitted) == len(set(submitted)) > 5  # the run trades
        assert fake.calls.count("AddOrder") == len(submitted)  # each order sent once
        consumed = injected[: len(injected) - len(fake.faults.get("AddOrder", []))]
        # 0 duplicate venue orders: each cl_ord_id at most once
        kraken_ids = [o["cl_ord_id"] for o in fake.book.orders.values()]
        assert len(kraken_ids) == len(set(kraken_ids))
        absent = [
            line
            for line in session.log.orders
            if line["event"].get("reason_code") == "KRAKEN_ORDER_ABSENT"
        ]
        assert len(absent) == sum(f in NOT_ACTING for f in consumed)
        placed = {KrakenVenue.kraken_id(oid) for oid in submitted}
        assert len(kraken_ids) == len(submitted) - len(absent)
        assert set(kraken_ids) <= placed
        # 0 orphan fills: every fill is of an order of the session's, and booked once
        assert all(
            fake.book.orders[t["ordertxid"]]["cl_ord_id"] in placed
            for t in fake.book.trades.values()
        )
        booked = [e.fill.trade_id for e in session.ledger.entries if e.fill is not None]
        assert sorted(booked) == sorted(fake.book.trades)
        # the ledger is the account
        balances = fake.book.balances
        assert session.ledger.cash == balances["ZUSD"]
        for base, asset in (("BTC", "XXBT"), ("ETH", "XETH")):
            held = session.ledger.positions.get(base)
            assert (held.quantity if held else Decimal(0)) == balances[asset]
        assert session.log.risk == ()  # no external fill, no overfill


@pytest.mark.parametrize("seed", range(4))
def test_rt_02_a_thousand_fuzzed_unknown_outcomes_through_the_venue(
    tmp_path: Path, seed: int
) -> None:
    """250 intents per seed (1,000 in all), each AddOrder hit by a seeded fault or none, the
    queries by seeded read failures: every intent ends adopted or absent, never resent."""
    rng = random.Random(seed)
    clock = SimClock(1_700_000_000 * 10**9)
    with kraken_rig(clock, tmp_path) as rig:
        fake = rig.fake
        fake.book.balances["ZUSD"] = Decimal(10**9)
        venue = rig.venue()
        ledger_ids: set[str] = set()
        outcome: dict[str, str] = {}
        for i in range(250):
            fault = rng.choice((None, *ACTING, *NOT_ACTING))
            if fault is not None:
                fake.inject("AddOrder", fault)
            if rng.random() < 0.2:
                fake.inject(rng.choice(("OpenOrders", "ClosedOrders")), FakeFault.HTTP_500)
            placed = order("buy", "0.001", clock=clock)
            events = list(venue.submit(placed))
            for _ in range(3):  # a failed query is asked again on the next poll
                if any(type(e).__name__ in ("OrderAccepted", "OrderRejected") for e in events):
                    break
                clock.advance_by(10**9)
                events += venue.poll()
            kinds = [type(e).__name__ for e in events]
            outcome[placed.client_order_id] = "absent" if "OrderRejected" in kinds else "placed"
            assert (fault in NOT_ACTING) == (outcome[placed.client_order_id] == "absent"), i
            ledger_ids.update(e.trade_id for e in events if isinstance(e, OrderFilled))
            clock.advance_by(10**9)
        ledger_ids.update(e.trade_id for e in venue.poll() if isinstance(e, OrderFilled))
        assert fake.calls.count("AddOrder") == 250  # never resent
        kraken_ids = [o["cl_ord_id"] for o in fake.book.orders.values()]
        assert len(kraken_ids) == len(set(kraken_ids))  # 0 duplicates
        placed_ids = {KrakenVenue.kraken_id(k) for k, v in outcome.items() if v == "placed"}
        assert set(kraken_ids) == placed_ids  # adopted exactly when Kraken had it
        assert ledger_ids == set(fake.book.trades)  # 0 orphan fills, none lost
