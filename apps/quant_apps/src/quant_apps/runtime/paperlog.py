"""The paper session's files: the segmented decision log, the audit log and the halt file.

The decision log file is append-only and holds one *segment* per run: a session header line
naming the run (``paper.run``, counted from 1 in the file) followed by that run's decision,
order event and risk lines. A restart never rewrites or repeats earlier lines: it starts a
fresh session (fresh ledger, fresh strategy memory) under a new header. A line torn by a
crash mid-write is cut off when the next run starts. :func:`quant_exec.read_log` reads the
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

from quant_exec import DecisionLog, read_log

__all__ = ["AUDIT_FILE", "HALT_FILE", "LOG_FILE", "PaperLogWriter"]

LOG_FILE = "decisions.jsonl"
"""The decision log inside ``--out``."""
AUDIT_FILE = "audit.jsonl"
"""The hash-chained audit log inside ``--out`` (kill-switch engages and releases)."""
HALT_FILE = "HALT"
"""The default halt file inside ``--out``: while it exists, the kill switch is engaged."""


class PaperLogWriter:
    """Appends a session's decision lines to the paper log, segment by segment.

    Opening it cuts a torn last line (a crash mid-write) and checks the rest with
    :func:`quant_exec.read_log`; :meth:`flush` appends the lines a session's log gained
    since its last flush (then flushes and fsyncs the file): the first flush of a log begins
    its segment.

    Args:
        path: the log file (created with its directory if missing).

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the existing file is not a paper log.
    """

    def __init__(self, path: Path) -> None:
        """Open ``path`` for appending (see the class docs)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.torn_bytes = 0
        data = path.read_bytes() if path.exists() else b""
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            self.torn_bytes = len(data) - keep
            with path.open("r+b") as fh:
                fh.truncate(keep)
        self.next_run = len(read_log(path)) + 1 if keep else 1
        self._log: DecisionLog | None = None
        self._written = 0

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
