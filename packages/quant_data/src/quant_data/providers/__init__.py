"""Provider adapters: CoinAPI OHLCV history, Kraken public market data, CoinGecko markets.

Each OHLCV adapter implements :class:`quant_data.OhlcvProvider` and yields
:class:`~quant_data._records.FetchedPage` values whose raw page holds the exact bytes received;
all of them send their requests through :class:`quant_net.ReadClient` (timeouts, seeded
jittered retries, a rate limiter on the injected clock, secret redaction), and Kraken's wire
format comes from :mod:`quant_net.kraken`.
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
from quant_data.providers.kraken import KrakenPublicProvider

__all__ = [
    "COINAPI_BASE_URL",
    "COINGECKO_BASE_URL",
    "CoinApiProvider",
    "CoinGeckoClient",
    "Exclusion",
    "KrakenPublicProvider",
    "MarketCoin",
    "MarketsSnapshot",
    "UniverseProposal",
    "coinapi_symbol_id",
    "propose_universe",
]
