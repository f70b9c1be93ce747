"""The decision index: incremental refresh, stale and corrupt indexes, filtered keyset pages."""

from __future__ import annotations

import json
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quant_apps.runtime.operator.decisionindex import MAX_LIMIT, DecisionIndex, index_path_for
from quant_apps.runtime.trading.paperlog import PaperLogWriter
from quant_core import reasons
from quant_core.errors import QuantUsageError, StorageError, ValidationError
from quant_exec import DecisionLog


def _session(run: int, decisions: list[tuple[str, str, tuple[str, ...]]]) -> DecisionLog:
    log = DecisionLog({"paper": {"run": run}})
    for i, (instrument, action, codes) in enumerate(decisions):
        quantity = Decimal("0.5") if action != "none" else None
        log.add(i, "bar", instrument, action, codes, "p1", {"price": "1.5"}, quantity)
        if action == "buy":
            log.add_risk(i, "kill_switch", {"action": "engage"})
    return log


RUN1 = [
    ("BTC/USD", "none", ("NO_EDGE",)),
    ("ETH/USD", "buy", ("ENTRY",)),
    ("BTC/USD", "rejected", ("ENTRY", "MAX_TOTAL_EXPOSURE")),
]
RUN2 = [
    ("ETH/USD", "sell", ("EXIT",)),
    ("BTC/EUR", "none", ("NO_EDGE", "NO_EDGE")),
]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "out" / "decisions.jsonl"
    writer = PaperLogWriter(path)
    writer.flush(_session(1, RUN1))
    writer = PaperLogWriter(path)
    writer.flush(_session(2, RUN2))
    return path


@pytest.fixture
def index(log_path: Path) -> Any:
    idx = DecisionIndex(log_path, log_path.with_name("decisions.index.sqlite"))
    yield idx
    idx.close()


def _ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_refresh_indexes_every_line_and_pages_return_the_logged_lines(
    index: DecisionIndex, log_path: Path
) -> None:
    lines = log_path.read_bytes().splitlines()
    assert index.refresh() == len(lines) == 8
    assert index.refresh() == 0
    page = index.page()
    # Newest first; ids are global line numbers (headers and risk lines counted).
    assert _ids(page) == [8, 7, 5, 3, 2]
    assert [item["run"] for item in page["items"]] == [2, 2, 1, 1, 1]
    for item in page["items"]:
        logged = json.loads(lines[item["id"] - 1])
        assert {k: v for k, v in item.items() if k not in ("run", "id")} == logged
    assert page["next_before"] is None
    assert page["filters"] == {
        "run": None, "instrument": None, "reason": None, "action": None, "before": None,
        "limit": 50,
    }  # fmt: skip
    assert index.reason_codes() == ["ENTRY", "EXIT", "MAX_TOTAL_EXPOSURE", "NO_EDGE"]


def test_filters_and_the_keyset_cursor(index: DecisionIndex) -> None:
    index.refresh()
    assert _ids(index.page(run=1)) == [5, 3, 2]
    assert _ids(index.page(instrument="BTC")) == [8, 5, 2]  # both quotes of the coin
    assert _ids(index.page(instrument="BTC/USD")) == [5, 2]
    assert _ids(index.page(instrument="DOGE")) == []
    assert _ids(index.page(reason="ENTRY")) == [5, 3]
    assert _ids(index.page(reason="ENTRY", instrument="ETH")) == [3]
    assert _ids(index.page(reason="NO_EDGE", instrument="BTC")) == [8, 2]
    assert _ids(index.page(reason="NO_EDGE", run=2, action="none")) == [8]
    assert _ids(index.page(action="rejected")) == [5]
    first = index.page(limit=2)
    assert _ids(first) == [8, 7]
    assert first["next_before"] == 7
    second = index.page(limit=2, before=first["next_before"])
    assert _ids(second) == [5, 3]
    third = index.page(limit=2, before=second["next_before"])
    assert (_ids(third), third["next_before"]) == ([2], None)
    assert index.page(reason="NOT_A_CODE")["items"] == []


@pytest.mark.parametrize(
    "filters",
    [
        {"limit": 0},
        {"limit": MAX_LIMIT + 1},
        {"limit": True},
        {"limit": "5"},
        {"before": 0},
        {"run": 0},
        {"run": "1"},
        {"instrument": ""},
        {"reason": 5},
        {"action": "x" * 201},
    ],
)
def test_bad_filters_are_refused_with_a_reason_code(
    index: DecisionIndex, filters: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as info:
        index.page(**filters)
    assert info.value.reason_code == reasons.INVALID_INPUT


def test_appended_lines_are_read_from_the_last_offset_and_a_torn_line_waits(
    index: DecisionIndex, log_path: Path
) -> None:
    assert index.refresh() == 8
    line = json.dumps({"kind": "decision", "seq": 3, "instrument": "SOL/USD", "action": "none",
                       "reason_codes": ["NO_EDGE"]}).encode()  # fmt: skip
    with log_path.open("ab") as fh:
        fh.write(line[:10])
    assert index.refresh() == 0
    with log_path.open("ab") as fh:
        fh.write(line[10:] + b"\n")
    assert index.refresh() == 1
    assert _ids(index.page(instrument="SOL")) == [9]
    assert index.page(instrument="SOL")["items"][0]["run"] == 2


def test_odd_lines_are_counted_but_only_decisions_indexed(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    rows: list[Any] = [
        {"kind": "decision", "instrument": "BTC/USD", "reason_codes": ["A"]},  # before a header
        {"kind": "session"},  # no paper block: the next run
        "not an object",
        {"kind": "session", "paper": {"run": True}},  # not a run number: the next run
        {"kind": "decision", "instrument": None, "action": 5, "seq": True,
         "reason_codes": ["B", 7, "B"]},
        {"kind": "decision", "reason_codes": "C"},
        {"kind": "session", "paper": {"run": 9}},
        {"kind": "decision", "instrument": 3, "seq": 1, "ts_ns": 8},
    ]  # fmt: skip
    log.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + b"{torn\n")
    index = DecisionIndex(log, tmp_path / "i.sqlite")
    assert index.refresh() == 9
    page = index.page()
    assert [(item["id"], item["run"]) for item in page["items"]] == [(8, 9), (6, 2), (5, 2), (1, 0)]
    assert index.reason_codes() == ["A", "B"]
    assert _ids(index.page(reason="B")) == [5]
    index.close()


def test_a_missing_log_gives_an_empty_index_and_a_vanished_one_empties_it(
    tmp_path: Path, log_path: Path
) -> None:
    index = DecisionIndex(tmp_path / "none" / "decisions.jsonl", tmp_path / "none" / "i.sqlite")
    assert index.refresh() == 0
    assert index.page() == {"items": [], "next_before": None, "filters": index.page()["filters"]}
    index.close()
    index = DecisionIndex(log_path, tmp_path / "i.sqlite")
    assert index.refresh() == 8
    log_path.rename(tmp_path / "moved.jsonl")
    with pytest.raises(StorageError) as info:
        index.page()  # the index still names lines of a file that is gone
    assert info.value.reason_code == reasons.IO_FAILURE
    assert index.refresh() == 0
    assert index.page()["items"] == []
    assert index.reason_codes() == []
    assert index.refresh() == 0
    index.close()


def test_a_log_rewritten_under_the_index_is_indexed_again(
    index: DecisionIndex, log_path: Path, tmp_path: Path
) -> None:
    original = log_path.read_bytes()
    index.refresh()
    # Shorter than the indexed offset.
    log_path.write_bytes(original[: original.index(b"\n") + 1])
    assert index.refresh() == 1
    assert index.page()["items"] == []
    # Another first line, longer than before.
    other = tmp_path / "other.jsonl"
    PaperLogWriter(other).flush(_session(7, RUN1 + RUN2))
    log_path.write_bytes(other.read_bytes())
    assert index.refresh() == len(other.read_bytes().splitlines())
    assert {item["run"] for item in index.page()["items"]} == {7}
    # Same first line, but the last indexed line no longer ends where it did.
    log_path.write_bytes(original)
    assert index.refresh() == 8
    log_path.write_bytes(original[:-1] + b' {"x": 1}\n')
    assert index.refresh() == 8
    assert index.page()["items"][0]["id"] == 7


def test_a_corrupt_or_foreign_index_file_is_rebuilt(log_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    path.write_bytes(b"not a database" * 400)
    index = DecisionIndex(log_path, path)
    assert index.refresh() == 8
    index.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    index = DecisionIndex(log_path, path)  # another schema: dropped, rebuilt
    assert index.refresh() == 8
    assert _ids(index.page(action="buy")) == [3]
    index.close()


def test_an_index_that_contradicts_itself_is_rebuilt(log_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    index = DecisionIndex(log_path, path)
    index.refresh()
    with sqlite3.connect(path) as conn:  # lines says 1: the next line's id clashes
        conn.execute("UPDATE meta SET value = 1 WHERE key = 'lines'")
        conn.execute("UPDATE meta SET value = 1 WHERE key = 'run'")
    conn.close()
    with log_path.open("ab") as fh:
        fh.write(b'{"kind":"decision","instrument":"BTC/USD","reason_codes":["X"]}\n')
    assert index.refresh() == 9
    assert _ids(index.page(limit=2)) == [9, 8]
    assert index.page()["items"][0]["run"] == 2
    index.close()


def test_unreadable_paths_raise_storage_errors(tmp_path: Path, log_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StorageError) as info:
        DecisionIndex(log_path, tmp_path / "dir.sqlite")
    assert info.value.reason_code == reasons.IO_FAILURE
    (tmp_path / "log-dir").mkdir()
    index = DecisionIndex(tmp_path / "log-dir", tmp_path / "i.sqlite")
    with pytest.raises(StorageError):
        index.refresh()
    index.close()


def test_closed_indexes_refuse_and_other_threads_read(index: DecisionIndex) -> None:
    index.refresh()
    seen: list[list[int]] = []
    worker = threading.Thread(target=lambda: seen.append(_ids(index.page(run=2))))
    worker.start()
    worker.join()
    assert seen == [[8, 7]]
    index.close()
    index.close()
    for call in (index.refresh, index.page, index.reason_codes):
        with pytest.raises(QuantUsageError):
            call()


def test_a_reopened_index_goes_on_from_its_offset(log_path: Path, tmp_path: Path) -> None:
    index = DecisionIndex(log_path, tmp_path / "i.sqlite")
    assert index.refresh() == 8
    index.close()
    index = DecisionIndex(log_path, tmp_path / "i.sqlite")
    assert index.refresh() == 0
    assert _ids(index.page(limit=1)) == [8]
    index.close()


def test_a_bulk_build_gives_the_same_pages(log_path: Path, tmp_path: Path) -> None:
    plain = DecisionIndex(log_path, tmp_path / "plain.sqlite")
    bulk = DecisionIndex(log_path, tmp_path / "bulk.sqlite", bulk_bytes=1)
    assert plain.refresh() == bulk.refresh() == 8
    with log_path.open("ab") as fh:  # a small append is indexed row by row
        fh.write(b'{"kind":"decision","instrument":"SOL/USD","reason_codes":["X"]}\n')
    assert plain.refresh() == bulk.refresh() == 1
    for filters in ({}, {"instrument": "BTC"}, {"reason": "NO_EDGE"}, {"action": "buy", "run": 1}):
        assert plain.page(**filters) == bulk.page(**filters)
    with sqlite3.connect(tmp_path / "bulk.sqlite") as conn:
        names = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    conn.close()
    assert {"decision_instrument", "reason_instrument"} <= names
    plain.close()
    bulk.close()


def test_pages_stay_consistent_while_another_thread_appends_and_refreshes(
    log_path: Path, tmp_path: Path
) -> None:
    index = DecisionIndex(log_path, index_path_for(log_path))
    assert index.index_path == log_path.with_name("decisions.jsonl.index.sqlite")
    index.refresh()

    def append() -> None:  # a failure here leaves the last line unindexed: asserted below
        for i in range(200):
            with log_path.open("ab") as fh:
                fh.write(json.dumps({"kind": "decision", "seq": 100 + i,
                                     "instrument": "SOL/USD", "reason_codes": ["X"]}).encode()
                         + b"\n")  # fmt: skip
            index.refresh()

    writer = threading.Thread(target=append)
    writer.start()
    pages = 0
    while writer.is_alive() or pages == 0:
        items = index.page(instrument="SOL", limit=20)["items"]
        ids = [item["id"] for item in items]
        assert ids == sorted(ids, reverse=True)
        assert all(item["seq"] == item["id"] + 91 for item in items)  # each line is its own
        pages += 1
    writer.join()
    assert index.page(instrument="SOL", limit=1)["items"][0]["seq"] == 299
    index.close()


def test_a_page_of_a_log_rewritten_since_the_refresh_is_refused(
    index: DecisionIndex, log_path: Path
) -> None:
    index.refresh()
    original = log_path.read_bytes()
    for changed in (original.replace(b'"seq":1', b'"seq":5'), original.replace(b"{", b"[")):
        log_path.write_bytes(changed)
        with pytest.raises(StorageError) as info:
            index.page()
        assert "changed under its index" in info.value.message
    log_path.write_bytes(original)
    assert index.page(limit=1)["items"][0]["id"] == 8
