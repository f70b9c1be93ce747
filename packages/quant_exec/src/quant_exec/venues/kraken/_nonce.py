"""Kraken nonces: strictly increasing per key across threads, processes and restarts.

Kraken refuses a nonce that is not above the key's last one (``EAPI:Invalid nonce``). A
:class:`NonceSource` keeps two marks in a small file and takes each nonce under an exclusive
``fcntl`` lock on that file (other processes) and a thread lock (this process)::

    nonce = max(clock_now_us, last + 1)        # a new source: also above ``reserved``

- ``last``, the nonce handed out last, is written back on every call without ``fsync``: other
  processes read it through the shared page cache, so nonces interleave strictly increasing
  across processes (RT-13);
- ``reserved``, a mark at or above every nonce handed out, is written ahead in blocks of
  :data:`RESERVE_US` and ``fsync``-ed once per block, before the first nonce above the old
  mark is handed out. After a restart (or a crash that lost the unsynced ``last``) a new
  source starts above ``reserved``, so nothing is ever handed out twice (RT-12), and the
  per-call cost is a lock and two small in-place writes, not an ``fsync``.

A clock that jumps back still gets ``last + 1``. Kraken takes any unsigned 64-bit integer;
the clock part is in microseconds. The file holds the two marks as fixed-width decimal
lines (written in place, never truncated); a file of one integer (an older format) is read
as both marks.

Examples:
    >>> import tempfile, pathlib
    >>> from quant_core import SimClock
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "nonce"
    >>> source = NonceSource(path, SimClock(5_000))
    >>> source.next(), source.next()
    (5, 6)
    >>> source.last(), source.reserved()
    (6, 10000005)
    >>> NonceSource(path, SimClock(0)).next()  # a restart: above every mark reserved
    10000006
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Final

from quant_core import Clock
from quant_exec.venues.kraken._errors import NonceStoreError

__all__ = ["RESERVE_US", "NonceSource"]

_NS_PER_US: Final = 1_000
_MAX: Final = 2**64 - 1
RESERVE_US: Final = 10_000_000
"""How far ahead (µs of nonce) ``reserved`` is written: one ``fsync`` per 10 s of clock."""
_WIDTH: Final = 20  # digits of 2**64 - 1


class NonceSource:
    """Hands out one key's nonces, persisted in ``path`` (created with its folder if absent).

    Args:
        path: the high-water-mark file (one decimal integer); one file per API key.
        clock: the injected clock (the nonce's time part, in microseconds).

    Raises:
        NonceStoreError: (from :meth:`next`) the file holds something other than one
            non-negative integer, or cannot be read or written.
    """

    reserve_us: Final[int] = RESERVE_US
    """How far ahead of the last nonce the reservation is written (:data:`RESERVE_US`)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._started = False
        self.syncs = 0
        """How many times the reservation was written ahead and ``fsync``-ed."""

    def __repr__(self) -> str:
        return f"NonceSource({str(self.path)!r})"

    @staticmethod
    def _parse(text: bytes, path: Path) -> tuple[int, int]:
        """``(last, reserved)`` from the file (an empty file: both 0)."""
        parts = text.strip().split(b"\n")
        if parts == [b""]:
            return 0, 0
        if len(parts) > 2 or not all(p.isdigit() and int(p) <= _MAX for p in parts):
            raise NonceStoreError(f"nonce file {path} does not hold one non-negative integer")
        last = int(parts[0])
        return last, int(parts[-1])

    def _read(self, fd: int) -> tuple[int, int]:
        return self._parse(os.pread(fd, 2 * (_WIDTH + 1) + 64, 0), self.path)

    def last(self) -> int:
        """The nonce handed out last (0 when none was yet)."""
        with self._lock, self._locked() as fd:
            return self._read(fd)[0]

    def reserved(self) -> int:
        """The persisted mark at or above every nonce handed out."""
        with self._lock, self._locked() as fd:
            return self._read(fd)[1]

    def next(self) -> int:
        """The next nonce (see the module docs); durable before it is returned."""
        with self._lock, self._locked() as fd:
            last, reserved = self._read(fd)
            floor = last if self._started else max(last, reserved)
            nonce = max(self._clock.now_ns() // _NS_PER_US, floor + 1)
            sync = nonce > reserved
            if sync:
                reserved = min(nonce + RESERVE_US, _MAX)
            data = f"{nonce:0{_WIDTH}d}\n{reserved:0{_WIDTH}d}\n".encode()
            try:
                os.pwrite(fd, data, 0)
                if sync:
                    os.fsync(fd)
            except OSError as exc:  # pragma: no cover - a full or read-only disk
                raise NonceStoreError(f"cannot write nonce file {self.path}: {exc}") from None
            self._started = True
            self.syncs += sync
            return nonce

    def _locked(self) -> _FileLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise NonceStoreError(f"cannot open nonce file {self.path}: {exc}") from None
        return _FileLock(fd)


class _FileLock:
    """An open file descriptor held under an exclusive ``flock`` for a ``with`` block."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> int:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self._fd

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
