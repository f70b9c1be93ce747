r"""Crash-safe file writes: a reader sees the old content or the new, never half of it.

Datasets, training outputs, decision logs, bundle releases, bundle stores and signing keys are
all written the same way: bytes go to a temporary sibling, are fsynced, and the sibling is
renamed into place (or, with ``exclusive=True``, hard-linked so an existing file is never
replaced). One module does it so every package gets the same guarantee. Every byte goes
through ``os.write`` and every flush through ``os.fsync``, never symlinks are followed on the
final component, and :func:`fsync_dir` makes a rename or a new directory entry durable.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> write_file_atomic(root / "log.jsonl", b"{}\n")
    >>> write_file_atomic(root / "signing.key", b"secret", mode=0o600, exclusive=True)
    >>> oct((root / "signing.key").stat().st_mode & 0o777)
    '0o600'
    >>> write_tree_atomic(root / "out", {"a.txt": b"1", "sub/b.txt": b"2"})
    >>> sorted(p.relative_to(root / "out").as_posix() for p in (root / "out").rglob("*.txt"))
    ['a.txt', 'sub/b.txt']
    >>> fsync_dir(root)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = [
    "fsync_dir",
    "set_aside_tail",
    "write_file_atomic",
    "write_files_synced",
    "write_tree_atomic",
]

_CREATE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (short writes resumed), then fsync it."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def fsync_dir(path: Path | str) -> None:
    """Fsync the directory ``path`` so renames, links and new entries in it are durable.

    Examples:
        >>> import tempfile
        >>> fsync_dir(tempfile.mkdtemp())
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside_tail(path: Path | str, offset: int) -> Path:
    r"""Keep the bytes of ``path`` after ``offset`` in a sidecar, then cut them off ``path``.

    A line torn by a crash mid-append is evidence, not garbage: the bytes from ``offset`` on
    are written (and fsynced, with the directory) to ``<name>.torn-<offset>`` next to the
    file (``-2``, ``-3``, … when that name is taken: earlier evidence is never overwritten)
    before the file is truncated to ``offset`` and fsynced.

    Returns:
        The sidecar's path.

    Raises:
        OSError: the sidecar cannot be written or the file cannot be cut (the file is then
            left as it was, or with its tail both kept and cut).

    Examples:
        >>> import tempfile
        >>> log = Path(tempfile.mkdtemp()) / "log.jsonl"
        >>> _ = log.write_bytes(b'{"a":1}\n{"b":')
        >>> sidecar = set_aside_tail(log, 8)
        >>> sidecar.name, sidecar.read_bytes(), log.read_bytes()
        ('log.jsonl.torn-8', b'{"b":', b'{"a":1}\n')
    """
    path = Path(path)
    sidecar = path.with_name(f"{path.name}.torn-{offset}")
    n = 1
    while sidecar.exists():  # never overwrite an earlier torn tail's evidence
        n += 1
        sidecar = path.with_name(f"{path.name}.torn-{offset}-{n}")
    with open(path, "rb") as fh:
        fh.seek(offset)
        torn = fh.read()
    with open(sidecar, "xb") as fh:
        fh.write(torn)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)
    with open(path, "r+b") as fh:
        fh.truncate(offset)
        fh.flush()
        os.fsync(fh.fileno())
    return sidecar


def write_files_synced(directory: Path | str, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative name → bytes) under ``directory``, fsyncing each one.

    Each file is created (or truncated) with mode 0644 less the umask; a symlink in place of
    a file is refused (``OSError`` ``ELOOP``), never followed. Not atomic by itself:
    :func:`write_tree_atomic` uses it on a staging directory, and callers that publish the
    files themselves follow it with a rename and :func:`fsync_dir`.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> root = Path(tempfile.mkdtemp())
        >>> write_files_synced(root, {"a/b.txt": b"x"})
        >>> (root / "a" / "b.txt").read_bytes()
        b'x'
    """
    for name, data in sorted(files.items()):
        path = Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, _CREATE_FLAGS, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)


def write_file_atomic(
    path: Path | str, data: bytes, *, mode: int = 0o644, exclusive: bool = False
) -> None:
    """Write one file atomically: temporary sibling, fsync, ``mode``, rename over ``path``.

    The temporary sibling is created with mode 0600 and set to ``mode`` before any byte is
    written, so a 0600 secret is never readable by others, not even for a moment. On any
    failure the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the file to write; missing parent directories are created.
        data: the complete new content.
        mode: the file's permission bits (not subject to the umask).
        exclusive: never replace an existing ``path``: the file is published with a hard
            link, which fails with ``FileExistsError`` when ``path`` exists.

    Raises:
        FileExistsError: ``exclusive`` and ``path`` exists (nothing was written).
        OSError: the file cannot be written (nothing was published).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> target = Path(tempfile.mkdtemp()) / "a.key"
        >>> write_file_atomic(target, b"1", exclusive=True)
        >>> try:
        ...     write_file_atomic(target, b"2", exclusive=True)
        ... except FileExistsError:
        ...     print("kept", target.read_bytes())
        kept b'1'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        try:
            os.fchmod(fd, mode)
            _write_all(fd, data)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    if exclusive:
        os.unlink(tmp)


def write_tree_atomic(
    directory: Path, files: Mapping[str, bytes], *, replace: bool = False
) -> None:
    """Write a whole directory of files so it appears complete or not at all.

    The files go into a sibling staging directory (fsynced) that is renamed to ``directory``.
    An existing ``directory`` is moved aside and removed when ``replace`` is true; otherwise it
    must be empty (it is removed first) and a non-empty one raises ``OSError`` with nothing
    written.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        write_files_synced(staging, files)
        if not directory.exists():
            staging.rename(directory)
        elif replace:
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
            staging.rename(directory)
            shutil.rmtree(old)
        else:
            directory.rmdir()
            staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
