"""The fake exchange's own checks, spoken to directly over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from quant_core import SimClock
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import kraken


def _post(server: Any, method: str, body: str, nonce: int | str) -> httpx.Response:
    path = f"/0/private/{method}"
    headers = {"API-Key": server.api_key}
    if str(nonce).isdigit():
        headers["API-Sign"] = kraken.sign(path, nonce, body, server.secret)
    return httpx.post(server.base_url + path, content=body, headers=headers)


def test_unknown_method_and_missing_nonce(server: Any) -> None:
    assert httpx.post(server.base_url + "/0/private/Withdraw").status_code == 404
    assert _post(server, "Balance", "x=1", "none").json() == {"error": ["EAPI:Invalid nonce"]}


def test_a_lockout_in_force_refuses_every_caller(
    server: Any, fake: FakeKraken, clock: SimClock
) -> None:
    fake.inject("Balance", FakeFault.LOCKOUT)
    assert _post(server, "Balance", "nonce=1", 1).json()["error"] == ["EGeneral:Temporary lockout"]
    assert _post(server, "OpenOrders", "nonce=2", 2).json()["error"] == [
        "EGeneral:Temporary lockout"
    ]
    clock.advance_by(fake.lockout_s * 10**9)
    assert _post(server, "OpenOrders", "nonce=3", 3).json() == {"error": [], "result": {"open": {}}}


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
