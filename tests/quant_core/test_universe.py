"""Universe V1: the governed training universe."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from quant_core import QuoteCurrency, reasons
from quant_core.errors import UniverseError
from quant_core.universe import (
    UNIVERSE_V1_TOP30_NON_STABLE as V1,
)
from quant_core.universe import (
    UNIVERSES,
    ExclusionCategory,
    get_universe,
)

# The specification's list (historical data spec §4.1; master spec §14), in its order.
SPEC_V1 = [
    "BTC",
    "ETH",
    "BNB",
    "XRP",
    "SOL",
    "TRX",
    "ADA",
    "BCH",
    "XMR",
    "LINK",
    "XLM",
    "HBAR",
    "LTC",
    "AVAX",
    "ZEC",
    "SUI",
    "SHIB",
    "TON",
    "DOT",
    "UNI",
    "AAVE",
    "TAO",
    "NEAR",
    "ETC",
    "ICP",
    "POL",
    "KAS",
    "ALGO",
    "FIL",
    "APT",
]


def test_v1_is_the_specified_list_in_order() -> None:
    assert V1.name == "UNIVERSE_V1_TOP30_NON_STABLE"
    assert V1.version == 1
    assert list(V1.symbols) == SPEC_V1
    assert [m.rank for m in V1.members] == list(range(1, 31))
    assert V1.quote_currencies == (QuoteCurrency.CAD, QuoteCurrency.USD, QuoteCurrency.USDC)
    assert len(V1.instruments()) == 90
    assert get_universe(V1.name) is V1
    assert UNIVERSES[V1.name] is V1


def test_members_record_their_kraken_code() -> None:
    assert V1.member("BTC").kraken_code == "XBT"
    assert all(m.kraken_code == m.symbol for m in V1.members if m.symbol != "BTC")


def test_unknown_symbols_and_universes_raise() -> None:
    with pytest.raises(UniverseError):
        V1.member("DOGE")
    with pytest.raises(UniverseError) as info:
        get_universe("UNIVERSE_V9")
    assert info.value.reason_code == reasons.UNIVERSE_UNKNOWN


def test_no_member_falls_under_its_own_exclusion_rule() -> None:
    for member in V1.members:
        assert V1.exclusion(member.symbol, member.name) is None, member


@pytest.mark.parametrize(
    ("symbol", "name", "category"),
    [
        ("USDT", "Tether", ExclusionCategory.STABLECOIN),
        ("PYUSD", "PayPal USD", ExclusionCategory.STABLECOIN),
        ("XYZUSD", "Some Dollar", ExclusionCategory.STABLECOIN),
        ("EURC", "Euro Coin", ExclusionCategory.TOKENIZED_FIAT),
        ("WBTC", "Wrapped Bitcoin", ExclusionCategory.WRAPPED),
        ("FOO", "Bridged Foo", ExclusionCategory.WRAPPED),
        ("STETH", "Lido Staked Ether", ExclusionCategory.STAKED),
        ("BAR", "Bar Liquid Staking Token", ExclusionCategory.STAKED),
    ],
)
def test_exclusions_by_symbol_pattern_and_name(
    symbol: str, name: str, category: ExclusionCategory
) -> None:
    assert V1.exclusion(symbol, name) is category
    assert V1.exclusion(symbol.lower(), name) is category


def test_the_hash_follows_the_content() -> None:
    assert V1.content_hash() == V1.content_hash()
    changed = attrs.evolve(V1, members=V1.members[:-1])
    assert changed.content_hash() != V1.content_hash()


def test_real_coingecko_ranking_is_classified(shared_data: Path) -> None:
    """On a real /coins/markets page: members pass, every dollar-pegged coin is excluded."""
    page = shared_data / "api-samples/coingecko/dashbrd__coins_markets_2023-07-28.json"
    coins = json.loads(page.read_text())
    members = set(V1.symbols)
    seen_members = 0
    pegged = 0
    for coin in coins:
        category = V1.exclusion(coin["symbol"], coin["name"])
        if coin["symbol"].upper() in members:
            seen_members += 1
            assert category is None, coin["name"]
        price = coin["current_price"] or 0
        if 0.98 <= price <= 1.02:
            pegged += 1
            assert category is ExclusionCategory.STABLECOIN, coin["name"]
    assert seen_members >= 20
    assert pegged >= 5
