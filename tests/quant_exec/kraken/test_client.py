"""KrakenPrivateClient against the fake exchange over real HTTP: every endpoint, every error."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from tests.quant_exec.kraken._harness import ClientFactory

from quant_core import SimClock
from quant_core.settings import Secret
from quant_exec.venues.kraken import (
    KeyScopeError,
    KrakenPrivateClient,
    OrderAck,
)
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import ProviderError, UnknownOutcomeError

BTC = "XBTUSD"


def _buy(client: KrakenPrivateClient, cl: str = "c1", volume: str = "0.5") -> OrderAck:
    return client.add_order(
        pair=BTC, side="buy", order_type="market", volume=Decimal(volume), cl_ord_id=cl
    )


# --- endpoints ------------------------------------------------------------------------------


def test_market_order_fills_at_the_price_with_the_taker_fee(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    ack = _buy(client)
    assert ack.placed
    assert ack.description == "buy 0.5 XBTUSD @ market"
    balance = client.balance()
    assert balance["XXBT"] == Decimal("0.5")
    assert balance["ZUSD"] == Decimal("100000") - Decimal("20000") * Decimal("1.0026")
    (trade,) = client.trades_history().trades
    assert (trade.price, trade.volume, trade.cost) == (
        Decimal(40000),
        Decimal("0.5"),
        Decimal(20000),
    )
    assert trade.fee == Decimal("52.0000")
    assert trade.time_ns == 1_700_000_000 * 10**9
    assert trade.maker is False
    (order,) = client.query_orders(ack.txids).orders
    assert order.is_done
    assert order.avg_price == Decimal(40000)
    assert order.cl_ord_id == "c1"


def test_limit_order_rests_then_fills_as_maker_when_the_price_crosses(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    ack = client.add_order(
        pair=BTC,
        side="buy",
        order_type="limit",
        volume=Decimal(1),
        price=Decimal(39000),
        cl_ord_id="rest",
    )
    (order,) = client.open_orders().orders
    assert order.status == "open"
    assert order.limit_price == Decimal(39000)
    assert order.closed_at_ns is None
    assert client.open_orders(cl_ord_id="other").orders == ()
    fake.book.set_price(BTC, Decimal(38500))
    assert client.open_orders().orders == ()
    (closed,) = client.closed_orders(cl_ord_id="rest").orders
    assert closed.txid == ack.txids[0]
    assert closed.avg_price == Decimal(39000)
    assert closed.fee == Decimal(39000) * Decimal("0.0016")


def test_partial_fill_leaves_the_rest_open(client: KrakenPrivateClient, fake: FakeKraken) -> None:
    fake.book.partial_fill = Decimal("0.25")
    _buy(client, "p1", "2")
    order = client.find_order("p1")
    assert order is not None
    assert (order.status, order.volume_executed, order.volume_remaining) == (
        "open",
        Decimal("0.50"),
        Decimal("1.50"),
    )


def test_post_only_limit_that_would_take_is_canceled(client: KrakenPrivateClient) -> None:
    client.add_order(
        pair=BTC,
        side="buy",
        order_type="limit",
        volume=Decimal(1),
        price=Decimal(41000),
        cl_ord_id="post",
        post_only=True,
    )
    order = client.find_order("post")
    assert order is not None
    assert order.status == "canceled"
    assert order.reason == "Post only order"


def test_validate_is_a_dry_run(client: KrakenPrivateClient, fake: FakeKraken) -> None:
    ack = client.add_order(
        pair=BTC,
        side="buy",
        order_type="limit",
        volume=Decimal("0.001"),
        price=Decimal(50000),
        validate=True,
    )
    assert not ack.placed
    assert ack.cl_ord_id is None
    assert fake.book.orders == {}


def test_sell_and_cancel_by_txid_and_by_client_order_id(client: KrakenPrivateClient) -> None:
    first = client.add_order(
        pair="ETHUSD",
        side="sell",
        order_type="limit",
        volume=Decimal(1),
        price=Decimal(2500),
        cl_ord_id="s1",
    )
    client.add_order(
        pair="ETHUSD",
        side="sell",
        order_type="limit",
        volume=Decimal(1),
        price=Decimal(2600),
        cl_ord_id="s2",
    )
    assert client.cancel_order(txid=first.txids[0], pair="ETHUSD", age_s=1.0) == 1
    assert client.order_limiter.level("ETHUSD") == pytest.approx(2 + 8, abs=0.01)
    assert client.cancel_order(cl_ord_id="s2") == 1
    assert [o.reason for o in client.closed_orders().orders] == ["User requested"] * 2
    with pytest.raises(ValueError, match="exactly one"):
        client.cancel_order()


def test_rt_16_dead_mans_switch_cancels_resting_orders(
    client: KrakenPrivateClient, clock: SimClock
) -> None:
    client.add_order(
        pair=BTC,
        side="buy",
        order_type="limit",
        volume=Decimal(1),
        price=Decimal(30000),
        cl_ord_id="dms",
    )
    armed = client.cancel_all_orders_after(60)
    assert (armed.current_time, armed.trigger_time) == (
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:14:20Z",
    )  # RFC 3339, as Kraken answers
    assert client.cancel_all_orders_after(0).trigger_time == "0"  # disarmed
    client.cancel_all_orders_after(60)
    clock.advance_by(61 * 10**9)
    order = client.find_order("dms")
    assert order is not None
    assert order.status == "canceled"
    assert order.reason == "Dead man's switch"


def test_key_info_and_scope_check(client: KrakenPrivateClient, fake: FakeKraken) -> None:
    info = client.get_api_key_info()
    info.check_trading_scope()
    fake.permissions = frozenset({*fake.permissions, "withdraw_funds"})
    with pytest.raises(KeyScopeError) as caught:
        client.get_api_key_info().check_trading_scope()
    assert caught.value.forbidden == ("withdraw_funds",)
    assert caught.value.missing == ()
    fake.permissions = frozenset({"query_funds"})
    with pytest.raises(KeyScopeError, match="lacks query_open_orders") as missing:
        client.get_api_key_info().check_trading_scope()
    assert missing.value.forbidden == ()


def test_websockets_token_is_a_secret(client: KrakenPrivateClient) -> None:
    token = client.get_websockets_token()
    assert token.expires_s == 900
    assert token.token.reveal().startswith("fake-ws-token-")
    assert "fake-ws-token" not in repr(token)


# --- refusals -------------------------------------------------------------------------------


def _code(call: object) -> tuple[str, bool]:
    assert callable(call)
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value.reason_code, isinstance(caught.value, UnknownOutcomeError)


def test_rt_09_definitive_order_refusals_are_sent_once(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    def big() -> object:
        return _buy(client, "big", "100")

    def tiny() -> object:
        return _buy(client, "tiny", "0.00001")

    def bad() -> object:
        return client.add_order(pair=BTC, side="hold", order_type="market", volume=Decimal(1))

    def unknown_pair() -> object:
        return client.add_order(pair="FOOUSD", side="buy", order_type="market", volume=Decimal(1))

    assert _code(big) == ("VENUE_INSUFFICIENT_FUNDS", False)
    assert _code(tiny) == ("VENUE_ORDER_MINIMUM", False)
    assert _code(bad) == ("PROVIDER_BAD_REQUEST", False)
    assert _code(unknown_pair) == ("VENUE_REJECTED", False)
    assert _code(lambda: client.cancel_order(txid="ONOPE")) == ("VENUE_UNKNOWN_ORDER", False)
    assert fake.calls == ["AddOrder"] * 4 + ["CancelOrder"]  # zero retries
    assert fake.book.orders == {}


def test_resting_buys_reserve_their_funds(client: KrakenPrivateClient) -> None:
    client.add_order(
        pair=BTC,
        side="buy",
        order_type="limit",
        volume=Decimal(2),
        price=Decimal(30000),
        cl_ord_id="r1",
    )
    client.add_order(
        pair="ETHUSD",
        side="sell",
        order_type="limit",
        volume=Decimal(9),
        price=Decimal(3000),
        cl_ord_id="r2",
    )
    assert _code(lambda: _buy(client, "r3", "1.2")) == ("VENUE_INSUFFICIENT_FUNDS", False)

    def sell_more() -> object:
        return client.add_order(
            pair="ETHUSD", side="sell", order_type="market", volume=Decimal(2), cl_ord_id="r4"
        )

    assert _code(sell_more) == ("VENUE_INSUFFICIENT_FUNDS", False)


def test_permission_denied_is_definitive_for_reads_and_writes(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    fake.permissions = frozenset()
    assert _code(client.balance) == ("VENUE_PERMISSION_DENIED", False)
    assert _code(lambda: _buy(client)) == ("VENUE_PERMISSION_DENIED", False)
    assert fake.calls == ["Balance", "AddOrder"]


def test_wrong_key_and_wrong_secret_are_refused(make_client: ClientFactory) -> None:
    other = "b3RoZXItc2VjcmV0"
    assert _code(make_client(api_key=Secret("nope")).balance) == ("VENUE_AUTH_INVALID", False)
    assert _code(make_client(secret=Secret(other)).balance) == ("VENUE_AUTH_INVALID", False)


def test_a_stale_nonce_is_refused_and_never_a_silent_success(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    fake.last_nonce = 2**63
    assert _code(lambda: _buy(client)) == ("VENUE_INVALID_NONCE", False)  # a write: once
    assert _code(client.balance) == ("VENUE_INVALID_NONCE", False)  # a read: retried, then
    assert fake.book.orders == {}


# --- unknown outcomes (RT-02) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [FakeFault.ACCEPT_THEN_TIMEOUT, FakeFault.ACCEPT_THEN_500], ids=lambda f: f.value
)
def test_rt_02_accepted_order_without_answer_is_unknown_then_found_never_resubmitted(
    client: KrakenPrivateClient, fake: FakeKraken, fault: FakeFault
) -> None:
    fake.inject("AddOrder", fault)
    with pytest.raises(UnknownOutcomeError) as caught:
        _buy(client, "intent-7")
    assert caught.value.reason_code == "WRITE_OUTCOME_UNKNOWN"
    found = client.find_order("intent-7")
    assert found is not None
    assert found.status == "closed"
    assert fake.calls == ["AddOrder", "OpenOrders", "ClosedOrders"]
    assert len(fake.book.orders) == 1  # exactly one venue order for the intent


@pytest.mark.parametrize(
    "fault",
    [FakeFault.HTTP_500, FakeFault.SERVICE_BUSY, FakeFault.SERVICE_UNAVAILABLE],
    ids=lambda f: f.value,
)
def test_rt_02_unacted_failure_is_unknown_and_resolved_absent_before_one_resubmission(
    client: KrakenPrivateClient, fake: FakeKraken, fault: FakeFault
) -> None:
    fake.inject("AddOrder", fault)
    with pytest.raises(UnknownOutcomeError) as caught:
        _buy(client, "intent-8")
    assert caught.value.cause in ("PROVIDER_UNAVAILABLE", "VENUE_BUSY")
    assert client.find_order("intent-8") is None  # both queries answered: proven absent
    _buy(client, "intent-8")
    assert fake.calls == ["AddOrder", "OpenOrders", "ClosedOrders", "AddOrder"]
    assert len(fake.book.orders) == 1


def test_rt_02_cancel_with_unknown_outcome(client: KrakenPrivateClient, fake: FakeKraken) -> None:
    client.add_order(
        pair=BTC,
        side="buy",
        order_type="limit",
        volume=Decimal(1),
        price=Decimal(30000),
        cl_ord_id="c9",
    )
    fake.inject("CancelOrder", FakeFault.ACCEPT_THEN_TIMEOUT)
    with pytest.raises(UnknownOutcomeError):
        client.cancel_order(cl_ord_id="c9")
    assert client.query_orders(cl_ord_id="c9").orders[0].status == "canceled"


# --- secrets (RT-18) ------------------------------------------------------------------------


def test_rt_18_no_key_secret_or_signature_in_logs_reprs_or_errors(
    make_client: ClientFactory, fake: FakeKraken, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    texts = [repr(client), repr(client.reads), repr(client.writes), repr(client._signer)]
    client.balance()
    fake.inject("AddOrder", FakeFault.HTTP_500)
    for cl, volume in (("s", "0.5"), ("s2", "1000")):
        with pytest.raises(ProviderError) as caught:
            _buy(client, cl, volume)
        texts += [str(caught.value), repr(caught.value)]
    fake.last_nonce = 2**63
    with pytest.raises(ProviderError) as stale:
        client.balance()
    texts.append(str(stale.value))
    texts.append(caplog.text)
    blob = "\n".join(texts)
    assert len(fake.signatures) >= 5
    forbidden = [fake.api_key, fake.secret, *fake.signatures]
    assert "API-Sign" in blob or "api-sign" in blob.lower()  # the headers were logged, masked
    for value in forbidden:
        assert value not in blob
