"""quant_data: market-data providers, the governed store, backfill, sync and datasets.

The names below are the stable surface; import them from ``quant_data`` directly.
"""

from quant_data.dataset import (
    Dataset,
    DatasetManifest,
    read_dataset,
    write_dataset,
)
from quant_data.records import FetchedPage, OhlcvProvider, RawPage, SourceBar

__version__ = "0.1.0"
__all__ = [
    "Dataset",
    "DatasetManifest",
    "FetchedPage",
    "OhlcvProvider",
    "RawPage",
    "SourceBar",
    "__version__",
    "read_dataset",
    "write_dataset",
]
