"""Malformed private answers: a read retries them, a write reports an unknown outcome."""

from __future__ import annotations

from typing import Any

import pytest

from quant_exec.venues.kraken import KrakenPrivateClient
from quant_exec.venues.kraken import _types as types
from quant_net import ProviderError, Response


def _answer(payload: bytes, status: int = 200) -> Response:
    return Response("kraken", "POST /0/private/Balance", 0, status, payload)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b'{"error":[],"res', "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"error":[]}', "no result object"),
    ],
)
def test_malformed_envelopes_are_retryable_invalid(
    client: KrakenPrivateClient, payload: bytes, why: str
) -> None:
    with pytest.raises(ProviderError, match=why) as caught:
        client._result(_answer(payload), write=False, pair=None)
    assert caught.value.reason_code == "PROVIDER_RESPONSE_INVALID"
    assert caught.value.retryable


def test_throttled_without_a_time_pauses_nothing(client: KrakenPrivateClient) -> None:
    with pytest.raises(ProviderError) as caught:
        client._result(_answer(b'{"error":["EService:Throttled"]}'), write=True, pair=None)
    assert caught.value.reason_code == "VENUE_THROTTLED"
    assert client.counter.paused_until_ns == 0


@pytest.mark.parametrize(
    ("parse", "found"),
    [
        (lambda f: types.ack_from(f, None), {"txid": []}),
        (lambda f: types.order_from("O1", f), {"status": "open"}),
        (lambda f: types.order_from("O1", f), {"status": "open", "descr": {}, "vol": "x"}),
        (lambda f: types.orders_from(f, "open"), {"open": {"O1": 3}}),
        (lambda f: types.trade_from("T1", f), {"ordertxid": "O1"}),
        (types.trades_from, {"trades": []}),
        (types.key_info_from, {"name": "k"}),
    ],
)
def test_malformed_results_are_retryable_invalid(parse: Any, found: dict[str, Any]) -> None:
    with pytest.raises(ProviderError) as caught:
        parse(found)
    assert caught.value.reason_code == "PROVIDER_RESPONSE_INVALID"
    assert caught.value.retryable


def test_a_trade_without_a_maker_flag_says_none() -> None:
    info = {
        "ordertxid": "O1",
        "pair": "XBTUSD",
        "type": "buy",
        "price": "1",
        "vol": "1",
        "cost": "1",
        "fee": "0",
        "time": 1688667796.8802,
    }
    trade = types.trade_from("T1", info)
    assert (trade.maker, trade.time_ns) == (None, 1_688_667_796_880_200_000)
    assert types.trade_from("T1", {**info, "maker": True}).maker is True
