"""Canonical bars: which stored version and which source stand for a (symbol, open time).

For every (symbol, open time) the bar is the latest version (at or before an ingest
sequence) from the first source in :func:`source_preference` order that has one. Datasets
and the incremental :class:`~quant_data.StoreFeed` both read bars through
:func:`select_bars`, so the two can never disagree on a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from quant_core import Bar, Instrument, QuoteCurrency, Timeframe
from quant_data.store._db import BAR, Database, series_filter
from quant_data.store._values import SeriesKey

#: The quote currencies the store accepts.
QUOTES = frozenset(q.value for q in QuoteCurrency)


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


def select_bars(
    conn: Connection,
    symbols: Sequence[str],
    quote: str,
    tf: Timeframe,
    start_ns: int,
    end_ns: int,
    *,
    as_of: int | None,
    prefer: Sequence[str] | None,
) -> dict[tuple[str, int], Any]:
    """The chosen row of every (symbol, open time) in ``[start_ns, end_ns)``.

    Args:
        conn: an open transaction.
        symbols: base assets.
        quote: the quote currency.
        tf: the timeframe.
        start_ns: first open time (inclusive).
        end_ns: last open time (exclusive).
        as_of: the newest ingest sequence to see (``None``: all of them).
        prefer: the source preference (see :func:`source_preference`).

    Returns:
        (symbol, open time) -> the stored row (columns of ``qd_bar``), in no particular order.
    """
    where = [
        BAR.c.symbol.in_(sorted(set(symbols))),
        BAR.c.quote == quote,
        BAR.c.timeframe == tf.value,
        BAR.c.open_time_ns >= start_ns,
        BAR.c.open_time_ns < end_ns,
    ]
    if as_of is not None:
        where.append(BAR.c.ingest_seq <= as_of)
    rows = conn.execute(select(BAR).where(*where).order_by(BAR.c.version)).all()
    best: dict[tuple[str, str, int], Any] = {}
    for row in rows:  # ascending versions: the last one seen is the latest
        best[(row.source, row.symbol, int(row.open_time_ns))] = row
    order = {s: i for i, s in enumerate(source_preference({k[0] for k in best}, prefer))}
    chosen: dict[tuple[str, int], Any] = {}
    for (source, symbol, t), row in best.items():
        current = chosen.get((symbol, t))
        if current is None or order[source] < order[current.source]:
            chosen[(symbol, t)] = row
    return chosen


def to_bar(row: Any, tf: Timeframe) -> Bar:
    """The core :class:`~quant_core.Bar` of a stored row."""
    return Bar(
        Instrument(row.symbol, row.quote),
        tf,
        int(row.open_time_ns),
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
    )


def last_open_ns(db: Database, series: SeriesKey) -> int | None:
    """The latest open time with a canonical bar in the series, or ``None``."""
    with db.tx("read the series end") as conn:
        value = conn.execute(
            select(func.max(BAR.c.open_time_ns)).where(series_filter(BAR, series))
        ).scalar_one()
    return None if value is None else int(value)


def bar_versions(db: Database, series: SeriesKey, open_time_ns: int) -> list[dict[str, Any]]:
    """Every stored version of one bar, oldest first."""
    with db.tx("read bar versions") as conn:
        rows = conn.execute(
            select(BAR)
            .where(series_filter(BAR, series), BAR.c.open_time_ns == open_time_ns)
            .order_by(BAR.c.version)
        )
        return [dict(r._mapping) for r in rows]
