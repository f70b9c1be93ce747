"""Reason codes of quant_data: rejections and findings of providers, store and datasets.

Examples:
    >>> from quant_data.reasons import DATASET_HASH_MISMATCH
    >>> from quant_core.reasons import REGISTRY
    >>> REGISTRY.describe(DATASET_HASH_MISMATCH).startswith("A dataset")
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

DATASET_INVALID = (
    "A dataset directory or its bars are malformed: missing file, bad manifest, mixed quote "
    "or timeframe, duplicated (symbol, open time), or bars outside the window."
)
DATASET_HASH_MISMATCH = "A dataset's bars do not hash to the hash its manifest pins."

# --- providers
PROVIDER_TIMEFRAME_UNSUPPORTED = "The provider offers no candles of the requested timeframe."
TRADE_INVALID = (
    "A trade has a non-numeric, non-finite or non-positive price, a negative or non-numeric "
    "volume, or a negative time; it cannot enter a candle."
)

BACKFILL_INCOMPLETE = (
    "A backfill (or sync) ended with slots of its window still missing: the provider served "
    "no bar for them. They are open gaps in the ledger; retry them with --retry-gaps."
)

# --- store
STORE_VALUE_INVALID = "A candle's price or volume is not a decimal number; quarantined."
STORE_PRICE_NAN = "A candle's price or volume is NaN or infinite; quarantined."
STORE_PRICE_NONPOSITIVE = "A candle has a zero or negative price; quarantined."
STORE_OHLC_INCONSISTENT = (
    "A candle's high is below its low, or its open or close lies outside [low, high]; quarantined."
)
STORE_VOLUME_NEGATIVE = "A candle has a negative volume; quarantined."
STORE_TIMESTAMP_OFF_GRID = (
    "A candle's open time is not on its timeframe's grid (or is negative); quarantined."
)
STORE_TIMESTAMP_FUTURE = "A candle opens after the injected clock's now; quarantined."
STORE_BAR_NOT_CLOSED = (
    "A candle had not closed yet when it was received (open time + timeframe > now); "
    "quarantined, it is fetched again once closed."
)
STORE_SYMBOL_UNKNOWN = "A candle's base asset is not in the store's symbol set; quarantined."
STORE_QUOTE_UNSUPPORTED = "A candle's quote currency is not supported; quarantined."
STORE_TIMEFRAME_UNSUPPORTED = "A candle's timeframe is not a known timeframe; quarantined."
STORE_SOURCE_MISMATCH = (
    "A candle names a different source than the raw page it came in; quarantined."
)
STORE_DUPLICATE_CONFLICT = (
    "One page holds two different candles for one natural key; every copy is quarantined "
    "and the slot stays a gap until a later page settles it."
)
STORE_ERROR = "The market-data store could not be opened, read or written."
STORE_REQUEST_INVALID = (
    "A store request is malformed: empty or reversed window, unknown timeframe or quote, "
    "unknown as-of sequence."
)
STORE_NO_DATA = "The store holds no canonical bar for the requested series and window."
STORE_SCHEMA_INVALID = "The database lacks a store table or column (verify)."
STORE_VERSIONS_BROKEN = (
    "A bar's versions are not 1..n in ingest order, or a correction does not match the "
    "versions it links (verify)."
)
STORE_GAP_LEDGER_INVALID = (
    "The gap ledger contradicts the bars: a slot marked open or no-trade has a bar, a "
    "filled slot has none, or a status is unknown (verify)."
)

# --- emulator and importers

SYNTHETIC_INVALID = (
    "A synthetic market was asked for an empty window, no or duplicate symbols, an "
    "unsupported quote, out-of-range gap rates, or a symbol it does not hold."
)
EMULATOR_INVALID = (
    "The provider emulator was given an unusable source, fault plan or option (no bars, an "
    "unknown fault kind, a malformed faults file)."
)
IMPORT_FORMAT_UNKNOWN = (
    "A file matches none of the importable formats (Kraken OHLCVT CSV, CryptoDataDownload "
    "CSV, CoinAPI OHLCV CSV, freqtrade feather, Kraken trades CSV)."
)
IMPORT_FILE_INVALID = (
    "An import file cannot be read as its format (unreadable, wrong columns, symbol or "
    "timeframe not derivable from its name); rows that merely hold bad values are passed on "
    "for quarantine instead."
)

IMPORT_FILE_TOO_LARGE = (
    "An import file, or its gzip-decompressed content, holds more bytes than the import "
    "bound (256 MiB): refused before it is parsed (a decompression bomb stops here)."
)

declare_codes(globals())
