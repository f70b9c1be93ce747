"""The CoinGecko /coins/markets dialect against the live capture's shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from quant_data.emulator import Emulator, EmulatorOptions

from ._shapes import same_shape

MARKETS = "/api/v3/coins/markets"
NULLABLE = frozenset({"roi", "max_supply", "fully_diluted_valuation", "total_supply"})


def _sample(shared_data: Path, name: str) -> Any:
    return json.loads((shared_data / "api-samples" / "coingecko" / name).read_text())


def _get(emu: Emulator, path: str = MARKETS, **params: Any) -> httpx.Response:
    return httpx.get(emu.base_url("coingecko") + path, params=params, timeout=10)


def test_items_have_the_capture_fields(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    emu = emulator_factory()
    r = _get(emu, vs_currency="usd", order="market_cap_desc", per_page=250, page=1)
    assert r.status_code == 200
    items = r.json()
    sample = _sample(shared_data, "dashbrd__coins_markets_2023-07-28.json")
    assert same_shape(items, sample, nullable=NULLABLE) == []
    caps = [i["market_cap"] for i in items]
    assert caps == sorted(caps, reverse=True)
    assert [i["market_cap_rank"] for i in items] == list(range(1, len(items) + 1))
    symbols = {i["symbol"] for i in items}
    assert {"btc", "eth", "usdt", "usdc", "wbtc", "steth"} <= symbols
    btc = next(i for i in items if i["id"] == "bitcoin")
    closes = [b for b in emu.book.series("BTC", "USD", emu.book.finest("BTC", "USD"))  # type: ignore[arg-type]
              if b.open_time_ns <= emu.now_ns()]  # fmt: skip
    assert btc["current_price"] == float(closes[-1].close)


def test_paging_and_order(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory()
    everything = _get(emu, vs_currency="usd", per_page=250).json()
    pages = []
    page = 1
    while True:
        chunk = _get(emu, vs_currency="usd", per_page=10, page=page).json()
        if not chunk:
            break
        pages.extend(chunk)
        page += 1
    assert [c["id"] for c in pages] == [c["id"] for c in everything]
    assert page == -(-len(everything) // 10) + 1
    asc = _get(emu, vs_currency="usd", order="market_cap_asc", per_page=250).json()
    assert [c["id"] for c in asc] == [c["id"] for c in reversed(everything)]
    by_id = _get(emu, vs_currency="usd", order="id_asc", per_page=250).json()
    assert [c["id"] for c in by_id] == sorted(c["id"] for c in everything)
    some = _get(emu, vs_currency="usd", ids="bitcoin,solana").json()
    assert {c["id"] for c in some} == {"bitcoin", "solana"}


def test_the_recorded_sample_can_be_served(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    sample = _sample(shared_data, "dashbrd__coins_markets_2023-07-28.json")
    emu = emulator_factory(options=EmulatorOptions(coingecko_coins=sample))
    first = _get(emu, vs_currency="usd", per_page=100, page=1).json()
    assert first == sorted(sample, key=lambda c: -c["market_cap"])[:100]


def test_errors(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory()
    for params in ({}, {"vs_currency": "usd", "order": "random"},
                   {"vs_currency": "usd", "per_page": "many"}):  # fmt: skip
        r = _get(emu, **params)
        assert r.status_code == 400
        assert "error_message" in r.json()["status"]
    assert _get(emu, "/api/v3/ping").status_code == 404
