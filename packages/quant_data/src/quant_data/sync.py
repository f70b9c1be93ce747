"""Sync: append the newest closed candles of each series, restart-safe, on the injected clock.

Each :func:`sync` call fetches, per series, from its ``sync`` cursor (or, the first time, from
the slot after the series' last stored bar, or an explicit ``start_ns``) up to the start of the
current unclosed slot on the store's clock. Pages commit with the cursor, so a sync killed
mid-way resumes where it stopped. Every series synced appends one row to the sync log, whose
content depends only on the data and the clock: two stores fed the same pages at the same
clock times have identical logs. ``quant data sync --follow`` calls :func:`sync` in a loop.

Examples:
    >>> from quant_core import SimClock, Timeframe
    >>> from quant_data import SourceBar
    >>> from quant_data.store import MemoryProvider, Store
    >>> H = Timeframe.H1.ns
    >>> bars = [SourceBar("memory", "BTC", "USD", "1h", i * H, "1", "1", "1", "1", "0")
    ...         for i in range(10)]
    >>> clock = SimClock(4 * H)
    >>> store = Store.open("sqlite://", clock=clock)
    >>> provider = MemoryProvider(bars, page_limit=100)
    >>> sync(store, provider, symbols=["BTC"], quote="USD", timeframe="1h",
    ...      start_ns=0).series[0].bars_new
    4
    >>> clock.advance_by(3 * H)
    >>> sync(store, provider, symbols=["BTC"], quote="USD", timeframe="1h").series[0].bars_new
    3
    >>> [(e["from_ns"] // H, e["to_ns"] // H) for e in store.sync_log()]
    [(0, 4), (4, 7)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from quant_core.errors import QuantUsageError
from quant_data import reasons
from quant_data._records import OhlcvProvider, parse_timeframe
from quant_data.backfill import (
    BackfillReport,
    Progress,
    SeriesReport,
    run_series,
)
from quant_data.store import CursorUpdate, SeriesKey, Store

__all__ = ["SYNC_JOB", "sync"]

#: The cursor job name of sync.
SYNC_JOB = "sync"


def sync(
    store: Store,
    provider: OhlcvProvider,
    *,
    symbols: Sequence[str],
    quote: str,
    timeframe: str,
    start_ns: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> BackfillReport:
    """Append every newly closed candle of ``symbols`` from ``provider``.

    Raises:
        QuantUsageError: ``STORE_REQUEST_INVALID`` for an unknown timeframe, or a series that
            has no cursor, no stored bar and no ``start_ns`` (backfill it first).
    """
    tf = parse_timeframe(timeframe)
    end = tf.floor(store.clock.now_ns())
    reports: list[SeriesReport] = []
    before = provider.requests
    for symbol in symbols:
        series = SeriesKey(provider.name, symbol, quote, tf.value)
        saved = store.cursor(SYNC_JOB, series)
        if saved is not None:
            begin = saved[0]
        else:
            last = store.last_open_ns(series)
            if last is not None:
                begin = last + tf.ns
            elif start_ns is not None:
                begin = tf.floor(start_ns)
            else:
                raise QuantUsageError(
                    f"{symbol}/{quote} {tf.value} from {provider.name} has no data yet: "
                    "backfill it first or give a start",
                    reason_code=reasons.STORE_REQUEST_INVALID,
                )
        if begin >= end:
            reports.append(SeriesReport(symbol, begin, begin, saved and saved[0]))
            continue
        store.save_cursor(CursorUpdate(SYNC_JOB, series, begin, False))
        report = run_series(store, provider, series, SYNC_JOB, begin, end, progress)
        store.save_cursor(CursorUpdate(SYNC_JOB, series, end, False))
        store.append_sync_log(
            series,
            from_ns=begin,
            to_ns=end,
            pages=report.pages,
            bars_new=report.bars_new,
            bars_corrected=report.bars_corrected,
            quarantined=report.quarantined,
        )
        reports.append(attrs.evolve(report, start_ns=begin, end_ns=end))
    return BackfillReport(
        provider.name, quote, tf.value, tuple(reports), provider.requests - before
    )
