"""RT-16's restart half against the fake Kraken exchange over real HTTP.

A session sends a resting limit order through :class:`~quant_exec.venues.kraken.KrakenVenue`
with the dead-man's switch armed, and dies; Kraken (the fake, on 127.0.0.1) cancels after the
timeout; a new session opens from the journal on a new venue and reconciles: the order is
recorded as canceled by the venue (``RECONCILE_VENUE_CLOSED``). RT-01 over HTTP is in
``tests/faults/test_rt01_restart_mid_order.py``; the rig is shared from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.quant_exec.kraken.venue._harness import Rig
from tests.quant_exec.reconcile._harness import T0, Journal, funded_rig, new_session, restart

from quant_core import Instrument
from quant_exec import reasons
from quant_exec.orders import Order, OrderStatus, new_state
from quant_exec.session import CarryOver

S = 10**9
BTC = Instrument("BTC", "USD")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with funded_rig(tmp_path) as running:
        yield running


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


def test_a_fresh_session_does_not_replay_the_accounts_past_fills(rig: Rig, tmp_path: Path) -> None:
    """A first start on an account with history: its past fills are not booked again."""
    traded = rig.fake.book.place_elsewhere("XBTUSD", "buy", Decimal("0.01"))  # before us
    assert traded in rig.fake.book.trades
    session = new_session(rig.clock, rig.venue(dead_man_s=0), Journal(tmp_path / "j.jsonl"))
    found = session.reconcile()
    assert found.fills == 0
    assert not session.ledger.has_trade(traded)
    assert not session.guard.unreconciled  # no EXTERNAL_FILL for a trade made before it
    assert reasons.EXTERNAL_FILL not in {str(line.get("reason_code")) for line in session.log.risk}
    # the holding it did not open with is a difference, flagged (and its coin halted)
    assert [c for c, _ in found.findings] == [reasons.RECONCILE_BALANCE_MISMATCH] * 2
    assert session.guard.halted == {BTC: reasons.RECONCILE_BALANCE_MISMATCH}
