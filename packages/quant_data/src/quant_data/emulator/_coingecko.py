"""The CoinGecko dialect (``/api/v3/coins/markets``), faithful to the dashbrd capture.

Items carry every field of the live capture (``id, symbol, name, image, current_price,
market_cap, market_cap_rank, ...``, ``roi`` null or an object, ``max_supply`` sometimes null),
ranked by market cap, paged with ``per_page`` (1..250, default 100) and ``page``. The default
coin list is Universe V1 plus assets the universe rule must exclude (stablecoins, wrapped and
staked tokens) and one newcomer, so a universe proposal has something to decide; a test can
pass its own list (the recorded sample, say). Prices of coins the bar book holds in USD follow
the book's latest close at the emulator's clock.

Examples:
    >>> [c["symbol"] for c in DEFAULT_COINS[:4]]
    ['btc', 'eth', 'usdt', 'bnb']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from quant_core import ns_to_iso
from quant_data.emulator._wire import Page, Reply, json_bytes

if TYPE_CHECKING:
    from quant_data.emulator._server import Emulator

__all__ = ["DEFAULT_COINS", "ERROR_429", "failure", "handle", "market_items", "throttled"]

ERROR_429 = {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}}


def _coin(cg_id: str, symbol: str, name: str, price: float, supply: float) -> dict[str, Any]:
    return {"id": cg_id, "symbol": symbol, "name": name, "price": price, "supply": supply}


# (CoinGecko id, symbol, name, price USD, circulating supply), in market-cap order.
DEFAULT_COINS: tuple[dict[str, Any], ...] = (
    _coin("bitcoin", "btc", "Bitcoin", 42000.0, 19_600_000),
    _coin("ethereum", "eth", "Ethereum", 2300.0, 120_000_000),
    _coin("tether", "usdt", "Tether", 1.0, 95_000_000_000),
    _coin("binancecoin", "bnb", "BNB", 310.0, 153_000_000),
    _coin("ripple", "xrp", "XRP", 0.62, 54_000_000_000),
    _coin("usd-coin", "usdc", "USDC", 1.0, 25_000_000_000),
    _coin("solana", "sol", "Solana", 100.0, 330_000_000),
    _coin("staked-ether", "steth", "Lido Staked Ether", 2299.0, 9_500_000),
    _coin("tron", "trx", "TRON", 0.11, 88_000_000_000),
    _coin("cardano", "ada", "Cardano", 0.55, 35_000_000_000),
    _coin("wrapped-bitcoin", "wbtc", "Wrapped Bitcoin", 41990.0, 155_000),
    _coin("bitcoin-cash", "bch", "Bitcoin Cash", 250.0, 19_600_000),
    _coin("hyperliquid", "hype", "Hyperliquid", 14.0, 330_000_000),
    _coin("monero", "xmr", "Monero", 165.0, 18_400_000),
    _coin("chainlink", "link", "Chainlink", 15.0, 570_000_000),
    _coin("stellar", "xlm", "Stellar", 0.12, 28_000_000_000),
    _coin("hedera-hashgraph", "hbar", "Hedera", 0.08, 33_000_000_000),
    _coin("litecoin", "ltc", "Litecoin", 72.0, 74_000_000),
    _coin("avalanche-2", "avax", "Avalanche", 38.0, 360_000_000),
    _coin("zcash", "zec", "Zcash", 25.0, 16_000_000),
    _coin("sui", "sui", "Sui", 0.8, 1_100_000_000),
    _coin("shiba-inu", "shib", "Shiba Inu", 0.00001, 589_000_000_000_000),
    _coin("the-open-network", "ton", "Toncoin", 2.3, 3_400_000_000),
    _coin("polkadot", "dot", "Polkadot", 7.5, 1_300_000_000),
    _coin("uniswap", "uni", "Uniswap", 6.5, 600_000_000),
    _coin("aave", "aave", "Aave", 105.0, 14_700_000),
    _coin("bittensor", "tao", "Bittensor", 300.0, 6_000_000),
    _coin("near", "near", "NEAR Protocol", 3.5, 1_000_000_000),
    _coin("ethereum-classic", "etc", "Ethereum Classic", 25.0, 146_000_000),
    _coin("internet-computer", "icp", "Internet Computer", 11.0, 460_000_000),
    _coin("polygon-ecosystem-token", "pol", "POL (ex-MATIC)", 0.9, 1_600_000_000),
    _coin("kaspa", "kas", "Kaspa", 0.1, 22_000_000_000),
    _coin("algorand", "algo", "Algorand", 0.2, 8_000_000_000),
    _coin("filecoin", "fil", "Filecoin", 5.5, 500_000_000),
    _coin("aptos", "apt", "Aptos", 9.0, 360_000_000),
    _coin("usds", "usds", "USDS", 1.0, 5_000_000_000),
)
"""The emulator's default market (compact form; see :func:`market_items`)."""


def failure(status: int, message: str | None) -> Reply:
    """An error answer in CoinGecko's ``status`` envelope."""
    if status == 429:
        return throttled(1)
    body = {"status": {"error_code": status, "error_message": message or "Internal error"}}
    return Reply(status, json_bytes(body), {"Content-Type": "application/json; charset=utf-8"})


def throttled(retry_after_s: int) -> Reply:
    """HTTP 429 with the observed body and ``Retry-After``."""
    headers = {"Content-Type": "application/json; charset=utf-8",
               "Retry-After": str(retry_after_s)}  # fmt: skip
    return Reply(429, json_bytes(ERROR_429), headers)


def _latest_price(em: Emulator, symbol: str) -> float | None:
    tf = em.book.finest(symbol, "USD")
    if tf is None:
        return None
    bars = em.visible(symbol, "USD", tf, 0, em.now_ns() + 1)
    for bar in reversed(bars):
        try:
            return float(bar.close)
        except ValueError:
            continue
    return None


def market_items(em: Emulator, coins: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Full ``/coins/markets`` items for compact coins (full items are passed through)."""
    stamp = ns_to_iso(em.now_ns() - em.now_ns() % 1_000_000)
    items = []
    for coin in coins:
        if "market_cap" in coin:
            items.append(dict(coin))
            continue
        price = _latest_price(em, coin["symbol"].upper()) or float(coin["price"])
        supply = float(coin["supply"])
        cap = round(price * supply)
        items.append(
            {
                "id": coin["id"],
                "symbol": coin["symbol"],
                "name": coin["name"],
                "image": f"https://assets.coingecko.com/coins/images/1/large/{coin['id']}.png",
                "current_price": price,
                "market_cap": cap,
                "market_cap_rank": 0,
                "fully_diluted_valuation": cap,
                "total_volume": round(cap * 0.03),
                "high_24h": round(price * 1.02, 8),
                "low_24h": round(price * 0.98, 8),
                "price_change_24h": round(price * 0.005, 8),
                "price_change_percentage_24h": 0.5,
                "market_cap_change_24h": round(cap * 0.005),
                "market_cap_change_percentage_24h": 0.5,
                "circulating_supply": supply,
                "total_supply": supply,
                "max_supply": None,
                "ath": round(price * 1.6, 8),
                "ath_change_percentage": -37.5,
                "ath_date": "2021-11-10T14:24:11.849Z",
                "atl": round(price * 0.01, 10),
                "atl_change_percentage": 9900.0,
                "atl_date": "2015-10-20T00:00:00.000Z",
                "roi": None,
                "last_updated": stamp.replace("Z", ".000Z") if "." not in stamp else stamp,
            }
        )
    return items


_ORDERS = {
    "market_cap_desc": ("market_cap", True),
    "market_cap_asc": ("market_cap", False),
    "volume_desc": ("total_volume", True),
    "volume_asc": ("total_volume", False),
    "id_asc": ("id", False),
    "id_desc": ("id", True),
}


def handle(em: Emulator, path: str, query: Mapping[str, str]) -> Reply | Page:
    """Answer one CoinGecko request."""
    if path != "/api/v3/coins/markets":
        return failure(404, "Not found")
    vs = query.get("vs_currency", "").lower()
    if not vs:
        return failure(400, "Missing parameter vs_currency")
    order = _ORDERS.get(query.get("order", "market_cap_desc"))
    try:
        per_page = min(max(int(query.get("per_page", "100")), 1), 250)
        page = max(int(query.get("page", "1")), 1)
    except ValueError:
        return failure(400, "invalid per_page or page")
    if order is None:
        return failure(400, "invalid order")
    items = market_items(em, em.options.coingecko_coins or DEFAULT_COINS)
    by_cap = sorted(items, key=lambda c: -(c.get("market_cap") or 0))
    for rank, item in enumerate(by_cap, start=1):
        if not item.get("market_cap_rank"):
            item["market_cap_rank"] = rank
    field, descending = order
    items.sort(key=lambda c: (c.get(field) is None, c.get(field) or 0), reverse=descending)
    if "ids" in query:
        wanted = set(query["ids"].split(","))
        items = [c for c in items if c["id"] in wanted]
    chosen = items[(page - 1) * per_page : page * per_page]
    return Page(chosen, json_bytes, headers={"Content-Type": "application/json; charset=utf-8"})
