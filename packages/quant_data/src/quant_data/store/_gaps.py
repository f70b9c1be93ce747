"""Gaps and corrections: the gap ledger's writes and reads, and the findings records.

Gaps are per source: every closed grid slot of a page's window without a bar is recorded in
the ledger (``confirmed_no_trade`` when the provider confirms no trade, else ``open``); a bar
arriving later marks the slot ``filled``. Nothing is ever filled with a made-up bar. A
revision's old and new values live in the correction records, rejected rows in the quarantine.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select
from sqlalchemy import update as sa_update

from quant_core import Timeframe
from quant_data._records import FetchedPage
from quant_data.store._db import (
    BAR,
    CORR,
    GAP,
    QUAR,
    Database,
    Series,
    series_filter,
    series_params,
    series_where,
)
from quant_data.store._values import GapStatus, SeriesKey

_TIMEFRAMES = {t.value: t for t in Timeframe}
_BAR_TIMES = select(BAR.c.open_time_ns).where(
    series_where(BAR),
    BAR.c.open_time_ns >= bindparam("lo"),
    BAR.c.open_time_ns < bindparam("hi"),
)
_GAP_WINDOW = select(GAP).where(
    series_where(GAP),
    GAP.c.open_time_ns >= bindparam("lo"),
    GAP.c.open_time_ns < bindparam("hi"),
)


def record_gaps(
    db: Database,
    conn: Connection,
    target: SeriesKey,
    page: FetchedPage,
    seq: int,
    now: int,
    confirms: bool,
    stored: Mapping[Series, Container[int]],
) -> tuple[int, int, int]:
    """Update the ledger of ``target`` for the window of a page just stored.

    Args:
        db: the store's database.
        conn: the page's transaction.
        target: the series the page answers for.
        page: the page.
        seq: the page's ingest sequence.
        now: the clock's now (slots not closed yet are not gaps).
        confirms: the provider guarantees that a missing slot had no trade.
        stored: the open times the page stored, per series.

    Returns:
        (gaps opened, slots confirmed without trade, gaps filled).
    """
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
    params = {**series_params(wanted), "lo": start, "hi": end}
    gap_rows = {int(r.open_time_ns): r for r in conn.execute(_GAP_WINDOW, params)}
    # The page's accepted bars are stored now: when they cover the window, the database
    # need not be asked which slots have a bar.
    have: Container[int] = stored.get(wanted, {})
    if not all(map(have.__contains__, slots)):
        have = {int(t) for t in conn.execute(_BAR_TIMES, params).scalars()}
    elif not gap_rows:
        return 0, 0, 0
    in_page = (
        {b.open_time_ns for b in page.bars if (b.source, b.symbol, b.quote, b.timeframe) == wanted}
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
            if existing is not None and existing.status in (GapStatus.OPEN, GapStatus.RETRIED):
                updates.append({"t": slot, "status": GapStatus.FILLED, "by": None, "seq": seq})
                filled += 1
            continue
        confirm = confirms and slot not in in_page
        if confirm:
            confirmed_slots.append(slot)
        if existing is None:
            status = GapStatus.CONFIRMED_NO_TRADE if confirm else GapStatus.OPEN
            by = target.source if confirm else None
            new_gaps.append((*wanted, slot, status, by, 0, seq, seq))
            confirmed += confirm
            opened += not confirm
        elif confirm and existing.status in (GapStatus.OPEN, GapStatus.RETRIED):
            updates.append(
                {"t": slot, "status": GapStatus.CONFIRMED_NO_TRADE, "by": target.source, "seq": seq}
            )
            confirmed += 1
    db.insert_rows(conn, GAP, new_gaps)
    if confirms and confirmed_slots:
        conn.execute(
            sa_update(GAP)
            .where(
                GAP.c.source != target.source,
                GAP.c.symbol == target.symbol,
                GAP.c.quote == target.quote,
                GAP.c.timeframe == target.timeframe,
                GAP.c.open_time_ns == bindparam("t"),
                or_(GAP.c.status == GapStatus.OPEN, GAP.c.status == GapStatus.RETRIED),
            )
            .values(
                status=GapStatus.CONFIRMED_NO_TRADE, confirmed_by=target.source, updated_seq=seq
            ),
            [{"t": slot} for slot in confirmed_slots],
        )
    if updates:
        conn.execute(
            sa_update(GAP)
            .where(series_filter(GAP, target), GAP.c.open_time_ns == bindparam("t"))
            .values(
                status=bindparam("status"),
                confirmed_by=bindparam("by"),
                updated_seq=bindparam("seq"),
            ),
            updates,
        )
    return opened, confirmed, filled


def gap_slots(db: Database, series: SeriesKey, statuses: Iterable[str]) -> list[int]:
    """Open times of the series' ledger slots in ``statuses``, ascending."""
    with db.tx("read the gap ledger") as conn:
        return [
            int(t)
            for t in conn.execute(
                select(GAP.c.open_time_ns)
                .where(series_filter(GAP, series), GAP.c.status.in_(list(statuses)))
                .order_by(GAP.c.open_time_ns)
            ).scalars()
        ]


def mark_retried(db: Database, series: SeriesKey, start_ns: int, end_ns: int) -> int:
    """Count one more retry of every still-open slot in ``[start_ns, end_ns)``; return how many."""
    with db.tx("mark gaps retried") as conn:
        seq = db.max_seq(conn)
        result = conn.execute(
            sa_update(GAP)
            .where(
                series_filter(GAP, series),
                GAP.c.open_time_ns >= start_ns,
                GAP.c.open_time_ns < end_ns,
                GAP.c.status.in_([GapStatus.OPEN, GapStatus.RETRIED]),
            )
            .values(status=GapStatus.RETRIED, attempts=GAP.c.attempts + 1, updated_seq=seq)
        )
        return int(result.rowcount)


def corrections(db: Database) -> list[dict[str, Any]]:
    """Every correction record, in primary-key order."""
    with db.tx("read corrections") as conn:
        order = list(CORR.primary_key.columns)
        return [dict(r._mapping) for r in conn.execute(select(CORR).order_by(*order))]


def quarantine(db: Database) -> list[dict[str, Any]]:
    """Every quarantined row, in ingest order."""
    with db.tx("read the quarantine") as conn:
        order = [QUAR.c.ingest_seq, QUAR.c.row_index]
        return [dict(r._mapping) for r in conn.execute(select(QUAR).order_by(*order))]


def ledger(db: Database) -> list[dict[str, Any]]:
    """The whole gap ledger, in primary-key order."""
    with db.tx("read the gap ledger") as conn:
        order = list(GAP.primary_key.columns)
        return [dict(r._mapping) for r in conn.execute(select(GAP).order_by(*order))]
