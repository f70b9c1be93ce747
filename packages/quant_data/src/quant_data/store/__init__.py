"""The governed market-data store: raw ingest, canonical bars, quarantine, gaps, corrections.

Open one with :meth:`Store.open` (SQLite file or memory, or PostgreSQL by URL), feed it
:class:`~quant_data.records.FetchedPage` values (from providers, importers or
:class:`MemoryProvider`), and materialize :class:`~quant_data.dataset.Dataset` values from it.
"""

from quant_data.store.core import (
    GAP_STATUSES,
    CursorUpdate,
    IngestResult,
    SeriesKey,
    SeriesStatus,
    Store,
    VerifyReport,
    source_preference,
)
from quant_data.store.memory import MemoryProvider

__all__ = [
    "GAP_STATUSES",
    "CursorUpdate",
    "IngestResult",
    "MemoryProvider",
    "SeriesKey",
    "SeriesStatus",
    "Store",
    "VerifyReport",
    "source_preference",
]
