"""Crash-safe writes: whole files and whole directories appear complete or not at all."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from quant_core.files import fsync_dir, write_file_atomic, write_files_synced, write_tree_atomic


def test_write_file_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "log.jsonl"
    write_file_atomic(target, b"old")
    write_file_atomic(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["log.jsonl"]


def test_write_files_synced_creates_subdirectories(tmp_path: Path) -> None:
    write_files_synced(tmp_path, {"a/b/c.bin": b"\x00\x01", "top.txt": b"t"})
    assert (tmp_path / "a/b/c.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "top.txt").read_bytes() == b"t"


def test_tree_into_missing_or_empty_directory(tmp_path: Path) -> None:
    write_tree_atomic(tmp_path / "new", {"x": b"1"})
    (tmp_path / "empty").mkdir()
    write_tree_atomic(tmp_path / "empty", {"y": b"2"})
    assert (tmp_path / "new/x").read_bytes() == b"1"
    assert (tmp_path / "empty/y").read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "new"]


def test_tree_refuses_a_non_empty_directory_without_replace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree_atomic(out, {"keep": b"k"})
    with pytest.raises(OSError):  # noqa: PT011 - the OS decides between ENOTEMPTY and EEXIST
        write_tree_atomic(out, {"other": b"o"})
    assert sorted(p.name for p in out.iterdir()) == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_tree_replace_swaps_the_whole_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree_atomic(out, {"old": b"1"})
    write_tree_atomic(out, {"new": b"2"}, replace=True)
    assert sorted(p.name for p in out.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_file_atomic_mode_is_exact_and_ignores_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_file_atomic(tmp_path / "public.pub", b"p")
    finally:
        os.umask(old)
    write_file_atomic(tmp_path / "secret.key", b"s", mode=0o600)
    assert stat.S_IMODE((tmp_path / "public.pub").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_a_secret_file_is_never_readable_by_others_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = os.write

    def write(fd: int, data: Any) -> int:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    write_file_atomic(tmp_path / "secret.key", b"s" * 10, mode=0o600)
    assert seen == [0o600]


def test_short_writes_are_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.write
    sizes: list[int] = []

    def one_byte(fd: int, data: Any) -> int:
        sizes.append(len(data))
        return real(fd, bytes(data[:1]))

    monkeypatch.setattr(os, "write", one_byte)
    write_file_atomic(tmp_path / "a", b"abc")
    write_files_synced(tmp_path, {"b": b"xy"})
    assert sizes == [3, 2, 1, 2, 1]
    assert (tmp_path / "a").read_bytes() == b"abc"
    assert (tmp_path / "b").read_bytes() == b"xy"


def test_exclusive_never_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "k" / "signing.key"
    write_file_atomic(target, b"first", mode=0o600, exclusive=True)
    with pytest.raises(FileExistsError):
        write_file_atomic(target, b"second", mode=0o600, exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["signing.key"]
    # A dangling symlink in the way is not followed either.
    (tmp_path / "k" / "link.key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        write_file_atomic(tmp_path / "k" / "link.key", b"x", exclusive=True)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("call", ["write", "fsync", "replace"])
def test_a_failed_atomic_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    target = tmp_path / "state.json"
    write_file_atomic(target, b"old")

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, call, fail)
    with pytest.raises(OSError) as info:  # noqa: PT011 - the errno is checked below
        write_file_atomic(target, b"new")
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_write_files_synced_fsyncs_every_file_and_refuses_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync
    synced: list[str] = []

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_files_synced(tmp_path, {"z": b"1", "a/b": b"2"})
    fsync_dir(tmp_path)
    monkeypatch.undo()
    assert synced == [str(tmp_path / "a" / "b"), str(tmp_path / "z"), str(tmp_path)]
    (tmp_path / "victim").write_bytes(b"keep")
    (tmp_path / "link").symlink_to(tmp_path / "victim")
    with pytest.raises(OSError) as info:  # noqa: PT011 - the errno is checked below
        write_files_synced(tmp_path, {"link": b"overwrite"})
    assert info.value.errno == errno.ELOOP
    assert (tmp_path / "victim").read_bytes() == b"keep"


def test_fsync_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "f")
