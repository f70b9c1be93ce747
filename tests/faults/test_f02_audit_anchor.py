"""Finding 2: the audit chain was unkeyed and had no anchor.

Whoever could write ``audit.jsonl`` could cut its tail, or edit a record and recompute every
later hash, and ``quant audit verify`` said "intact". Every append now also replaces
``audit.jsonl.anchor`` (seq and head, atomically); verification checks the log against it
without an ``--expected-head`` (decision 0082). The paper kill-switch log and the bundle
audit trail are written through the same :class:`~quant_core.audit.AuditLog`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_core import SimClock, canonical_json, content_hash, reasons
from quant_core.audit import AuditLog, anchor_path, read_audit_log, verify_audit_log
from quant_core.errors import AuditChainError, StorageError


def _log(path: Path, n: int) -> AuditLog:
    log = AuditLog(path, SimClock(1))
    for i in range(n):
        log.append("test.event", {"i": i})
    return log


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _forge_from(path: Path, index: int) -> None:
    """Edit record ``index`` (0-based) and recompute every later hash and link."""
    lines = [json.loads(line) for line in _lines(path)]
    lines[index]["data"]["i"] = 999
    prev = lines[index - 1]["hash"] if index else None
    out = []
    for obj in lines[index:]:
        obj["prev"] = prev
        body = {k: v for k, v in obj.items() if k != "hash"}
        obj["hash"] = content_hash(body)
        prev = obj["hash"]
        out.append(obj)
    data = b"".join(_lines(path)[:index]) + b"".join(canonical_json(o) + b"\n" for o in out)
    path.write_bytes(data)


def _verify_cli(path: Path) -> tuple[int, str]:
    from quant_apps.cli import app

    result = CliRunner().invoke(app, ["audit", "verify", str(path), "--json"])
    return result.exit_code, result.output


def test_tail_truncation_is_detected_without_an_expected_head(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 5)
    path.write_bytes(b"".join(_lines(path)[:3]))
    report = verify_audit_log(path)
    assert (report.ok, report.reason_code) == (False, reasons.AUDIT_ANCHOR_MISMATCH)
    assert "cut off" in report.message
    code, output = _verify_cli(path)
    assert code == 3
    assert reasons.AUDIT_ANCHOR_MISMATCH in output
    with pytest.raises(AuditChainError) as info:
        read_audit_log(path)
    assert info.value.reason_code == reasons.AUDIT_ANCHOR_MISMATCH


@pytest.mark.parametrize("index", [0, 2, 4])
def test_a_full_rehash_forgery_is_detected(tmp_path: Path, index: int) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path, 5)
    _forge_from(path, index)
    # The chain itself is consistent again: only the anchor can tell.
    report = verify_audit_log(path)
    assert (report.ok, report.reason_code) == (False, reasons.AUDIT_ANCHOR_MISMATCH)
    assert "rewritten" in report.message
    # A writer refuses to chain onto the forged log.
    with pytest.raises(AuditChainError) as info:
        AuditLog(path, SimClock(2)).append("test.event", {})
    assert info.value.reason_code == reasons.AUDIT_ANCHOR_MISMATCH
    with pytest.raises(AuditChainError):
        log.append("test.event", {})


def test_a_deleted_anchor_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 2)
    anchor_path(path).unlink()
    report = verify_audit_log(path)
    assert (report.ok, report.reason_code) == (False, reasons.AUDIT_ANCHOR_MISSING)
    assert verify_audit_log(tmp_path / "none.jsonl").ok  # no log, no anchor: empty and fine


def test_a_deleted_log_with_its_anchor_left_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 2)
    path.unlink()
    assert verify_audit_log(path).reason_code == reasons.AUDIT_ANCHOR_MISMATCH


@pytest.mark.parametrize(
    "anchor", [b"not json", b"[]", b'{"seq": "2", "head": "x"}', b'{"seq": 0, "head": null}']
)
def test_an_unreadable_anchor_is_a_mismatch(tmp_path: Path, anchor: bytes) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 2)
    anchor_path(path).write_bytes(anchor)
    assert verify_audit_log(path).reason_code == reasons.AUDIT_ANCHOR_MISMATCH


def test_an_anchor_that_cannot_be_read_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 1)
    anchor_path(path).unlink()
    anchor_path(path).mkdir()
    with pytest.raises(StorageError):
        verify_audit_log(path)


def test_a_log_from_before_anchors_is_adopted_by_its_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 2)
    anchor_path(path).unlink()
    log = AuditLog(path, SimClock(5))
    assert [r.seq for r in log.records()] == [1, 2]
    assert verify_audit_log(path).ok
    assert log.append("test.event", {}).seq == 3
    assert json.loads(anchor_path(path).read_bytes())["seq"] == 3


def test_a_crash_between_the_append_and_the_anchor_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path, 2)
    real_replace = os.replace

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(StorageError, match="anchor"):
        log.append("test.event", {"i": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "audit.jsonl.anchor"]
    monkeypatch.setattr(os, "replace", real_replace)
    # The record is durable and one record past the anchor is the crash window: still intact.
    report = verify_audit_log(path)
    assert (report.ok, report.records) == (True, 3)
    assert log.append("test.event", {"i": 3}).seq == 4
    assert verify_audit_log(path).ok
    # Two records past the anchor is not a crash window.
    anchor_path(path).write_bytes(json.dumps({"seq": 2, "head": log_hash(path, 2)}).encode())
    assert verify_audit_log(path).reason_code == reasons.AUDIT_ANCHOR_MISMATCH


def log_hash(path: Path, seq: int) -> str:
    return str(json.loads(_lines(path)[seq - 1])["hash"])


def test_the_paper_kill_switch_log_is_anchored(tmp_path: Path) -> None:
    from quant_apps.runtime.trading.paperlog import AUDIT_FILE

    path = tmp_path / AUDIT_FILE
    _log(path, 3)
    path.write_bytes(b"".join(_lines(path)[:2]))
    code, output = _verify_cli(path)
    assert code == 3
    assert reasons.AUDIT_ANCHOR_MISMATCH in output


def test_a_writer_still_misses_its_own_records_when_the_anchor_went_with_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = _log(path, 3)
    path.write_bytes(b"".join(_lines(path)[:2]))
    anchor_path(path).unlink()
    with pytest.raises(AuditChainError) as info:
        log.append("test.event", {})
    assert info.value.reason_code == reasons.AUDIT_CHAIN_BROKEN
    assert not anchor_path(path).exists()  # not adopted
