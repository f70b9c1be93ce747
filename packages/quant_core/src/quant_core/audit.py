"""The append-only, hash-chained audit log.

An audit log is a file of JSON lines. Each line is one :class:`AuditRecord` in canonical
JSON::

    {"data":{...},"hash":"sha256:…","kind":"profile.change","prev":"sha256:…","seq":7,"ts_ns":…}

``seq`` counts from 1, ``prev`` is the previous record's ``hash`` (``null`` for the first),
and ``hash`` is the :func:`~quant_core.content_hash` of the record without its
``hash`` key. Editing, deleting or reordering any record therefore breaks the chain at that
line, and :func:`verify_audit_log` names the first bad line and a reason code:

* ``AUDIT_RECORD_MALFORMED`` — the line is not a canonical audit record;
* ``AUDIT_CHAIN_BROKEN`` — the line's hash, sequence number or link is wrong;
* ``AUDIT_TORN_TAIL`` — the last line has no newline: a write was interrupted.

Every append is written with one ``write`` and made durable with ``fsync`` before it returns.
When a writer finds a torn tail, it does not drop it: it copies the torn bytes to a sidecar
file (``<log>.torn-<offset>``), cuts them off, and appends an ``audit.torn_tail_recovered``
record carrying their offset, length and hash, then the new record. Earlier records are never
touched. A writer refuses to append to a log whose chain is broken, or from which records it
appended itself have disappeared.

Appends must not run concurrently (there is no file lock), but writers may take turns: before
each append a writer checks whether the file's size changed since its own last write and, if
so, verifies the records again and chains onto the new ones. The chain proves the order and
integrity of what is present.

The chain is *anchored* (decision 0082): after every append the writer replaces
``<log>.anchor`` (atomically: a temporary file, ``fsync``, ``rename``) with the last record's
``seq`` and ``hash``. Verification checks the log against it, so cutting off the tail or
rewriting a record and re-hashing every later one is reported without an ``expected_head``:

* ``AUDIT_ANCHOR_MISSING`` — the log holds records but has no anchor;
* ``AUDIT_ANCHOR_MISMATCH`` — the log ends before its anchor, its record at the anchor's
  ``seq`` has another hash, or it runs on more than one record past it (one is the window of
  a crash between the append and the anchor update).

A writer adopts a log without an anchor (one written before anchors existed) by writing
one, and refuses to append to a log that does not match its anchor. Whoever can rewrite the
log *and* its anchor can still forge the whole history: keep the head elsewhere too
(``quant audit verify --expected-head``) where that matters.

Examples:
    >>> import tempfile, pathlib
    >>> from quant_core.audit import AuditLog, verify_audit_log
    >>> from quant_core import SimClock
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl"
    >>> log = AuditLog(path, SimClock(1_000))
    >>> log.append("demo.started", {"run": 1}).seq
    1
    >>> log.append("demo.finished", {"run": 1}).seq
    2
    >>> report = verify_audit_log(path)
    >>> report.ok, report.records
    (True, 2)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from quant_core import reasons
from quant_core._values.canonical import canonical_json, content_hash, sha256_hex
from quant_core._values.clock import Clock
from quant_core.errors import AuditChainError, QuantUsageError, StorageError
from quant_core.files import set_aside_tail

__all__ = [
    "TORN_TAIL_RECOVERED",
    "AuditLog",
    "AuditRecord",
    "VerifyReport",
    "anchor_path",
    "read_audit_log",
    "verify_audit_log",
]

TORN_TAIL_RECOVERED = "audit.torn_tail_recovered"
"""The ``kind`` of the record a writer adds after setting a torn tail aside."""

_KIND = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")
_FIELDS = frozenset({"seq", "ts_ns", "kind", "data", "prev", "hash"})


@attrs.frozen
class AuditRecord:
    """One audit record (see the module docstring for the format)."""

    seq: int
    ts_ns: int
    kind: str
    data: Mapping[str, Any]
    prev: str | None
    hash: str

    def body(self) -> dict[str, Any]:
        """The record without its hash: what the hash is computed over."""
        # Hand-written: the audit line format hashes exactly these five fields.
        return {
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "kind": self.kind,
            "data": self.data,
            "prev": self.prev,
        }

    def line(self) -> bytes:
        """The record's canonical line, newline included."""
        return canonical_json({**self.body(), "hash": self.hash}) + b"\n"


@attrs.frozen
class VerifyReport:
    """The outcome of :func:`verify_audit_log`.

    ``first_bad_line`` is 1-based; ``records`` counts the good records before it.
    """

    path: str
    ok: bool
    records: int
    head: str | None
    first_bad_line: int | None = None
    reason_code: str | None = None
    message: str = "chain intact"


class _BadLineError(Exception):
    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


def _well_typed(record: AuditRecord) -> bool:
    return (
        type(record.seq) is int
        and type(record.ts_ns) is int
        and isinstance(record.kind, str)
        and _KIND.fullmatch(record.kind) is not None
        and isinstance(record.data, dict)
        and (record.prev is None or isinstance(record.prev, str))
        and isinstance(record.hash, str)
    )


def _parse_line(raw: bytes, seq: int, prev: str | None) -> AuditRecord:
    """Check one complete line (without its newline) against its expected position."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _BadLineError(reasons.AUDIT_RECORD_MALFORMED, "not valid UTF-8 JSON") from None
    if not isinstance(obj, dict) or set(obj) != _FIELDS:
        raise _BadLineError(reasons.AUDIT_RECORD_MALFORMED, "not an audit record object")
    try:
        record = AuditRecord(**obj)
        canonical = canonical_json(obj)
    except Exception:  # noqa: BLE001 - any failure here means the record is malformed
        raise _BadLineError(reasons.AUDIT_RECORD_MALFORMED, "record fields are invalid") from None
    if canonical != raw:
        raise _BadLineError(reasons.AUDIT_RECORD_MALFORMED, "record is not in canonical form")
    if not _well_typed(record):
        raise _BadLineError(reasons.AUDIT_RECORD_MALFORMED, "record fields have the wrong types")
    if record.hash != content_hash(record.body()):
        raise _BadLineError(reasons.AUDIT_CHAIN_BROKEN, "record hash does not match its content")
    if record.seq != seq:
        raise _BadLineError(
            reasons.AUDIT_CHAIN_BROKEN,
            f"sequence number {record.seq} where {seq} was expected (removed or reordered)",
        )
    if record.prev != prev:
        raise _BadLineError(
            reasons.AUDIT_CHAIN_BROKEN, "link to the previous record does not match"
        )
    return record


def _scan(data: bytes) -> tuple[list[AuditRecord], int, _BadLineError | None]:
    """Walk ``data``; return the good records, the byte offset after them, and the fault."""
    records: list[AuditRecord] = []
    offset = 0
    prev: str | None = None
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end == -1:
            return (
                records,
                offset,
                _BadLineError(reasons.AUDIT_TORN_TAIL, "last line has no newline"),
            )
        try:
            record = _parse_line(data[offset:end], len(records) + 1, prev)
        except _BadLineError as bad:
            return records, offset, bad
        records.append(record)
        prev = record.hash
        offset = end + 1
    return records, offset, None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise StorageError(f"cannot read audit log {path}: {exc.strerror}") from None


def anchor_path(path: Path | str) -> Path:
    """Where the anchor of the audit log at ``path`` lives (``<log>.anchor`` beside it)."""
    path = Path(path)
    return path.with_name(f"{path.name}.anchor")


def _check_anchor(path: Path, records: list[AuditRecord]) -> _BadLineError | None:
    """The fault, if the complete ``records`` of the log at ``path`` do not match its anchor."""
    try:
        raw = anchor_path(path).read_bytes()
    except FileNotFoundError:
        if not records:
            return None
        return _BadLineError(
            reasons.AUDIT_ANCHOR_MISSING, "the log has no anchor: its tail cannot be checked"
        )
    except OSError as exc:
        raise StorageError(f"cannot read the anchor of {path}: {exc.strerror}") from None
    try:
        anchor = json.loads(raw)
        seq, head = anchor["seq"], anchor["head"]
    except (ValueError, TypeError, KeyError):
        return _BadLineError(reasons.AUDIT_ANCHOR_MISMATCH, "the anchor is not readable")
    if type(seq) is not int or not 0 < seq <= len(records):
        return _BadLineError(
            reasons.AUDIT_ANCHOR_MISMATCH,
            f"the log ends at record {len(records)}, before its anchor: records were cut off",
        )
    if records[seq - 1].hash != head:
        return _BadLineError(
            reasons.AUDIT_ANCHOR_MISMATCH,
            f"record {seq} is not the one anchored: the chain was rewritten",
        )
    if len(records) > seq + 1:
        return _BadLineError(
            reasons.AUDIT_ANCHOR_MISMATCH, f"{len(records) - seq} records past the anchor"
        )
    return None


def verify_audit_log(path: Path | str, *, expected_head: str | None = None) -> VerifyReport:
    """Verify a whole audit log and report the first bad line, never raising for content.

    Args:
        path: the log file (a missing file is an empty, valid log).
        expected_head: if given, the hash the last record must have; a log whose last
            records were cut off then fails with ``AUDIT_CHAIN_BROKEN``. Without it the
            log is still checked against its anchor (``AUDIT_ANCHOR_*``).

    Raises:
        StorageError: the file exists but cannot be read.
    """
    records, _, bad = _scan(_read(Path(path)))
    head = records[-1].hash if records else None
    bad_line = len(records) + 1
    if bad is None:
        bad = _check_anchor(Path(path), records)
        bad_line = max(len(records), 1)
    if bad is None and expected_head is not None and head != expected_head:
        bad = _BadLineError(reasons.AUDIT_CHAIN_BROKEN, "log does not end at the expected head")
        bad_line = max(len(records), 1)
    if bad is None:
        return VerifyReport(str(path), True, len(records), head)
    return VerifyReport(
        str(path), False, len(records), head, bad_line, bad.reason_code, bad.message
    )


def read_audit_log(path: Path | str) -> list[AuditRecord]:
    """Read and verify every record, against the log's anchor too.

    Raises:
        AuditChainError: at the first bad line, with its reason code.
    """
    records, _, bad = _scan(_read(Path(path)))
    bad = bad or _check_anchor(Path(path), records)
    if bad is not None:
        raise AuditChainError(bad.message, line=len(records) + 1, reason_code=bad.reason_code)
    return records


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AuditLog:
    """An append-only writer (and reader) of one audit log file.

    Args:
        path: the log file; created with its parent directories on the first append.
        clock: where record timestamps come from.
    """

    def __init__(self, path: Path | str, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._head: str | None = None
        self._seq = 0
        self._size: int | None = None  # file size after our last scan or write

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    def _disk_size(self) -> int:
        """The file's size now; -1 when it is missing or unreadable (forcing a rescan)."""
        try:
            return self.path.stat().st_size
        except OSError:
            return -1

    def _open(self) -> None:
        """Verify what is on disk; set a torn tail aside; remember the head.

        The scan is repeated only when the file's size is not the one this writer left, so
        another writer's appends in between are verified and chained onto, not overwritten.
        """
        if self._size is None or self._disk_size() != self._size:
            self._load()

    def _load(self) -> list[AuditRecord]:
        """Scan and verify the file, set a torn tail aside, and return every record."""
        data = _read(self.path)
        records, good_end, bad = _scan(data)
        if bad is not None and bad.reason_code != reasons.AUDIT_TORN_TAIL:
            raise AuditChainError(
                f"the log is broken: {bad.message}",
                line=len(records) + 1,
                reason_code=bad.reason_code,
            )
        anchored = _check_anchor(self.path, records) if bad is None else None
        if anchored is not None and anchored.reason_code != reasons.AUDIT_ANCHOR_MISSING:
            raise AuditChainError(
                f"the log does not match its anchor: {anchored.message}",
                line=max(len(records), 1),
                reason_code=anchored.reason_code,
            )
        if len(records) < self._seq:
            raise AuditChainError(
                f"{self._seq - len(records)} record(s) this writer appended are gone",
                line=len(records) + 1,
                reason_code=reasons.AUDIT_CHAIN_BROKEN,
            )
        self._seq = len(records)
        self._head = records[-1].hash if records else None
        if anchored is not None:  # a log from before anchors: adopt it
            self._write_anchor()
        # Size is recorded only after any torn tail is set aside: if that fails, the next call
        # must try again rather than append after the torn bytes.
        if bad is not None:
            records.append(self._recover_torn_tail(data[good_end:], good_end))
        else:
            self._size = len(data)
        return records

    def _recover_torn_tail(self, torn: bytes, offset: int) -> AuditRecord:
        try:
            sidecar = set_aside_tail(self.path, offset)
        except OSError as exc:
            raise StorageError(
                f"cannot set aside torn tail of {self.path}: {exc.strerror}"
            ) from None
        evidence = {
            "offset": offset,
            "length": len(torn),
            "sha256": sha256_hex(torn),
            "saved_to": sidecar.name,
        }
        return self._write(TORN_TAIL_RECOVERED, evidence)

    def _write(self, kind: str, data: Mapping[str, Any]) -> AuditRecord:
        seq = self._seq + 1
        body = {
            "seq": seq,
            "ts_ns": self._clock.now_ns(),
            "kind": kind,
            # Round-trip through canonical JSON so the record holds plain values only.
            "data": json.loads(canonical_json(data)),
            "prev": self._head,
        }
        record = AuditRecord(hash=content_hash(body), **body)
        created = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                fh.write(record.line())
                fh.flush()
                os.fsync(fh.fileno())
                size = fh.tell()
        except OSError as exc:
            raise StorageError(f"cannot append to audit log {self.path}: {exc.strerror}") from None
        if created:
            _fsync_dir(self.path.parent)
        self._seq, self._head, self._size = seq, record.hash, size
        self._write_anchor()
        return record

    def _write_anchor(self) -> None:
        """Replace the anchor with this writer's ``seq`` and head, atomically and durably."""
        anchor = anchor_path(self.path)
        temporary = anchor.with_name(f"{anchor.name}.tmp")
        try:
            with open(temporary, "wb") as fh:
                fh.write(canonical_json({"seq": self._seq, "head": self._head}) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, anchor)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            # The record itself is durable; verification tolerates one record past the anchor.
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise StorageError(
                f"cannot update the anchor of audit log {self.path}: {exc.strerror}"
            ) from None

    def append(self, kind: str, data: Mapping[str, Any]) -> AuditRecord:
        """Append one record and make it durable before returning it.

        Args:
            kind: a dotted lower-case event name (``bundle.install``).
            data: canonical-JSON-able content of the record.

        Raises:
            QuantUsageError: the kind is malformed, or ``data`` is not a mapping.
            CanonicalizationError: the data has no canonical JSON form (nothing is written).
            AuditChainError: the log on disk is broken (nothing is written).
            StorageError: the file cannot be written.
        """
        if not _KIND.fullmatch(kind):
            raise QuantUsageError(f"audit record kind {kind!r} must be dotted lower-case")
        if not isinstance(data, Mapping):
            raise QuantUsageError(f"audit record data must be a mapping, not {type(data).__name__}")
        canonical_json(data)  # refuse bad data before touching the file
        self._open()
        return self._write(kind, data)

    @property
    def head(self) -> str | None:
        """The hash of the last record (``None`` for an empty log)."""
        self._open()
        return self._head

    def records(self) -> list[AuditRecord]:
        """Verify the log on disk and return its records.

        As before an append, a torn tail is first set aside (so the list ends with the
        ``audit.torn_tail_recovered`` record), and a broken log raises
        :class:`~quant_core.errors.AuditChainError`.
        """
        return self._load()
