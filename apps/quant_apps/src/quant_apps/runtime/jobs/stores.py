"""The market-data store and providers an app session opens, from the settings.

Examples:
    >>> from quant_core.settings import Settings
    >>> from quant_core import SimClock
    >>> open_store("sqlite://", Settings(), SimClock(0)).url
    'sqlite://'
    >>> make_provider("kraken", Settings(), SimClock(0), seed=0).name
    'kraken'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from quant_apps.runtime import config
from quant_core import Clock
from quant_core.errors import QuantUsageError
from quant_core.reasons import USAGE_ERROR
from quant_core.settings import Settings
from quant_data import Dataset, ImportResult, OhlcvProvider, Store, StoreError, import_file

__all__ = ["import_files", "make_provider", "materialize", "open_store"]


def open_store(database_url: str | None, settings: Settings, clock: Clock) -> Store:
    """Open the store at ``database_url`` or the settings' URL (creating an SQLite dir)."""
    url = database_url or config.database_url(settings)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return Store.open(url, clock=clock)


def make_provider(name: str, settings: Settings, clock: Clock, seed: int) -> OhlcvProvider:
    """Build the named OHLCV provider from settings (base URL, API key).

    Raises:
        QuantUsageError: ``USAGE_ERROR`` for a provider other than coinapi or kraken.
    """
    from quant_data.providers import COINAPI_BASE_URL, CoinApiProvider, KrakenPublicProvider
    from quant_net.kraken import BASE_URL as KRAKEN_BASE_URL

    if name == "coinapi":
        return CoinApiProvider(
            settings.hist_market_data_base_url or COINAPI_BASE_URL,
            settings.hist_market_data_api_key,
            clock=clock,
            seed=seed,
        )
    if name == "kraken":
        return KrakenPublicProvider(
            settings.kraken_public_base_url or KRAKEN_BASE_URL, clock=clock, seed=seed
        )
    raise QuantUsageError(f"unknown provider {name!r} (coinapi or kraken)", reason_code=USAGE_ERROR)


def materialize(
    symbols: list[str], quote: str, timeframe: str, start_ns: int, end_ns: int, clock: Clock
) -> Dataset:
    """Materialize a dataset from the governed store the settings name."""
    store = Store.open(config.database_url(config.load_settings()), clock=clock)
    return store.materialize(symbols, quote, timeframe, start_ns, end_ns)


def import_files(store: Store, paths: Sequence[Path], clock: Clock) -> list[dict[str, Any]]:
    """Import real market-data files into ``store``, all or nothing; what each file gave.

    Every file is read and parsed before the first store write, so one file that cannot be
    imported (unreadable, unknown format, bad epoch unit, past the 256 MiB bound) leaves the
    store as it was. Each file is then written as one store transaction; should the store
    itself fail part-way (a full disk), the error names the files already committed and those
    not written. The parsed files are held in memory together (each at most the bound).

    Raises:
        ValidationError: ``IMPORT_FILE_INVALID``, ``IMPORT_FORMAT_UNKNOWN`` or
            ``IMPORT_FILE_TOO_LARGE`` for a file that cannot be read as market data (exit 3;
            nothing written).
        StoreError: ``STORE_ERROR`` when a store write fails; the message says per file what
            was committed (exit 1).
    """
    results = [import_file(path, clock=clock) for path in paths]
    files: list[dict[str, Any]] = []
    for result in results:
        try:
            files.append(_ingest_file(store, result))
        except StoreError as exc:
            committed = [str(f["path"]) for f in files] or ["none"]
            pending = [str(r.path) for r in results[len(files) :]]
            raise StoreError(
                f"{exc.message}; committed before the failure: {', '.join(committed)}; "
                f"not written: {', '.join(pending)}",
                reason_code=exc.reason_code,
            ) from exc
    return files


def _ingest_file(store: Store, result: ImportResult) -> dict[str, Any]:
    new = corrected = quarantined = 0
    reasons_seen: dict[str, int] = {}
    for page in result.pages:
        ingest = store.ingest_page(page)
        new, corrected = new + ingest.bars_new, corrected + ingest.bars_corrected
        quarantined += ingest.quarantined_total
        for code, count in ingest.quarantined.items():
            reasons_seen[code] = reasons_seen.get(code, 0) + count
    return {
        "path": str(result.path),
        "format": result.format,
        "series": f"{result.symbol}/{result.quote} {result.timeframe}",
        "rows": len(result.bars),
        "bars_new": new,
        "bars_corrected": corrected,
        "quarantined": quarantined,
        "quarantine_reasons": reasons_seen,
        "skipped": len(result.skipped),
        "notes": list(result.notes),
    }
