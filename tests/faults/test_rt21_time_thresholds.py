"""RT-21: every age/expiry rule at threshold - 1 ns, at the threshold and at threshold + 1 ns.

* order staleness: a journaled intent the venue never received is sent once on restart while
  its age is at most ``intent_max_age_ns``, and dropped beyond it;
* the lost-order limit: a sent order the venue does not know stays unresolved while its last
  event is at most ``lost_order_ns`` old, and is rejected as lost beyond it;
* bundle expiry: the signed update pointer is valid strictly before ``expires_ns`` (at it, and
  after, it has expired).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tests.quant_exec.kraken.venue._harness import kraken_rig
from tests.quant_exec.reconcile._harness import Journal, new_session, paper_broker

from quant_bundle import BundleRejectedError, BundleSpec, build_release, parse_manifest
from quant_bundle import reasons as bundle_reasons
from quant_bundle.keys import TrustStore, generate_key
from quant_bundle.update import make_pointer, verify_pointer
from quant_core import Instrument, SimClock
from quant_exec import reasons
from quant_exec.orders import Order, OrderStatus, OrderSubmitted, apply, new_state
from quant_exec.session import BacktestConfig, CarryOver, ReconcilePolicy
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import FakeKraken

S = 10**9
T = 1_704_067_200 * S
LIMIT = 45 * S
EPSILON = [(-1, "below"), (0, "at"), (1, "above")]
POLICY = ReconcilePolicy(intent_max_age_ns=LIMIT, lost_order_ns=LIMIT)


def _order() -> Order:
    return Order.create(Instrument("BTC", "USD"), "buy", "0.01", ts_init=T, sequence=1,
                        order_type="limit", limit_price="30000")  # fmt: skip


def _restart_at(tmp_path: Path, now: int, *, sent: bool) -> tuple[list[str], OrderStatus, int]:
    order = _order()
    state = new_state(order)
    if sent:
        state = apply(state, OrderSubmitted(order.client_order_id, ts_event=T, ts_init=T))
    clock = SimClock(now)
    broker = paper_broker(clock, BacktestConfig.defaults())
    carry = CarryOver(Decimal(10_000), (), (state,))
    session = new_session(clock, broker, Journal(tmp_path / "j.jsonl"), carry, POLICY)
    codes = [code for code, _ in session.reconcile().findings]
    oid = order.client_order_id
    final = (session.orders.get(oid) or session.done[oid]).status
    return codes, final, len(broker.states)


@pytest.mark.parametrize(("offset", "where"), EPSILON, ids=[w for _, w in EPSILON])
def test_order_staleness_boundary(tmp_path: Path, offset: int, where: str) -> None:
    codes, status, venue_orders = _restart_at(tmp_path, T + LIMIT + offset, sent=False)
    if where == "above":
        assert (codes, status, venue_orders) == (
            [reasons.RECONCILE_INTENT_STALE],
            OrderStatus.INITIALIZED,  # dropped unsent: done, never at the venue
            0,
        )
    else:
        assert (codes, status, venue_orders) == (
            [reasons.RECONCILE_RESENT],
            OrderStatus.SUBMITTED,
            1,
        )


@pytest.mark.parametrize(("offset", "where"), EPSILON, ids=[w for _, w in EPSILON])
def test_lost_order_limit_boundary(tmp_path: Path, offset: int, where: str) -> None:
    codes, status, venue_orders = _restart_at(tmp_path, T + LIMIT + offset, sent=True)
    assert venue_orders == 0  # never sent again, lost or not
    if where == "above":
        assert (codes, status) == ([reasons.RECONCILE_ORDER_LOST], OrderStatus.REJECTED)
    else:
        assert (codes, status) == ([reasons.RECONCILE_ORDER_UNRESOLVED], OrderStatus.SUBMITTED)


@pytest.mark.parametrize(("offset", "where"), EPSILON, ids=[w for _, w in EPSILON])
def test_bundle_expiry_boundary(tmp_path: Path, offset: int, where: str) -> None:
    key = generate_key(seed=b"\x07" * 32)
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.json").write_bytes(b'{"version":"1.0.0"}')
    spec = BundleSpec(bundle_version="1.0.0", feature_schema_hash="sha256:" + "ab" * 32)
    build_release(src, spec, [key], tmp_path / "rel")
    manifest = parse_manifest((tmp_path / "rel" / "manifest.json").read_bytes())
    data, sig = make_pointer(manifest, [key], expires_ns=T, pointer_version=1)
    trust = TrustStore.from_keys([key.public])
    if where == "below":
        assert verify_pointer(data, sig, trust, now_ns=T + offset).expires_ns == T
    else:
        with pytest.raises(BundleRejectedError) as info:
            verify_pointer(data, sig, trust, now_ns=T + offset)
        assert info.value.reason_code == bundle_reasons.POINTER_EXPIRED


def _restart_on_the_fake(
    tmp_path: Path, now: int, *, sent: bool
) -> tuple[list[str], OrderStatus, list[str], list[str]]:
    """As :func:`_restart_at`, reconciled with KrakenVenue against the fake over HTTP."""
    order = _order()
    state = new_state(order)
    if sent:
        state = apply(state, OrderSubmitted(order.client_order_id, ts_event=T, ts_init=T))
    clock = SimClock(now)
    fake = FakeKraken(clock)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))  # the limit rests
    fake.book.balances["ZUSD"] = Decimal(10_000)  # the account is the journal's books
    with kraken_rig(clock, tmp_path, fake) as rig:
        carry = CarryOver(Decimal(10_000), (), (state,))
        session = new_session(clock, rig.venue(), Journal(tmp_path / "j.jsonl"), carry, POLICY)
        codes = [code for code, _ in session.reconcile().findings]
        oid = order.client_order_id
        final = (session.orders.get(oid) or session.done[oid]).status
        at_venue = [o["cl_ord_id"] for o in rig.fake.book.orders.values()]
        return codes, final, at_venue, rig.fake.calls


@pytest.mark.parametrize(("offset", "where"), EPSILON, ids=[w for _, w in EPSILON])
def test_rt_21_order_staleness_boundary_against_the_fake(
    tmp_path: Path, offset: int, where: str
) -> None:
    """An unsent journaled intent, restarted against the fake at limit - 1 ns, at the limit
    and at limit + 1 ns: sent once over HTTP (it rests at Kraken) while at most the limit old,
    dropped without an AddOrder beyond it."""
    codes, status, at_venue, calls = _restart_on_the_fake(tmp_path, T + LIMIT + offset, sent=False)
    if where == "above":
        assert (codes, status, at_venue) == ([reasons.RECONCILE_INTENT_STALE],
                                             OrderStatus.INITIALIZED, [])  # fmt: skip
        assert "AddOrder" not in calls
    else:
        assert codes == [reasons.RECONCILE_RESENT]
        assert status in (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED)
        assert at_venue == [KrakenVenue.kraken_id(_order().client_order_id)]
        assert calls.count("AddOrder") == 1


@pytest.mark.parametrize(("offset", "where"), EPSILON, ids=[w for _, w in EPSILON])
def test_rt_21_lost_order_limit_boundary_against_the_fake(
    tmp_path: Path, offset: int, where: str
) -> None:
    """A sent order Kraken (the fake, asked over HTTP) does not know: unresolved while its last
    event is at most the limit old, lost beyond it; never sent again either way."""
    codes, status, at_venue, calls = _restart_on_the_fake(tmp_path, T + LIMIT + offset, sent=True)
    assert at_venue == []
    assert "AddOrder" not in calls
    if where == "above":
        assert (codes, status) == ([reasons.RECONCILE_ORDER_LOST], OrderStatus.REJECTED)
    else:
        assert (codes, status) == ([reasons.RECONCILE_ORDER_UNRESOLVED], OrderStatus.SUBMITTED)
