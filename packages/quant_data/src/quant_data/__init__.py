"""quant_data: market-data providers, the governed store, backfill, sync and datasets.

The names below are the stable surface; import them from ``quant_data`` directly.
"""

from quant_data._feed import StoreFeed
from quant_data.dataset import (
    Dataset,
    DatasetManifest,
    read_dataset,
    write_dataset,
)
from quant_data.http import HttpPolicy, RateLimiter
from quant_data.importers import ImportResult, detect_format, import_file
from quant_data.providers import (
    CoinApiProvider,
    CoinGeckoClient,
    KrakenPublicProvider,
    UniverseProposal,
    propose_universe,
)
from quant_data.records import FetchedPage, OhlcvProvider, RawPage, SourceBar
from quant_data.store import IngestResult, MemoryProvider, SeriesKey, Store
from quant_data.synthetic import SyntheticMarket
from quant_data.trades import Trade, trades_to_bars

__version__ = "0.1.0"
__all__ = [
    "CoinApiProvider",
    "CoinGeckoClient",
    "Dataset",
    "DatasetManifest",
    "FetchedPage",
    "HttpPolicy",
    "ImportResult",
    "IngestResult",
    "KrakenPublicProvider",
    "MemoryProvider",
    "OhlcvProvider",
    "RateLimiter",
    "RawPage",
    "SeriesKey",
    "SourceBar",
    "Store",
    "StoreFeed",
    "SyntheticMarket",
    "Trade",
    "UniverseProposal",
    "__version__",
    "detect_format",
    "import_file",
    "propose_universe",
    "read_dataset",
    "trades_to_bars",
    "write_dataset",
]
