"""CoinGecko markets client and the universe proposal (pure), against the real 250-coin sample."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_core import SimClock
from quant_core.settings import Secret
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE as V1
from quant_core.universe import ExclusionCategory
from quant_data import ProviderUsageError
from quant_data.providers import CoinGeckoClient, MarketCoin, propose_universe
from quant_net import ProviderError, ReadPolicy

Handler = Callable[[httpx.Request], httpx.Response]
KEY = "CG-secret-demo-key-777"


def _reply(status: int, body: bytes) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    return handler


def _sample(shared_data: Path) -> bytes:
    return (
        shared_data / "api-samples/coingecko/dashbrd__coins_markets_2023-07-28.json"
    ).read_bytes()


def _client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> CoinGeckoClient:
    return CoinGeckoClient(
        "http://cg.test/coingecko",
        kw.pop("api_key", Secret(KEY)),
        clock=SimClock(0),
        seed=1,
        transport=httpx.MockTransport(handler),
        **kw,
    )


def test_markets_real_sample(shared_data: Path) -> None:
    body = _sample(shared_data)
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=body)

    snap = _client(handler).markets("USD")
    assert len(sent) == 1
    assert len(snap.coins) == 250
    first = snap.coins[0]
    assert (first.id, first.symbol, first.name, first.market_cap, first.market_cap_rank) == (
        "bitcoin",
        "BTC",
        "Bitcoin",
        "569778313238",
        1,
    )
    assert snap.raw[0].payload == body
    assert sent[0].url.path == "/coingecko/api/v3/coins/markets"
    assert sent[0].url.params["vs_currency"] == "usd"
    assert sent[0].headers["x-cg-demo-api-key"] == KEY


def test_markets_pages_until_short_page() -> None:
    def rows(n: int, start: int) -> bytes:
        return json.dumps(
            [
                {
                    "id": f"c{i}",
                    "symbol": f"c{i}",
                    "name": f"C{i}",
                    "market_cap": 1000 - i,
                    "market_cap_rank": i + 1,
                }
                for i in range(start, start + n)
            ]
        ).encode()

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        page = int(request.url.params["page"])
        return httpx.Response(200, content=rows(2 if page < 3 else 1, (page - 1) * 2))

    snap = _client(handler).markets(per_page=2, pages=5)
    assert [r.url.params["page"] for r in sent] == ["1", "2", "3"]
    assert [c.id for c in snap.coins] == ["c0", "c1", "c2", "c3", "c4"]
    assert len(snap.raw) == 3
    with pytest.raises(ProviderUsageError):
        _client(handler).markets(per_page=251)


def test_markets_errors(shared_data: Path) -> None:
    limited = (
        shared_data / "api-samples/coingecko/observed__error_429_rate_limit.json"
    ).read_bytes()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, content=limited)

    with pytest.raises(ProviderError) as info:
        _client(handler, policy=ReadPolicy(max_attempts=3)).markets()
    assert info.value.reason_code == "PROVIDER_RATE_LIMITED"
    assert "exceeded the Rate Limit" in str(info.value)
    assert len(calls) == 3
    for status, body, code in [
        (401, b'{"error": "invalid key"}', "PROVIDER_AUTH_FAILED"),
        (403, b"<html>blocked</html>", "PROVIDER_AUTH_FAILED"),
        (400, b'{"status": "weird"}', "PROVIDER_BAD_REQUEST"),
        (200, b'{"not": "a list"}', "PROVIDER_RESPONSE_INVALID"),
        (200, b'[{"symbol": "x"}]', "PROVIDER_RESPONSE_INVALID"),
    ]:
        c = _client(
            _reply(status, body),
            policy=ReadPolicy(max_attempts=1),
        )
        with pytest.raises(ProviderError) as info:
            c.markets()
        assert info.value.reason_code == code


def test_key_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"status": {"error_code": 10002, "error_message": f"bad key {KEY}"}}).encode()
    c = _client(lambda r: httpx.Response(401, content=body), key_header="x-cg-pro-api-key")
    with pytest.raises(ProviderError) as info:
        c.markets()
    for text in (str(info.value), repr(info.value), caplog.text, repr(c)):
        assert KEY not in text
    keyless: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        keyless.append(request)
        return httpx.Response(200, content=b"[]")

    _client(record, api_key=None).markets()
    assert "x-cg-demo-api-key" not in keyless[0].headers


def _coins(shared_data: Path) -> list[MarketCoin]:
    return [
        MarketCoin(
            c["id"], c["symbol"].upper(), c["name"], str(c["market_cap"]), c["market_cap_rank"]
        )
        for c in json.loads(_sample(shared_data))
    ]


def test_proposal_against_v1_from_real_ranking(shared_data: Path) -> None:
    coins = _coins(shared_data)
    proposal = propose_universe(V1, coins)
    assert proposal.name == "UNIVERSE_V2_TOP30_NON_STABLE"
    assert (proposal.version, proposal.base_version) == (2, 1)
    assert len(proposal.members) == 30
    assert [m.rank for m in proposal.members] == list(range(1, 31))
    # independent expectation: walk the sample by market cap, skip what V1's rules exclude
    by_cap = sorted(coins, key=lambda c: -int(c.market_cap or 0))
    eligible = [c.symbol for c in by_cap if V1.exclusion(c.symbol, c.name) is None]
    assert list(proposal.symbols) == list(dict.fromkeys(eligible))[:30]
    # stablecoins, wrapped and staked assets of the 2023 top list are excluded, with reasons
    reasons = {e.symbol: e.reason for e in proposal.excluded}
    assert (
        reasons["USDT"] == reasons["USDC"] == reasons["DAI"] == ExclusionCategory.STABLECOIN.value
    )
    assert reasons["WBTC"] == "wrapped"
    assert reasons["STETH"] == "staked"
    assert not set(reasons) & set(proposal.symbols)
    # the diff is consistent with both sets
    assert set(proposal.kept) == set(proposal.symbols) & set(V1.symbols)
    assert set(proposal.added) == set(proposal.symbols) - set(V1.symbols)
    assert set(proposal.removed) == set(V1.symbols) - set(proposal.symbols)
    assert "DOGE" in proposal.added  # a 2023 top coin not in V1
    assert "KAS" in proposal.removed or "KAS" in proposal.kept
    assert proposal.changed
    kept_btc = next(m for m in proposal.members if m.symbol == "BTC")
    assert kept_btc.kraken_code == "XBT"
    doge = next(m for m in proposal.members if m.symbol == "DOGE")
    assert doge.kraken_code == "XDG"
    # never applied: V1 is unchanged and still the registered universe
    from quant_core.universe import get_universe

    assert get_universe("UNIVERSE_V1_TOP30_NON_STABLE") is V1
    u2 = proposal.to_universe(V1)
    assert (u2.name, u2.version, u2.symbols) == (proposal.name, 2, proposal.symbols)
    with pytest.raises(ProviderUsageError):
        proposal.to_universe(u2)


def test_proposal_tradable_duplicates_and_invalid() -> None:
    coins = [
        MarketCoin("a", "AAA", "Alpha", "900", 1),
        MarketCoin("a2", "AAA", "Alpha Clone", "800", 2),
        MarketCoin("b", "B-B", "Bad Ticker", "700", 3),
        MarketCoin("c", "CCC", "Gamma", None, 4),
        MarketCoin("d", "DDD", "Delta", "600", 5),
        MarketCoin("e", "EEE", "Epsilon", "500", 6),
        MarketCoin("f", "FFF", "Phi", "nan-ish", 7),
    ]
    p = propose_universe(V1, coins, size=2, tradable=["aaa", "eee"])
    assert p.symbols == ("AAA", "EEE")
    assert [(e.coin_id, e.reason) for e in p.excluded] == [
        ("a2", "duplicate_symbol"),
        ("b", "invalid_symbol"),
        ("d", "not_tradable"),
    ]
    p_all = propose_universe(V1, coins, size=10)
    assert ("c", "no_market_cap") in [(e.coin_id, e.reason) for e in p_all.excluded]
    assert ("f", "no_market_cap") in [(e.coin_id, e.reason) for e in p_all.excluded]
    with pytest.raises(ProviderUsageError):
        propose_universe(V1, coins, size=0)


def test_unchanged_ranking_is_not_a_change() -> None:
    coins = [MarketCoin(m.name, m.symbol, m.name, str(10**12 - m.rank), m.rank) for m in V1.members]
    p = propose_universe(V1, coins)
    assert p.symbols == V1.symbols
    assert not p.changed
    assert p.added == p.removed == ()


def test_proposal_hash_is_order_independent_and_stable_across_processes(shared_data: Path) -> None:
    coins = _coins(shared_data)
    h1 = propose_universe(V1, coins).content_hash()
    assert propose_universe(V1, list(reversed(coins))).content_hash() == h1
    code = (
        "import json,sys;from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE as V1;"
        "from quant_data.providers import MarketCoin, propose_universe;"
        "d=json.load(open(sys.argv[1]));"
        "c=[MarketCoin(x['id'],x['symbol'].upper(),x['name'],str(x['market_cap']),"
        "x['market_cap_rank']) for x in d];"
        "print(propose_universe(V1,c).content_hash())"
    )
    path = shared_data / "api-samples/coingecko/dashbrd__coins_markets_2023-07-28.json"
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert out.stdout.strip() == h1
    p = propose_universe(V1, coins)
    custom = V1.__class__(
        name="MY_SET",
        version=4,
        members=V1.members[:2],
        quote_currencies=V1.quote_currencies,
        exclusion_rules=V1.exclusion_rules,
    )
    assert propose_universe(custom, coins).name == "MY_SET_V5"
    assert p.ranking_hash.startswith("sha256:")
