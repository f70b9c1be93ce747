"""The ``.tar.zst`` archive: deterministic build and capped, allow-list extraction.

Build: members are the artifact files only, sorted by path, as PAX regular files with
``mtime=0``, ``uid=gid=0``, empty owner names and mode 0644, compressed with zstd at a fixed
level and without threads, so the same files always give the same bytes.

Extraction never trusts ``tarfile``'s filters. It streams the archive through a zstd reader
with a window cap and an output cap, reads tar headers one by one, accepts only regular files
whose names the signed manifest lists (each once, at the declared size), and writes each file
itself with ``O_CREAT | O_EXCL | O_NOFOLLOW``, hashing and fsyncing as it goes.

Examples:
    >>> from quant_bundle import build_archive
    >>> build_archive({"artifacts/a.txt": b"x"}) == build_archive({"artifacts/a.txt": b"x"})
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Final, Protocol, cast

import zstandard

from quant_bundle import reasons
from quant_bundle._errors import BundleRejectedError
from quant_bundle._manifest import Manifest

__all__ = [
    "MAX_WINDOW_SIZE",
    "ZSTD_LEVEL",
    "build_archive",
    "extract_archive",
]

ZSTD_LEVEL: Final = 10
MAX_WINDOW_SIZE: Final = 1 << 25
"""Largest zstd window the extractor accepts (32 MiB): a frame asking for more is refused."""
_CHUNK: Final = 1 << 16


def build_archive(files: Mapping[str, bytes]) -> bytes:
    """The canonical ``.tar.zst`` bytes of ``files`` (path → content)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(files[path]))
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, threads=0)
    return compressor.compress(raw.getvalue())


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _CappedReader:
    """A readable stream that refuses to deliver more than ``cap`` bytes."""

    def __init__(self, inner: _Readable, cap: int) -> None:
        self._inner = inner
        self._left = cap

    def read(self, size: int = -1, /) -> bytes:
        data = self._inner.read(size if 0 <= size <= _CHUNK else _CHUNK)
        if len(data) > self._left:
            raise BundleRejectedError(
                "decompressed archive exceeds its cap", reason_code=reasons.LENGTH_EXCEEDED
            )
        self._left -= len(data)
        return data


def _output_cap(manifest: Manifest) -> int:
    """Σ declared sizes (rounded to tar blocks) + header room for each member + end blocks."""
    body = sum((a.size + 511) // 512 * 512 for a in manifest.artifacts)
    return body + 4096 * (len(manifest.artifacts) + 1) + 20480


def extract_archive(
    archive: Path,
    dest: Path,
    manifest: Manifest,
    *,
    on_file: Callable[[int], None] | None = None,
) -> None:
    """Extract ``archive`` into the empty directory ``dest`` under the manifest's allow-list.

    Args:
        archive: the ``.tar.zst`` file (its digest has already been checked).
        dest: an existing empty directory.
        manifest: the verified manifest listing every allowed member.
        on_file: called with the count of files written so far after each file.

    Raises:
        BundleRejectedError: ``MEMBER_TYPE_FORBIDDEN``, ``UNLISTED_MEMBER``,
            ``DUPLICATE_MEMBER``, ``MISSING_MEMBER``, ``FILE_DIGEST_MISMATCH``,
            ``LENGTH_EXCEEDED``, ``ARCHIVE_TRUNCATED`` or ``ARCHIVE_MALFORMED``.
        OSError: writing failed (the installer maps it to a storage reason).
    """
    expected = {a.path: a for a in manifest.artifacts}
    written: set[str] = set()
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
    members = 0
    try:
        with open(archive, "rb") as fh, dctx.stream_reader(fh, read_across_frames=False) as z:
            capped = _CappedReader(z, _output_cap(manifest))
            with tarfile.open(
                fileobj=cast("IO[bytes]", capped), mode="r|", encoding="utf-8", errors="strict"
            ) as tar:
                for member in tar:
                    members += 1
                    if members > len(expected):
                        raise BundleRejectedError(
                            "archive holds more members than the manifest lists",
                            reason_code=reasons.UNLISTED_MEMBER,
                        )
                    _check_member(member, expected, written)
                    source = tar.extractfile(member)
                    assert source is not None  # regular file, checked above
                    _write_member(
                        source, dest, expected[member.name].path, expected[member.name].sha384
                    )
                    written.add(member.name)
                    if on_file is not None:
                        on_file(len(written))
    except BundleRejectedError:
        raise
    except zstandard.ZstdError as exc:
        raise BundleRejectedError(
            f"zstd stream refused: {exc}", reason_code=reasons.ARCHIVE_MALFORMED
        ) from None
    except (EOFError, tarfile.TarError) as exc:
        text = str(exc)
        truncated = isinstance(exc, EOFError) or any(
            word in text for word in ("empty", "end of", "truncated")
        )
        code = reasons.ARCHIVE_TRUNCATED if truncated else reasons.ARCHIVE_MALFORMED
        raise BundleRejectedError(f"archive unreadable: {text}", reason_code=code) from None
    missing = sorted(set(expected) - written)
    if missing:
        raise BundleRejectedError(
            f"{len(missing)} listed file(s) missing, first {missing[0]!r}",
            reason_code=reasons.MISSING_MEMBER,
        )


def _check_member(
    member: tarfile.TarInfo, expected: Mapping[str, object], written: set[str]
) -> None:
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.issparse():
        raise BundleRejectedError(
            f"member {member.name!r} is not a regular file",
            reason_code=reasons.MEMBER_TYPE_FORBIDDEN,
        )
    if member.name not in expected:
        raise BundleRejectedError(
            f"member {member.name!r} is not listed in the manifest",
            reason_code=reasons.UNLISTED_MEMBER,
        )
    if member.name in written:
        raise BundleRejectedError(
            f"member {member.name!r} appears twice", reason_code=reasons.DUPLICATE_MEMBER
        )
    size = getattr(expected[member.name], "size")  # noqa: B009
    if member.size != size:
        raise BundleRejectedError(
            f"member {member.name!r} is {member.size} bytes, manifest says {size}",
            reason_code=reasons.FILE_DIGEST_MISMATCH,
        )


def _write_member(source: _Readable, dest: Path, name: str, sha384: str) -> None:
    parts = name.split("/")
    dir_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=dir_fd)
            sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = sub
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(parts[-1], flags, 0o644, dir_fd=dir_fd)
        digest = hashlib.sha384()
        try:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    if digest.hexdigest() != sha384:
        raise BundleRejectedError(
            f"file {name!r} does not match its SHA-384", reason_code=reasons.FILE_DIGEST_MISMATCH
        )
