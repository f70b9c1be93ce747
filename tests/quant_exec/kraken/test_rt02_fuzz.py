"""RT-02 fuzz: unknown outcomes on AddOrder never produce a duplicate order or an orphan fill.

A seeded sequence of intents, each hit by zero to two faults (some act on the order before
failing, some do not). The caller does what the client's contract says: after an
:class:`~quant_net.UnknownOutcomeError` it asks :meth:`find_order` by ``cl_ord_id`` and sends
again only when both queries prove the order absent.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from quant_exec.venues.kraken import KrakenPrivateClient
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import UnknownOutcomeError

FAULTS = (
    FakeFault.ACCEPT_THEN_500,
    FakeFault.HTTP_500,
    FakeFault.SERVICE_BUSY,
    FakeFault.SERVICE_UNAVAILABLE,
)


def _place_once(client: KrakenPrivateClient, cl: str, side: str, pair: str) -> int:
    """Place intent ``cl``, resolving unknown outcomes by query; returns the sends made."""
    for sends in range(1, 6):
        try:
            client.add_order(
                pair=pair, side=side, order_type="market", volume=Decimal("0.01"), cl_ord_id=cl
            )
            return sends
        except UnknownOutcomeError:
            if client.find_order(cl) is not None:
                return sends
    raise AssertionError(f"{cl}: not placed after 5 sends")


@pytest.mark.parametrize("seed", range(4))
def test_rt_02_fuzzed_unknown_outcomes_give_exactly_one_order_per_intent(
    client: KrakenPrivateClient, fake: FakeKraken, seed: int
) -> None:
    rng = random.Random(seed)
    fake.book.balances["ZUSD"] = Decimal(10**9)
    fake.book.balances["XETH"] = Decimal(10**6)
    intents = 60
    sends = injected_unacted = 0
    for i in range(intents):
        faults = [rng.choice(FAULTS) for _ in range(rng.randint(0, 2))]
        fake.inject("AddOrder", *faults)
        pair, side = rng.choice([("XBTUSD", "buy"), ("ETHUSD", "sell")])
        sends += _place_once(client, f"s{seed}-{i}", side, pair)
        # A fault still queued (the first one acted, so no resend) is dropped for the next.
        unused = fake.faults.pop("AddOrder", [])
        used = faults[: len(faults) - len(unused)]
        injected_unacted += sum(f is not FakeFault.ACCEPT_THEN_500 for f in used)
    orders = fake.book.orders.values()
    per_intent = [sum(o["cl_ord_id"] == f"s{seed}-{i}" for o in orders) for i in range(intents)]
    assert per_intent == [1] * intents  # 0 duplicates, 0 missing
    assert all(t["ordertxid"] in fake.book.orders for t in fake.book.trades.values())  # 0 orphans
    assert len(fake.book.trades) == intents
    assert fake.calls.count("AddOrder") == sends == intents + injected_unacted
