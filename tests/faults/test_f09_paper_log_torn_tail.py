"""Finding 9: a torn last line of the paper decision log is kept, not just cut.

A crash mid-append leaves a last line without its newline. The next run sets those bytes aside
in a sidecar (``decisions.jsonl.torn-<offset>``) before cutting them, as the audit log does,
and says where they went; when the sidecar cannot be written (EIO injected into ``fsync``),
the run stops with ``IO_FAILURE`` and the log keeps every byte.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from quant_apps.runtime.trading.paperlog import PaperLogWriter
from quant_core.errors import StorageError
from quant_exec import DecisionLog, read_log

TORN = b'{"kind":"decision","ts_event":36000'


def _log_with_a_torn_line(path: Path) -> bytes:
    writer = PaperLogWriter(path)
    writer.flush(DecisionLog({"paper": {"run": 1}}))
    clean = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(TORN)
    return clean


def test_the_torn_bytes_go_to_a_sidecar_and_the_log_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    clean = _log_with_a_torn_line(path)
    writer = PaperLogWriter(path)
    sidecar = tmp_path / f"decisions.jsonl.torn-{len(clean)}"
    assert sidecar.read_bytes() == TORN
    assert path.read_bytes() == clean
    assert writer.torn_tail == {"offset": len(clean), "length": len(TORN), "saved_to": sidecar.name}
    assert writer.next_run == 2
    assert len(read_log(path)) == 1


def test_a_second_tear_at_the_same_offset_never_overwrites_the_first(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    clean = _log_with_a_torn_line(path)
    PaperLogWriter(path)
    with path.open("ab") as fh:
        fh.write(b"{other")
    second = PaperLogWriter(path)
    assert second.torn_tail is not None
    assert second.torn_tail["saved_to"] == f"decisions.jsonl.torn-{len(clean)}-2"
    assert (tmp_path / f"decisions.jsonl.torn-{len(clean)}").read_bytes() == TORN
    assert (tmp_path / f"decisions.jsonl.torn-{len(clean)}-2").read_bytes() == b"{other"


def test_a_clean_log_has_no_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    PaperLogWriter(path).flush(DecisionLog({"paper": {"run": 1}}))
    assert PaperLogWriter(path).torn_tail is None
    assert [p.name for p in tmp_path.iterdir()] == ["decisions.jsonl"]


def test_when_the_sidecar_cannot_be_written_nothing_is_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "decisions.jsonl"
    _log_with_a_torn_line(path)
    before = path.read_bytes()

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr("quant_core.files.os.fsync", eio)
    with pytest.raises(StorageError) as caught:
        PaperLogWriter(path)
    assert caught.value.reason_code == "IO_FAILURE"
    assert "Input/output error" in caught.value.message
    assert path.read_bytes() == before  # the torn bytes are still in the log
