"""Materialized datasets: the one hand-off format from data to models, backtests and bundles.

A dataset is a directory with two files:

* ``bars.csv`` — canonical bars, one row per (symbol, open time), sorted by symbol then open
  time, with the header ``symbol,quote,timeframe,open_time_ns,open,high,low,close,volume``.
  Numbers are written in canonical decimal text (no exponent, no trailing zeros), so the bytes
  do not depend on the database backend that produced them.
* ``dataset.json`` — the :class:`DatasetManifest`: what was asked for, row count, the gap and
  correction summary, and ``dataset_hash``, the SHA-256 of the exact ``bars.csv`` bytes.

The hash is identical across runs, processes and SQLite vs PostgreSQL because it is taken over
bytes that are a pure function of the bar values. :func:`read_dataset` recomputes it and refuses
a directory whose bars do not match their manifest.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from quant_core import Bar, Instrument, Timeframe
    >>> btc = Instrument("BTC", "USD")
    >>> bars = [Bar(btc, "1h", i * Timeframe.H1.ns, "100", "101.50", "99", "100.0", "3")
    ...         for i in range(3)]
    >>> ds = Dataset.from_bars(bars)
    >>> ds.manifest.rows, ds.manifest.symbols
    (3, ('BTC',))
    >>> ds.csv_bytes.splitlines()[1]
    b'BTC,USD,1h,0,100,101.5,99,100,3'
    >>> out = Path(tempfile.mkdtemp()) / "ds"
    >>> write_dataset(out, ds) == ds.manifest.dataset_hash
    True
    >>> read_dataset(out).bars() == tuple(bars)
    True
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from quant_core import (
    Bar,
    Instrument,
    Timeframe,
    bytes_hash,
    canonical_json,
    structure,
    unstructure,
)
from quant_core.errors import IntegrityError, ValidationError
from quant_core.files import write_tree_atomic
from quant_data import reasons

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BARS_FILE",
    "COLUMNS",
    "DATASET_FORMAT",
    "MANIFEST_FILE",
    "Dataset",
    "DatasetManifest",
    "decimal_text",
    "read_dataset",
    "write_dataset",
]

DATASET_FORMAT = "quant.dataset/1"
BARS_FILE = "bars.csv"
MANIFEST_FILE = "dataset.json"
COLUMNS = ("symbol", "quote", "timeframe", "open_time_ns", "open", "high", "low", "close", "volume")


def decimal_text(value: Decimal) -> str:
    """Canonical text of a decimal: no exponent, no trailing zeros, ``0`` for zero.

    Examples:
        >>> [decimal_text(Decimal(x)) for x in ("1.500", "1E+2", "0.00", "-0", "0.000012")]
        ['1.5', '100', '0', '0', '0.000012']
    """
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


@attrs.frozen
class DatasetManifest:
    """What a dataset is, and the hash that pins its bytes.

    Attributes:
        format: always :data:`DATASET_FORMAT`.
        dataset_hash: ``sha256:<hex>`` of the ``bars.csv`` bytes.
        quote: the quote currency of every row.
        timeframe: the bar length of every row.
        symbols: base assets present, sorted.
        start_ns: the window's inclusive start (first open time asked for).
        end_ns: the window's exclusive end.
        rows: number of bars.
        as_of: the store version the bars were read at (``None`` when built from files).
        summary: gap, correction and quarantine summary from the store, canonical JSON data.
    """

    format: str
    dataset_hash: str
    quote: str
    timeframe: str
    symbols: tuple[str, ...]
    start_ns: int
    end_ns: int
    rows: int
    as_of: str | None = None
    summary: dict[str, Any] = attrs.field(factory=dict)


def _csv_bytes(bars: Iterable[Bar]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for bar in bars:
        writer.writerow(
            (
                bar.instrument.base,
                bar.instrument.quote.value,
                bar.timeframe.value,
                bar.open_time_ns,
                *(decimal_text(v) for v in (bar.open, bar.high, bar.low, bar.close, bar.volume)),
            )
        )
    return buffer.getvalue().encode("utf-8")


@attrs.frozen
class Dataset:
    """Canonical bars plus their manifest. Build with :meth:`from_bars`."""

    manifest: DatasetManifest
    csv_bytes: bytes = attrs.field(repr=False)

    @classmethod
    def from_bars(
        cls,
        bars: Iterable[Bar],
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        as_of: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> Dataset:
        """Sort, check and hash ``bars`` into a dataset.

        Raises:
            ValidationError: ``DATASET_INVALID`` when the bars are empty, mix quote currencies
                or timeframes, repeat a (symbol, open time), or fall outside the window.
        """
        ordered = sorted(bars, key=lambda b: (b.instrument.base, b.open_time_ns))
        if not ordered:
            raise ValidationError(
                "a dataset needs at least one bar", reason_code=reasons.DATASET_INVALID
            )
        quotes = {b.instrument.quote for b in ordered}
        timeframes = {b.timeframe for b in ordered}
        if len(quotes) != 1 or len(timeframes) != 1:
            raise ValidationError(
                "a dataset has one quote currency and one timeframe",
                reason_code=reasons.DATASET_INVALID,
            )
        keys = [(b.instrument.base, b.open_time_ns) for b in ordered]
        if len(set(keys)) != len(keys):
            raise ValidationError(
                "a dataset cannot hold two bars of one symbol at one open time",
                reason_code=reasons.DATASET_INVALID,
            )
        timeframe = timeframes.pop()
        first = min(b.open_time_ns for b in ordered)
        last = max(b.open_time_ns for b in ordered) + timeframe.ns
        start = first if start_ns is None else start_ns
        end = last if end_ns is None else end_ns
        if first < start or last > end:
            raise ValidationError(
                f"bars span [{first}, {last}) outside the window [{start}, {end})",
                reason_code=reasons.DATASET_INVALID,
            )
        data = _csv_bytes(ordered)
        manifest = DatasetManifest(
            format=DATASET_FORMAT,
            dataset_hash=bytes_hash(data),
            quote=quotes.pop().value,
            timeframe=timeframe.value,
            symbols=tuple(sorted({b.instrument.base for b in ordered})),
            start_ns=start,
            end_ns=end,
            rows=len(ordered),
            as_of=as_of,
            summary=dict(summary or {}),
        )
        return cls(manifest=manifest, csv_bytes=data)

    def bars(self) -> tuple[Bar, ...]:
        """The bars as core :class:`~quant_core.Bar` values, sorted by symbol then time."""
        reader = csv.reader(io.StringIO(self.csv_bytes.decode("utf-8")))
        next(reader)
        return tuple(
            Bar(
                Instrument(row[0], row[1]),
                Timeframe(row[2]),
                int(row[3]),
                open=row[4],
                high=row[5],
                low=row[6],
                close=row[7],
                volume=row[8],
            )
            for row in reader
        )

    def frame(self) -> pd.DataFrame:
        """The bars as a pandas frame: ``open_time_ns`` int64, prices and volume float64.

        Floats are for numerical work only; the decimal text in ``bars.csv`` stays the
        record of truth.
        """
        import pandas as pd  # pandas only for callers that want a frame

        return pd.read_csv(
            io.BytesIO(self.csv_bytes),
            dtype={
                "symbol": "string",
                "quote": "string",
                "timeframe": "string",
                "open_time_ns": "int64",
                **dict.fromkeys(("open", "high", "low", "close", "volume"), "float64"),
            },
        )


def write_dataset(directory: Path, dataset: Dataset) -> str:
    """Write ``dataset`` to ``directory`` atomically and return its hash.

    The files are written into a sibling temporary directory, fsynced, and renamed into
    place, so a reader never sees half a dataset: a mismatch between the two files is
    impossible. An existing directory is moved aside and replaced.
    """
    write_tree_atomic(
        Path(directory),
        {
            BARS_FILE: dataset.csv_bytes,
            MANIFEST_FILE: canonical_json(unstructure(dataset.manifest)) + b"\n",
        },
        replace=True,
    )
    return dataset.manifest.dataset_hash


def read_dataset(directory: Path) -> Dataset:
    """Read and verify a dataset directory written by :func:`write_dataset`.

    Raises:
        ValidationError: ``DATASET_INVALID`` when a file is missing or the manifest malformed.
        IntegrityError: ``DATASET_HASH_MISMATCH`` when ``bars.csv`` does not hash to the
            manifest's ``dataset_hash``.
    """
    directory = Path(directory)
    try:
        raw_manifest = (directory / MANIFEST_FILE).read_bytes()
        data = (directory / BARS_FILE).read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"{directory} is not a dataset: {exc.strerror or exc}",
            reason_code=reasons.DATASET_INVALID,
        ) from exc
    try:
        manifest = structure(json.loads(raw_manifest), DatasetManifest)
    except (ValueError, ValidationError) as exc:
        raise ValidationError(
            f"{directory / MANIFEST_FILE} is not a dataset manifest: {exc}",
            reason_code=reasons.DATASET_INVALID,
        ) from exc
    if manifest.format != DATASET_FORMAT:
        raise ValidationError(
            f"unsupported dataset format {manifest.format!r}", reason_code=reasons.DATASET_INVALID
        )
    actual = bytes_hash(data)
    if actual != manifest.dataset_hash:
        raise IntegrityError(
            f"{directory / BARS_FILE} hashes to {actual}, manifest says {manifest.dataset_hash}",
            reason_code=reasons.DATASET_HASH_MISMATCH,
        )
    return Dataset(manifest=manifest, csv_bytes=data)
