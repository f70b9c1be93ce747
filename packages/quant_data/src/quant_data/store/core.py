"""The governed store: ingest pages, quarantine bad rows, version bars, keep the gap ledger.

Only this module writes market data to the database. One :meth:`Store.ingest_page` call is one
transaction: the raw page, its canonical bars and versions, corrections, quarantined rows, gap
ledger changes and (optionally) the job cursor are committed together or not at all, so a
crash never leaves half a page visible and a resumed job continues from a consistent cursor.

Rules (see ``docs/concepts/raw-and-canonical.md``):

* A raw page is recorded once per (source, request, payload hash); seeing the same page again
  is a *repeat*: nothing changes and :attr:`IngestResult.repeat` says so.
* Within a page, identical duplicates collapse into one bar; *conflicting* duplicates are all
  quarantined (``STORE_DUPLICATE_CONFLICT``) and the slot stays a gap.
* A valid bar equal to the latest stored version of its key changes nothing; a different one
  becomes version ``n + 1`` with a :class:`~quant_data.store.tables.Correction` row.
* Gaps are per source: every closed grid slot of a page's window without a bar is recorded in
  the ledger (``confirmed_no_trade`` when the provider confirms no trade, else ``open``); a bar
  arriving later marks the slot ``filled``. Nothing is ever filled with a made-up bar.

Examples:
    >>> from quant_core import SimClock, Timeframe
    >>> from quant_data.records import FetchedPage, RawPage, SourceBar
    >>> store = Store.open("sqlite://", clock=SimClock(10 * Timeframe.H1.ns))
    >>> raw = RawPage("demo", "GET /ohlc", 5, 200, b"...")
    >>> bars = (SourceBar("demo", "BTC", "USD", "1h", 0, "1", "2", "0.5", "1.5", "10"),
    ...         SourceBar("demo", "BTC", "USD", "1h", 7, "1", "2", "0.5", "1.5", "10"))
    >>> result = store.ingest_page(FetchedPage(raw, bars, 0, 3 * Timeframe.H1.ns, None))
    >>> result.bars_new, result.quarantined, result.gaps_opened
    (1, {'STORE_TIMESTAMP_OFF_GRID': 1}, 2)
    >>> store.ingest_page(FetchedPage(raw, bars, 0, 3 * Timeframe.H1.ns, None)).repeat
    True
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
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
    inspect,
    or_,
    select,
)
from sqlalchemy import update as sa_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from quant_core import (
    Bar,
    Clock,
    Instrument,
    QuoteCurrency,
    Timeframe,
    bytes_hash,
    canonical_json,
    ns_to_iso,
)
from quant_core.errors import QuantUsageError
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE, get_universe
from quant_data import reasons
from quant_data.dataset import Dataset, decimal_text
from quant_data.errors import StoreError
from quant_data.records import FetchedPage, SourceBar
from quant_data.store.tables import (
    CONTENT_TABLES,
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

__all__ = [
    "GAP_STATUSES",
    "CursorUpdate",
    "IngestResult",
    "SeriesKey",
    "SeriesStatus",
    "Store",
    "VerifyReport",
    "source_preference",
]

GAP_STATUSES = ("open", "retried", "filled", "confirmed_no_trade")
_PRICE_FIELDS = ("open", "high", "low", "close")
_VALUE_FIELDS = ("open", "high", "low", "close", "volume")

_RAW = table_of(RawIngest)
_BAR = table_of(CanonicalBar)
_CORR = table_of(Correction)
_QUAR = table_of(Quarantined)
_GAP = table_of(GapEntry)
_CUR = table_of(Cursor)
_SYNC = table_of(SyncLogEntry)


def _series_where(table: Table) -> ColumnElement[bool]:
    """One series of ``table``, with bound parameters named like the columns."""
    return and_(*(table.c[name] == bindparam(name) for name in _SERIES_COLUMNS))


def _series_params(series: tuple[str, str, str, str]) -> dict[str, Any]:
    return dict(zip(_SERIES_COLUMNS, series, strict=True))


# Statements of the ingest path, built once (SQLAlchemy caches their compiled form).
_SERIES_COLUMNS = ("source", "symbol", "quote", "timeframe")
_NEXT_SEQ = select(func.coalesce(func.max(_RAW.c.seq), 0))
_RAW_SEQ = select(_RAW.c.seq).where(
    *(_RAW.c[name] == bindparam(name) for name in ("source", "request", "payload_hash"))
)
_LATEST = (
    select(_BAR)
    .where(_series_where(_BAR), _BAR.c.open_time_ns.between(bindparam("lo"), bindparam("hi")))
    .order_by(_BAR.c.version)
)
_BAR_TIMES = select(_BAR.c.open_time_ns).where(
    _series_where(_BAR),
    _BAR.c.open_time_ns >= bindparam("lo"),
    _BAR.c.open_time_ns < bindparam("hi"),
)
_GAP_WINDOW = select(_GAP).where(
    _series_where(_GAP),
    _GAP.c.open_time_ns >= bindparam("lo"),
    _GAP.c.open_time_ns < bindparam("hi"),
)

#: A series: (source, symbol, quote, timeframe).
_Series = tuple[str, str, str, str]
#: A bar's natural key: (source, symbol, quote, timeframe, open time).
_Key = tuple[str, str, str, str, int]
#: One valid row of a page: (row index, canonical value texts, trades).
_Copy = tuple[int, tuple[str, ...], int | None]
#: What a page's rows of one series share: (reason code or None, grid slot length, open time
#: modulo the slot length, latest closed open time, the valid rows by open time).
_SeriesCheck = tuple[str | None, int, int, int, dict[int, _Copy]]


@attrs.frozen(order=True)
class SeriesKey:
    """One source's series: (source, symbol, quote, timeframe)."""

    source: str
    symbol: str
    quote: str
    timeframe: str


@attrs.frozen
class CursorUpdate:
    """A job cursor to write in the same transaction as a page."""

    job: str
    series: SeriesKey
    next_ns: int
    done: bool


@attrs.frozen
class IngestResult:
    """What one page changed. Every row of the page is counted in exactly one bucket."""

    seq: int
    repeat: bool = False
    bars_new: int = 0
    bars_corrected: int = 0
    bars_unchanged: int = 0
    duplicates_collapsed: int = 0
    quarantined: dict[str, int] = attrs.field(factory=dict)
    gaps_opened: int = 0
    gaps_confirmed: int = 0
    gaps_filled: int = 0

    @property
    def quarantined_total(self) -> int:
        """Rows quarantined, all reasons together."""
        return sum(self.quarantined.values())


@attrs.frozen
class SeriesStatus:
    """Coverage and findings of one series (``quant data status``)."""

    source: str
    symbol: str
    quote: str
    timeframe: str
    bars: int
    first_open_ns: int | None
    last_open_ns: int | None
    gaps: dict[str, int]
    quarantined: int
    corrections: int


@attrs.frozen
class VerifyReport:
    """The result of :meth:`Store.verify`: ``ok`` or the first failed check and why."""

    ok: bool
    checks: tuple[str, ...]
    reason_code: str | None = None
    message: str | None = None


def source_preference(sources: Iterable[str], prefer: Sequence[str] | None = None) -> list[str]:
    """Order sources for materialization: ``prefer`` first (in its order), then the rest.

    The default puts ``kraken`` (the venue quant trades on) first, then every other source in
    alphabetical order.

    Examples:
        >>> source_preference(["import:csv", "coinapi", "kraken"])
        ['kraken', 'coinapi', 'import:csv']
        >>> source_preference(["kraken", "coinapi"], prefer=["coinapi"])
        ['coinapi', 'kraken']
    """
    first = list(prefer) if prefer is not None else ["kraken"]
    present = set(sources)
    return [s for s in first if s in present] + sorted(present - set(first))


def _dec(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None


def _le(a: float, a_text: str, b: float, b_text: str) -> bool:
    """Exact ``a <= b`` for canonical texts: floats decide unless they tie."""
    if a != b:
        return a < b
    return a_text == b_text or Decimal(a_text) <= Decimal(b_text)


def _series_check(
    series: _Series, page_source: str, symbols: frozenset[str], now_ns: int
) -> _SeriesCheck:
    """Check a row's (source, symbol, quote, timeframe) once per page and series.

    Returns (reason code or None, grid slot length, open time modulo the slot length, latest
    closed open time, an empty dict for the series' valid rows by open time).
    """
    source, symbol, quote, timeframe = series
    reason = None
    grid = _GRID.get(timeframe, (1, 0))
    if source != page_source:
        reason = reasons.STORE_SOURCE_MISMATCH
    elif symbol not in symbols:
        reason = reasons.STORE_SYMBOL_UNKNOWN
    elif quote not in _QUOTES:
        reason = reasons.STORE_QUOTE_UNSUPPORTED
    elif timeframe not in _GRID:
        reason = reasons.STORE_TIMEFRAME_UNSUPPORTED
    return reason, grid[0], grid[1], now_ns - grid[0], {}


def _time_reason(t: int, slot: int, offset: int, now_ns: int) -> str:
    """Why an open time that is not an on-grid, closed slot is rejected."""
    if t < 0 or t % slot != offset:
        return reasons.STORE_TIMESTAMP_OFF_GRID
    if t > now_ns:
        return reasons.STORE_TIMESTAMP_FUTURE
    return reasons.STORE_BAR_NOT_CLOSED


def _check_values(texts: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """Return (reason code or None, canonical value texts) of (open, high, low, close, volume)."""
    if _CANONICAL_ROW.match(",".join(texts)) is None:
        return _validate_slow(texts)
    to, th, tl, tc, _ = texts
    o, h, low, c = float(to), float(th), float(tl), float(tc)
    # Float rounding is monotonic, so a strict float order proves the strict decimal order
    # (and positive prices); only ties (equal or indistinguishable prices) need exact checks.
    if 0.0 < low < o < h and low < c < h:
        return None, texts
    if "0" in (to, th, tl, tc):
        return reasons.STORE_PRICE_NONPOSITIVE, ()
    consistent = (
        _le(low, tl, h, th)
        and _le(low, tl, o, to)
        and _le(o, to, h, th)
        and _le(low, tl, c, tc)
        and _le(c, tc, h, th)
    )
    if not consistent:
        return reasons.STORE_OHLC_INCONSISTENT, ()
    return None, texts


def _validate_slow(texts: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    checked: list[Decimal] = []
    for text in texts:
        value = _dec(text)
        if value is None:
            return reasons.STORE_VALUE_INVALID, ()
        if not value.is_finite():
            return reasons.STORE_PRICE_NAN, ()
        checked.append(value)
    o, h, low, c, v = checked
    if min(o, h, low, c) <= 0:
        return reasons.STORE_PRICE_NONPOSITIVE, ()
    if v < 0:
        return reasons.STORE_VOLUME_NEGATIVE, ()
    if h < low or not (low <= o <= h and low <= c <= h):
        return reasons.STORE_OHLC_INCONSISTENT, ()
    return None, tuple(decimal_text(x) for x in checked)


#: Decimal text already in canonical form (non-negative, no exponent, no trailing zeros).
_CANONICAL = r"(?:0|[1-9][0-9]*+)(?:\.[0-9]*+(?<=[1-9]))?"
#: Five canonical texts joined by commas. A comma cannot occur in a canonical text, so the
#: joined row matches exactly when each of the five texts is canonical.
_CANONICAL_ROW = re.compile(",".join([_CANONICAL] * 5) + r"\Z")
#: timeframe -> (slot length, open time modulo the slot length).
_GRID = {t.value: (t.ns, t.floor(0) % t.ns) for t in Timeframe}
_QUOTES = frozenset(q.value for q in QuoteCurrency)
_TIMEFRAMES = {t.value: t for t in Timeframe}


def _values_json(values: Sequence[str], trades: int | None) -> str:
    doc: dict[str, Any] = dict(zip(_VALUE_FIELDS, values, strict=True))
    doc["trades"] = trades
    return canonical_json(doc).decode()


def _timeframe(value: str) -> Timeframe:
    try:
        return Timeframe(value)
    except ValueError:
        raise QuantUsageError(
            f"unknown timeframe {value!r}", reason_code=reasons.STORE_REQUEST_INVALID
        ) from None


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
        self._insert_sql: dict[str, str] = {}
        ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._raw_insert = ins(_RAW).on_conflict_do_nothing().returning(_RAW.c.seq)
        try:
            with self._guard("create the store tables"):
                for table in all_tables():
                    table.create(engine, checkfirst=True)
        except StoreError:
            engine.dispose()
            raise

    @classmethod
    def open(cls, url: str, *, clock: Clock, symbols: Iterable[str] | None = None) -> Store:
        """Open (and create if needed) the store at a database URL.

        ``sqlite://`` is an in-memory database shared by the store's connections;
        ``sqlite:///path`` a file; ``postgresql+psycopg://…`` a PostgreSQL database.

        Raises:
            StoreError: ``STORE_ERROR`` when the database cannot be opened (the message never
                shows a password).
        """
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
        return cls(engine, clock=clock, symbols=symbols)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", "") or "").splitlines()[:1]
            raise StoreError(
                f"could not {what} in {self.url}: {type(exc).__name__} {' '.join(detail)}".strip(),
                reason_code=reasons.STORE_ERROR,
            ) from None

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        with self._guard(what), self.engine.begin() as conn:
            yield conn

    def _insert(self, conn: Connection, table: Any, row: dict[str, Any]) -> None:
        ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(ins(table).on_conflict_do_nothing(), row)

    def _insert_rows(self, conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Bulk insert of plain rows (every column, in table order), skipping conflicts.

        The hot path of ingest: one driver ``executemany`` through the Core connection, with
        no per-row parameter processing (the bulk tables hold only text and integers).
        """
        if rows:
            sql = self._insert_sql.get(table.name)
            if sql is None:
                sql = self._insert_sql[table.name] = _insert_sql(conn.dialect, table)
            conn.exec_driver_sql(sql, rows)

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

        Args:
            page: what a provider or importer fetched.
            series: the series the page's window answers for (default: every series that has a
                bar in the page); gaps are recorded only for these.
            confirms_no_trade: the provider guarantees that a missing slot had no trade.
            cursor: a job cursor committed atomically with the page.

        Raises:
            StoreError: ``STORE_ERROR`` when the database write fails (nothing is written).
        """
        now = self.clock.now_ns()
        raw = page.raw
        with self._tx("ingest a page") as conn:
            seq = int(conn.execute(_NEXT_SEQ).scalar_one()) + 1
            row = {
                "seq": seq,
                "source": raw.source,
                "request": raw.request,
                "received_at_ns": raw.received_at_ns,
                "status": raw.status,
                "payload_hash": raw.payload_hash,
                "payload": raw.payload,
            }
            inserted = conn.execute(self._raw_insert, row).first() is not None
            if not inserted:
                seq = int(conn.execute(_RAW_SEQ, row).scalar_one())
                if cursor is not None:
                    self._write_cursor(conn, cursor, seq)
                return IngestResult(seq=seq, repeat=True)
            result = self._ingest_bars(conn, page, seq, now, series, confirms_no_trade)
            if cursor is not None:
                self._write_cursor(conn, cursor, seq)
            return result

    def _ingest_bars(
        self,
        conn: Connection,
        page: FetchedPage,
        seq: int,
        now: int,
        series: SeriesKey | None,
        confirms: bool,
    ) -> IngestResult:
        bars = page.bars
        page_source = page.raw.source
        symbols = self.symbols
        # The series checks (source, symbol, quote, timeframe) run once per series of the page;
        # every series with a row in the page is a key, valid or not. The last item of a check
        # collects the series' valid rows by open time.
        checks: dict[_Series, _SeriesCheck] = {}
        rejected: list[tuple[int, str]] = []
        repeated: dict[_Key, list[_Copy]] = {}
        for index, bar in enumerate(bars):
            row_series = (bar.source, bar.symbol, bar.quote, bar.timeframe)
            check = checks.get(row_series)
            if check is None:
                check = checks[row_series] = _series_check(row_series, page_source, symbols, now)
            reason, slot, offset, closed, valid = check
            t = bar.open_time_ns
            if reason is None and not (0 <= t <= closed and t % slot == offset):
                reason = _time_reason(t, slot, offset, now)
            if reason is None:
                reason, values = _check_values((bar.open, bar.high, bar.low, bar.close, bar.volume))
            if reason is not None:
                rejected.append((index, reason))
                continue
            copy = (index, values, bar.trades)
            first = valid.setdefault(t, copy)
            if first is not copy:
                repeated.setdefault((*row_series, t), [first]).append(copy)
        collapsed = 0
        for key, copies in repeated.items():
            if len({(values, trades) for _, values, trades in copies}) == 1:
                collapsed += len(copies) - 1
            else:
                del checks[key[:4]][4][key[4]]
                rejected.extend((index, reasons.STORE_DUPLICATE_CONFLICT) for index, _, _ in copies)
        accepted = {k: check[4] for k, check in sorted(checks.items()) if check[4]}
        latest = self._latest(conn, accepted)
        new_rows: list[tuple[Any, ...]] = []
        corrections: list[tuple[Any, ...]] = []
        unchanged = 0
        for series_key, valid in accepted.items():
            stored = latest.get(series_key, {})
            for t in sorted(valid):
                _, values, trades = valid[t]
                previous = stored.get(t)
                if previous is None:
                    new_rows.append((*series_key, t, 1, *values, trades, seq))
                    continue
                if previous[1] == values and previous[2] == trades:
                    unchanged += 1
                    continue
                version = previous[0] + 1
                new_rows.append((*series_key, t, version, *values, trades, seq))
                corrections.append(
                    (
                        *series_key,
                        t,
                        version,
                        previous[0],
                        _values_json(previous[1], previous[2]),
                        _values_json(values, trades),
                        seq,
                        now,
                    )
                )
        rejected.sort()
        self._insert_rows(conn, _BAR, new_rows)
        self._insert_rows(conn, _CORR, corrections)
        self._insert_rows(
            conn, _QUAR, [_quarantine_row(seq, index, bars[index], r) for index, r in rejected]
        )
        targets = [series] if series is not None else [SeriesKey(*k) for k in sorted(checks)]
        opened = confirmed = filled = 0
        for target in targets:
            o, c, f = self._ledger(conn, target, page, seq, now, confirms, accepted)
            opened, confirmed, filled = opened + o, confirmed + c, filled + f
        return IngestResult(
            seq=seq,
            bars_new=len(new_rows) - len(corrections),
            bars_corrected=len(corrections),
            bars_unchanged=unchanged,
            duplicates_collapsed=collapsed,
            quarantined=dict(sorted(Counter(r for _, r in rejected).items())),
            gaps_opened=opened,
            gaps_confirmed=confirmed,
            gaps_filled=filled,
        )

    def _latest(
        self, conn: Connection, accepted: dict[_Series, dict[int, _Copy]]
    ) -> dict[_Series, dict[int, tuple[int, tuple[str, ...], int | None]]]:
        """The latest stored version of the page's bars: series -> open time -> version."""
        found: dict[_Series, dict[int, tuple[int, tuple[str, ...], int | None]]] = {}
        for key, valid in accepted.items():
            params = {**_series_params(key), "lo": min(valid), "hi": max(valid)}
            rows = conn.execute(_LATEST, params).all()
            if rows:
                stored = found[key] = {}
                for row in rows:  # ascending versions: the last one seen is the latest
                    stored[int(row.open_time_ns)] = (
                        int(row.version),
                        (row.open, row.high, row.low, row.close, row.volume),
                        row.trades,
                    )
        return found

    def _ledger(
        self,
        conn: Connection,
        target: SeriesKey,
        page: FetchedPage,
        seq: int,
        now: int,
        confirms: bool,
        accepted: dict[_Series, dict[int, _Copy]],
    ) -> tuple[int, int, int]:
        tf = _TIMEFRAMES.get(target.timeframe)
        if tf is None:
            return 0, 0, 0
        start = tf.floor(max(page.window_start_ns, 0))
        start = start if start >= page.window_start_ns else start + tf.ns
        end = min(page.window_end_ns, now - tf.ns + 1)
        if end <= start:
            return 0, 0, 0
        wanted = (target.source, target.symbol, target.quote, target.timeframe)
        slots = range(start, end, tf.ns)
        params = {**_series_params(wanted), "lo": start, "hi": end}
        gap_rows = {int(r.open_time_ns): r for r in conn.execute(_GAP_WINDOW, params)}
        # The page's accepted bars are stored now: when they cover the window, the database
        # need not be asked which slots have a bar.
        have: Container[int] = accepted.get(wanted, {})
        if not all(map(have.__contains__, slots)):
            have = {int(t) for t in conn.execute(_BAR_TIMES, params).scalars()}
        elif not gap_rows:
            return 0, 0, 0
        in_page = (
            {
                b.open_time_ns
                for b in page.bars
                if (b.source, b.symbol, b.quote, b.timeframe) == wanted
            }
            if confirms
            else set()
        )
        new_gaps: list[tuple[Any, ...]] = []
        updates: list[dict[str, Any]] = []
        confirmed_slots: list[int] = []
        opened = confirmed = filled = 0
        for slot in slots:
            existing = gap_rows.get(slot)
            if slot in have:
                if existing is not None and existing.status in ("open", "retried"):
                    updates.append({"t": slot, "status": "filled", "by": None, "seq": seq})
                    filled += 1
                continue
            confirm = confirms and slot not in in_page
            if confirm:
                confirmed_slots.append(slot)
            if existing is None:
                status = "confirmed_no_trade" if confirm else "open"
                by = target.source if confirm else None
                new_gaps.append((*wanted, slot, status, by, 0, seq, seq))
                confirmed += confirm
                opened += not confirm
            elif confirm and existing.status in ("open", "retried"):
                updates.append(
                    {"t": slot, "status": "confirmed_no_trade", "by": target.source, "seq": seq}
                )
                confirmed += 1
        self._insert_rows(conn, _GAP, new_gaps)
        if confirms and confirmed_slots:
            conn.execute(
                sa_update(_GAP)
                .where(
                    _GAP.c.source != target.source,
                    _GAP.c.symbol == target.symbol,
                    _GAP.c.quote == target.quote,
                    _GAP.c.timeframe == target.timeframe,
                    _GAP.c.open_time_ns == bindparam("t"),
                    or_(_GAP.c.status == "open", _GAP.c.status == "retried"),
                )
                .values(status="confirmed_no_trade", confirmed_by=target.source, updated_seq=seq),
                [{"t": slot} for slot in confirmed_slots],
            )
        if updates:
            conn.execute(
                sa_update(_GAP)
                .where(_series_filter(_GAP, target), _GAP.c.open_time_ns == bindparam("t"))
                .values(
                    status=bindparam("status"),
                    confirmed_by=bindparam("by"),
                    updated_seq=bindparam("seq"),
                ),
                updates,
            )
        return opened, confirmed, filled

    # --- cursors, gaps, sync log -------------------------------------------------------------

    def _write_cursor(self, conn: Connection, cursor: CursorUpdate, seq: int) -> None:
        where = and_(_CUR.c.job == cursor.job, _series_filter(_CUR, cursor.series))
        values = {"next_ns": cursor.next_ns, "done": cursor.done, "updated_seq": seq}
        if conn.execute(sa_update(_CUR).where(where).values(**values)).rowcount == 0:
            self._insert(conn, _CUR, {"job": cursor.job, **attrs.asdict(cursor.series), **values})

    def save_cursor(self, cursor: CursorUpdate) -> None:
        """Write a job cursor on its own (for a job step that fetched nothing)."""
        with self._tx("save a cursor") as conn:
            self._write_cursor(conn, cursor, self._max_seq(conn))

    def cursor(self, job: str, series: SeriesKey) -> tuple[int, bool] | None:
        """``(next_ns, done)`` of a job's cursor for one series, or ``None``."""
        with self._tx("read a cursor") as conn:
            row = conn.execute(
                select(_CUR.c.next_ns, _CUR.c.done).where(
                    _CUR.c.job == job, _series_filter(_CUR, series)
                )
            ).first()
        return None if row is None else (int(row.next_ns), bool(row.done))

    def gaps(self, series: SeriesKey, statuses: Iterable[str] = ("open", "retried")) -> list[int]:
        """Open times of the series' ledger slots in ``statuses``, ascending."""
        with self._tx("read the gap ledger") as conn:
            return [
                int(t)
                for t in conn.execute(
                    select(_GAP.c.open_time_ns)
                    .where(_series_filter(_GAP, series), _GAP.c.status.in_(list(statuses)))
                    .order_by(_GAP.c.open_time_ns)
                ).scalars()
            ]

    def mark_retried(self, series: SeriesKey, start_ns: int, end_ns: int) -> int:
        """Record one more retry of every still-open gap slot in ``[start_ns, end_ns)``.

        Returns:
            How many slots were marked.
        """
        with self._tx("mark gaps retried") as conn:
            seq = self._max_seq(conn)
            result = conn.execute(
                sa_update(_GAP)
                .where(
                    _series_filter(_GAP, series),
                    _GAP.c.open_time_ns >= start_ns,
                    _GAP.c.open_time_ns < end_ns,
                    _GAP.c.status.in_(["open", "retried"]),
                )
                .values(status="retried", attempts=_GAP.c.attempts + 1, updated_seq=seq)
            )
            return int(result.rowcount)

    def last_open_ns(self, series: SeriesKey) -> int | None:
        """The latest open time with a canonical bar in the series, or ``None``."""
        with self._tx("read the series end") as conn:
            value = conn.execute(
                select(func.max(_BAR.c.open_time_ns)).where(_series_filter(_BAR, series))
            ).scalar_one()
        return None if value is None else int(value)

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
        with self._tx("append to the sync log") as conn:
            seq = (
                int(conn.execute(select(func.coalesce(func.max(_SYNC.c.seq), 0))).scalar_one()) + 1
            )
            self._insert(
                conn,
                _SYNC,
                {
                    "seq": seq,
                    **attrs.asdict(series),
                    "from_ns": from_ns,
                    "to_ns": to_ns,
                    "pages": pages,
                    "bars_new": bars_new,
                    "bars_corrected": bars_corrected,
                    "quarantined": quarantined,
                    "recorded_at_ns": self.clock.now_ns(),
                },
            )
        return seq

    def sync_log(self) -> list[dict[str, Any]]:
        """Every sync log entry, in order."""
        with self._tx("read the sync log") as conn:
            return [dict(r._mapping) for r in conn.execute(select(_SYNC).order_by(_SYNC.c.seq))]

    # --- reading ------------------------------------------------------------------------------

    def _max_seq(self, conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(_RAW.c.seq), 0))).scalar_one())

    def latest_seq(self) -> int:
        """The newest ingest sequence number (0 for an empty store)."""
        with self._tx("read the ingest sequence") as conn:
            return self._max_seq(conn)

    def content_hash(self) -> str:
        """``sha256:<hex>`` over every content table, row by row in primary-key order.

        Raw payloads enter through their hash; job cursors are excluded (they are progress, not
        content). Two stores hash equal exactly when they hold the same data, whatever the
        backend.
        """
        digest = hashlib.sha256()
        with self._tx("hash the store") as conn:
            for model in CONTENT_TABLES:
                table = table_of(model)
                columns = [c for c in table.columns if c.name != "payload"]
                digest.update(canonical_json([table.name, [c.name for c in columns]]) + b"\n")
                rows = conn.execute(select(*columns).order_by(*table.primary_key.columns))
                for row in rows:
                    digest.update(canonical_json(list(row)) + b"\n")
        return "sha256:" + digest.hexdigest()

    def bar_versions(
        self, source: str, symbol: str, quote: str, timeframe: str, open_time_ns: int
    ) -> list[dict[str, Any]]:
        """Every stored version of one bar, oldest first."""
        with self._tx("read bar versions") as conn:
            rows = conn.execute(
                select(_BAR)
                .where(
                    _series_filter(_BAR, SeriesKey(source, symbol, quote, timeframe)),
                    _BAR.c.open_time_ns == open_time_ns,
                )
                .order_by(_BAR.c.version)
            )
            return [dict(r._mapping) for r in rows]

    def corrections(self) -> list[dict[str, Any]]:
        """Every correction record, in primary-key order."""
        with self._tx("read corrections") as conn:
            order = list(_CORR.primary_key.columns)
            return [dict(r._mapping) for r in conn.execute(select(_CORR).order_by(*order))]

    def quarantine(self) -> list[dict[str, Any]]:
        """Every quarantined row, in ingest order."""
        with self._tx("read the quarantine") as conn:
            order = [_QUAR.c.ingest_seq, _QUAR.c.row_index]
            return [dict(r._mapping) for r in conn.execute(select(_QUAR).order_by(*order))]

    def ledger(self) -> list[dict[str, Any]]:
        """The whole gap ledger, in primary-key order."""
        with self._tx("read the gap ledger") as conn:
            order = list(_GAP.primary_key.columns)
            return [dict(r._mapping) for r in conn.execute(select(_GAP).order_by(*order))]

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
        from quant_core.errors import RejectedError

        tf = _timeframe(timeframe)
        if quote not in _QUOTES or end_ns <= start_ns or not symbols:
            raise QuantUsageError(
                f"bad materialize request: symbols={list(symbols)} quote={quote!r} "
                f"window=[{start_ns}, {end_ns})",
                reason_code=reasons.STORE_REQUEST_INVALID,
            )
        wanted = sorted(set(symbols))
        with self._tx("materialize a dataset") as conn:
            newest = self._max_seq(conn)
            seq = newest if as_of is None else as_of
            if not 0 <= seq <= newest:
                raise QuantUsageError(
                    f"as-of {seq} is not an ingest sequence (newest is {newest})",
                    reason_code=reasons.STORE_REQUEST_INVALID,
                )
            window = and_(
                _BAR.c.symbol.in_(wanted),
                _BAR.c.quote == quote,
                _BAR.c.timeframe == tf.value,
                _BAR.c.open_time_ns >= start_ns,
                _BAR.c.open_time_ns < end_ns,
            )
            rows = conn.execute(
                select(_BAR).where(window, _BAR.c.ingest_seq <= seq).order_by(_BAR.c.version)
            ).all()
            summary = self._summary(conn, wanted, quote, tf, start_ns, end_ns, seq)
        best: dict[tuple[str, str, int], Any] = {}
        for row in rows:  # ascending versions: the last one seen is the latest
            best[(row.source, row.symbol, int(row.open_time_ns))] = row
        order = {s: i for i, s in enumerate(source_preference({k[0] for k in best}, prefer))}
        chosen: dict[tuple[str, int], Any] = {}
        for (source, symbol, t), row in best.items():
            current = chosen.get((symbol, t))
            if current is None or order[source] < order[current.source]:
                chosen[(symbol, t)] = row
        if not chosen:
            raise RejectedError(
                f"no bars for {wanted} {quote} {tf.value} in [{ns_to_iso(start_ns)}, "
                f"{ns_to_iso(end_ns)}) as of {seq}",
                reason_code=reasons.STORE_NO_DATA,
            )
        bars = [
            Bar(
                Instrument(r.symbol, r.quote),
                tf,
                int(r.open_time_ns),
                open=r.open,
                high=r.high,
                low=r.low,
                close=r.close,
                volume=r.volume,
            )
            for r in chosen.values()
        ]
        per_symbol = Counter(symbol for symbol, _ in chosen)
        slots = len(
            range(tf.floor(start_ns) + (0 if tf.is_aligned(start_ns) else tf.ns), end_ns, tf.ns)
        )
        for symbol in wanted:
            summary["symbols"][symbol]["rows"] = per_symbol[symbol]
            summary["symbols"][symbol]["missing_slots"] = slots - per_symbol[symbol]
        summary["sources"] = sorted({r.source for r in chosen.values()})
        return Dataset.from_bars(
            bars, start_ns=start_ns, end_ns=end_ns, as_of=f"seq:{seq}", summary=summary
        )

    def _summary(
        self,
        conn: Connection,
        symbols: list[str],
        quote: str,
        tf: Timeframe,
        start_ns: int,
        end_ns: int,
        seq: int,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"as_of_seq": seq, "symbols": {}}
        for symbol in symbols:

            def in_window(table: Any) -> Any:
                return and_(
                    table.c.symbol == symbol,  # noqa: B023 - used immediately
                    table.c.quote == quote,
                    table.c.timeframe == tf.value,
                    table.c.open_time_ns >= start_ns,
                    table.c.open_time_ns < end_ns,
                )

            corrections = conn.execute(
                select(func.count()).where(in_window(_CORR), _CORR.c.ingest_seq <= seq)
            ).scalar_one()
            quarantined = conn.execute(
                select(func.count()).where(in_window(_QUAR), _QUAR.c.ingest_seq <= seq)
            ).scalar_one()
            gaps = dict.fromkeys(GAP_STATUSES, 0)
            for status, count in conn.execute(
                select(_GAP.c.status, func.count())
                .where(in_window(_GAP), _GAP.c.detected_seq <= seq)
                .group_by(_GAP.c.status)
            ):
                gaps[status] = int(count)
            out["symbols"][symbol] = {
                "corrections": int(corrections),
                "quarantined": int(quarantined),
                "gap_ledger": gaps,
            }
        return out

    def status(self) -> list[SeriesStatus]:
        """Coverage, gaps, quarantine and corrections of every series, sorted."""
        with self._tx("read the store status") as conn:
            keys = (_BAR.c.source, _BAR.c.symbol, _BAR.c.quote, _BAR.c.timeframe)
            coverage = {
                SeriesKey(r[0], r[1], r[2], r[3]): (int(r[4]), int(r[5]), int(r[6]))
                for r in conn.execute(
                    select(
                        *keys,
                        func.count(func.distinct(_BAR.c.open_time_ns)),
                        func.min(_BAR.c.open_time_ns),
                        func.max(_BAR.c.open_time_ns),
                    ).group_by(*keys)
                )
            }
            gaps: dict[SeriesKey, dict[str, int]] = defaultdict(
                lambda: dict.fromkeys(GAP_STATUSES, 0)
            )
            gk = (_GAP.c.source, _GAP.c.symbol, _GAP.c.quote, _GAP.c.timeframe, _GAP.c.status)
            for r in conn.execute(select(*gk, func.count()).group_by(*gk)):
                gaps[SeriesKey(r[0], r[1], r[2], r[3])][r[4]] = int(r[5])
            qk = (_QUAR.c.source, _QUAR.c.symbol, _QUAR.c.quote, _QUAR.c.timeframe)
            quarantined = {
                SeriesKey(r[0], r[1], r[2], r[3]): int(r[4])
                for r in conn.execute(select(*qk, func.count()).group_by(*qk))
            }
            ck = (_CORR.c.source, _CORR.c.symbol, _CORR.c.quote, _CORR.c.timeframe)
            corrections = {
                SeriesKey(r[0], r[1], r[2], r[3]): int(r[4])
                for r in conn.execute(select(*ck, func.count()).group_by(*ck))
            }
        out = []
        for key in sorted(set(coverage) | set(gaps) | set(quarantined)):
            count, first, last = coverage.get(key, (0, None, None))
            out.append(
                SeriesStatus(
                    **attrs.asdict(key),
                    bars=count,
                    first_open_ns=first,
                    last_open_ns=last,
                    gaps=dict(gaps.get(key, dict.fromkeys(GAP_STATUSES, 0))),
                    quarantined=quarantined.get(key, 0),
                    corrections=corrections.get(key, 0),
                )
            )
        return out

    def verify(self) -> VerifyReport:
        """Check schema, raw ordering and payload hashes, bar versions, duplicates, gap ledger.

        Returns:
            A :class:`VerifyReport`; ``ok`` is False with the reason code of the first failed
            check (``STORE_SCHEMA_INVALID``, ``STORE_VERSIONS_BROKEN``,
            ``STORE_GAP_LEDGER_INVALID``).
        """
        passed: list[str] = []
        with self._tx("verify the store") as conn:
            found = inspect(conn)
            for table in all_tables():
                if not found.has_table(table.name):
                    return _fail(
                        passed, reasons.STORE_SCHEMA_INVALID, f"table {table.name} is missing"
                    )
                columns = {c["name"] for c in found.get_columns(table.name)}
                missing = sorted({c.name for c in table.columns} - columns)
                if missing:
                    return _fail(
                        passed, reasons.STORE_SCHEMA_INVALID, f"{table.name} lacks {missing}"
                    )
            passed.append("schema")
            expected = 1
            for seq, payload, payload_hash in conn.execute(
                select(_RAW.c.seq, _RAW.c.payload, _RAW.c.payload_hash).order_by(_RAW.c.seq)
            ):
                actual = bytes_hash(payload)
                if seq != expected or actual != payload_hash:
                    return _fail(
                        passed,
                        reasons.STORE_VERSIONS_BROKEN,
                        f"raw ingest {seq}: expected sequence {expected} and payload hash "
                        f"{payload_hash}, found {actual}",
                    )
                expected += 1
            passed.append("raw ordering")
            versions: dict[tuple[str, str, str, str, int], list[tuple[int, int]]] = defaultdict(
                list
            )
            values: dict[tuple[str, str, str, str, int], list[tuple[Any, ...]]] = defaultdict(list)
            for r in conn.execute(select(_BAR).order_by(*_BAR.primary_key.columns)):
                key = (r.source, r.symbol, r.quote, r.timeframe, int(r.open_time_ns))
                versions[key].append((int(r.version), int(r.ingest_seq)))
                values[key].append((r.open, r.high, r.low, r.close, r.volume, r.trades))
            corrected = {
                (r.source, r.symbol, r.quote, r.timeframe, int(r.open_time_ns), int(r.new_version))
                for r in conn.execute(select(_CORR))
                if r.old_version == r.new_version - 1
            }
            for key, vs in versions.items():
                numbers = [v for v, _ in vs]
                seqs = [s for _, s in vs]
                linked = all((*key, v) in corrected for v in numbers[1:])
                if (
                    numbers != list(range(1, len(vs) + 1))
                    or seqs != sorted(set(seqs))
                    or not linked
                ):
                    return _fail(
                        passed,
                        reasons.STORE_VERSIONS_BROKEN,
                        f"bar {key} has versions {numbers} at ingests {seqs}",
                    )
            passed.append("bar versions")
            for key, vals in values.items():
                if any(a == b for a, b in itertools.pairwise(vals)):
                    return _fail(
                        passed,
                        reasons.STORE_VERSIONS_BROKEN,
                        f"bar {key} repeats identical values in consecutive versions",
                    )
            passed.append("duplicates")
            for r in conn.execute(select(_GAP).order_by(*_GAP.primary_key.columns)):
                key = (r.source, r.symbol, r.quote, r.timeframe, int(r.open_time_ns))
                has_bar = key in versions
                bad = r.status not in GAP_STATUSES or (has_bar != (r.status == "filled"))
                if bad:
                    return _fail(
                        passed,
                        reasons.STORE_GAP_LEDGER_INVALID,
                        f"gap {key} is {r.status!r} but the slot "
                        f"{'has' if has_bar else 'has no'} bar",
                    )
            passed.append("gap ledger")
        return VerifyReport(ok=True, checks=tuple(passed))


def _fail(passed: list[str], code: str, message: str) -> VerifyReport:
    return VerifyReport(ok=False, checks=tuple(passed), reason_code=code, message=message)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _series_filter(table: Any, series: SeriesKey) -> Any:
    return and_(
        table.c.source == series.source,
        table.c.symbol == series.symbol,
        table.c.quote == series.quote,
        table.c.timeframe == series.timeframe,
    )


def _quarantine_row(seq: int, index: int, bar: SourceBar, reason: str) -> tuple[Any, ...]:
    row = json.dumps(attrs.asdict(bar), sort_keys=True, separators=(",", ":"))
    return (seq, index, *bar.key, reason, row)


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
