"""Kraken nonces: strictly increasing per key across threads, processes and restarts.

Kraken refuses a nonce that is not above the key's last one (``EAPI:Invalid nonce``). A
:class:`NonceSource` keeps the high-water mark in a small file and takes each nonce under an
exclusive ``fcntl`` lock on that file (other processes) and a thread lock (this process)::

    nonce = max(clock_now_us, last + 1)

written back (and flushed to disk) before it is handed out. A clock that jumps back, or a
restart with the clock behind the persisted mark, still gets ``last + 1`` (RT-12); threads and
processes sharing the file never hand out the same nonce (RT-13). Kraken takes any unsigned
64-bit integer; the clock part is in microseconds.

Examples:
    >>> import tempfile, pathlib
    >>> from quant_core import SimClock
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "nonce"
    >>> source = NonceSource(path, SimClock(5_000))
    >>> source.next(), source.next()
    (5, 6)
    >>> NonceSource(path, SimClock(0)).next()  # a restart with the clock behind the mark
    7
    >>> source.last()
    7
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Final

from quant_core import Clock
from quant_exec.venues.kraken._errors import NonceStoreError

__all__ = ["NonceSource"]

_NS_PER_US: Final = 1_000
_MAX: Final = 2**64 - 1


class NonceSource:
    """Hands out one key's nonces, persisted in ``path`` (created with its folder if absent).

    Args:
        path: the high-water-mark file (one decimal integer); one file per API key.
        clock: the injected clock (the nonce's time part, in microseconds).

    Raises:
        NonceStoreError: (from :meth:`next`) the file holds something other than one
            non-negative integer, or cannot be read or written.
    """

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NonceSource({str(self.path)!r})"

    @staticmethod
    def _parse(text: bytes, path: Path) -> int:
        stripped = text.strip()
        if not stripped:
            return 0
        if not stripped.isdigit() or int(stripped) > _MAX:
            raise NonceStoreError(f"nonce file {path} does not hold one non-negative integer")
        return int(stripped)

    def last(self) -> int:
        """The persisted high-water mark (0 when no nonce was handed out yet)."""
        with self._lock, self._locked() as fd:
            return self._parse(os.pread(fd, 64, 0), self.path)

    def next(self) -> int:
        """The next nonce: ``max(now in µs, last + 1)``, persisted before it is returned."""
        with self._lock, self._locked() as fd:
            last = self._parse(os.pread(fd, 64, 0), self.path)
            nonce = max(self._clock.now_ns() // _NS_PER_US, last + 1)
            data = str(nonce).encode()
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                os.fsync(fd)
            except OSError as exc:  # pragma: no cover - a full or read-only disk
                raise NonceStoreError(f"cannot write nonce file {self.path}: {exc}") from None
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
