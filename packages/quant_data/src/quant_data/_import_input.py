"""Bounded input for the importers: size-capped reads, streamed gunzip, epoch-unit checks.

An import file is read with at most :data:`MAX_IMPORT_BYTES` + 1 bytes in memory, and a gzip
member is decompressed in a stream that stops as soon as its output passes the same bound, so a
decompression bomb (a few MiB that expand to GiB) is refused with ``IMPORT_FILE_TOO_LARGE``
after reading at most the bound, never with a ``MemoryError``. Epoch integers in the files are
unix *seconds*; a column whose values are milliseconds, microseconds or nanoseconds (or seconds
past what a nanosecond int64 can hold) is refused with ``IMPORT_FILE_INVALID`` naming the
column and the unit its values look like.

Examples:
    >>> epoch_unit(1_700_000_000), epoch_unit(1_700_000_000_000), epoch_unit(1_700_000_000 * 10**9)
    ('seconds', 'milliseconds', 'nanoseconds')
    >>> check_unix_seconds(1_700_000_000, "XBTUSD_60.csv", "time")
    1700000000
"""

from __future__ import annotations

import zlib
from pathlib import Path

from quant_core import NS_PER_SECOND
from quant_core.errors import ValidationError
from quant_data import reasons

__all__ = ["MAX_IMPORT_BYTES", "check_unix_seconds", "epoch_unit", "read_input"]

MAX_IMPORT_BYTES = 256 * 1024 * 1024
"""The most bytes one import file may hold, stored and after gunzip (256 MiB)."""

MAX_UNIX_SECONDS = (2**63 - 1) // NS_PER_SECOND
"""The last unix second whose nanoseconds fit a signed 64-bit integer (2262-04-11)."""

_UNIT_BOUNDS = ((10**11, "seconds"), (10**14, "milliseconds"), (10**17, "microseconds"))


def _too_large(path: Path, what: str, cap: int) -> ValidationError:
    return ValidationError(
        f"{path.name}: {what} more than {cap} bytes (the import bound); split the file",
        reason_code=reasons.IMPORT_FILE_TOO_LARGE,
    )


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, reason_code=reasons.IMPORT_FILE_INVALID)


def _gunzip(path: Path, raw: bytes, cap: int) -> bytes:
    """Every gzip member of ``raw``, decompressed in a stream that stops past ``cap`` bytes."""
    out = bytearray()
    pending = raw
    while pending:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while pending and not inflater.eof:
                out += inflater.decompress(pending, cap + 1 - len(out))
                if len(out) > cap:
                    raise _too_large(path, "decompresses to", cap)
                pending = inflater.unconsumed_tail
        except zlib.error as exc:
            raise _invalid(f"{path.name} is not valid gzip: {exc}") from None
        if not inflater.eof:
            raise _invalid(f"{path.name} is not valid gzip: the stream ends early")
        pending = inflater.unused_data.lstrip(b"\x00")
    return bytes(out)


def read_input(path: Path, cap: int | None = None) -> tuple[bytes, bytes]:
    """(bytes as stored, content): the file read and, when gzip, decompressed, both bounded.

    Args:
        path: the file.
        cap: the bound in bytes for each of the two; default :data:`MAX_IMPORT_BYTES`.

    Raises:
        ValidationError: ``IMPORT_FILE_TOO_LARGE`` when the file or its decompressed content
            passes the bound; ``IMPORT_FILE_INVALID`` when it cannot be read or is bad gzip.
    """
    path = Path(path)
    bound = MAX_IMPORT_BYTES if cap is None else cap
    try:
        with path.open("rb") as stream:
            raw = stream.read(bound + 1)
    except OSError as exc:
        raise _invalid(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > bound:
        raise _too_large(path, "holds", bound)
    if raw[:2] == b"\x1f\x8b":
        return raw, _gunzip(path, raw, bound)
    return raw, raw


def epoch_unit(value: int) -> str:
    """The unit an epoch integer's magnitude suggests (for the year 1973 on)."""
    magnitude = abs(value)
    return next((unit for bound, unit in _UNIT_BOUNDS if magnitude < bound), "nanoseconds")


def check_unix_seconds(value: int, file_name: str, column: str) -> int:
    """``value`` when it is unix seconds whose nanoseconds fit an int64.

    Raises:
        ValidationError: ``IMPORT_FILE_INVALID`` naming the file, the column and the unit the
            value looks like.
    """
    if abs(value) <= MAX_UNIX_SECONDS:
        return value
    unit = epoch_unit(value)
    found = "seconds past 2262-04-11" if unit == "seconds" else unit
    raise _invalid(
        f"{file_name}: column {column!r} holds {value}, which looks like unix {found}; "
        "the format carries unix seconds"
    )
