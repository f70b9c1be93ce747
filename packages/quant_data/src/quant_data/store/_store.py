"""The governed store: one door to ingest, canonical bars, gaps and corrections, datasets.

:class:`Store` is a thin facade; each concern lives in its own private module of this
package (``_ingest``, ``_bars``, ``_gaps``, ``_datasets``, ``_jobs``, ``_audit``), and all of
them reach the database through one ``_db.Database``. Only the store writes market data.

Examples:
    >>> from quant_core import SimClock, Timeframe
    >>> from quant_data import FetchedPage, RawPage, SourceBar
    >>> store = Store.open("sqlite://", clock=SimClock(10 * Timeframe.H1.ns))
    >>> raw = RawPage("demo", "GET /ohlc", 5, 200, b"...")
    >>> bars = (SourceBar("demo", "BTC", "USD", "1h", 0, "1", "2", "0.5", "1.5", "10"),
    ...         SourceBar("demo", "BTC", "USD", "1h", 7, "1", "2", "0.5", "1.5", "10"))
    >>> result = store.ingest_page(FetchedPage(raw, bars, 0, 3 * Timeframe.H1.ns, None))
    >>> result.bars_new, result.quarantined, result.gaps_opened
    (1, {'STORE_TIMESTAMP_OFF_GRID': 1}, 2)
    >>> store.ingest_page(FetchedPage(raw, bars, 0, 3 * Timeframe.H1.ns, None)).repeat
    True
    >>> [b.close for b in store.latest_bars(["BTC"], "USD", "1h", 0, 3 * Timeframe.H1.ns)]
    [Decimal('1.5')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine

from quant_core import Bar, Clock
from quant_core.errors import QuantUsageError
from quant_core.events import bar_sort_key
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE, get_universe
from quant_data import reasons
from quant_data._dataset import Dataset
from quant_data._records import FetchedPage, parse_timeframe
from quant_data.store import _audit, _bars, _datasets, _gaps, _jobs
from quant_data.store._db import Database, open_engine
from quant_data.store._ingest import Ingest
from quant_data.store._values import (
    CursorUpdate,
    GapStatus,
    IngestResult,
    SeriesKey,
    SeriesStatus,
    VerifyReport,
)


class Store:
    """The governed market-data store over one SQLAlchemy engine (SQLite or PostgreSQL).

    Args:
        engine: the database engine; the store creates its tables if missing.
        clock: the injected clock (future/unclosed candles, correction times).
        symbols: base assets accepted into canonical bars (default: Universe V1).

    A store assumes one writer at a time (a backfill, a sync or an import); readers may run
    concurrently.
    """

    def __init__(
        self, engine: Engine, *, clock: Clock, symbols: Iterable[str] | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        universe = get_universe(UNIVERSE_V1_TOP30_NON_STABLE.name)
        self.symbols = frozenset(universe.symbols if symbols is None else symbols)
        self._db = Database(engine, clock)
        self._ingest = Ingest(self._db, self.symbols)

    @classmethod
    def open(cls, url: str, *, clock: Clock, symbols: Iterable[str] | None = None) -> Store:
        """Open (and create if needed) the store at a database URL.

        ``sqlite://`` is an in-memory database shared by the store's connections;
        ``sqlite:///path`` a file; ``postgresql+psycopg://…`` a PostgreSQL database.

        Raises:
            StoreError: ``STORE_ERROR`` when the database cannot be opened (the message never
                shows a password).
        """
        return cls(open_engine(url), clock=clock, symbols=symbols)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._db.url

    # --- ingest -------------------------------------------------------------------------------

    def ingest_page(
        self,
        page: FetchedPage,
        *,
        series: SeriesKey | None = None,
        confirms_no_trade: bool = False,
        cursor: CursorUpdate | None = None,
    ) -> IngestResult:
        """Record one page: raw record, canonical bars, versions, quarantine and gap ledger.

        One call is one transaction: a crash never leaves half a page visible.

        Args:
            page: what a provider or importer fetched.
            series: the series the page's window answers for (default: every series that has a
                bar in the page); gaps are recorded only for these.
            confirms_no_trade: the provider guarantees that a missing slot had no trade.
            cursor: a job cursor committed atomically with the page.

        Raises:
            StoreError: ``STORE_ERROR`` when the database write fails (nothing is written).
        """
        return self._ingest.page(
            page, series=series, confirms_no_trade=confirms_no_trade, cursor=cursor
        )

    # --- cursors, gaps, sync log -------------------------------------------------------------

    def save_cursor(self, cursor: CursorUpdate) -> None:
        """Write a job cursor on its own (for a job step that fetched nothing)."""
        _jobs.save_cursor(self._db, cursor)

    def cursor(self, job: str, series: SeriesKey) -> tuple[int, bool] | None:
        """``(next_ns, done)`` of a job's cursor for one series, or ``None``."""
        return _jobs.read_cursor(self._db, job, series)

    def gaps(
        self,
        series: SeriesKey,
        statuses: Iterable[str] = (GapStatus.OPEN, GapStatus.RETRIED),
    ) -> list[int]:
        """Open times of the series' ledger slots in ``statuses``, ascending."""
        return _gaps.gap_slots(self._db, series, statuses)

    def mark_retried(self, series: SeriesKey, start_ns: int, end_ns: int) -> int:
        """Record one more retry of every still-open gap slot in ``[start_ns, end_ns)``.

        Returns:
            How many slots were marked.
        """
        return _gaps.mark_retried(self._db, series, start_ns, end_ns)

    def last_open_ns(self, series: SeriesKey) -> int | None:
        """The latest open time with a canonical bar in the series, or ``None``."""
        return _bars.last_open_ns(self._db, series)

    def append_sync_log(
        self,
        series: SeriesKey,
        *,
        from_ns: int,
        to_ns: int,
        pages: int,
        bars_new: int,
        bars_corrected: int,
        quarantined: int,
    ) -> int:
        """Append one entry to the sync log; returns its sequence number."""
        entry = {
            "from_ns": from_ns,
            "to_ns": to_ns,
            "pages": pages,
            "bars_new": bars_new,
            "bars_corrected": bars_corrected,
            "quarantined": quarantined,
        }
        return _jobs.append_sync_log(self._db, series, entry)

    def sync_log(self) -> list[dict[str, Any]]:
        """Every sync log entry, in order."""
        return _jobs.sync_log(self._db)

    # --- reading ------------------------------------------------------------------------------

    def latest_seq(self) -> int:
        """The newest ingest sequence number (0 for an empty store)."""
        with self._db.tx("read the ingest sequence") as conn:
            return self._db.max_seq(conn)

    def content_hash(self) -> str:
        """``sha256:<hex>`` over every content table, row by row in primary-key order.

        Raw payloads enter through their hash; job cursors are excluded (they are progress, not
        content). Two stores hash equal exactly when they hold the same data, whatever the
        backend.
        """
        return _audit.content_hash(self._db)

    def bar_versions(
        self, source: str, symbol: str, quote: str, timeframe: str, open_time_ns: int
    ) -> list[dict[str, Any]]:
        """Every stored version of one bar, oldest first."""
        series = SeriesKey(source, symbol, quote, timeframe)
        return _bars.bar_versions(self._db, series, open_time_ns)

    def corrections(self) -> list[dict[str, Any]]:
        """Every correction record, in primary-key order."""
        return _gaps.corrections(self._db)

    def quarantine(self) -> list[dict[str, Any]]:
        """Every quarantined row, in ingest order."""
        return _gaps.quarantine(self._db)

    def ledger(self) -> list[dict[str, Any]]:
        """The whole gap ledger, in primary-key order."""
        return _gaps.ledger(self._db)

    def latest_bars(
        self,
        symbols: Sequence[str],
        quote: str,
        timeframe: str,
        start_ns: int,
        end_ns: int,
        *,
        prefer: Sequence[str] | None = None,
    ) -> list[Bar]:
        """The bars of ``symbols`` opened in ``[start_ns, end_ns)``, newest versions, event order.

        Exactly the bars :meth:`materialize` puts in a dataset of the same window as of the
        newest ingest, without building one (no CSV, no hash, no summary): one indexed query
        on open time, so the cost follows the window, not the history.

        Returns:
            The bars sorted by :func:`quant_core.bar_sort_key`; empty for an empty window or
            when nothing matches.

        Raises:
            QuantUsageError: ``STORE_REQUEST_INVALID`` for no symbols, an unknown timeframe or
                an unknown quote.
        """
        tf = parse_timeframe(timeframe)
        if quote not in _bars.QUOTES or not symbols:
            raise QuantUsageError(
                f"bad bar request: symbols={list(symbols)} quote={quote!r}",
                reason_code=reasons.STORE_REQUEST_INVALID,
            )
        if end_ns <= start_ns:
            return []
        with self._db.tx("read bars") as conn:
            chosen = _bars.select_bars(
                conn, symbols, quote, tf, start_ns, end_ns, as_of=None, prefer=prefer
            )
        return sorted((_bars.to_bar(r, tf) for r in chosen.values()), key=bar_sort_key)

    def materialize(
        self,
        symbols: Sequence[str],
        quote: str,
        timeframe: str,
        start_ns: int,
        end_ns: int,
        *,
        as_of: int | None = None,
        prefer: Sequence[str] | None = None,
    ) -> Dataset:
        """Build the dataset of ``symbols`` over ``[start_ns, end_ns)`` as of an ingest sequence.

        For every (symbol, open time) the bar is the latest version with ``ingest_seq <=
        as_of`` from the first source in :func:`source_preference` order that has one. The
        manifest's summary counts, per symbol, missing slots, corrections and quarantined rows
        visible at ``as_of``, and the gap ledger's current statuses.

        Raises:
            QuantUsageError: ``STORE_REQUEST_INVALID`` for an empty window, an unknown
                timeframe or quote, or an ``as_of`` beyond the newest ingest.
            RejectedError: ``STORE_NO_DATA`` when no bar matches.
        """
        return _datasets.materialize(
            self._db, symbols, quote, timeframe, start_ns, end_ns, as_of=as_of, prefer=prefer
        )

    def status(self) -> list[SeriesStatus]:
        """Coverage, gaps, quarantine and corrections of every series, sorted."""
        return _audit.status(self._db)

    def verify(self) -> VerifyReport:
        """Check schema, raw ordering and payload hashes, bar versions, duplicates, gap ledger.

        Returns:
            A :class:`VerifyReport`; ``ok`` is False with the reason code of the first failed
            check (``STORE_SCHEMA_INVALID``, ``STORE_VERSIONS_BROKEN``,
            ``STORE_GAP_LEDGER_INVALID``).
        """
        return _audit.verify(self._db)
