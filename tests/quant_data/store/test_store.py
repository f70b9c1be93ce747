"""The governed store on SQLite and PostgreSQL: ingest, quarantine, dedup, versions, gaps."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from quant_core import SimClock, Timeframe
from quant_core.errors import QuantUsageError, RejectedError
from quant_data import FetchedPage, RawPage, SourceBar, StoreError, reasons
from quant_data.store import SeriesKey, Store, source_preference

H = Timeframe.H1.ns
MakeBar = Callable[..., SourceBar]
MakePage = Callable[..., FetchedPage]


def test_valid_page_becomes_canonical_bars(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    bars = [make_bar(i) for i in range(3)]
    result = store.ingest_page(make_page(bars, 0, 3))
    assert (result.bars_new, result.quarantined, result.gaps_opened) == (3, {}, 0)
    ds = store.materialize(["BTC"], "USD", "1h", 0, 3 * H)
    got = [(b.open_time_ns, b.open, b.high, b.low, b.close, b.volume) for b in ds.bars()]
    expected = [
        (
            i * H,
            Decimal(100 + i),
            Decimal(102 + i),
            Decimal(98 + i),
            Decimal(f"{100 + i}.5"),
            Decimal("3.25"),
        )
        for i in range(3)
    ]
    assert got == expected
    assert ds.manifest.as_of == "seq:1"
    assert ds.manifest.summary["symbols"]["BTC"]["missing_slots"] == 0


def test_usdt_is_a_data_quote_kept_apart_from_usd(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    """USDT candles land as USDT (decision record 0047), never relabelled or mixed with USD."""
    import attrs

    usd = [make_bar(i) for i in range(3)]
    usdt = [
        attrs.evolve(make_bar(i, close=f"{200 + i}"), quote="USDT", high="300") for i in range(3)
    ]
    result = store.ingest_page(make_page([*usd, *usdt], 0, 3))
    assert (result.bars_new, result.quarantined) == (6, {})
    tether = store.materialize(["BTC"], "USDT", "1h", 0, 3 * H)
    dollar = store.materialize(["BTC"], "USD", "1h", 0, 3 * H)
    assert [b.close for b in tether.bars()] == [Decimal(200 + i) for i in range(3)]
    assert {b.instrument.quote.value for b in tether.bars()} == {"USDT"}
    assert [b.close for b in dollar.bars()] == [Decimal(f"{100 + i}.5") for i in range(3)]
    assert tether.manifest.dataset_hash != dollar.manifest.dataset_hash


BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    ({"close": "NaN"}, reasons.STORE_PRICE_NAN),
    ({"volume": "Infinity"}, reasons.STORE_PRICE_NAN),
    ({"open": "abc"}, reasons.STORE_VALUE_INVALID),
    ({"low": "0", "open": "1", "close": "1"}, reasons.STORE_PRICE_NONPOSITIVE),
    ({"low": "-5"}, reasons.STORE_PRICE_NONPOSITIVE),
    ({"high": "90", "low": "95", "open": "92", "close": "92"}, reasons.STORE_OHLC_INCONSISTENT),
    ({"close": "500"}, reasons.STORE_OHLC_INCONSISTENT),
    (
        {"high": "90.0", "low": "95.00", "open": "92", "close": "92"},
        reasons.STORE_OHLC_INCONSISTENT,
    ),
    ({"volume": "-1"}, reasons.STORE_VOLUME_NEGATIVE),
    ({"open_time_ns": 5 * H + 7}, reasons.STORE_TIMESTAMP_OFF_GRID),
    ({"open_time_ns": -H}, reasons.STORE_TIMESTAMP_OFF_GRID),
    ({"open_time_ns": 2000 * H}, reasons.STORE_TIMESTAMP_FUTURE),
    ({"open_time_ns": 1000 * H}, reasons.STORE_BAR_NOT_CLOSED),
    ({"symbol": "NOPE"}, reasons.STORE_SYMBOL_UNKNOWN),
    ({"quote": "EUR"}, reasons.STORE_QUOTE_UNSUPPORTED),
    ({"timeframe": "7h"}, reasons.STORE_TIMEFRAME_UNSUPPORTED),
    ({"source": "other"}, reasons.STORE_SOURCE_MISMATCH),
]


def test_bad_rows_are_quarantined_with_reasons_and_counted(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    import attrs

    good = make_bar(0)
    bad = [attrs.evolve(make_bar(5), **change) for change, _ in BAD_ROWS]
    result = store.ingest_page(make_page([good, *bad], 0, 1))
    expected: dict[str, int] = {}
    for _, code in BAD_ROWS:
        expected[code] = expected.get(code, 0) + 1
    assert result.quarantined == dict(sorted(expected.items()))
    assert result.quarantined_total == len(BAD_ROWS)
    assert result.bars_new == 1
    rows = store.quarantine()
    assert [r["reason_code"] for r in rows] == [code for _, code in BAD_ROWS]
    assert [r["row_index"] for r in rows] == list(range(1, len(BAD_ROWS) + 1))
    assert all(r["ingest_seq"] == result.seq for r in rows)
    assert json.loads(rows[0]["row"])["close"] == "NaN"
    # Nothing bad entered canonical bars: only the good slot exists.
    ds = store.materialize(["BTC"], "USD", "1h", 0, 10 * H)
    assert [b.open_time_ns for b in ds.bars()] == [0]


def test_duplicates_identical_collapse_conflicting_quarantine(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    page = make_page(
        [make_bar(0), make_bar(0), make_bar(1), make_bar(1, close="100.7"), make_bar(2)], 0, 3
    )
    result = store.ingest_page(page)
    assert result.duplicates_collapsed == 1
    assert result.bars_new == 2
    assert result.quarantined == {reasons.STORE_DUPLICATE_CONFLICT: 2}
    assert result.gaps_opened == 1
    assert store.gaps(SeriesKey("memory", "BTC", "USD", "1h")) == [H]
    ds = store.materialize(["BTC"], "USD", "1h", 0, 3 * H)
    assert [b.open_time_ns for b in ds.bars()] == [0, 2 * H]


def test_ingesting_the_same_pages_twice_changes_nothing(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    pages = [
        make_page([make_bar(0), make_bar(1, close="NaN")], 0, 2),
        make_page([make_bar(3), make_bar(3)], 2, 4),
    ]
    for page in pages:
        assert not store.ingest_page(page).repeat
    first = store.content_hash()
    again = [store.ingest_page(page) for page in pages]
    assert all(r.repeat for r in again)
    assert [r.seq for r in again] == [1, 2]
    assert store.content_hash() == first
    # The same candles under another request: a new raw record, but no new bar version.
    result = store.ingest_page(make_page([make_bar(0), make_bar(3)], 0, 4, tag="&again"))
    assert (result.repeat, result.bars_new, result.bars_unchanged) == (False, 0, 2)
    assert [v["version"] for v in store.bar_versions("memory", "BTC", "USD", "1h", 0)] == [1]
    assert store.content_hash() != first


def test_revision_creates_a_version_and_correction_and_as_of_reproduces(
    store: Store, clock: SimClock, make_bar: MakeBar, make_page: MakePage
) -> None:
    store.ingest_page(make_page([make_bar(i) for i in range(4)], 0, 4))
    before = store.materialize(["BTC"], "USD", "1h", 0, 4 * H)
    clock.advance_by(H)
    revised = make_page([make_bar(2, close="101.25")], 2, 3, tag="&late")
    result = store.ingest_page(revised)
    assert (result.bars_corrected, result.bars_new) == (1, 0)
    versions = store.bar_versions("memory", "BTC", "USD", "1h", 2 * H)
    assert [(v["version"], v["close"], v["ingest_seq"]) for v in versions] == [
        (1, "102.5", 1),
        (2, "101.25", 2),
    ]
    (corr,) = store.corrections()
    assert (corr["old_version"], corr["new_version"], corr["recorded_at_ns"]) == (
        1,
        2,
        clock.now_ns(),
    )
    assert json.loads(corr["old_values"])["close"] == "102.5"
    assert json.loads(corr["new_values"])["close"] == "101.25"
    after = store.materialize(["BTC"], "USD", "1h", 0, 4 * H)
    assert after.manifest.dataset_hash != before.manifest.dataset_hash
    assert after.manifest.summary["symbols"]["BTC"]["corrections"] == 1
    old_view = store.materialize(["BTC"], "USD", "1h", 0, 4 * H, as_of=1)
    assert old_view.manifest.dataset_hash == before.manifest.dataset_hash
    assert old_view.manifest.summary["symbols"]["BTC"]["corrections"] == 0


def test_gap_ledger_open_filled_and_confirmed(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    series = SeriesKey("memory", "BTC", "USD", "1h")
    result = store.ingest_page(make_page([make_bar(0), make_bar(3)], 0, 5))
    assert result.gaps_opened == 3
    assert store.gaps(series) == [H, 2 * H, 4 * H]
    late = store.ingest_page(make_page([make_bar(1)], 1, 2), series=series)
    assert late.gaps_filled == 1
    confirm = store.ingest_page(make_page([], 2, 3), series=series, confirms_no_trade=True)
    assert confirm.gaps_confirmed == 1
    assert store.mark_retried(series, 4 * H, 5 * H) == 1
    ledger = {r["open_time_ns"] // H: r for r in store.ledger()}
    assert {k: v["status"] for k, v in ledger.items()} == {
        1: "filled",
        2: "confirmed_no_trade",
        4: "retried",
    }
    assert ledger[2]["confirmed_by"] == "memory"
    assert ledger[4]["attempts"] == 1
    # A gap is never filled with a made-up bar.
    ds = store.materialize(["BTC"], "USD", "1h", 0, 5 * H)
    assert [b.open_time_ns // H for b in ds.bars()] == [0, 1, 3]
    summary = ds.manifest.summary["symbols"]["BTC"]
    assert summary["missing_slots"] == 2
    assert summary["gap_ledger"] == {"open": 0, "retried": 1, "filled": 1, "confirmed_no_trade": 1}
    # A provider confirming no-trade for a fresh window records it directly.
    fresh = store.ingest_page(make_page([], 10, 12), series=series, confirms_no_trade=True)
    assert (fresh.gaps_confirmed, fresh.gaps_opened) == (2, 0)
    assert store.verify().ok


def test_gaps_stop_at_the_last_closed_slot(store: Store, make_page: MakePage) -> None:
    series = SeriesKey("memory", "BTC", "USD", "1h")
    result = store.ingest_page(make_page([], 998, 1005), series=series)
    assert result.gaps_opened == 2  # slots 998 and 999; 1000 closes after now
    assert store.ingest_page(make_page([], 2000, 2001, tag="&x"), series=series).gaps_opened == 0


def test_source_preference_in_materialization(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    store.ingest_page(
        make_page([make_bar(0, source="coinapi", close="100.1")], 0, 1, source="coinapi")
    )
    store.ingest_page(
        make_page(
            [make_bar(0, source="kraken", close="100.2"), make_bar(1, source="kraken")],
            0,
            2,
            source="kraken",
        )
    )
    store.ingest_page(make_page([make_bar(2, source="coinapi")], 2, 3, source="coinapi"))
    default = store.materialize(["BTC"], "USD", "1h", 0, 3 * H)
    assert [str(b.close) for b in default.bars()] == ["100.2", "101.5", "102.5"]
    assert default.manifest.summary["sources"] == ["coinapi", "kraken"]
    coinapi = store.materialize(["BTC"], "USD", "1h", 0, 3 * H, prefer=["coinapi"])
    assert [str(b.close) for b in coinapi.bars()] == ["100.1", "101.5", "102.5"]


def test_source_preference_order() -> None:
    assert source_preference(["b", "a", "kraken"]) == ["kraken", "a", "b"]
    assert source_preference(["b", "a"], prefer=["b", "zzz"]) == ["b", "a"]


def test_multi_symbol_materialization_and_status(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    store.ingest_page(make_page([make_bar(0), make_bar(2), make_bar(3, volume="-1")], 0, 4))
    store.ingest_page(make_page([make_bar(0, symbol="ETH"), make_bar(1, symbol="ETH")], 0, 2))
    store.ingest_page(make_page([make_bar(0, symbol="ETH", close="100.75")], 0, 1, tag="&r"))
    ds = store.materialize(["ETH", "BTC"], "USD", "1h", 0, 4 * H)
    assert ds.manifest.symbols == ("BTC", "ETH")
    assert [(b.instrument.base, b.open_time_ns // H) for b in ds.bars()] == [
        ("BTC", 0),
        ("BTC", 2),
        ("ETH", 0),
        ("ETH", 1),
    ]
    status = {s.symbol: s for s in store.status()}
    assert (status["BTC"].bars, status["BTC"].first_open_ns, status["BTC"].last_open_ns) == (
        2,
        0,
        2 * H,
    )
    assert status["BTC"].gaps["open"] == 2
    assert status["BTC"].quarantined == 1
    assert (status["ETH"].bars, status["ETH"].corrections) == (2, 1)


def test_materialize_rejects_bad_requests(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    with pytest.raises(RejectedError) as empty:
        store.materialize(["BTC"], "USD", "1h", 0, H)
    assert empty.value.reason_code == reasons.STORE_NO_DATA
    store.ingest_page(make_page([make_bar(0)], 0, 1))
    requests: list[tuple[list[str], str, str, int, int, int | None]] = [
        (["BTC"], "USD", "7h", 0, H, None),
        (["BTC"], "EUR", "1h", 0, H, None),
        (["BTC"], "USD", "1h", H, H, None),
        ([], "USD", "1h", 0, H, None),
        (["BTC"], "USD", "1h", 0, H, 5),
    ]
    for symbols, quote, timeframe, start, end, as_of in requests:
        with pytest.raises(QuantUsageError) as err:
            store.materialize(symbols, quote, timeframe, start, end, as_of=as_of)
        assert err.value.reason_code == reasons.STORE_REQUEST_INVALID


def test_verify_detects_tampering(store: Store, make_bar: MakeBar, make_page: MakePage) -> None:
    store.ingest_page(make_page([make_bar(0), make_bar(2)], 0, 3))
    store.ingest_page(make_page([make_bar(0, close="100.25")], 0, 1, tag="&rev"))
    report = store.verify()
    assert report.ok
    assert report.checks == ("schema", "raw ordering", "bar versions", "duplicates", "gap ledger")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE qd_gap SET status = 'filled'"))
    gap = store.verify()
    assert (gap.ok, gap.reason_code) == (False, reasons.STORE_GAP_LEDGER_INVALID)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM qd_correction"))
    versions = store.verify()
    assert (versions.ok, versions.reason_code) == (False, reasons.STORE_VERSIONS_BROKEN)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE qd_raw_ingest SET payload_hash = 'sha256:00' WHERE seq = 2"))
    raw = store.verify()
    assert (raw.reason_code, raw.checks) == (reasons.STORE_VERSIONS_BROKEN, ("schema",))
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE qd_sync_log"))
    schema = store.verify()
    assert (schema.ok, schema.reason_code, schema.checks) == (
        False,
        reasons.STORE_SCHEMA_INVALID,
        (),
    )


def test_verify_detects_a_missing_column(backend_url: str, clock: SimClock) -> None:
    store = Store.open(backend_url, clock=clock)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE qd_cursor DROP COLUMN done"))
    report = store.verify()
    assert (report.reason_code, report.ok) == (reasons.STORE_SCHEMA_INVALID, False)
    assert "done" in str(report.message)
    store.engine.dispose()


def test_unopenable_database_raises_store_error(clock: SimClock, tmp_path: Any) -> None:
    with pytest.raises(StoreError) as err:
        Store.open("nosuchdialect://x", clock=clock)
    assert err.value.reason_code == reasons.STORE_ERROR
    with pytest.raises(StoreError) as err2:
        Store.open(f"sqlite:///{tmp_path}/missing/dir/q.db", clock=clock)
    assert err2.value.reason_code == reasons.STORE_ERROR


def test_store_error_hides_the_password(clock: SimClock) -> None:
    with pytest.raises(StoreError) as err:
        Store.open("postgresql+psycopg://u:hunter2@127.0.0.1:1/db?connect_timeout=1", clock=clock)
    assert "hunter2" not in str(err.value)
    assert "***" in str(err.value)


def test_in_memory_store_and_raw_record(clock: SimClock, make_bar: MakeBar) -> None:
    store = Store.open("sqlite://", clock=clock, symbols=["BTC"])
    raw = RawPage("memory", "GET /x", 42, 200, b"payload")
    result = store.ingest_page(FetchedPage(raw, (make_bar(0),), 0, H, None))
    assert result.seq == store.latest_seq() == 1
    with store.engine.begin() as conn:
        row = conn.execute(text("SELECT * FROM qd_raw_ingest")).one()
    assert (row.source, row.request, row.received_at_ns, row.status, bytes(row.payload)) == (
        "memory",
        "GET /x",
        42,
        200,
        b"payload",
    )
    assert row.payload_hash == raw.payload_hash
    assert store.url == "sqlite://"


def test_non_canonical_decimal_text_is_stored_canonically(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    bar = make_bar(0, open="100.0", high="1.02E+2", low="98.000", close=" 100.50", volume="3.250")
    assert store.ingest_page(make_page([bar], 0, 1)).bars_new == 1
    (row,) = store.bar_versions("memory", "BTC", "USD", "1h", 0)
    assert [row[k] for k in ("open", "high", "low", "close", "volume")] == [
        "100",
        "102",
        "98",
        "100.5",
        "3.25",
    ]
    # The same values in canonical text are the same bar: no new version.
    same = make_bar(0, open="100", high="102", low="98", close="100.5", volume="3.25")
    assert store.ingest_page(make_page([same], 0, 1, tag="&c")).bars_unchanged == 1


def test_exact_comparison_beyond_float_precision(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    # high and low are equal as floats but high < low as decimals.
    bad = make_bar(
        0, open="1", close="1", high="1.0000000000000000001", low="1.0000000000000000002"
    )
    ok = make_bar(1, open="1.0000000000000000001", close="1", high="1.0000000000000000001", low="1")
    result = store.ingest_page(make_page([bad, ok], 0, 2))
    assert result.quarantined == {reasons.STORE_OHLC_INCONSISTENT: 1}
    assert result.bars_new == 1


def test_verify_detects_a_duplicated_version(
    store: Store, make_bar: MakeBar, make_page: MakePage
) -> None:
    store.ingest_page(make_page([make_bar(0)], 0, 1))
    store.ingest_page(make_page([make_bar(0, close="100.75")], 0, 1, tag="&rev"))
    assert store.verify().ok
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE qd_bar SET close = '100.5' WHERE version = 2"))
    report = store.verify()
    assert (report.ok, report.reason_code) == (False, reasons.STORE_VERSIONS_BROKEN)
    assert report.checks == ("schema", "raw ordering", "bar versions")
    assert "identical values" in str(report.message)
