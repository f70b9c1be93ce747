"""StoreFeed: history and polled bars equal what materialize gives, on SQLite and PostgreSQL.

The reference is today's paper-session path: materialize the window, keep per instrument the
bars opened after the newest one already handed out. Hypothesis draws the bars (two sources,
missing slots, revisions, late arrivals), the order they land in and the poll cut points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.errors import QuantUsageError, RejectedError
from quant_core.events import MarketDataFeed, bar_sort_key
from quant_data import FetchedPage, RawPage, SourceBar, Store, StoreFeed, reasons

H = Timeframe.H1.ns
NOW = 1000 * H
SYMBOLS = ("BTC", "ETH", "SOL")
SLOTS = 12

#: One candle that lands: (source, symbol, slot, close in cents).
Landing = tuple[str, str, int, int]

landings = st.tuples(
    st.sampled_from(["kraken", "coinapi"]),
    st.sampled_from(SYMBOLS),
    st.integers(0, SLOTS - 1),
    st.integers(100, 105),
)
scenarios = st.fixed_dictionaries(
    {
        "batches": st.lists(st.lists(landings, max_size=12), min_size=1, max_size=5),
        "history_end": st.integers(0, SLOTS),
        "cuts": st.lists(
            st.tuples(st.integers(1, SLOTS + 2), st.sampled_from([0, 1, H // 2, H - 1])),
            min_size=1,
            max_size=5,
        ),
        "prefer": st.sampled_from([(), ("coinapi",), ("kraken", "coinapi")]),
        "symbols": st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=3, unique=True),
    }
)


def _land(store: Store, batch: Sequence[Landing], number: int) -> None:
    """Ingest one batch: one page per source (a later batch may revise or fill a slot)."""
    for source in ("coinapi", "kraken"):
        rows = {(symbol, slot): close for s, symbol, slot, close in batch if s == source}
        bars = tuple(
            SourceBar(source, symbol, "USD", "1h", slot * H, "1", "2", "0.5", f"{close / 100}", "7")
            for (symbol, slot), close in sorted(rows.items())
        )
        if bars:
            raw = RawPage(source, f"GET /batch/{number}", 0, 200, repr(bars).encode())
            store.ingest_page(FetchedPage(raw, bars, 0, SLOTS * H, None))


def _materialized(
    store: Store, symbols: Sequence[str], start: int, end: int, prefer: Sequence[str]
) -> list[Bar]:
    if end <= start:
        return []
    try:
        dataset = store.materialize(symbols, "USD", "1h", start, end, prefer=list(prefer) or None)
    except RejectedError as exc:
        if exc.reason_code == reasons.STORE_NO_DATA:
            return []
        raise
    return sorted(dataset.bars(), key=bar_sort_key)


def _check(url: str, scenario: dict[str, Any]) -> None:
    store = Store.open(url, clock=SimClock(NOW))
    try:
        symbols, prefer = scenario["symbols"], scenario["prefer"]
        batches = scenario["batches"]
        _land(store, batches[0], 0)
        feed = StoreFeed(store, symbols, "USD", Timeframe.H1, prefer=prefer)
        end = scenario["history_end"] * H
        history = list(feed.bars(0, end))
        assert history == _materialized(store, symbols, 0, end, prefer)
        last = {b.instrument.base: b.open_time_ns for b in history}
        floor = max(last.values(), default=-1)
        for number, (cut, offset) in enumerate(scenario["cuts"], start=1):
            if number < len(batches):
                _land(store, batches[number], number)
            # Closed at or before `until`: opened before the slot `until` falls in.
            until = cut * H + offset
            window = _materialized(store, symbols, 0, cut * H, prefer)
            expected = [b for b in window if b.open_time_ns > last.get(b.instrument.base, floor)]
            assert feed.poll(until) == expected
            for bar in expected:
                last[bar.instrument.base] = bar.open_time_ns
    finally:
        store.engine.dispose()


@settings(max_examples=60, deadline=None)
@given(scenario=scenarios)
def test_feed_equals_materialize_on_sqlite(scenario: dict[str, Any]) -> None:
    _check("sqlite://", scenario)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios)
def test_feed_equals_materialize_on_postgresql(
    empty_postgres: Callable[[], str], scenario: dict[str, Any]
) -> None:
    _check(empty_postgres(), scenario)


def test_feed_is_a_market_data_feed(store: Store) -> None:
    feed = StoreFeed(store, ["ETH", "BTC", "ETH"], "USD", Timeframe.H1)
    assert isinstance(feed, MarketDataFeed)
    assert feed.instruments == (Instrument("BTC", "USD"), Instrument("ETH", "USD"))
    assert feed.timeframe is Timeframe.H1
    assert list(feed.bars(0, H)) == []
    assert feed.poll(NOW) == []


def test_a_late_bar_behind_the_handed_out_ones_is_not_handed_out_again(store: Store) -> None:
    _land(store, [("kraken", "BTC", 0, 100), ("kraken", "BTC", 2, 100)], 0)
    feed = StoreFeed(store, ["BTC"], "USD", Timeframe.H1)
    assert [b.open_time_ns for b in feed.poll(3 * H)] == [0, 2 * H]
    _land(store, [("kraken", "BTC", 1, 100), ("kraken", "BTC", 3, 101)], 1)
    assert [b.open_time_ns for b in feed.poll(4 * H)] == [3 * H]
    assert [b.open_time_ns for b in feed.bars(0, 4 * H)] == [0, H, 2 * H, 3 * H]


@pytest.mark.parametrize(("symbols", "quote"), [([], "USD"), (["BTC"], "XXX")])
def test_a_bad_request_is_a_usage_error(store: Store, symbols: list[str], quote: str) -> None:
    with pytest.raises(QuantUsageError) as caught:
        StoreFeed(store, symbols, quote, Timeframe.H1)
    assert caught.value.reason_code == reasons.STORE_REQUEST_INVALID


def test_latest_bars_refuses_an_unknown_timeframe(store: Store) -> None:
    with pytest.raises(QuantUsageError) as caught:
        store.latest_bars(["BTC"], "USD", "7m", 0, H)
    assert caught.value.reason_code == reasons.STORE_REQUEST_INVALID


def test_a_poll_seeks_the_open_time_index_from_the_watermark(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'quant.db'}", clock=SimClock(NOW))
    _land(store, [("kraken", s, i, 100) for s in SYMBOLS for i in range(SLOTS)], 0)
    feed = StoreFeed(store, SYMBOLS, "USD", Timeframe.H1)
    assert len(list(feed.bars(0, SLOTS * H))) == len(SYMBOLS) * SLOTS
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", record)
    assert feed.poll(NOW) == []
    event.remove(store.engine, "before_cursor_execute", record)
    reads = [(s, p) for s, p in seen if s.lstrip().startswith("SELECT")]
    assert len(reads) == 1  # one watermark group: one query
    statement, params = reads[0]
    assert (SLOTS - 1) * H + 1 in params  # starts after the newest bar handed out
    with store.engine.connect() as conn:
        plan = " ".join(
            str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
        )
    assert "SEARCH qd_bar USING INDEX ix_qd_bar_open_time" in plan
    assert "open_time_ns>?" in plan
    store.engine.dispose()
