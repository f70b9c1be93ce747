"""The append-only, hash-chained audit log (quant_core.audit).

Expected hashes are recomputed here independently (hashlib over ``json.dumps`` with the
canonical rules), never pasted from the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quant_core import SimClock, reasons
from quant_core.audit import (
    TORN_TAIL_RECOVERED,
    AuditLog,
    AuditRecord,
    anchor_path,
    read_audit_log,
    verify_audit_log,
)
from quant_core.errors import (
    AuditChainError,
    CanonicalizationError,
    IntegrityError,
    QuantUsageError,
    StorageError,
)

# --- helpers -------------------------------------------------------------------------------


def _canon(value: Any) -> bytes:
    """Canonical JSON, written independently of quant_core.canonical_json (no floats used here)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _hash(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canon(body)).hexdigest()


def _body(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "hash"}


def _lines(path: Path) -> list[bytes]:
    """The lines of ``path``, each with its newline (split on ``\\n`` only, as the log is)."""
    data = path.read_bytes()
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def _rehash(obj: dict[str, Any]) -> bytes:
    """A canonical line for ``obj`` with its own hash recomputed."""
    fixed = {**_body(obj), "hash": _hash(_body(obj))}
    return _canon(fixed) + b"\n"


def _make_log(path: Path, count: int, *, start_ns: int = 1_000) -> list[AuditRecord]:
    clock = SimClock(start_ns)
    log = AuditLog(path, clock)
    out = []
    for i in range(count):
        out.append(log.append("test.event", {"i": i, "note": f"record {i}", "ok": i % 2 == 0}))
        clock.advance_by(7)
    return out


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "audit.jsonl"


# --- writing and reading -------------------------------------------------------------------


def test_append_returns_records_that_read_back_identically(log_path: Path) -> None:
    written = _make_log(log_path, 5)
    assert [r.seq for r in written] == [1, 2, 3, 4, 5]
    assert read_audit_log(log_path) == written
    assert list(AuditLog(log_path, SimClock()).records()) == written
    # Timestamps come from the clock handed in, not the wall clock.
    assert [r.ts_ns for r in written] == [1_000 + 7 * i for i in range(5)]
    assert [r.data["i"] for r in written] == list(range(5))


def test_creates_parent_directories_on_first_append(log_path: Path) -> None:
    assert not log_path.parent.exists()
    log = AuditLog(log_path, SimClock())
    assert not log_path.exists()  # constructing writes nothing
    log.append("a.b", {})
    assert log_path.is_file()


def test_each_line_is_canonical_json_chained_by_hash(log_path: Path) -> None:
    written = _make_log(log_path, 4)
    lines = _lines(log_path)
    assert len(lines) == 4
    prev = None
    for number, (line, record) in enumerate(zip(lines, written, strict=True), start=1):
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        obj = json.loads(line)
        assert set(obj) == {"seq", "ts_ns", "kind", "data", "prev", "hash"}
        assert _canon(obj) + b"\n" == line  # canonical: sorted keys, no whitespace
        assert obj["seq"] == number
        assert obj["prev"] == prev
        assert obj["hash"] == _hash(_body(obj))  # hash over the record without its hash
        assert record.hash == obj["hash"]
        assert record.line() == line
        prev = obj["hash"]


def test_record_body_excludes_hash(log_path: Path) -> None:
    (record,) = _make_log(log_path, 1)
    assert "hash" not in record.body()
    assert _hash(record.body()) == record.hash


def test_data_is_stored_as_plain_canonical_values(log_path: Path) -> None:
    log = AuditLog(log_path, SimClock())
    record = log.append(
        "x.y", {"amount": Decimal("1.50"), "t": (1, 2), "z": -0.0, "u": "é", "f": 0.1, "n": None}
    )
    assert record.data == {"amount": "1.50", "t": [1, 2], "z": 0.0, "u": "é", "f": 0.1, "n": None}
    assert read_audit_log(log_path) == [record]
    assert "é".encode() in log_path.read_bytes()  # UTF-8, not \u escapes
    assert verify_audit_log(log_path).ok


def test_verify_reports_ok_with_count_and_head(log_path: Path) -> None:
    written = _make_log(log_path, 3)
    report = verify_audit_log(log_path)
    assert report.ok
    assert report.records == 3
    assert report.head == written[-1].hash
    assert report.first_bad_line is None
    assert report.reason_code is None
    assert report.path == str(log_path)
    assert verify_audit_log(str(log_path), expected_head=written[-1].hash).ok


def test_missing_file_is_an_empty_valid_log(log_path: Path) -> None:
    report = verify_audit_log(log_path)
    assert (report.ok, report.records, report.head) == (True, 0, None)
    assert read_audit_log(log_path) == []
    log = AuditLog(log_path, SimClock())
    assert log.head is None
    assert not log_path.exists()  # asking for the head of a missing log creates nothing


def test_head_tracks_the_last_record(log_path: Path) -> None:
    log = AuditLog(log_path, SimClock())
    first = log.append("a.b", {"n": 1})
    assert log.head == first.hash
    second = log.append("a.b", {"n": 2})
    assert log.head == second.hash
    assert second.prev == first.hash


def test_a_new_writer_continues_the_chain(log_path: Path) -> None:
    written = _make_log(log_path, 2)
    again = AuditLog(log_path, SimClock(50_000)).append("a.c", {"more": True})
    assert again.seq == 3
    assert again.prev == written[-1].hash
    assert verify_audit_log(log_path).records == 3


def test_repr_names_the_path(log_path: Path) -> None:
    assert str(log_path) in repr(AuditLog(log_path, SimClock()))


# --- detection -----------------------------------------------------------------------------


def _reanchor(path: Path) -> None:
    """What an attacker who can write the anchor too does after rewriting the log."""
    lines = _lines(path)
    head = json.loads(lines[-1])["hash"] if lines else None
    anchor_path(path).write_bytes(json.dumps({"seq": len(lines), "head": head}).encode())


def _assert_bad(path: Path, line: int, reason: str, **kwargs: Any) -> None:
    report = verify_audit_log(path, **kwargs)
    assert not report.ok
    assert report.first_bad_line == line, report
    assert report.reason_code == reason, report
    assert report.message


def _assert_read_fails(path: Path, line: int, reason: str) -> None:
    with pytest.raises(AuditChainError) as info:
        read_audit_log(path)
    assert info.value.line == line
    assert info.value.reason_code == reason
    assert f"line {line}" in str(info.value)


@pytest.mark.parametrize("target", [1, 3, 5])
def test_edited_value_breaks_the_chain_at_that_line(log_path: Path, target: int) -> None:
    _make_log(log_path, 5)
    lines = _lines(log_path)
    obj = json.loads(lines[target - 1])
    obj["data"]["note"] = "forged"
    lines[target - 1] = _canon(obj) + b"\n"  # still canonical, hash not recomputed
    _write_lines(log_path, lines)
    _assert_bad(log_path, target, reasons.AUDIT_CHAIN_BROKEN)
    assert verify_audit_log(log_path).records == target - 1
    _assert_read_fails(log_path, target, reasons.AUDIT_CHAIN_BROKEN)


@pytest.mark.parametrize("target", [1, 2, 4])
def test_edit_with_recomputed_hash_breaks_the_next_link(log_path: Path, target: int) -> None:
    _make_log(log_path, 5)
    lines = _lines(log_path)
    obj = json.loads(lines[target - 1])
    obj["data"]["note"] = "forged"
    lines[target - 1] = _rehash(obj)
    _write_lines(log_path, lines)
    _assert_bad(log_path, target + 1, reasons.AUDIT_CHAIN_BROKEN)
    assert "link" in verify_audit_log(log_path).message
    _assert_read_fails(log_path, target + 1, reasons.AUDIT_CHAIN_BROKEN)


def test_edit_of_last_record_with_recomputed_hash_needs_expected_head(log_path: Path) -> None:
    written = _make_log(log_path, 3)
    lines = _lines(log_path)
    obj = json.loads(lines[-1])
    obj["data"]["note"] = "forged"
    lines[-1] = _rehash(obj)
    _write_lines(log_path, lines)
    # The chain alone cannot see it (nothing follows the last record); the anchor does ...
    _assert_bad(log_path, 3, reasons.AUDIT_ANCHOR_MISMATCH)
    # ... and when the anchor is rewritten too, only a head kept elsewhere does.
    _reanchor(log_path)
    assert verify_audit_log(log_path).ok
    _assert_bad(log_path, 3, reasons.AUDIT_CHAIN_BROKEN, expected_head=written[-1].hash)


@pytest.mark.parametrize("target", [1, 2, 4])
def test_deleted_line_is_detected_where_it_was(log_path: Path, target: int) -> None:
    _make_log(log_path, 5)
    lines = _lines(log_path)
    del lines[target - 1]
    _write_lines(log_path, lines)
    _assert_bad(log_path, target, reasons.AUDIT_CHAIN_BROKEN)
    _assert_read_fails(log_path, target, reasons.AUDIT_CHAIN_BROKEN)


def test_deleted_line_with_renumbered_seq_breaks_the_link(log_path: Path) -> None:
    _make_log(log_path, 4)
    lines = _lines(log_path)
    del lines[1]
    obj = json.loads(lines[1])
    obj["seq"] = 2  # fix the sequence number and the hash, the link still points at line 2
    lines[1] = _rehash(obj)
    _write_lines(log_path, lines)
    _assert_bad(log_path, 2, reasons.AUDIT_CHAIN_BROKEN)


@pytest.mark.parametrize(("a", "b"), [(1, 2), (2, 4), (4, 5)])
def test_swapped_lines_are_detected_at_the_first(log_path: Path, a: int, b: int) -> None:
    _make_log(log_path, 5)
    lines = _lines(log_path)
    lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
    _write_lines(log_path, lines)
    _assert_bad(log_path, a, reasons.AUDIT_CHAIN_BROKEN)
    assert "sequence" in verify_audit_log(log_path).message


def test_duplicated_line_is_detected_at_the_copy(log_path: Path) -> None:
    _make_log(log_path, 3)
    lines = _lines(log_path)
    lines.insert(1, lines[0])
    _write_lines(log_path, lines)
    _assert_bad(log_path, 2, reasons.AUDIT_CHAIN_BROKEN)


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: line.replace(b":", b": ", 1),  # whitespace after a separator
        lambda line: b" " + line,  # leading space
        lambda line: line[:-1] + b" \n",  # trailing space
        lambda line: line[:-1] + b"\r\n",  # CRLF
        lambda line: _canon_unsorted(line),  # keys out of order
        lambda line: line.replace(b'"seq":', b'"seq":  ', 1),
    ],
)
def test_non_canonical_line_is_malformed(log_path: Path, edit: Any) -> None:
    _make_log(log_path, 4)
    lines = _lines(log_path)
    original = lines[2]
    lines[2] = edit(original)
    assert lines[2] != original
    assert json.loads(lines[2]) == json.loads(original)  # same content, other bytes
    _write_lines(log_path, lines)
    _assert_bad(log_path, 3, reasons.AUDIT_RECORD_MALFORMED)
    _assert_read_fails(log_path, 3, reasons.AUDIT_RECORD_MALFORMED)


def _canon_unsorted(line: bytes) -> bytes:
    obj = json.loads(line)
    reordered = dict(reversed(list(obj.items())))
    return json.dumps(reordered, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


@pytest.mark.parametrize(
    "garbage",
    [
        b"this is not json\n",
        b"\n",  # an empty line
        b"\xff\xfe\x00garbage\n",  # not UTF-8
        b"[1, 2, 3]\n",
        b'"just a string"\n',
        b"{}\n",
    ],
)
def test_garbage_line_is_malformed(log_path: Path, garbage: bytes) -> None:
    _make_log(log_path, 3)
    lines = _lines(log_path)
    lines.insert(1, garbage)
    _write_lines(log_path, lines)
    _assert_bad(log_path, 2, reasons.AUDIT_RECORD_MALFORMED)
    assert verify_audit_log(log_path).records == 1


def _field_edits() -> list[tuple[str, Any]]:
    return [
        ("seq", "2"),  # a string where an int belongs
        ("seq", True),
        ("ts_ns", 1.5),
        ("kind", "Not.Dotted Lower"),
        ("kind", 7),
        ("data", [1, 2]),
        ("prev", 5),
        ("hash", None),
    ]


@pytest.mark.parametrize(("field", "value"), _field_edits())
def test_wrongly_typed_field_is_malformed_even_with_recomputed_hash(
    log_path: Path, field: str, value: Any
) -> None:
    _make_log(log_path, 3)
    lines = _lines(log_path)
    obj = json.loads(lines[1])
    obj[field] = value
    if field == "hash":
        lines[1] = _canon(obj) + b"\n"
    else:
        lines[1] = _rehash(obj)
    _write_lines(log_path, lines)
    _assert_bad(log_path, 2, reasons.AUDIT_RECORD_MALFORMED)


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_record_with_missing_or_extra_field_is_malformed(log_path: Path, change: str) -> None:
    _make_log(log_path, 2)
    lines = _lines(log_path)
    obj = json.loads(lines[0])
    if change == "missing":
        del obj["ts_ns"]
    else:
        obj["signature"] = "x"
    lines[0] = _canon(obj) + b"\n"
    _write_lines(log_path, lines)
    _assert_bad(log_path, 1, reasons.AUDIT_RECORD_MALFORMED)


def test_non_finite_number_in_a_line_is_malformed(log_path: Path) -> None:
    _make_log(log_path, 2)
    lines = _lines(log_path)
    # Python's json module would read NaN back; canonical JSON has no form for it.
    lines[1] = lines[1].replace(b'"ok":false', b'"ok":NaN')
    assert b"NaN" in lines[1]
    _write_lines(log_path, lines)
    _assert_bad(log_path, 2, reasons.AUDIT_RECORD_MALFORMED)


@pytest.mark.parametrize("keep", [1, 10, "all-but-newline"])
def test_torn_final_line_is_reported_not_dropped(log_path: Path, keep: int | str) -> None:
    _make_log(log_path, 4)
    lines = _lines(log_path)
    last = lines[-1]
    lines[-1] = last[:-1] if keep == "all-but-newline" else last[: int(keep)]
    _write_lines(log_path, lines)
    assert not log_path.read_bytes().endswith(b"\n")
    _assert_bad(log_path, 4, reasons.AUDIT_TORN_TAIL)
    assert verify_audit_log(log_path).records == 3
    _assert_read_fails(log_path, 4, reasons.AUDIT_TORN_TAIL)


def test_truncation_of_last_records_is_caught_by_expected_head(log_path: Path) -> None:
    written = _make_log(log_path, 5)
    lines = _lines(log_path)
    _write_lines(log_path, lines[:3])  # cut cleanly after record 3
    _assert_bad(log_path, 3, reasons.AUDIT_ANCHOR_MISMATCH)  # invisible to the chain alone
    _reanchor(log_path)
    assert verify_audit_log(log_path).ok
    report = verify_audit_log(log_path, expected_head=written[-1].hash)
    assert not report.ok
    assert report.reason_code == reasons.AUDIT_CHAIN_BROKEN
    assert report.records == 3
    assert report.head == written[2].hash
    assert report.first_bad_line == 3
    assert verify_audit_log(log_path, expected_head=written[2].hash).ok


def test_emptied_log_fails_expected_head_at_line_one(log_path: Path) -> None:
    written = _make_log(log_path, 2)
    log_path.write_bytes(b"")
    _assert_bad(log_path, 1, reasons.AUDIT_ANCHOR_MISMATCH)
    anchor_path(log_path).unlink()
    _assert_bad(log_path, 1, reasons.AUDIT_CHAIN_BROKEN, expected_head=written[-1].hash)


def test_read_error_is_an_integrity_error_with_line(log_path: Path) -> None:
    _make_log(log_path, 2)
    lines = _lines(log_path)
    _write_lines(log_path, [lines[1], lines[0]])
    with pytest.raises(IntegrityError) as info:
        read_audit_log(log_path)
    assert isinstance(info.value, AuditChainError)
    assert info.value.line == 1


def test_unreadable_path_raises_storage_error(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises(StorageError):
        verify_audit_log(directory)
    with pytest.raises(StorageError):
        read_audit_log(directory)
    with pytest.raises(StorageError):
        AuditLog(directory, SimClock()).append("a.b", {})


def test_unwritable_location_raises_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    # The parent "directory" is a regular file: the log can be neither created nor written.
    with pytest.raises(StorageError):
        AuditLog(blocker / "audit.jsonl", SimClock()).append("a.b", {})


# --- torn-tail recovery --------------------------------------------------------------------


def test_append_after_torn_tail_sets_it_aside_and_records_it(log_path: Path) -> None:
    _make_log(log_path, 3)
    intact = log_path.read_bytes()
    # A would-be fourth record whose write was interrupted halfway.
    torn = b'{"data":{"i":3,"note":"rec'
    log_path.write_bytes(intact + torn)
    clock = SimClock(9_999)
    log = AuditLog(log_path, clock)
    new = log.append("test.after", {"resumed": True})

    after = log_path.read_bytes()
    assert after.startswith(intact)  # earlier records untouched, byte for byte
    sidecar = log_path.with_name(f"{log_path.name}.torn-{len(intact)}")
    assert sidecar.read_bytes() == torn
    records = read_audit_log(log_path)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    recovery = records[3]
    assert recovery.kind == TORN_TAIL_RECOVERED
    assert recovery.data == {
        "offset": len(intact),
        "length": len(torn),
        "sha256": hashlib.sha256(torn).hexdigest(),
        "saved_to": sidecar.name,
    }
    assert records[4] == new
    assert new.prev == recovery.hash
    assert torn not in after
    report = verify_audit_log(log_path)
    assert report.ok
    assert report.records == 5
    assert report.head == new.hash == log.head


def test_torn_tail_recovered_by_asking_for_head(log_path: Path) -> None:
    _make_log(log_path, 1)
    log_path.write_bytes(log_path.read_bytes() + b"{")
    log = AuditLog(log_path, SimClock())
    head = log.head
    records = read_audit_log(log_path)
    assert records[-1].kind == TORN_TAIL_RECOVERED
    assert head == records[-1].hash


def test_torn_tail_of_a_whole_first_record(log_path: Path) -> None:
    torn = b'{"data":{},"hash":"sha256:ab'
    log_path.parent.mkdir(parents=True)
    log_path.write_bytes(torn)
    _assert_bad(log_path, 1, reasons.AUDIT_TORN_TAIL)
    record = AuditLog(log_path, SimClock()).append("a.b", {"x": 1})
    sidecar = log_path.with_name(f"{log_path.name}.torn-0")
    assert sidecar.read_bytes() == torn
    records = read_audit_log(log_path)
    assert [r.kind for r in records] == [TORN_TAIL_RECOVERED, "a.b"]
    assert records[0].prev is None
    assert records[0].data["offset"] == 0
    assert records[0].data["length"] == len(torn)
    assert records[1] == record


def test_complete_record_missing_only_its_newline_is_kept_in_the_sidecar(log_path: Path) -> None:
    _make_log(log_path, 2)
    lines = _lines(log_path)
    last = lines[-1][:-1]
    _write_lines(log_path, [lines[0], last])
    AuditLog(log_path, SimClock()).append("a.b", {})
    sidecar = log_path.with_name(f"{log_path.name}.torn-{len(lines[0])}")
    assert sidecar.read_bytes() == last
    assert verify_audit_log(log_path).ok


def test_failed_recovery_keeps_the_log_and_is_retried(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_log(log_path, 1)
    before = log_path.read_bytes() + b"{torn"
    log_path.write_bytes(before)
    offset = before.index(b"{torn")
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    log = AuditLog(log_path, SimClock())
    with pytest.raises(StorageError):
        log.append("a.b", {"try": 1})
    assert log_path.read_bytes() == before
    # The same writer must not append after the torn bytes next time: it retries recovery.
    monkeypatch.setattr(os, "fsync", real_fsync)
    record = log.append("a.b", {"try": 2})
    sidecars = sorted(log_path.parent.glob(f"{log_path.name}.torn-{offset}*"))
    assert [p.read_bytes() for p in sidecars] == [b"{torn", b"{torn"]
    records = read_audit_log(log_path)
    assert [r.kind for r in records] == ["test.event", TORN_TAIL_RECOVERED, "a.b"]
    assert records[-1] == record


def test_an_earlier_torn_tail_at_the_same_offset_is_never_overwritten(log_path: Path) -> None:
    _make_log(log_path, 1)
    intact = log_path.read_bytes()
    sidecars = []
    for torn in (b"{first", b"{second"):
        log_path.write_bytes(intact + torn)
        AuditLog(log_path, SimClock()).append("a.b", {})
        sidecar = log_path.with_name(read_audit_log(log_path)[1].data["saved_to"])
        assert sidecar.read_bytes() == torn
        sidecars.append(sidecar)
        log_path.write_bytes(intact)  # an operator restores the file; the evidence remains
    assert sidecars[0] != sidecars[1]
    assert sidecars[0].read_bytes() == b"{first"


def test_writers_taking_turns_chain_onto_each_other(log_path: Path) -> None:
    clock = SimClock()
    first, second = AuditLog(log_path, clock), AuditLog(log_path, clock)
    for i in range(3):
        first.append("writer.one", {"i": i})
        second.append("writer.two", {"i": i})
    records = read_audit_log(log_path)
    assert [r.kind for r in records] == ["writer.one", "writer.two"] * 3
    assert first.head == second.head == records[-1].hash


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    ["edit", "delete", "swap", "garbage", "broken-then-torn"],
)
def test_append_to_broken_log_raises_and_writes_nothing(log_path: Path, tamper: str) -> None:
    _make_log(log_path, 4)
    lines = _lines(log_path)
    if tamper == "edit":
        lines[1] = lines[1].replace(b"record 1", b"record 9")
    elif tamper == "delete":
        del lines[1]
    elif tamper == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    elif tamper == "garbage":
        lines[1] = b"garbage\n"
    else:
        lines[1] = lines[1].replace(b"record 1", b"record 9")
        lines.append(b'{"torn')
    _write_lines(log_path, lines)
    before = log_path.read_bytes()
    listing = sorted(p.name for p in log_path.parent.iterdir())
    log = AuditLog(log_path, SimClock())
    with pytest.raises(AuditChainError) as info:
        log.append("a.b", {"x": 1})
    assert info.value.line == 2
    assert log_path.read_bytes() == before
    assert sorted(p.name for p in log_path.parent.iterdir()) == listing  # no sidecar either
    # It keeps refusing: the writer does not remember a half-open state.
    with pytest.raises(AuditChainError):
        log.append("a.b", {"x": 2})
    with pytest.raises(AuditChainError):
        _ = log.head
    assert log_path.read_bytes() == before


@pytest.mark.parametrize(
    "kind", ["", "Upper.case", "has space", "-leading", ".leading", "x" * 129, "a\n", "naïve"]
)
def test_bad_kind_is_a_usage_error(log_path: Path, kind: str) -> None:
    with pytest.raises(QuantUsageError):
        AuditLog(log_path, SimClock()).append(kind, {})
    assert not log_path.exists()


@pytest.mark.parametrize("kind", ["a", "bundle.install", "x" * 128, "a-b_c.d9"])
def test_good_kinds_are_accepted(log_path: Path, kind: str) -> None:
    record = AuditLog(log_path, SimClock()).append(kind, {})
    assert read_audit_log(log_path) == [record]


@pytest.mark.parametrize(
    "data",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": {1, 2}},
        {"x": b"bytes"},
        {"x": [Decimal("NaN")]},
    ],
)
def test_non_canonical_data_is_refused_and_nothing_written(
    log_path: Path, data: dict[str, Any]
) -> None:
    _make_log(log_path, 2)
    before = log_path.read_bytes()
    log = AuditLog(log_path, SimClock())
    with pytest.raises(CanonicalizationError):
        log.append("a.b", data)
    assert log_path.read_bytes() == before
    assert log.append("a.b", {"fine": 1}).seq == 3  # the writer is still usable


def test_non_canonical_data_on_a_new_log_creates_no_file(log_path: Path) -> None:
    with pytest.raises(CanonicalizationError):
        AuditLog(log_path, SimClock()).append("a.b", {"x": float("nan")})
    assert not log_path.exists()


@pytest.mark.parametrize("data", [[1, 2], "text", 5, None])
def test_data_must_be_a_mapping(log_path: Path, data: Any) -> None:
    with pytest.raises(QuantUsageError):
        AuditLog(log_path, SimClock()).append("a.b", data)
    assert not log_path.exists()


# --- property: any tampering is detected ---------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
record_data = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
TAMPERINGS = ("flip", "insert", "delete_byte", "delete_line", "swap", "duplicate")


@settings(max_examples=75, deadline=None)
@given(
    contents=st.lists(record_data, min_size=1, max_size=6),
    tampering=st.sampled_from(TAMPERINGS),
    data=st.data(),
)
def test_any_tampering_is_detected(
    tmp_path_factory: pytest.TempPathFactory,
    contents: list[dict[str, Any]],
    tampering: str,
    data: st.DataObject,
) -> None:
    path = tmp_path_factory.mktemp("prop") / "audit.jsonl"
    clock = SimClock(0)
    log = AuditLog(path, clock)
    for item in contents:
        log.append("prop.record", item)
        clock.advance_by(1)
    head = log.head
    lines = _lines(path)
    n = len(lines)
    assert n == len(contents)

    index = data.draw(st.integers(0, n - 1), label="line")  # 0-based tampered line
    line = bytearray(lines[index])
    content_len = len(line) - 1  # positions before the newline
    if tampering == "flip":
        pos = data.draw(st.integers(0, content_len - 1), label="pos")
        line[pos] ^= data.draw(st.integers(1, 255), label="mask")
        lines[index] = bytes(line)
    elif tampering == "insert":
        pos = data.draw(st.integers(0, content_len), label="pos")
        byte = data.draw(st.integers(0, 255), label="byte")
        line.insert(pos, byte)
        lines[index] = bytes(line)
        if byte == ord("\n") and pos == content_len:
            index += 1  # the line is intact; an empty line follows it
    elif tampering == "delete_byte":
        pos = data.draw(st.integers(0, content_len - 1), label="pos")
        del line[pos]
        lines[index] = bytes(line)
    elif tampering == "delete_line":
        del lines[index]
    elif tampering == "swap":
        assume(n >= 2)
        other = data.draw(st.integers(0, n - 1).filter(lambda j: j != index), label="other")
        lines[index], lines[other] = lines[other], lines[index]
        index = min(index, other)
    else:  # duplicate: the copy lands right after the original
        lines.insert(index + 1, lines[index])
    tampered = b"".join(lines)
    path.write_bytes(tampered)

    report = verify_audit_log(path, expected_head=head)
    assert not report.ok
    assert report.first_bad_line is not None
    assert report.first_bad_line <= index + 2  # 1-based line of the tampering, or the next
    if tampering in ("flip", "insert", "delete_byte", "swap"):
        # The tampered line itself is the first bad one.
        assert report.first_bad_line == index + 1
    undetectable_without_head = tampering == "delete_line" and index == n - 1
    if not undetectable_without_head:
        assert not verify_audit_log(path).ok
        with pytest.raises(AuditChainError):
            read_audit_log(path)
        # A writer refuses to extend the broken log, and leaves it as it is.
        with pytest.raises(AuditChainError):
            AuditLog(path, SimClock(10**6)).append("prop.after", {})
        assert path.read_bytes() == tampered


def test_every_append_is_fsynced_after_its_write(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_disk_at_fsync: list[bytes] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        on_disk_at_fsync.append(log_path.read_bytes() if log_path.is_file() else b"")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    log = AuditLog(log_path, SimClock())
    first = log.append("a.b", {"n": 1})
    assert first.line() in on_disk_at_fsync  # synced once the line was written
    second = log.append("a.b", {"n": 2})
    assert first.line() + second.line() in on_disk_at_fsync


def test_a_failed_append_raises_and_the_next_append_rescans(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(log_path, SimClock())
    log.append("a.b", {"i": 0})
    head = log.head
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StorageError):
        log.append("a.b", {"i": 1})
    # The line reached the file whole but was never acknowledged; the writer's own state
    # still ends at the last acknowledged record until it rescans.
    monkeypatch.setattr(os, "fsync", real_fsync)
    record = log.append("a.b", {"i": 2})
    records = read_audit_log(log_path)
    assert [r.data["i"] for r in records] == [0, 1, 2]
    assert records[1].prev == head
    assert record == records[-1]
    assert verify_audit_log(log_path).ok


@pytest.mark.parametrize("loss", ["delete-file", "drop-last-line"])
def test_a_writer_refuses_when_its_own_records_disappear(log_path: Path, loss: str) -> None:
    log = AuditLog(log_path, SimClock())
    for i in range(3):
        log.append("a.b", {"i": i})
    if loss == "delete-file":
        log_path.unlink()
    else:
        _write_lines(log_path, _lines(log_path)[:-1])
    before = log_path.read_bytes() if log_path.exists() else None
    with pytest.raises(AuditChainError) as info:
        log.append("a.b", {"i": 3})
    assert info.value.reason_code == reasons.AUDIT_ANCHOR_MISMATCH
    assert (log_path.read_bytes() if log_path.exists() else None) == before


def test_a_log_whose_directory_vanished_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    log = AuditLog(blocker / "audit.jsonl", SimClock())
    with pytest.raises(StorageError):
        log.append("a.b", {})


def test_records_sets_a_torn_tail_aside_like_an_append(log_path: Path) -> None:
    written = _make_log(log_path, 2)
    log_path.write_bytes(log_path.read_bytes() + b'{"da')
    records = AuditLog(log_path, SimClock()).records()
    assert records[:2] == written
    assert [r.kind for r in records[2:]] == [TORN_TAIL_RECOVERED]
    assert read_audit_log(log_path) == records
