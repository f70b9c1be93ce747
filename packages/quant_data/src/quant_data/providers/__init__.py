"""Provider adapters: CoinAPI OHLCV history, Kraken public market data, CoinGecko markets.

Each OHLCV adapter implements :class:`quant_data.records.OhlcvProvider` and yields
:class:`~quant_data.records.FetchedPage` values whose raw page holds the exact bytes received;
all of them send their requests through :class:`quant_data.http.HttpClient` (timeouts, seeded
jittered retries, a rate limiter on the injected clock, secret redaction).
"""

from quant_data.providers.coinapi import COINAPI_BASE_URL, CoinApiProvider, coinapi_symbol_id
from quant_data.providers.coingecko import (
    COINGECKO_BASE_URL,
    CoinGeckoClient,
    Exclusion,
    MarketCoin,
    MarketsSnapshot,
    UniverseProposal,
    propose_universe,
)
from quant_data.providers.kraken import (
    KRAKEN_BASE_URL,
    KrakenPair,
    KrakenPublicProvider,
    kraken_interval,
    kraken_pair,
)

__all__ = [
    "COINAPI_BASE_URL",
    "COINGECKO_BASE_URL",
    "KRAKEN_BASE_URL",
    "CoinApiProvider",
    "CoinGeckoClient",
    "Exclusion",
    "KrakenPair",
    "KrakenPublicProvider",
    "MarketCoin",
    "MarketsSnapshot",
    "UniverseProposal",
    "coinapi_symbol_id",
    "kraken_interval",
    "kraken_pair",
    "propose_universe",
]
