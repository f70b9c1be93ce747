"""Job state: backfill and sync cursors, and the append-only sync log."""

from __future__ import annotations

from typing import Any

import attrs
from sqlalchemy import Connection, and_, func, select
from sqlalchemy import update as sa_update

from quant_data.store._db import CUR, SYNC, Database, series_filter
from quant_data.store._values import CursorUpdate, SeriesKey

_NEXT_SYNC_SEQ = select(func.coalesce(func.max(SYNC.c.seq), 0))


def write_cursor(db: Database, conn: Connection, cursor: CursorUpdate, seq: int) -> None:
    """Write a job cursor inside the caller's transaction, stamped with ingest ``seq``."""
    where = and_(CUR.c.job == cursor.job, series_filter(CUR, cursor.series))
    values = {"next_ns": cursor.next_ns, "done": cursor.done, "updated_seq": seq}
    if conn.execute(sa_update(CUR).where(where).values(**values)).rowcount == 0:
        db.insert(conn, CUR, {"job": cursor.job, **attrs.asdict(cursor.series), **values})


def save_cursor(db: Database, cursor: CursorUpdate) -> None:
    """Write a job cursor in its own transaction."""
    with db.tx("save a cursor") as conn:
        write_cursor(db, conn, cursor, db.max_seq(conn))


def read_cursor(db: Database, job: str, series: SeriesKey) -> tuple[int, bool] | None:
    """``(next_ns, done)`` of a job's cursor for one series, or ``None``."""
    with db.tx("read a cursor") as conn:
        row = conn.execute(
            select(CUR.c.next_ns, CUR.c.done).where(CUR.c.job == job, series_filter(CUR, series))
        ).first()
    return None if row is None else (int(row.next_ns), bool(row.done))


def append_sync_log(db: Database, series: SeriesKey, entry: dict[str, int]) -> int:
    """Append one entry (window and counts) to the sync log; return its sequence number."""
    with db.tx("append to the sync log") as conn:
        seq = int(conn.execute(_NEXT_SYNC_SEQ).scalar_one()) + 1
        row = {"seq": seq, **attrs.asdict(series), **entry, "recorded_at_ns": db.clock.now_ns()}
        db.insert(conn, SYNC, row)
    return seq


def sync_log(db: Database) -> list[dict[str, Any]]:
    """Every sync log entry, in order."""
    with db.tx("read the sync log") as conn:
        return [dict(r._mapping) for r in conn.execute(select(SYNC).order_by(SYNC.c.seq))]
