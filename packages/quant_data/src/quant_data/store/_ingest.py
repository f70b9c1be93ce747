"""Ingest: record a raw page, validate its rows, version canonical bars, quarantine the rest.

One :meth:`Ingest.page` call is one transaction: the raw page, its canonical bars and
versions, corrections, quarantined rows, gap ledger changes and (optionally) the job cursor
are committed together or not at all, so a crash never leaves half a page visible and a
resumed job continues from a consistent cursor.

Rules (see ``docs/concepts/raw-and-canonical.md``):

* A raw page is recorded once per (source, request, payload hash); seeing the same page again
  is a *repeat*: nothing changes and :attr:`IngestResult.repeat` says so.
* Within a page, identical duplicates collapse into one bar; *conflicting* duplicates are all
  quarantined (``STORE_DUPLICATE_CONFLICT``) and the slot stays a gap.
* A valid bar equal to the latest stored version of its key changes nothing; a different one
  becomes version ``n + 1`` with a correction record.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from quant_core import Timeframe, canonical_json
from quant_data import reasons
from quant_data._dataset import decimal_text
from quant_data._records import FetchedPage, SourceBar
from quant_data.store._bars import QUOTES
from quant_data.store._db import (
    BAR,
    CORR,
    QUAR,
    RAW,
    Database,
    Series,
    series_params,
    series_where,
)
from quant_data.store._gaps import record_gaps
from quant_data.store._jobs import write_cursor
from quant_data.store._values import CursorUpdate, IngestResult, SeriesKey

_VALUE_FIELDS = ("open", "high", "low", "close", "volume")

# Statements of the ingest path, built once (SQLAlchemy caches their compiled form).
_RAW_SEQ = select(RAW.c.seq).where(
    *(RAW.c[name] == bindparam(name) for name in ("source", "request", "payload_hash"))
)
_LATEST = (
    select(BAR)
    .where(series_where(BAR), BAR.c.open_time_ns.between(bindparam("lo"), bindparam("hi")))
    .order_by(BAR.c.version)
)

#: A bar's natural key: (source, symbol, quote, timeframe, open time).
_Key = tuple[str, str, str, str, int]
#: One valid row of a page: (row index, canonical value texts, trades).
_Copy = tuple[int, tuple[str, ...], int | None]
#: What a page's rows of one series share: (reason code or None, grid slot length, open time
#: modulo the slot length, latest closed open time, the valid rows by open time).
_SeriesCheck = tuple[str | None, int, int, int, dict[int, _Copy]]
#: The latest stored version of a bar: (version, value texts, trades).
_Stored = tuple[int, tuple[str, ...], int | None]

#: Decimal text already in canonical form (non-negative, no exponent, no trailing zeros).
_CANONICAL = r"(?:0|[1-9][0-9]*+)(?:\.[0-9]*+(?<=[1-9]))?"
#: Five canonical texts joined by commas. A comma cannot occur in a canonical text, so the
#: joined row matches exactly when each of the five texts is canonical.
_CANONICAL_ROW = re.compile(",".join([_CANONICAL] * 5) + r"\Z")
#: timeframe -> (slot length, open time modulo the slot length).
_GRID = {t.value: (t.ns, t.floor(0) % t.ns) for t in Timeframe}


class Ingest:
    """The write path of one store.

    Args:
        db: the store's database.
        symbols: base assets accepted into canonical bars.
    """

    def __init__(self, db: Database, symbols: frozenset[str]) -> None:
        self._db = db
        self._symbols = symbols
        ins = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
        self._raw_insert = ins(RAW).on_conflict_do_nothing().returning(RAW.c.seq)

    def page(
        self,
        page: FetchedPage,
        *,
        series: SeriesKey | None,
        confirms_no_trade: bool,
        cursor: CursorUpdate | None,
    ) -> IngestResult:
        """Record one page (see :meth:`quant_data.Store.ingest_page`)."""
        db = self._db
        now = db.clock.now_ns()
        raw = page.raw
        with db.tx("ingest a page") as conn:
            seq = db.max_seq(conn) + 1
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
                    write_cursor(db, conn, cursor, seq)
                return IngestResult(seq=seq, repeat=True)
            result = self._bars(conn, page, seq, now, series, confirms_no_trade)
            if cursor is not None:
                write_cursor(db, conn, cursor, seq)
            return result

    def _bars(
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
        symbols = self._symbols
        # The series checks (source, symbol, quote, timeframe) run once per series of the page;
        # every series with a row in the page is a key, valid or not. The last item of a check
        # collects the series' valid rows by open time.
        checks: dict[Series, _SeriesCheck] = {}
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
        latest = _latest(conn, accepted)
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
        db = self._db
        db.insert_rows(conn, BAR, new_rows)
        db.insert_rows(conn, CORR, corrections)
        db.insert_rows(
            conn, QUAR, [_quarantine_row(seq, index, bars[index], r) for index, r in rejected]
        )
        targets = [series] if series is not None else [SeriesKey(*k) for k in sorted(checks)]
        opened = confirmed = filled = 0
        for target in targets:
            o, c, f = record_gaps(db, conn, target, page, seq, now, confirms, accepted)
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
    conn: Connection, accepted: dict[Series, dict[int, _Copy]]
) -> dict[Series, dict[int, _Stored]]:
    """The latest stored version of the page's bars: series -> open time -> version."""
    found: dict[Series, dict[int, _Stored]] = {}
    for key, valid in accepted.items():
        params = {**series_params(key), "lo": min(valid), "hi": max(valid)}
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
    series: Series, page_source: str, symbols: frozenset[str], now_ns: int
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
    elif quote not in QUOTES:
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


def _values_json(values: Sequence[str], trades: int | None) -> str:
    doc: dict[str, Any] = dict(zip(_VALUE_FIELDS, values, strict=True))
    doc["trades"] = trades
    return canonical_json(doc).decode()


def _quarantine_row(seq: int, index: int, bar: SourceBar, reason: str) -> tuple[Any, ...]:
    # The quarantine keeps the row as compact sorted JSON (a stored format, not canonical JSON).
    row = json.dumps(attrs.asdict(bar), sort_keys=True, separators=(",", ":"))
    return (seq, index, *bar.key, reason, row)
