"""quant_data: market-data providers, the governed store, backfill, sync and datasets.

The names below are the stable surface; import them from ``quant_data`` directly. Public
sub-packages carry their own surfaces: :mod:`quant_data.store` (the whole store API),
:mod:`quant_data.providers` (the provider clients), :mod:`quant_data.emulator` (the provider
emulator), and the modules :mod:`quant_data.reasons`,
:mod:`quant_data.backfill` and :mod:`quant_data.sync`. Every other module is private.

"""

from quant_data._dataset import (
    BARS_FILE,
    MANIFEST_FILE,
    Dataset,
    DatasetManifest,
    decimal_text,
    read_dataset,
    write_dataset,
)
from quant_data._errors import EmulatorUsageError, ProviderUsageError, StoreError
from quant_data._feed import StoreFeed
from quant_data._importers import ImportResult, detect_format, import_file, import_paths
from quant_data._records import FetchedPage, OhlcvProvider, RawPage, SourceBar
from quant_data._synthetic import SyntheticMarket
from quant_data._trades import Trade, trades_to_bars
from quant_data.store import IngestResult, MemoryProvider, SeriesKey, Store

__version__ = "0.1.0"
__all__ = [
    "BARS_FILE",
    "MANIFEST_FILE",
    "Dataset",
    "DatasetManifest",
    "EmulatorUsageError",
    "FetchedPage",
    "ImportResult",
    "IngestResult",
    "MemoryProvider",
    "OhlcvProvider",
    "ProviderUsageError",
    "RawPage",
    "SeriesKey",
    "SourceBar",
    "Store",
    "StoreError",
    "StoreFeed",
    "SyntheticMarket",
    "Trade",
    "__version__",
    "decimal_text",
    "detect_format",
    "import_file",
    "import_paths",
    "read_dataset",
    "trades_to_bars",
    "write_dataset",
]
