"""The governed market-data store: raw ingest, canonical bars, quarantine, gaps, corrections.

Open one with :meth:`Store.open` (SQLite file or memory, or PostgreSQL by URL), feed it
:class:`~quant_data.FetchedPage` values (from providers, importers or :class:`MemoryProvider`),
read the newest bars of a window with :meth:`Store.latest_bars`, and materialize
:class:`~quant_data.Dataset` values from it.

The store is split by concern into private modules (ingest, canonical bars, gaps and
corrections, datasets, job state, audit) behind the :class:`Store` facade; import the names
below from ``quant_data`` (or ``quant_data.store``), never from the private modules.
"""

from quant_data.store._bars import source_preference
from quant_data.store._memory import MemoryProvider
from quant_data.store._store import Store
from quant_data.store._values import (
    CursorUpdate,
    GapStatus,
    IngestResult,
    SeriesKey,
    SeriesStatus,
    VerifyReport,
)

__all__ = [
    "CursorUpdate",
    "GapStatus",
    "IngestResult",
    "MemoryProvider",
    "SeriesKey",
    "SeriesStatus",
    "Store",
    "VerifyReport",
    "source_preference",
]
