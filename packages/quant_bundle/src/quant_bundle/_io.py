"""Capped reads, streamed SHA-384 and the mapping of OS errors to bundle errors.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = path.write_bytes(b"abc")
    >>> read_capped(path, 3)
    b'abc'
    >>> read_capped(path, 2)
    Traceback (most recent call last):
    ...
    quant_bundle._errors.BundleRejectedError: [LENGTH_EXCEEDED] x exceeds 2 bytes
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from quant_bundle import reasons
from quant_bundle._errors import BundleRejectedError, BundleStorageError

__all__ = ["file_sha384", "read_capped", "reading", "storage_error"]

CHUNK: Final = 1 << 20
"""Bytes per read when streaming a file."""


@contextlib.contextmanager
def reading(name: str) -> Iterator[None]:
    """Map a missing file to ``BUNDLE_MISSING`` and any other read failure to storage.

    Raises:
        BundleRejectedError: ``BUNDLE_MISSING`` when the file is absent.
        BundleStorageError: the file cannot be read.
    """
    try:
        yield
    except FileNotFoundError:
        raise BundleRejectedError(
            f"{name} is missing", reason_code=reasons.BUNDLE_MISSING
        ) from None
    except OSError as exc:
        raise BundleStorageError(f"cannot read {name}: {exc.strerror}") from None


def read_capped(path: Path, limit: int) -> bytes:
    """Read at most ``limit`` bytes of ``path``.

    Raises:
        BundleRejectedError: ``BUNDLE_MISSING`` (absent) or ``LENGTH_EXCEEDED``.
        BundleStorageError: unreadable.
    """
    with reading(path.name), open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BundleRejectedError(
            f"{path.name} exceeds {limit} bytes", reason_code=reasons.LENGTH_EXCEEDED
        )
    return data


def file_sha384(path: Path, expected_size: int) -> tuple[str, int]:
    """Stream ``path`` into SHA-384, reading at most one byte past ``expected_size``."""
    digest = hashlib.sha384()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(min(CHUNK, expected_size + 1 - size)):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def storage_error(exc: OSError, what: str) -> BundleStorageError:
    """The installer's error for a failed write (``DISK_FULL``, ``STORAGE_READONLY``…)."""
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        code = reasons.DISK_FULL
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        code = reasons.STORAGE_READONLY
    else:
        code = reasons.BUNDLE_IO_FAILED
    return BundleStorageError(f"{what}: {exc.strerror or exc}", reason_code=code)
