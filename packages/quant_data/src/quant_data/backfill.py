"""Backfill: fetch a series' history from any provider into the store, resumably.

:func:`backfill` walks ``[start_ns, end_ns)`` page by page through
:meth:`~quant_data._records.OhlcvProvider.fetch_ohlcv`. Each page is committed together with the
job's cursor (``backfill:<start>:<end>``), so a backfill killed at any point and run again with
the same arguments resumes after the last committed page and ends with the same store content
as an uninterrupted run. By default the window is the full history: from
:data:`FULL_HISTORY_START_NS` to the last closed slot on the injected clock.

Gaps are never filled silently: :func:`plan_gap_retries` turns the ledger's open gaps into
request windows (at most ``page_limit`` slots each) and :func:`retry_gaps` fetches them again,
recording one more attempt for every slot that is still missing.

Examples:
    >>> from quant_core import SimClock, Timeframe
    >>> from quant_data import SourceBar
    >>> from quant_data.store import MemoryProvider, Store
    >>> H = Timeframe.H1.ns
    >>> bars = [SourceBar("memory", "BTC", "USD", "1h", i * H, "1", "1", "1", "1", "0")
    ...         for i in range(10) if i != 4]
    >>> store = Store.open("sqlite://", clock=SimClock(100 * H))
    >>> provider = MemoryProvider(bars, page_limit=4)
    >>> report = backfill(store, provider, symbols=["BTC"], quote="USD", timeframe="1h",
    ...                   start_ns=0, end_ns=10 * H)
    >>> report.requests, report.series[0].bars_new, report.series[0].gaps_opened
    (3, 9, 1)
    >>> plan_gap_retries(store, provider, "BTC", "USD", "1h")
    [(14400000000000, 18000000000000)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from quant_core import Timeframe, iso_to_ns
from quant_core.errors import QuantUsageError
from quant_data import reasons
from quant_data._records import OhlcvProvider, parse_timeframe
from quant_data.store import CursorUpdate, IngestResult, SeriesKey, Store

__all__ = [
    "FULL_HISTORY_START_NS",
    "BackfillReport",
    "Progress",
    "SeriesReport",
    "backfill",
    "minimum_requests",
    "plan_gap_retries",
    "plan_windows",
    "retry_gaps",
    "run_series",
]

#: Where "full history" starts: the first day of public bitcoin exchange trading.
FULL_HISTORY_START_NS = iso_to_ns("2010-07-17T00:00:00Z")


@attrs.frozen
class Progress:
    """One progress step: ``done_ns`` of ``total_ns`` of one symbol's window covered."""

    symbol: str
    done_ns: int
    total_ns: int
    pages: int


@attrs.frozen
class SeriesReport:
    """What a backfill (or sync) did to one series."""

    symbol: str
    start_ns: int
    end_ns: int
    resumed_from_ns: int | None
    pages: int = 0
    repeats: int = 0
    bars_new: int = 0
    bars_corrected: int = 0
    quarantined: int = 0
    gaps_opened: int = 0
    gaps_confirmed: int = 0
    gaps_filled: int = 0
    missing: int = 0
    """Slots of ``[start_ns, end_ns)`` still missing when the run ended (open gaps)."""


@attrs.frozen
class BackfillReport:
    """A backfill's outcome: per-series reports and the number of provider requests.

    A report is :attr:`complete` when no series has a slot of its window still missing;
    otherwise the missing slots are open gaps in the ledger (``BACKFILL_INCOMPLETE``).
    """

    source: str
    quote: str
    timeframe: str
    series: tuple[SeriesReport, ...]
    requests: int

    @property
    def missing(self) -> int:
        """Slots still missing over every series' window."""
        return sum(s.missing for s in self.series)

    @property
    def complete(self) -> bool:
        """Whether every slot of every series' window holds a bar (or a confirmed no-trade)."""
        return self.missing == 0


def _check_window(timeframe: str, start_ns: int, end_ns: int) -> Timeframe:
    tf = parse_timeframe(timeframe)
    if start_ns < 0 or end_ns <= start_ns:
        raise QuantUsageError(
            f"empty or negative window [{start_ns}, {end_ns})",
            reason_code=reasons.STORE_REQUEST_INVALID,
        )
    return tf


def plan_windows(
    start_ns: int, end_ns: int, timeframe: Timeframe, page_limit: int
) -> list[tuple[int, int]]:
    """Split ``[start_ns, end_ns)`` into windows of at most ``page_limit`` slots.

    Examples:
        >>> H = Timeframe.H1.ns
        >>> [(a // H, b // H) for a, b in plan_windows(0, 5 * H, Timeframe.H1, 2)]
        [(0, 2), (2, 4), (4, 5)]
    """
    width = page_limit * timeframe.ns
    return [(s, min(s + width, end_ns)) for s in range(start_ns, end_ns, width)]


def minimum_requests(start_ns: int, end_ns: int, timeframe: Timeframe, page_limit: int) -> int:
    """The fewest requests a provider with ``page_limit`` needs for the window."""
    return len(plan_windows(start_ns, end_ns, timeframe, page_limit))


def _fold(report: SeriesReport, result: IngestResult) -> SeriesReport:
    return attrs.evolve(
        report,
        pages=report.pages + 1,
        repeats=report.repeats + result.repeat,
        bars_new=report.bars_new + result.bars_new,
        bars_corrected=report.bars_corrected + result.bars_corrected,
        quarantined=report.quarantined + result.quarantined_total,
        gaps_opened=report.gaps_opened + result.gaps_opened,
        gaps_confirmed=report.gaps_confirmed + result.gaps_confirmed,
        gaps_filled=report.gaps_filled + result.gaps_filled,
    )


def run_series(
    store: Store,
    provider: OhlcvProvider,
    series: SeriesKey,
    job: str,
    start_ns: int,
    end_ns: int,
    progress: Callable[[Progress], None] | None = None,
) -> SeriesReport:
    """Fetch ``[start_ns, end_ns)`` of one series, committing each page with the job cursor.

    Resumes from the job's cursor when one exists; a finished job fetches nothing. The report's
    ``missing`` counts the window's slots still open in the gap ledger at the end.
    """
    tf = Timeframe(series.timeframe)
    saved = store.cursor(job, series)
    resumed = None if saved is None else saved[0]
    report = SeriesReport(series.symbol, start_ns, end_ns, resumed)
    if saved is not None and saved[1]:
        if progress is not None:
            progress(Progress(series.symbol, end_ns - start_ns, end_ns - start_ns, 0))
        return _with_missing(store, series, report)
    cursor = start_ns if saved is None else saved[0]
    if progress is not None:
        progress(Progress(series.symbol, cursor - start_ns, end_ns - start_ns, 0))
    pages = provider.fetch_ohlcv(series.symbol, series.quote, tf, cursor, end_ns)
    for page in pages:
        done = page.next_start_ns is None
        next_ns = end_ns if page.next_start_ns is None else page.next_start_ns
        result = store.ingest_page(
            page,
            series=series,
            confirms_no_trade=provider.confirms_no_trade,
            cursor=CursorUpdate(job, series, next_ns, done),
        )
        report = _fold(report, result)
        if progress is not None:
            progress(Progress(series.symbol, next_ns - start_ns, end_ns - start_ns, report.pages))
    store.save_cursor(CursorUpdate(job, series, end_ns, True))
    return _with_missing(store, series, report)


def _with_missing(store: Store, series: SeriesKey, report: SeriesReport) -> SeriesReport:
    slots = store.gaps(series)
    missing = sum(1 for slot in slots if report.start_ns <= slot < report.end_ns)
    return attrs.evolve(report, missing=missing)


def backfill(
    store: Store,
    provider: OhlcvProvider,
    *,
    symbols: Sequence[str],
    quote: str,
    timeframe: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> BackfillReport:
    """Backfill ``symbols`` from ``provider`` over ``[start_ns, end_ns)``, resumably.

    Args:
        store: where pages go.
        provider: any :class:`~quant_data._records.OhlcvProvider`.
        symbols: base assets, in the order they are fetched.
        quote: quote currency (``"USD"``).
        timeframe: bar length (``"1h"``).
        start_ns: inclusive start (default: :data:`FULL_HISTORY_START_NS`), floored to the grid.
        end_ns: exclusive end (default: the start of the current, unclosed slot).
        progress: called after every page (apps draw progress bars with it).

    Raises:
        QuantUsageError: ``STORE_REQUEST_INVALID`` for an unknown timeframe or empty window.
        QuantError: whatever the provider raises (fatal or retries exhausted); every page
            committed before stays, and a rerun resumes after it.
    """
    tf = _check_window(timeframe, 0, 1)
    start = tf.floor(FULL_HISTORY_START_NS if start_ns is None else start_ns)
    end = tf.floor(store.clock.now_ns()) if end_ns is None else end_ns
    _check_window(timeframe, start, end)
    before = provider.requests
    job = f"backfill:{start}:{end}"
    reports = tuple(
        run_series(
            store, provider, SeriesKey(provider.name, s, quote, tf.value), job, start, end, progress
        )
        for s in symbols
    )
    return BackfillReport(provider.name, quote, tf.value, reports, provider.requests - before)


def plan_gap_retries(
    store: Store, provider: OhlcvProvider, symbol: str, quote: str, timeframe: str
) -> list[tuple[int, int]]:
    """Windows (at most ``page_limit`` slots) covering the series' open and retried gaps."""
    tf = _check_window(timeframe, 0, 1)
    slots = store.gaps(SeriesKey(provider.name, symbol, quote, tf.value))
    windows: list[tuple[int, int]] = []
    limit = provider.page_limit * tf.ns
    for slot in slots:
        if windows and slot + tf.ns - windows[-1][0] <= limit:
            windows[-1] = (windows[-1][0], slot + tf.ns)
        else:
            windows.append((slot, slot + tf.ns))
    return windows


def retry_gaps(
    store: Store,
    provider: OhlcvProvider,
    *,
    symbols: Sequence[str],
    quote: str,
    timeframe: str,
    progress: Callable[[Progress], None] | None = None,
) -> BackfillReport:
    """Fetch every open gap again; slots still missing get one more recorded attempt.

    Each series report's ``missing`` counts the series' gaps still open afterwards.
    """
    tf = _check_window(timeframe, 0, 1)
    reports = []
    for symbol in symbols:
        series = SeriesKey(provider.name, symbol, quote, tf.value)
        total = SeriesReport(symbol, 0, 0, None)
        for start, end in plan_gap_retries(store, provider, symbol, quote, tf.value):
            for page in provider.fetch_ohlcv(symbol, quote, tf, start, end):
                result = store.ingest_page(
                    page, series=series, confirms_no_trade=provider.confirms_no_trade
                )
                total = _fold(total, result)
            store.mark_retried(series, start, end)
            if progress is not None:
                progress(Progress(symbol, end - start, end - start, total.pages))
        reports.append(attrs.evolve(total, missing=len(store.gaps(series))))
    return BackfillReport(
        provider.name, quote, tf.value, tuple(reports), sum(r.pages for r in reports)
    )
