"""A SQLite index over the paper decision log: filtered, keyset-paged reads in milliseconds.

The decision log (:mod:`quant_apps.runtime.trading.paperlog`) is append-only and segmented by run.
:class:`DecisionIndex` keeps, in a SQLite file beside it (a derived file: rebuilt whenever it
is missing, corrupt, of another schema or of another log), one row per decision line — its
global line number (``id``, from 1, header and order lines counted), run, ``seq``, time,
instrument, action and the byte span of the line — plus one row per (decision, reason code).
:meth:`DecisionIndex.refresh` reads only the bytes appended since the last indexed offset (a
torn last line, without its newline, waits for the next refresh), in one transaction;
:meth:`DecisionIndex.page` answers newest first, filtered by run, instrument (or coin),
reason code and action, with ``before`` as the keyset cursor, and returns each line exactly
as logged (read back from the log by its offset) plus ``run`` and ``id``.

The index notices a foreign or rewritten log — shorter than the indexed offset, another first
line, or no line end where the last indexed line ended — and rebuilds from the start.

Threads: refreshes are serialized by a lock; each reading thread has its own SQLite
connection (WAL mode), so pages are served while a refresh writes.

Examples:
    >>> import tempfile
    >>> from quant_exec import DecisionLog
    >>> folder = Path(tempfile.mkdtemp())
    >>> log = DecisionLog({"paper": {"run": 1}})
    >>> _ = log.add(5, "bar", "BTC/USD", "none", ("NO_EDGE",), "p1", {"price": 1.5})
    >>> _ = log.add(6, "bar", "ETH/USD", "buy", ("ENTRY",), "p1", {"price": 2.5})
    >>> _ = log.write(folder / "decisions.jsonl")
    >>> index = DecisionIndex(folder / "decisions.jsonl", folder / "decisions.idx.sqlite")
    >>> index.refresh()
    3
    >>> page = index.page(instrument="ETH")
    >>> [(item["id"], item["run"], item["action"]) for item in page["items"]]
    [(3, 1, 'buy')]
    >>> index.reason_codes()
    ['ENTRY', 'NO_EDGE']
    >>> index.close()
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from quant_core import reasons
from quant_core.errors import QuantUsageError, StorageError, ValidationError

__all__ = ["MAX_LIMIT", "DecisionIndex", "index_path_for"]

MAX_LIMIT = 500
"""The most items one page may ask for."""

_SCHEMA = 1  # PRAGMA user_version of the index file; another value → rebuilt
_CHUNK = 8 << 20  # bytes read from the log at a time while indexing

_BULK_BYTES = 16 << 20  # a backlog this large (and larger than the indexed part) is bulk
_CACHE_KIB = 65_536  # the writer's page cache while indexing

_TABLES_DDL = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    (
        "CREATE TABLE decision (id INTEGER PRIMARY KEY, run INTEGER NOT NULL, seq INTEGER,"
        " ts_ns INTEGER, instrument TEXT, action TEXT, offset INTEGER NOT NULL,"
        " length INTEGER NOT NULL)"
    ),
    (
        "CREATE TABLE reason (code TEXT NOT NULL, id INTEGER NOT NULL, instrument TEXT,"
        " PRIMARY KEY (code, id)) WITHOUT ROWID"
    ),
    "CREATE TABLE code (code TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE instrument (instrument TEXT PRIMARY KEY) WITHOUT ROWID",
)
_INDEXES = {  # the secondary indexes: one per filter, keyed (filter…, id) for keyset pages
    "decision_instrument": "decision (instrument, id)",
    "decision_action": "decision (action, id)",
    "decision_run": "decision (run, id)",
    "decision_instrument_action": "decision (instrument, action, id)",
    "reason_instrument": "reason (code, instrument, id)",
}
_TABLES = ("meta", "decision", "reason", "code", "instrument")
_DECODE = json.JSONDecoder().decode
_EMPTY: dict[str, Any] = {"offset": 0, "lines": 0, "run": 0, "head": None}


def index_path_for(log_path: Path) -> Path:
    """Where a log's index lives by default: beside it, ``<log name>.index.sqlite``.

    Examples:
        >>> index_path_for(Path("out/decisions.jsonl")).as_posix()
        'out/decisions.jsonl.index.sqlite'
    """
    return log_path.with_name(f"{log_path.name}.index.sqlite")


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, reason_code=reasons.INVALID_INPUT)


def _check_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise _invalid(f"{name} must be a non-empty string of at most 200 characters")
    return value


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int | None:
    if value is None:
        return None
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _invalid(f"{name} must be an integer {bound}, not {value!r}")
    return value


class DecisionIndex:
    """The decision log's index (see the module docs).

    Args:
        log_path: the decision log (it need not exist yet: the index is empty until it does).
        index_path: the SQLite file of the index (created; rebuilt when corrupt or stale).
        bulk_bytes: a refresh with at least this many new bytes, and more than it already
            indexed (a first build, a rebuild), writes the rows first and builds the
            secondary indexes after them (faster than keeping them up to date row by row).

    Raises:
        StorageError: ``IO_FAILURE`` when the index file cannot be created or opened.
    """

    def __init__(self, log_path: Path, index_path: Path, *, bulk_bytes: int = _BULK_BYTES) -> None:
        """Open (or create) the index; see the class docs."""
        self.log_path = log_path
        self.index_path = index_path
        self._bulk_bytes = bulk_bytes
        self._lock = threading.Lock()  # refreshes, and the list of connections
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        try:
            self._writer = self._open_writer()
        except sqlite3.DatabaseError:  # not a database, or another schema's leftovers
            for suffix in ("", "-wal", "-shm"):
                Path(f"{index_path}{suffix}").unlink(missing_ok=True)
            self._writer = self._open_writer()

    # -- connections -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.index_path, check_same_thread=False, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot open the decision index {self.index_path}: {exc}") from None
        self._connections.append(conn)
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            if conn.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA:
                with _transaction(conn):
                    for table in _TABLES:
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in _TABLES_DDL:
                        conn.execute(statement)
                    _create_indexes(conn)
                    conn.execute(f"PRAGMA user_version={_SCHEMA}")
        except sqlite3.DatabaseError:
            self._connections.remove(conn)
            conn.close()
            raise
        return conn

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise QuantUsageError("the decision index is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close every connection (idempotent); the index cannot be used after it."""
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # -- indexing --------------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        rows = self._writer.execute("SELECT key, value FROM meta").fetchall()
        found = dict(rows)
        return {
            "offset": int(found.get("offset", 0)),
            "lines": int(found.get("lines", 0)),
            "run": int(found.get("run", 0)),
            "head": found.get("head"),
        }

    def refresh(self) -> int:
        """Index the lines appended since the last refresh; return how many lines were added.

        Every complete line counts (decision or not; a line that is not JSON is counted and
        skipped); a log rewritten under the index (see the module docs) is indexed again
        from its start, in the same transaction.

        Raises:
            QuantUsageError: ``USAGE_ERROR`` after :meth:`close`.
            StorageError: ``IO_FAILURE`` when the log cannot be read.
        """
        with self._lock:
            if self._closed:
                raise QuantUsageError("the decision index is closed")
            try:
                fh = self.log_path.open("rb")
            except FileNotFoundError:
                fh = None
            except OSError as exc:
                raise StorageError(f"cannot read {self.log_path}: {exc.strerror}") from None
            if fh is None:
                return self._reset_if_indexed()
            with fh:
                try:
                    with _transaction(self._writer):
                        return self._index(fh, self._meta())
                except sqlite3.DatabaseError:  # the index contradicts itself: index anew
                    with _transaction(self._writer):
                        self._clear()
                        return self._index(fh, _EMPTY)

    def _reset_if_indexed(self) -> int:
        """The log is gone: an index of a vanished log is emptied."""
        if self._meta()["offset"]:
            with _transaction(self._writer):
                self._clear()
        return 0

    def _clear(self) -> None:
        for table in _TABLES:
            self._writer.execute(f"DELETE FROM {table}")

    def _index(self, fh: Any, meta: dict[str, Any]) -> int:
        size = os.fstat(fh.fileno()).st_size
        first = fh.readline()
        head = hashlib.sha256(first).hexdigest() if first.endswith(b"\n") else None
        offset = meta["offset"]
        if offset and (size < offset or head != meta["head"] or _byte_at(fh, offset - 1) != b"\n"):
            self._clear()
            meta = _EMPTY
            offset = 0
        if size == offset:
            return 0
        lines, run = meta["lines"], meta["run"]
        added = 0
        decisions: list[tuple[Any, ...]] = []
        codes: list[tuple[str, int, Any]] = []
        instruments: set[str] = set()
        if size - offset >= max(self._bulk_bytes, offset):  # a build: index after the rows
            for name in _INDEXES:
                self._writer.execute(f"DROP INDEX IF EXISTS {name}")
        fh.seek(offset)
        carry = b""
        position = offset
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            data = carry + chunk
            end = data.rfind(b"\n") + 1
            carry = data[end:]
            start = 0
            while start < end:
                stop = data.index(b"\n", start) + 1
                lines += 1
                added += 1
                run = _line(data[start:stop], lines, run, position + start, decisions, codes)
                start = stop
            position += end
            self._flush(decisions, codes, instruments)
        _create_indexes(self._writer)  # (again, after a build; otherwise they exist)
        if added:
            meta_rows = {"offset": position, "lines": lines, "run": run, "head": head}
            self._writer.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta_rows.items()
            )
        return added

    def _flush(
        self,
        decisions: list[tuple[Any, ...]],
        codes: list[tuple[str, int, Any]],
        instruments: set[str],
    ) -> None:
        conn = self._writer
        conn.executemany(
            "INSERT INTO decision (id, run, seq, ts_ns, instrument, action, offset, length)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            decisions,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO reason (code, id, instrument) VALUES (?, ?, ?)", codes
        )
        seen_codes = {code for code, _, _ in codes}
        conn.executemany("INSERT OR IGNORE INTO code (code) VALUES (?)", [(c,) for c in seen_codes])
        fresh = {row[4] for row in decisions if row[4] is not None} - instruments
        conn.executemany(
            "INSERT OR IGNORE INTO instrument (instrument) VALUES (?)", [(i,) for i in fresh]
        )
        instruments.update(fresh)
        decisions.clear()
        codes.clear()

    # -- reading ---------------------------------------------------------------------------

    def page(
        self,
        *,
        run: int | None = None,
        instrument: str | None = None,
        reason: str | None = None,
        action: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page of decisions, newest first.

        Args:
            run: only this run (from 1).
            instrument: only this instrument (``"BTC/USD"``), or coin (``"BTC"``: every
                instrument of that base).
            reason: only decisions carrying this reason code.
            action: only this action (``"none"``, ``"buy"``, ``"sell"``, ``"rejected"``).
            before: only lines with an ``id`` below this one (the previous page's
                ``next_before``).
            limit: the most items (1 to :data:`MAX_LIMIT`).

        Returns:
            ``{"items": [...], "next_before": int | None, "filters": {...}}``: each item is
            the decision line as logged plus ``"run"`` and ``"id"``; ``next_before`` is the
            cursor of the next (older) page, ``None`` on the last one.

        Raises:
            ValidationError: ``INVALID_INPUT`` on a filter of the wrong type or range.
            QuantUsageError: ``USAGE_ERROR`` after :meth:`close`.
            StorageError: ``IO_FAILURE`` when the log cannot be read, or was
                rewritten since the last :meth:`refresh` (a line is not where it was).
        """
        filters = {
            "run": _check_int("run", run, 1),
            "instrument": _check_text("instrument", instrument),
            "reason": _check_text("reason", reason),
            "action": _check_text("action", action),
            "before": _check_int("before", before, 1),
            "limit": _check_int("limit", limit, 1, MAX_LIMIT),
        }
        conn = self._reader()
        sql, params = _query(conn, filters)
        rows = conn.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "items": self._read_lines(rows),
            "next_before": rows[-1][0] if more else None,
            "filters": filters,
        }

    def _read_lines(self, rows: list[tuple[int, int, int, int, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return []
        try:
            fd = os.open(self.log_path, os.O_RDONLY)
        except OSError as exc:
            raise StorageError(f"cannot read {self.log_path}: {exc.strerror}") from None
        try:
            items = []
            for line_id, run, offset, length, seq in rows:
                item = _decoded(os.pread(fd, length, offset))
                if item is None or _scalar(item.get("seq")) != seq:
                    raise StorageError(
                        f"{self.log_path} changed under its index (line {line_id}); refresh it"
                    )
                item["run"] = run
                item["id"] = line_id
                items.append(item)
            return items
        finally:
            os.close(fd)

    def reason_codes(self) -> list[str]:
        """The distinct reason codes of the indexed decisions, sorted."""
        conn = self._reader()
        return [row[0] for row in conn.execute("SELECT code FROM code ORDER BY code")]


def _query(conn: sqlite3.Connection, filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """The page's SQL: through the reason table when a reason filters, else the decisions."""
    where: list[str] = []
    params: list[Any] = []
    instrument = filters["instrument"]
    if filters["reason"] is not None:
        source = "reason r JOIN decision d ON d.id = r.id"
        key = "r.id"
        where.append("r.code = ?")
        params.append(filters["reason"])
        column = "r.instrument"
    else:
        source, key, column = "decision d", "d.id", "d.instrument"
    if instrument is not None:
        names = [instrument]
        if "/" not in instrument:
            found = conn.execute(
                "SELECT instrument FROM instrument WHERE instrument > ? AND instrument < ?",
                (instrument + "/", instrument + "0"),  # "0" follows "/" in ASCII
            ).fetchall()
            names = [row[0] for row in found] or names
        if len(names) == 1:
            where.append(f"{column} = ?")
        else:
            where.append(f"{column} IN ({', '.join('?' * len(names))})")
        params.extend(names)
    for name in ("action", "run"):
        if filters[name] is not None:
            where.append(f"d.{name} = ?")
            params.append(filters[name])
    if filters["before"] is not None:
        where.append(f"{key} < ?")
        params.append(filters["before"])
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sql = (
        f"SELECT {key}, d.run, d.offset, d.length, d.seq FROM {source}{clause}"
        f" ORDER BY {key} DESC LIMIT ?"
    )
    params.append(filters["limit"] + 1)
    return sql, params


def _line(
    line: bytes,
    number: int,
    run: int,
    offset: int,
    decisions: list[tuple[Any, ...]],
    codes: list[tuple[str, int, Any]],
) -> int:
    """Index one complete line (its global ``number``); return the run it leaves current."""
    row = _decoded(line)
    if row is None:
        return run  # not a JSON object: counted, not indexed
    kind = row.get("kind")
    if kind == "session":
        paper = row.get("paper")
        named = paper.get("run") if isinstance(paper, dict) else None
        return named if isinstance(named, int) and not isinstance(named, bool) else run + 1
    if kind != "decision":
        return run
    instrument = row.get("instrument")
    instrument = instrument if isinstance(instrument, str) else None
    decisions.append(
        (
            number,
            run,
            _scalar(row.get("seq")),
            _scalar(row.get("ts_ns")),
            instrument,
            _text(row.get("action")),
            offset,
            len(line),
        )
    )
    found = row.get("reason_codes")
    for code in found if isinstance(found, list) else ():
        if isinstance(code, str):
            codes.append((code, number, instrument))
    return run


def _create_indexes(conn: sqlite3.Connection) -> None:
    for name, on in _INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")


def _decoded(line: bytes) -> dict[str, Any] | None:
    """A log line as a JSON object, or ``None`` when it is not one."""
    try:
        row = _DECODE(line.decode())
    except ValueError:  # not UTF-8 or not JSON
        return None
    return row if isinstance(row, dict) else None


def _scalar(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _byte_at(fh: Any, offset: int) -> bytes:
    fh.seek(offset)
    return bytes(fh.read(1))


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
