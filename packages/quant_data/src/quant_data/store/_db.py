"""The store's database handle: engine, clock, transactions, error mapping, bulk inserts.

Every concern of the store (ingest, canonical bars, gaps and corrections, datasets, jobs,
audit) reaches the database through one :class:`Database`, so a failed statement always
becomes a :class:`~quant_data.StoreError` with ``STORE_ERROR`` and a rolled-back
transaction, whichever module ran it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from quant_core import Clock
from quant_core.settings import redact_text, redact_url
from quant_data import reasons
from quant_data._errors import StoreError
from quant_data.store._tables import (
    CanonicalBar,
    Correction,
    Cursor,
    GapEntry,
    Quarantined,
    RawIngest,
    SyncLogEntry,
    all_tables,
    table_of,
)
from quant_data.store._values import SeriesKey

RAW = table_of(RawIngest)
BAR = table_of(CanonicalBar)
CORR = table_of(Correction)
QUAR = table_of(Quarantined)
GAP = table_of(GapEntry)
CUR = table_of(Cursor)
SYNC = table_of(SyncLogEntry)

#: The columns that name a series, in key order.
SERIES_COLUMNS = ("source", "symbol", "quote", "timeframe")
#: A series: (source, symbol, quote, timeframe).
Series = tuple[str, str, str, str]

_MAX_SEQ = select(func.coalesce(func.max(RAW.c.seq), 0))


def series_where(table: Table) -> ColumnElement[bool]:
    """One series of ``table``, with bound parameters named like the columns."""
    return and_(*(table.c[name] == bindparam(name) for name in SERIES_COLUMNS))


def series_params(series: Series) -> dict[str, Any]:
    """The bound parameters of :func:`series_where` for one series."""
    return dict(zip(SERIES_COLUMNS, series, strict=True))


def series_filter(table: Table, series: SeriesKey) -> ColumnElement[bool]:
    """One series of ``table``, with its values inlined."""
    return and_(
        table.c.source == series.source,
        table.c.symbol == series.symbol,
        table.c.quote == series.quote,
        table.c.timeframe == series.timeframe,
    )


_PSYCOPG_SCHEMES = ("postgres://", "postgresql://")


def driver_url(url: str) -> str:
    """``url`` with the installed PostgreSQL driver named.

    ``postgres://`` and ``postgresql://`` (the forms hosting providers print) become
    ``postgresql+psycopg://``; other URLs are unchanged.

    Examples:
        >>> driver_url("postgres://u@db:5432/quant")
        'postgresql+psycopg://u@db:5432/quant'
        >>> driver_url("sqlite:///x.db")
        'sqlite:///x.db'
    """
    for scheme in _PSYCOPG_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def open_engine(url: str) -> Engine:
    """An engine for a store URL (``sqlite://`` is one in-memory database shared by threads).

    ``postgres://`` and ``postgresql://`` URLs are opened with psycopg (:func:`driver_url`).

    Raises:
        StoreError: ``STORE_ERROR`` when the URL cannot be opened (never showing a password).
    """
    url = driver_url(url)
    try:
        if url in ("sqlite://", "sqlite:///:memory:"):
            engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            engine = create_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StoreError(
            f"cannot open the store: {type(exc).__name__}", reason_code=reasons.STORE_ERROR
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """The engine and clock of one store, with its tables and indexes created if missing.

    Args:
        engine: the database engine (disposed again when the tables cannot be created).
        clock: the injected clock.

    Raises:
        StoreError: ``STORE_ERROR`` when the tables cannot be created.
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._insert_sql: dict[str, str] = {}
        try:
            with self.guard("create the store tables"):
                for table in all_tables():
                    table.create(engine, checkfirst=True)
                    for index in table.indexes:  # indexes added to tables that already exist
                        index.create(engine, checkfirst=True)
        except StoreError:
            engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The database URL with any password masked (:func:`~quant_core.settings.redact_url`)."""
        return redact_url(self.engine.url.render_as_string(hide_password=False))

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn a database failure while doing ``what`` into ``StoreError(STORE_ERROR)``."""
        try:
            yield
        except SQLAlchemyError as exc:
            detail = redact_text(str(getattr(exc, "orig", "") or "")).splitlines()[:1]
            raise StoreError(
                f"could not {what} in {self.url}: {type(exc).__name__} {' '.join(detail)}".strip(),
                reason_code=reasons.STORE_ERROR,
            ) from None

    @contextmanager
    def tx(self, what: str) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.guard(what), self.engine.begin() as conn:
            yield conn

    @staticmethod
    def insert(conn: Connection, table: Table, row: dict[str, Any]) -> None:
        """Insert one row, skipping it on a key conflict."""
        ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(ins(table).on_conflict_do_nothing(), row)

    def insert_rows(self, conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Bulk insert of plain rows (every column, in table order), skipping conflicts.

        The hot path of ingest: one driver ``executemany`` through the Core connection, with
        no per-row parameter processing (the bulk tables hold only text and integers).
        """
        if rows:
            sql = self._insert_sql.get(table.name)
            if sql is None:
                sql = self._insert_sql[table.name] = _insert_sql(conn.dialect, table)
            conn.exec_driver_sql(sql, rows)

    @staticmethod
    def max_seq(conn: Connection) -> int:
        """The newest ingest sequence number (0 for an empty store)."""
        return int(conn.execute(_MAX_SEQ).scalar_one())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _insert_sql(dialect: Dialect, table: Table) -> str:
    """``INSERT … ON CONFLICT DO NOTHING`` of every column of ``table``, positional markers.

    Both backends (SQLite >= 3.24 and PostgreSQL) accept the same statement; only the marker
    differs (``?`` for sqlite3, ``%s`` for psycopg).
    """
    quote = dialect.identifier_preparer
    columns = ", ".join(quote.format_column(c) for c in table.columns)
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    markers = ", ".join([marker] * len(table.columns))
    return (
        f"INSERT INTO {quote.format_table(table)} ({columns}) VALUES ({markers}) "
        "ON CONFLICT DO NOTHING"
    )
