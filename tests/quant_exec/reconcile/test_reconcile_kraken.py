"""RT-01 and RT-16's restart half against the fake Kraken exchange over real HTTP.

The session trades through :class:`~quant_exec.venues.kraken.KrakenVenue` on a fake exchange
served on 127.0.0.1; the process dies at a kill point; a new session opens from the journal on
a new venue (a new client, as a new process has) and reconciles with the exchange.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.quant_exec.kraken.venue._harness import Rig, kraken_rig
from tests.quant_exec.reconcile._harness import (
    CrashError,
    CrashingVenue,
    Journal,
    crash_run,
    feed,
    new_session,
    restart,
)

from quant_core import Instrument, SimClock
from quant_exec import reasons
from quant_exec.decisions import read_log
from quant_exec.orders import Order, OrderStatus, new_state
from quant_exec.session import CarryOver, TradingSession
from quant_exec.venues.kraken.fake import FakeKraken

S = 10**9
T0 = 1_704_067_200 * S
BTC = Instrument("BTC", "USD")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = SimClock(T0)
    fake = FakeKraken(clock)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    fake.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2000"))
    fake.book.balances["ZUSD"] = Decimal(10_000)  # the account is the session's ledger
    with kraken_rig(clock, tmp_path, fake) as running:
        yield running


def _account(session: TradingSession) -> dict[str, Decimal]:
    ledger = session.ledger
    return {"USD": ledger.cash, **{b: p.quantity for b, p in ledger.positions.items()}}


def _venue_account(rig: Rig) -> dict[str, Decimal]:
    names = {"ZUSD": "USD", "XXBT": "BTC", "XETH": "ETH"}
    balances = rig.fake.book.balances
    return {names[k]: v for k, v in balances.items() if v or k == "ZUSD"}


def _intents(path: Path) -> list[str]:
    return [str(d["order_id"]) for run in read_log(path) for d in run.decisions if d["order_id"]]


@pytest.mark.parametrize(
    ("point", "code"),
    [
        ("a", reasons.RECONCILE_RESENT),
        ("b", reasons.RECONCILE_ADOPTED),
        ("c", reasons.RECONCILE_ADOPTED),
    ],
)
def test_rt01_market_orders_over_http(rig: Rig, tmp_path: Path, point: str, code: str) -> None:
    path = tmp_path / "decisions.jsonl"
    _, _, groups, resume = crash_run(path, point, rig.clock, rig.venue(dead_man_s=0))
    (intent,) = _intents(path)
    session = restart(path, rig.clock, rig.venue(dead_man_s=0), rig.clock.now_ns() + 5 * S)
    found = session.reconcile()
    assert found.ids(code) == [intent]
    feed(session, groups[resume : resume + 24])
    assert session.journal is not None
    session.journal()
    intents = _intents(path)
    placed = [o["cl_ord_id"] for o in rig.fake.book.orders.values()]
    assert len(placed) == len(set(placed)) == len(intents)  # one exchange order per intent
    trades = [o["event"]["trade_id"] for run in read_log(path) for o in run.orders
              if o["event"]["event"] == "OrderFilled" and not o["duplicate"]]  # fmt: skip
    assert sorted(trades) == sorted(rig.fake.book.trades)  # each fill booked exactly once
    assert _account(session) == _venue_account(rig)  # the ledger equals the exchange


@pytest.mark.parametrize(
    ("point", "code"),
    [
        ("a", reasons.RECONCILE_RESENT),
        ("b", reasons.RECONCILE_ADOPTED),
        ("c", reasons.RECONCILE_ADOPTED),
    ],
)
def test_rt01_a_resting_limit_order_over_http(
    rig: Rig, tmp_path: Path, point: str, code: str
) -> None:
    path = tmp_path / "decisions.jsonl"
    limit = Order.create(BTC, "buy", "0.01", ts_init=T0, sequence=1, order_type="limit",
                         limit_price="30000", tag="ENTRY")  # fmt: skip
    carry = CarryOver(Decimal(10_000), (), (new_state(limit),), None, 1)
    venue = CrashingVenue(rig.venue(dead_man_s=0), point)
    first = new_session(rig.clock, venue, Journal(path), carry)
    if point != "a":
        with pytest.raises(CrashError):
            first.reconcile()
    session = restart(path, rig.clock, rig.venue(dead_man_s=0), T0 + 5 * S)
    assert session.reconcile().findings == ((code, limit.client_order_id),)
    assert session.orders[limit.client_order_id].status is OrderStatus.ACCEPTED
    assert len(rig.fake.book.orders) == 1  # it rests at the exchange, once
    assert _account(session) == _venue_account(rig)


def test_rt16_a_restart_records_the_dead_mans_cancels_as_venue_closed(
    rig: Rig, tmp_path: Path
) -> None:
    path = tmp_path / "decisions.jsonl"
    limit = Order.create(BTC, "buy", "0.01", ts_init=T0, sequence=1, order_type="limit",
                         limit_price="30000", tag="ENTRY")  # fmt: skip
    carry = CarryOver(Decimal(10_000), (), (new_state(limit),), None, 1)
    first = new_session(rig.clock, rig.venue(dead_man_s=60), Journal(path), carry)
    first.reconcile()  # sent with the switch armed
    first.heartbeat(T0 + 10 * S)
    assert first.journal is not None
    first.journal()
    assert first.orders[limit.client_order_id].status is OrderStatus.ACCEPTED
    # The process dies; nothing refreshes the switch. Kraken cancels after 60 s.
    session = restart(path, rig.clock, rig.venue(dead_man_s=0), T0 + 75 * S)
    found = session.reconcile()
    assert found.ids(reasons.RECONCILE_VENUE_CLOSED) == [limit.client_order_id]
    state = session.done[limit.client_order_id]
    assert state.status is OrderStatus.CANCELED  # venue-initiated, recorded as such
    assert state.reason_code is not None
    assert rig.fake.book.open_orders({})["open"] == {}
