"""RT-16: the dead-man's switch. Armed while the session lives; when the process dies, Kraken
(the fake over real HTTP) cancels the resting orders after the timeout, and a restart reads
them as canceled by the venue.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.quant_exec.kraken.venue._harness import Rig, kraken_rig, order

from quant_core import SimClock
from quant_exec.orders import OrderCanceled, OrderStatus
from quant_exec.venues.kraken.fake import FakeFault

START_NS = 1_700_000_000 * 10**9
SECOND = 10**9


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with kraken_rig(SimClock(START_NS), tmp_path) as running:
        yield running


def test_rt_16_the_switch_is_armed_before_the_first_order_and_refreshed_on_the_clock(
    rig: Rig,
) -> None:
    venue = rig.venue(dead_man_s=60, refresh_s=20)
    venue.submit(order("buy", "0.1", limit="30000"))
    assert rig.fake.calls[:2] == ["CancelAllOrdersAfter", "AddOrder"]
    assert rig.fake.book.cancel_at_ns == START_NS + 60 * SECOND
    rig.clock.advance_by(19 * SECOND)
    venue.poll()
    assert rig.fake.calls.count("CancelAllOrdersAfter") == 1  # not yet due
    rig.clock.advance_by(SECOND)
    venue.poll()
    assert rig.fake.calls.count("CancelAllOrdersAfter") == 2  # 20 s: re-armed
    assert rig.fake.book.cancel_at_ns == START_NS + 80 * SECOND
    venue.close()
    assert rig.fake.book.cancel_at_ns is None  # disarmed on a clean close


def test_rt_16_a_dead_process_leaves_kraken_to_cancel_and_the_restart_reads_it(
    rig: Rig,
) -> None:
    first = rig.venue(dead_man_s=60)
    resting = order("buy", "0.1", limit="30000", clock=rig.clock)
    first.submit(resting)
    # The process dies here: no poll refreshes the switch, nothing disarms it.
    rig.clock.advance_by(59 * SECOND)
    restarted = rig.venue(dead_man_s=0)  # the restart's reconciliation reads, arms nothing
    assert [s.client_order_id for s in restarted.open_orders()] == [resting.client_order_id]
    rig.clock.advance_by(2 * SECOND)  # past the timeout: Kraken cancels every open order
    assert restarted.open_orders() == []
    assert [type(e) for e in restarted.poll()] == [OrderCanceled]  # the adopted order
    state = restarted.query(resting.client_order_id)
    assert state is not None
    assert state.status is OrderStatus.CANCELED  # venue-initiated
    assert rig.venue(dead_man_s=0).query(resting.client_order_id).status is (  # type: ignore[union-attr]
        OrderStatus.CANCELED
    )  # and as a process started after it reads it
    txid = next(iter(rig.fake.book.orders))
    assert rig.fake.book.orders[txid]["reason"] == "Dead man's switch"


def test_rt_16_the_adopted_order_is_canceled_by_the_restarts_poll(rig: Rig) -> None:
    first = rig.venue(dead_man_s=60)
    resting = order("buy", "0.1", limit="30000", clock=rig.clock)
    first.submit(resting)
    restarted = rig.venue(dead_man_s=60)
    assert restarted.query(resting.client_order_id) is not None  # adopted
    rig.clock.advance_by(61 * SECOND)
    events = restarted.poll()  # re-arms (the fake cancels first: the timer had run out)
    assert [type(e) for e in events] == [OrderCanceled]
    assert events[0].client_order_id == resting.client_order_id


def test_rt_16_a_failed_refresh_is_an_alarm_and_is_tried_again(rig: Rig) -> None:
    venue = rig.venue(dead_man_s=60, refresh_s=20)
    rig.fake.inject("CancelAllOrdersAfter", *[FakeFault.HTTP_500] * 3)
    venue.poll()
    assert [a.reason_code for a in venue.alarms] == ["KRAKEN_DEAD_MAN_FAILED"]
    assert rig.fake.book.cancel_at_ns is None
    venue.poll()  # no wait: the failed refresh is tried at once on the next poll
    assert rig.fake.book.cancel_at_ns == rig.clock.now_ns() + 60 * SECOND


def test_rt_16_a_failed_disarm_is_an_alarm(rig: Rig) -> None:
    venue = rig.venue(dead_man_s=60)
    venue.poll()
    rig.fake.inject("CancelAllOrdersAfter", *[FakeFault.HTTP_500] * 3)
    venue.close()
    assert [a.reason_code for a in venue.alarms] == ["KRAKEN_DEAD_MAN_FAILED"]
    assert rig.fake.book.cancel_at_ns is not None  # still armed: Kraken cancels in time


def test_rt_16_a_restart_cancels_an_order_of_the_process_before(rig: Rig) -> None:
    first = rig.venue(dead_man_s=60)
    resting = order("buy", "0.1", limit="30000", clock=rig.clock)
    first.submit(resting)
    restarted = rig.venue(dead_man_s=60)  # knows nothing yet: cancel looks it up and adopts it
    assert [type(e).__name__ for e in restarted.cancel(resting.client_order_id)] == [
        "OrderCancelRequested"
    ]
    assert [type(e) for e in restarted.poll()] == [OrderCanceled]
    assert rig.fake.book.orders[next(iter(rig.fake.book.orders))]["status"] == "canceled"
