"""Data coverage (bars, gap ranges, last sync per instrument) and audit verification as data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from quant_apps.runtime.operator.coverage import MAX_GAP_RANGES, data_coverage, verify_audit
from quant_core import SimClock, Timeframe, reasons
from quant_core.audit import AuditLog
from quant_core.errors import ValidationError
from quant_data import FetchedPage, RawPage, SourceBar, Store
from quant_data.store import SeriesKey

H = Timeframe.H1.ns


def _page(
    source: str, symbol: str, hours: Iterable[int], window: tuple[int, int], quote: str = "USD"
) -> FetchedPage:
    bars = tuple(
        SourceBar(source, symbol, quote, "1h", h * H, "100", "101", "99", "100.5", "3", 1)
        for h in hours
    )
    request = f"GET /ohlc?pair={symbol}{quote}&since={window[0]}&n={len(bars)}"
    raw = RawPage(source, request, 0, 200, request.encode())
    return FetchedPage(raw, bars, window[0] * H, window[1] * H, None)


@pytest.fixture
def store() -> Store:
    store = Store.open("sqlite://", clock=SimClock(1_000 * H))
    # kraken BTC: 3, 4, 7, 8 missing (8 filled later), 10 (retried) and 11 missing.
    store.ingest_page(_page("kraken", "BTC", [0, 1, 2, 5, 6, 9], (0, 10)))
    store.ingest_page(_page("kraken", "BTC", [8], (8, 9)))
    store.ingest_page(_page("kraken", "BTC", [12], (10, 13)))
    store.mark_retried(SeriesKey("kraken", "BTC", "USD", "1h"), 10 * H, 11 * H)
    # coinapi BTC covers more, later; other quotes, coins and timeframes are not reported.
    store.ingest_page(_page("coinapi", "BTC", range(2, 20), (2, 20)))
    store.ingest_page(_page("kraken", "BTC", [0, 1], (0, 3), quote="EUR"))
    store.ingest_page(_page("kraken", "SOL", [0], (0, 2)))
    for symbol, quote in (("BTC", "USD"), ("SOL", "USD"), ("BTC", "EUR"), ("BTC", "USD")):
        store.append_sync_log(
            SeriesKey("kraken", symbol, quote, "1h"), from_ns=0, to_ns=H, pages=1, bars_new=1,
            bars_corrected=0, quarantined=0,
        )  # fmt: skip
    return store


def test_coverage_per_instrument_with_gap_ranges_and_the_last_sync(store: Store) -> None:
    report = data_coverage(store, ["BTC", "ETH"], "USD", Timeframe.H1)
    assert (report["quote"], report["timeframe"], report["database"]) == ("USD", "1h", "sqlite://")
    assert report["latest_seq"] == store.latest_seq()
    btc, eth = report["instruments"]
    assert (btc["instrument"], btc["bars"], btc["first_open_ns"], btc["last_open_ns"]) == (
        "BTC/USD",
        18,
        0,
        19 * H,
    )
    assert (btc["first_open"], btc["last_open"]) == ("1970-01-01T00:00:00Z", "1970-01-01T19:00:00Z")
    assert sorted(s["source"] for s in btc["sources"]) == ["coinapi", "kraken"]
    assert [(g["source"], g["reason"], g["start_ns"] // H, g["end_ns"] // H, g["slots"])
            for g in btc["gaps"]] == [
        ("kraken", "open", 3, 5, 2),
        ("kraken", "open", 7, 8, 1),
        ("kraken", "retried", 10, 11, 1),
        ("kraken", "open", 11, 12, 1),
    ]  # fmt: skip
    assert btc["gaps"][0]["start"] == "1970-01-01T03:00:00Z"
    assert btc["gaps"][0]["end"] == "1970-01-01T05:00:00Z"
    assert btc["gaps_total"] == 4
    assert btc["gap_slots"]["filled"] == 1
    assert btc["last_sync"]["seq"] == 4
    assert btc["last_sync"]["recorded_at"] == "1970-02-11T16:00:00Z"
    assert (eth["bars"], eth["first_open"], eth["gaps"], eth["last_sync"]) == (0, None, [], None)
    json.dumps(report)  # plain JSON data


def test_many_gaps_list_the_newest_ranges(store: Store) -> None:
    hours = range(100, 100 + 2 * (MAX_GAP_RANGES + 5), 2)
    store.ingest_page(_page("kraken", "ETH", hours, (100, hours[-1] + 1)))
    [eth] = data_coverage(store, ["ETH"], "USD", "1h")["instruments"]
    assert eth["gaps_total"] == MAX_GAP_RANGES + 4
    assert len(eth["gaps"]) == MAX_GAP_RANGES
    assert eth["gaps"][-1]["start_ns"] == (hours[-1] - 1) * H


def test_an_unknown_timeframe_is_refused(store: Store) -> None:
    with pytest.raises(ValidationError) as info:
        data_coverage(store, ["BTC"], "USD", "7h")
    assert info.value.reason_code == reasons.INVALID_INPUT


def test_verify_audit_reports_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    assert verify_audit(path) == {"ok": True, "path": str(path), "entries": 0, "head": None}
    log = AuditLog(path, SimClock(5))
    log.append("kill_switch", {"action": "engage"})
    log.append("kill_switch", {"action": "release"})
    good = verify_audit(path)
    assert (good["ok"], good["entries"]) == (True, 2)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1].replace(b"release", b"engage!"))
    bad = verify_audit(path)
    assert (bad["ok"], bad["entries"], bad["first_bad_line"]) == (False, 1, 2)
    assert bad["reason_code"] == reasons.AUDIT_CHAIN_BROKEN
    assert bad["message"]
