r"""Crash-safe file writes: a reader sees the old content or the new, never half of it.

Datasets, training outputs and decision logs are all written the same way: bytes go to a
temporary sibling, are fsynced, and the sibling is renamed into place. One module does it so
every package gets the same guarantee.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> write_file_atomic(root / "log.jsonl", b"{}\n")
    >>> write_tree_atomic(root / "out", {"a.txt": b"1", "sub/b.txt": b"2"})
    >>> sorted(p.relative_to(root / "out").as_posix() for p in (root / "out").rglob("*.txt"))
    ['a.txt', 'sub/b.txt']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "write_file_atomic",
    "write_files_synced",
    "write_tree_atomic",
]


def write_files_synced(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative name → bytes) under ``directory``, fsyncing each one.

    Not atomic by itself; :func:`write_tree_atomic` uses it on a staging directory.
    """
    for name, data in sorted(files.items()):
        path = Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def write_file_atomic(path: Path | str, data: bytes) -> None:
    """Write one file atomically: temporary sibling, fsync, mode 0644, rename over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


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
