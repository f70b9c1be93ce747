"""The paper session's files: the segmented decision log, the audit log and the halt file.

The decision log file is append-only and holds one *segment* per run: a session header line
naming the run (``paper.run``, counted from 1 in the file) followed by that run's decision,
order event and risk lines. A restart never rewrites or repeats earlier lines: it starts a
new session under a new header that carries the last run's cash, positions and unfinished
orders over (the header's ``carry``; the strategy's memory starts afresh). A line torn by a
crash mid-write is set aside when the next run starts: its bytes go to a sidecar
(``decisions.jsonl.torn-<offset>``, as the audit log keeps its own, through
:func:`quant_core.files.set_aside_tail`) and the next run's header names it (``paper.torn_tail``).
:func:`quant_exec.read_log` reads the
segments back; each one is a valid decision log on its own, and its log hash is the hash of
its bytes.

Examples:
    >>> import tempfile
    >>> from quant_exec import DecisionLog, read_log
    >>> path = Path(tempfile.mkdtemp()) / LOG_FILE
    >>> writer = PaperLogWriter(path)
    >>> writer.next_run
    1
    >>> writer.flush(DecisionLog({"paper": {"run": 1}}))
    1
    >>> [run.session["paper"]["run"] for run in read_log(path)]
    [1]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from quant_core.audit import AuditLog
from quant_core.errors import StorageError
from quant_core.files import set_aside_tail
from quant_exec import DecisionLog, read_log, reasons

__all__ = ["AUDIT_FILE", "HALT_FILE", "LOG_FILE", "PaperLogWriter", "read_halt_file"]

LOG_FILE = "decisions.jsonl"
"""The decision log inside ``--out``."""
AUDIT_FILE = "audit.jsonl"
"""The hash-chained audit log inside ``--out`` (kill-switch engages and releases)."""
HALT_FILE = "HALT"
"""The default halt file inside ``--out``: while it exists, the kill switch is engaged."""


class PaperLogWriter:
    """Appends a session's decision lines to the paper log, segment by segment.

    Opening it sets a torn last line (a crash mid-write) aside in a sidecar file, described by
    :attr:`torn_tail` (offset, length, sidecar name; ``None`` when the file ended cleanly), and
    checks the rest with
    :func:`quant_exec.read_log`; :meth:`flush` appends the lines a session's log gained
    since its last flush (then flushes and fsyncs the file): the first flush of a log begins
    its segment.

    Args:
        path: the log file (created with its directory if missing).

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the existing file is not a paper log.
        StorageError: ``IO_FAILURE`` when a torn line cannot be set aside (nothing is lost:
            the file keeps its bytes, or the sidecar holds them).
    """

    def __init__(self, path: Path) -> None:
        """Open ``path`` for appending (see the class docs)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.torn_tail: dict[str, int | str] | None = None
        data = path.read_bytes() if path.exists() else b""
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            try:
                sidecar = set_aside_tail(path, keep)
            except OSError as exc:
                raise StorageError(
                    f"cannot set aside the torn last line of {path}: {exc.strerror}"
                ) from None
            self.torn_tail = {"offset": keep, "length": len(data) - keep, "saved_to": sidecar.name}
        self.next_run = len(read_log(path)) + 1 if keep else 1
        self._log: DecisionLog | None = None
        self._written = 0

    def audit_torn_tail(self, audit: AuditLog) -> bool:
        """Record a torn last line set aside on opening in ``audit``; whether there was one.

        The entry (kind ``journal.torn_tail``) carries the reason code ``JOURNAL_TORN_TAIL``,
        the log, and where the torn bytes were kept.

        Args:
            audit: the session's audit log.
        """
        if self.torn_tail is None:
            return False
        torn = {"reason_code": reasons.JOURNAL_TORN_TAIL, "log": str(self.path)}
        audit.append("journal.torn_tail", {**torn, **self.torn_tail})
        return True

    def flush(self, log: DecisionLog) -> int:
        """Append what ``log`` gained since its last flush; return its segment's line count."""
        if log is not self._log:
            self._log, self._written = log, 0
        data = log.to_bytes()
        if len(data) > self._written:
            with self.path.open("ab") as fh:
                _append(fh, data[self._written :])
            self._written = len(data)
        return data.count(b"\n")


def _append(fh: BinaryIO, data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def read_halt_file(path: Path) -> tuple[bool, str]:
    """Whether the halt file at ``path`` is present, and its text (the halt's reason).

    A file that is there but cannot be read counts as present: halting is the safe reading.

    Args:
        path: the halt file.

    Examples:
        >>> import tempfile, pathlib
        >>> halt = pathlib.Path(tempfile.mkdtemp()) / "HALT"
        >>> read_halt_file(halt)
        (False, '')
        >>> _ = halt.write_text("exchange outage")
        >>> read_halt_file(halt)
        (True, 'exchange outage')
    """
    try:
        return True, path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return False, ""
    except OSError as exc:
        return True, f"unreadable halt file: {exc.strerror}"
