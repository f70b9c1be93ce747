"""The fake exchange's own checks, spoken to directly over HTTP."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.quant_exec.kraken._harness import START_NS, ClientFactory

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.settings import Secret
from quant_exec.venues.kraken import KrakenPrivateClient
from quant_exec.venues.kraken.fake import FakeKraken, encode_v2
from quant_net import ProviderError, kraken


def _post(server: Any, method: str, body: str, nonce: int | str) -> httpx.Response:
    path = f"/0/private/{method}"
    headers = {"API-Key": server.api_key}
    if str(nonce).isdigit():
        headers["API-Sign"] = kraken.sign(path, nonce, body, server.secret)
    return httpx.post(server.base_url + path, content=body, headers=headers)


def test_unknown_method_and_missing_nonce(server: Any) -> None:
    assert httpx.post(server.base_url + "/0/private/Withdraw").status_code == 404
    assert _post(server, "Balance", "x=1", "none").json() == {"error": ["EAPI:Invalid nonce"]}


def test_bad_arguments(server: Any) -> None:
    for n, body in enumerate(
        [
            "pair=XBTUSD&type=buy&ordertype=market",
            "pair=XBTUSD&type=buy&ordertype=market&volume=abc",
            "pair=XBTUSD&type=buy&ordertype=market&volume=-1",
            "pair=XBTUSD&type=buy&ordertype=limit&volume=1",
        ],
        start=1,
    ):
        answer = _post(server, "AddOrder", f"nonce={n}&{body}", n).json()
        assert answer["error"][0].startswith("EGeneral:Invalid arguments")
    answer = _post(server, "CancelAllOrdersAfter", "nonce=9&timeout=soon", 9).json()
    assert answer["error"] == ["EGeneral:Invalid arguments:timeout"]


def test_prices_move_only_crossing_orders_of_their_pair(fake: FakeKraken, clock: SimClock) -> None:
    book = fake.book
    for pair, side, price in [("XBTUSD", "buy", "30000"), ("ETHUSD", "sell", "2500")]:
        book.add_order(
            {"pair": pair, "type": side, "ordertype": "limit", "volume": "1", "price": price}
        )
    book.add_order({"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.1"})
    book.set_price("XBTUSD", Decimal(35000))  # crosses nothing
    book.set_price("ETHUSD", Decimal(2600))  # crosses the sell
    statuses = [o["status"] for _, o in sorted(book.orders.items())]
    assert statuses == ["open", "closed", "closed"]
    book.cancel_all_orders_after({"timeout": "5"})
    clock.advance_by(5 * 10**9)
    book.check_dead_mans_switch()
    statuses = [o["status"] for _, o in sorted(book.orders.items())]
    assert statuses == ["canceled", "closed", "closed"]
    # Closed and canceled orders reserve nothing.
    book.add_order({"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.01"})
    assert book.balances["XXBT"] == Decimal("0.11")


def test_listeners_hear_kraken_v2_items_for_every_change(
    fake: FakeKraken, client: KrakenPrivateClient, clock: SimClock
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    fake.add_listener(lambda channel, item: seen.append((channel, dict(item))))
    fake.book.partial_fill = Decimal("0.25")
    client.add_order(
        pair="XBTUSD",
        side="buy",
        order_type="limit",
        volume=Decimal("2"),
        price=Decimal("41000"),
        cl_ord_id="c-1",
    )
    kinds = [(c, i.get("exec_type", i.get("asset"))) for c, i in seen]
    assert kinds == [
        ("executions", "pending_new"),
        ("executions", "new"),
        ("executions", "trade"),
        ("balances", "BTC"),
        ("balances", "USD"),
    ]
    new, trade = seen[1][1], seen[2][1]
    assert new == {
        "exec_type": "new",
        "order_id": "O000001-FAKE",
        "cl_ord_id": "c-1",
        "symbol": "BTC/USD",
        "side": "buy",
        "order_type": "limit",
        "order_qty": Decimal("2"),
        "limit_price": Decimal("41000"),
        "order_status": "new",
        "cum_qty": Decimal("0"),
        "cum_cost": Decimal("0"),
        "avg_price": Decimal("0"),
        "time_in_force": "GTC",
        "post_only": False,
        "timestamp": "2023-11-14T22:13:20.000000Z",
    }
    rest_trade = client.trades_history().trades[0]
    assert trade["exec_id"] == rest_trade.trade_id
    assert (trade["order_status"], trade["last_qty"], trade["last_price"]) == (
        "partially_filled",
        Decimal("0.50"),
        Decimal("40000"),
    )
    assert trade["liquidity_ind"] == "t"
    assert trade["trade_id"] == 1
    assert trade["fees"] == [{"asset": "USD", "qty": rest_trade.fee}]
    usd = seen[4][1]
    assert usd["amount"] == -rest_trade.cost
    assert usd["fee"] == rest_trade.fee
    assert usd["balance"] == client.balance()["ZUSD"]
    assert usd["ref_id"] == rest_trade.trade_id
    # The rest fills as a maker when the price comes down; then the order is filled.
    del seen[:]
    fake.book.set_price("XBTUSD", Decimal("40500"))
    assert [i.get("exec_type") for c, i in seen if c == "executions"] == ["trade", "filled"]
    assert seen[0][1]["liquidity_ind"] == "m"
    assert seen[0][1]["order_status"] == "filled"
    assert seen[-1][1]["order_status"] == "filled"
    assert seen[-1][1]["cum_qty"] == Decimal("2.00")


def test_cancels_post_only_and_the_dead_mans_switch_are_reported(
    fake: FakeKraken, client: KrakenPrivateClient, clock: SimClock
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def listen(channel: str, item: Mapping[str, Any]) -> None:
        seen.append((channel, dict(item)))

    fake.add_listener(listen)
    client.add_order(
        pair="XBTUSD",
        side="buy",
        order_type="limit",
        volume=Decimal("1"),
        price=Decimal("41000"),
        post_only=True,
    )
    assert [(i["exec_type"], i.get("reason")) for _, i in seen] == [
        ("pending_new", None),
        ("canceled", "Post only order"),
    ]
    assert seen[1][1]["post_only"] is True
    client.add_order(
        pair="XBTUSD",
        side="buy",
        order_type="limit",
        volume=Decimal("1"),
        price=Decimal("30000"),
        cl_ord_id="c-2",
    )
    client.cancel_order(cl_ord_id="c-2")
    assert (seen[-1][1]["exec_type"], seen[-1][1]["reason"]) == ("canceled", "User requested")
    client.add_order(pair="ETHUSD", side="sell", order_type="market", volume=Decimal("1"))
    client.add_order(
        pair="ETHUSD", side="sell", order_type="limit", volume=Decimal("1"), price=Decimal("2500")
    )
    snapshot = fake.snapshot()
    assert [i["order_type"] for i in snapshot["executions"]] == ["limit"]
    assert snapshot["executions"][0]["symbol"] == "ETH/USD"
    assert {i["asset"] for i in snapshot["balances"]} == {"BTC", "ETH", "USD"}
    eth = next(i for i in snapshot["balances"] if i["asset"] == "ETH")
    assert eth["balance"] == Decimal("9") == eth["wallets"][0]["balance"]
    client.cancel_all_orders_after(5)
    clock.advance_by(5 * 10**9)
    fake.tick()  # no request needed: the switch fires as time passes
    assert (seen[-1][1]["exec_type"], seen[-1][1]["reason"]) == ("canceled", "Dead man's switch")
    fake.remove_listener(listen)
    fake.book.fund("ZUSD", Decimal("1"))
    assert seen[-1][0] == "executions"


def test_deposits_and_the_wire_encoding() -> None:
    fake = FakeKraken(SimClock(0))
    heard: list[str] = []
    fake.add_listener(
        lambda channel, item: heard.append(encode_v2({"channel": channel, "data": [item]}))
    )
    fake.book.fund("SOL", Decimal("1.50"))
    message = json.loads(heard[0], parse_float=Decimal)
    assert message["data"][0] == {
        "ledger_id": "L000001-FAKE",
        "ref_id": "D000001-FAKE",
        "timestamp": "1970-01-01T00:00:00.000000Z",
        "type": "deposit",
        "subtype": "",
        "category": "deposit",
        "asset": "SOL",
        "asset_class": "currency",
        "amount": Decimal("1.50"),
        "fee": 0,
        "balance": Decimal("1.50"),
        "wallet_type": "spot",
        "wallet_id": "main",
    }
    assert encode_v2((Decimal("1E-9"), "x")) == '[1E-9, "x"]'


def test_cancel_all_and_orders_placed_elsewhere(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    for n, price in enumerate(("30000", "31000")):
        client.add_order(
            pair="XBTUSD",
            side="buy",
            order_type="limit",
            volume=Decimal("0.1"),
            price=Decimal(price),
            cl_ord_id=f"c{n}",
        )
    assert client.cancel_all() == 2
    assert client.open_orders().orders == ()
    assert client.cancel_all() == 0  # harmless to repeat
    trade_id = fake.book.place_elsewhere("XBTUSD", "sell", Decimal("0.5"))
    assert fake.book.balances["XXBT"] == Decimal("-0.5")  # no funds check: it happened
    order = client.query_orders((fake.book.trades[trade_id]["ordertxid"],)).orders[0]
    assert (order.cl_ord_id, order.status) == (None, "closed")


def test_a_key_with_a_two_factor_password(
    fake: FakeKraken, server: Any, make_client: ClientFactory
) -> None:
    fake.otp = "246810"
    with pytest.raises(ProviderError) as caught:
        make_client().balance()
    assert caught.value.reason_code == "VENUE_AUTH_INVALID"  # as Kraken: "Invalid signature"
    static = make_client(otp=Secret("246810"))
    assert static.balance()["ZUSD"] == Decimal(100000)
    asked: list[int] = []

    def one_time() -> Secret:
        asked.append(1)
        return Secret("246810")

    rolling = make_client(otp=one_time)
    rolling.balance()
    rolling.open_orders()
    assert len(asked) == 2  # asked afresh for every call


def test_public_time_over_get_and_post(fake: FakeKraken, server: Any, clock: SimClock) -> None:
    fake.skew_s = -1.5
    answer = httpx.get(server.base_url + "/0/public/Time?x=1").json()
    assert answer["result"]["unixtime"] == clock.now_ns() // 10**9 - 2
    assert httpx.post(server.base_url + "/0/public/Time").json() == answer


def test_served_bars_fill_crossing_orders_by_volume_share(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    fake.book.market_on_bar = True
    fake.book.bar_volume_share = Decimal("0.5")
    fake.book.balances["XXBT"] = Decimal("1")
    fake.book.balances["ZUSD"] = Decimal("200000")
    for n, (side, kind, price) in enumerate(
        [
            ("buy", "limit", "39000"),
            ("buy", "limit", "38000"),
            ("buy", "market", None),
            ("sell", "limit", "41000"),
        ]
    ):
        client.add_order(
            pair="XBTUSD",
            side=side,
            order_type=kind,
            volume=Decimal("1") if n < 3 else Decimal("0.5"),
            price=Decimal(price) if price else None,
            cl_ord_id=f"b{n}",
        )
    assert client.trades_history().trades == ()  # the market order waits for a bar
    t = clock.now_ns() + 60 * 10**9
    fake.on_bar(
        "XBTUSD", Decimal(40100), Decimal(40200), Decimal(38900), Decimal(39500), Decimal("3"), t
    )
    trades = client.trades_history().trades
    # Room 1.5 in time priority: the 39000 buy (maker, at its limit), then half the market
    # order (taker, at the open); the 38000 buy was not reached; the sell was not touched.
    got = sorted((t.order_txid, t.price, t.volume, t.fee) for t in trades)
    assert got == [
        ("O000001-FAKE", Decimal(39000), Decimal(1), Decimal("62.4000")),
        ("O000003-FAKE", Decimal(40100), Decimal("0.5"), Decimal("52.13000")),
    ]
    assert {tr.time_ns for tr in trades} == {t}
    assert fake.book.pairs["XBTUSD"].price == Decimal(39500)
    bar = Bar(
        Instrument("BTC", "USD"),
        Timeframe.M1,
        START_NS + 40 * 10**9,
        "39500",
        "41500",
        "37000",
        "41000",
        "10",
    )
    fake.serve_bar("XBTUSD", bar)
    orders = {o.cl_ord_id: o for o in client.all_closed_orders().orders}
    assert set(orders) == {"b0", "b1", "b2", "b3"}
    assert orders["b3"].avg_price == Decimal(41000)
    assert client.trades_history().trades[-1].time_ns == bar.close_time_ns
    fake.on_bar("XBTUSD", Decimal(1), Decimal(1), Decimal(1), Decimal(1), Decimal(0))
    assert fake.book.pairs["XBTUSD"].price == Decimal(1)
