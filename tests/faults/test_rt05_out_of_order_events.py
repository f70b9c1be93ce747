"""RT-05: every ordering of one order's venue events ends in one state and one ledger.

Pass criterion: the final order state and ledger are identical for all permutations, no
illegal transition is raised, and a fill before the acknowledgement is booked, not dropped.
Exhaustive here (every permutation, not a sample) over the events a venue can send for one
buy after a cancel request: the acknowledgement, a partial fill, the final fill and the cancel
refusal (the cancel lost the race), or the acknowledgement, a partial fill and the cancel
confirmation (the cancel won). The REST snapshot of RT-05 is not an event of this landing.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from quant_core import Instrument
from quant_exec.ledger import Ledger
from quant_exec.orders import (
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderEvent,
    OrderFilled,
    OrderStatus,
    OrderSubmitted,
    apply,
    new_state,
)

BTC = Instrument("BTC", "USD")
ORDER = Order.create(BTC, "buy", "1", ts_init=0, sequence=1)
OID = ORDER.client_order_id
PREFIX = (
    OrderSubmitted(OID, ts_event=1, ts_init=1),
    OrderCancelRequested(OID, ts_event=2, ts_init=2),
)
ACK = OrderAccepted(OID, ts_event=3, ts_init=3)
PARTIAL = OrderFilled(OID, BTC, "buy", "t-1", "100", "0.25", "0.1", ts_event=4, ts_init=4)
FINAL = OrderFilled(OID, BTC, "buy", "t-2", "102", "0.75", "0.2", ts_event=5, ts_init=5)
REFUSED = OrderCancelRejected(OID, ts_event=6, ts_init=6)
CANCELED = OrderCanceled(OID, ts_event=6, ts_init=6)


@pytest.mark.parametrize(
    ("events", "final", "filled"),
    [
        ((ACK, PARTIAL, FINAL, REFUSED), OrderStatus.FILLED, 1),
        ((ACK, PARTIAL, CANCELED), OrderStatus.CANCELED, "0.25"),
    ],
    ids=["cancel-lost", "cancel-won"],
)
def test_every_permutation_ends_in_the_same_state_and_ledger(
    events: tuple[OrderEvent, ...], final: OrderStatus, filled: object
) -> None:
    outcomes = set()
    for ordering in itertools.permutations(events):
        state, ledger = new_state(ORDER), Ledger("USD", 1000)
        for event in (*PREFIX, *ordering):
            state = apply(state, event)  # never raises
            ledger.apply(event)
        outcomes.add(
            (
                state.status,
                state.filled_qty,
                state.fees,
                ledger.cash,
                tuple(ledger.positions.items()),
            )
        )
    (outcome,) = outcomes
    assert outcome[0] is final
    assert outcome[1] == Decimal(str(filled))
