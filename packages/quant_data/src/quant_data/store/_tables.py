"""The store's tables (SQLModel), shared by SQLite and PostgreSQL.

Every time is UTC integer nanoseconds (``BIGINT``); every price and volume is canonical decimal
text (see :func:`quant_data.decimal_text`), so values read back are byte-identical on
both backends. Sequence numbers (``seq``) are assigned by the store, not by database
sequences, because PostgreSQL sequences advance on a conflicting insert and would make the two
backends diverge.

Tables:

* ``qd_raw_ingest`` — append-only raw pages: source, request, received-at, status, payload
  hash and bytes; ``seq`` is the ingest sequence every other row points back to.
* ``qd_bar`` — canonical bars, one row per (source, symbol, quote, timeframe, open time,
  version); a revision adds a version, never rewrites one.
* ``qd_correction`` — old and new values of every revision.
* ``qd_quarantine`` — rejected rows with a reason code and their raw page.
* ``qd_gap`` — the gap ledger, one row per missing slot and source.
* ``qd_cursor`` — backfill and sync progress (job state, not content).
* ``qd_sync_log`` — the deterministic append log of sync runs.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Index, LargeBinary, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "CONTENT_TABLES",
    "CanonicalBar",
    "Correction",
    "Cursor",
    "GapEntry",
    "Quarantined",
    "RawIngest",
    "SyncLogEntry",
    "all_tables",
    "table_of",
]


class _Slot(SQLModel):
    """The key columns that open a slot's table: one grid slot of one source's series."""

    source: str = Field(primary_key=True)
    symbol: str = Field(primary_key=True)
    quote: str = Field(primary_key=True)
    timeframe: str = Field(primary_key=True)
    open_time_ns: int = Field(primary_key=True, sa_type=BigInteger)


class RawIngest(SQLModel, table=True):
    """One raw page, recorded once per (source, request, payload hash)."""

    __tablename__ = "qd_raw_ingest"
    __table_args__ = (UniqueConstraint("source", "request", "payload_hash"),)

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    source: str
    request: str
    received_at_ns: int = Field(sa_type=BigInteger)
    status: int
    payload_hash: str
    payload: bytes = Field(sa_type=LargeBinary)


class CanonicalBar(_Slot, table=True):
    """One version of one validated candle."""

    __tablename__ = "qd_bar"
    # Reads by open time across sources (datasets, the incremental feed) seek this index.
    __table_args__ = (Index("ix_qd_bar_open_time", "symbol", "quote", "timeframe", "open_time_ns"),)

    version: int = Field(primary_key=True)
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int | None = Field(default=None, sa_type=BigInteger)
    ingest_seq: int = Field(sa_type=BigInteger, index=True)


class Correction(_Slot, table=True):
    """A revision of a bar: the values of the version it replaced and of the new one."""

    __tablename__ = "qd_correction"

    new_version: int = Field(primary_key=True)
    old_version: int
    old_values: str
    new_values: str
    ingest_seq: int = Field(sa_type=BigInteger)
    recorded_at_ns: int = Field(sa_type=BigInteger)


class Quarantined(SQLModel, table=True):
    """A row that failed validation, with its reason and the raw page it came in."""

    __tablename__ = "qd_quarantine"

    ingest_seq: int = Field(primary_key=True, sa_type=BigInteger)
    row_index: int = Field(primary_key=True)
    source: str
    symbol: str
    quote: str
    timeframe: str
    open_time_ns: int = Field(sa_type=BigInteger)
    reason_code: str
    row: str


class GapEntry(_Slot, table=True):
    """A slot a source did not deliver: open, retried, filled or confirmed_no_trade."""

    __tablename__ = "qd_gap"

    status: str
    confirmed_by: str | None = None
    attempts: int = 0
    detected_seq: int = Field(sa_type=BigInteger)
    updated_seq: int = Field(sa_type=BigInteger)


class Cursor(SQLModel, table=True):
    """Where a backfill or sync job of one series stands."""

    __tablename__ = "qd_cursor"

    job: str = Field(primary_key=True)
    source: str = Field(primary_key=True)
    symbol: str = Field(primary_key=True)
    quote: str = Field(primary_key=True)
    timeframe: str = Field(primary_key=True)
    next_ns: int = Field(sa_type=BigInteger)
    done: bool = False
    updated_seq: int = Field(sa_type=BigInteger)


class SyncLogEntry(SQLModel, table=True):
    """One sync of one series: what window it covered and what it added."""

    __tablename__ = "qd_sync_log"

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    source: str
    symbol: str
    quote: str
    timeframe: str
    from_ns: int = Field(sa_type=BigInteger)
    to_ns: int = Field(sa_type=BigInteger)
    pages: int
    bars_new: int
    bars_corrected: int
    quarantined: int
    recorded_at_ns: int = Field(sa_type=BigInteger)


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy Core table of a table model."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def all_tables() -> list[Table]:
    """Every store table, in creation order."""
    return [
        table_of(m)
        for m in (RawIngest, CanonicalBar, Correction, Quarantined, GapEntry, Cursor, SyncLogEntry)
    ]


#: The tables whose content the store's content hash covers (cursors are job state).
CONTENT_TABLES: tuple[type[SQLModel], ...] = (
    RawIngest,
    CanonicalBar,
    Correction,
    Quarantined,
    GapEntry,
    SyncLogEntry,
)
