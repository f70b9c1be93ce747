"""RT-09: definitive refusals answer ``OrderRejected(reason)`` at once, with zero retries.

Against the fake exchange over real HTTP: insufficient funds (and a balance refresh), the
order minimum, a key without the create permission, invalid arguments (a bug alarm, not a
crash), and the waits (rate limit, lockout: private calls pause; the next order is refused
without a call).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.quant_exec.kraken.venue._harness import (
    Rig,
    kraken_rig,
    names,
    order,
    refuse_next_order,
)

from quant_core import SimClock
from quant_exec.orders import Order, OrderRejected
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import FakeFault

START_NS = 1_700_000_000 * 10**9


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with kraken_rig(SimClock(START_NS), tmp_path) as running:
        yield running


def _rejected(venue: KrakenVenue, placed: Order) -> OrderRejected:
    events = venue.submit(placed)
    assert names(events) == ["OrderSubmitted", "OrderRejected"]
    rejected = events[1]
    assert isinstance(rejected, OrderRejected)
    return rejected


def test_rt_09_insufficient_funds_is_rejected_once_and_refreshes_the_balances(rig: Rig) -> None:
    venue = rig.venue()
    rejected = _rejected(venue, order("buy", "100", clock=rig.clock))  # 4M USD > 100k
    assert rejected.reason_code == "VENUE_INSUFFICIENT_FUNDS"
    assert "Insufficient funds" in rejected.detail
    assert rig.fake.calls.count("AddOrder") == 1
    assert rig.fake.calls[-1] == "Balance"  # refreshed at once
    assert venue.poll() == []  # nothing to resolve, nothing resent
    assert rig.fake.calls.count("AddOrder") == 1


def test_rt_09_a_failed_balance_refresh_is_an_alarm(rig: Rig) -> None:
    venue = rig.venue()
    rig.fake.inject("Balance", *[FakeFault.HTTP_500] * 3)
    assert _rejected(venue, order("buy", "100")).reason_code == "VENUE_INSUFFICIENT_FUNDS"
    assert [a.reason_code for a in venue.alarms] == ["KRAKEN_POLL_FAILED"]


def test_rt_09_the_order_minimum_is_rejected_once(rig: Rig) -> None:
    venue = rig.venue()
    assert _rejected(venue, order("buy", "0.00001")).reason_code == "VENUE_ORDER_MINIMUM"
    assert rig.fake.calls.count("AddOrder") == 1


def test_rt_09_permission_denied_is_rejected_once(rig: Rig) -> None:
    rig.fake.permissions = rig.fake.permissions - {"create_orders"}
    venue = rig.venue()
    assert _rejected(venue, order("buy", "0.1")).reason_code == "VENUE_PERMISSION_DENIED"
    assert rig.fake.calls.count("AddOrder") == 1


def test_rt_09_invalid_arguments_raise_a_bug_alarm_not_a_crash(rig: Rig) -> None:
    venue = rig.venue()
    refuse_next_order(rig.fake, "EGeneral:Invalid arguments:volume")
    placed = order("buy", "0.1")
    rejected = _rejected(venue, placed)
    assert rejected.reason_code == "PROVIDER_BAD_REQUEST"
    assert [a.reason_code for a in venue.alarms] == ["KRAKEN_BUG_ALARM"]
    assert placed.client_order_id in venue.alarms[0].detail
    assert rig.fake.calls.count("AddOrder") == 1


def test_rt_09_an_unknown_pair_answer_is_a_plain_rejection(rig: Rig) -> None:
    del rig.fake.book.pairs["XBTUSD"]
    venue = rig.venue()
    assert _rejected(venue, order("buy", "0.1")).reason_code == "VENUE_REJECTED"


def test_rt_09_a_lockout_pauses_every_private_call(rig: Rig) -> None:
    venue = rig.venue()
    rig.fake.inject("AddOrder", FakeFault.LOCKOUT)
    assert _rejected(venue, order("buy", "0.1")).reason_code == "VENUE_LOCKOUT"
    sent = len(rig.fake.calls)
    assert _rejected(venue, order("buy", "0.1")).reason_code == "KRAKEN_PAUSED"
    assert venue.poll() == []
    assert len(rig.fake.calls) == sent  # nothing was sent while paused
    rig.clock.advance_by(901 * 10**9)
    assert names(venue.submit(order("buy", "0.1"))) == ["OrderSubmitted", "OrderAccepted"]


def test_rt_09_a_rate_limit_answer_is_rejected_once(rig: Rig) -> None:
    venue = rig.venue()
    rig.fake.inject("AddOrder", FakeFault.THROTTLED)
    assert _rejected(venue, order("buy", "0.1")).reason_code == "VENUE_THROTTLED"
    assert rig.fake.calls.count("AddOrder") == 1
