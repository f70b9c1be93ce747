"""Crash-safe writes: whole files and whole directories appear complete or not at all."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from quant_core.files import write_file_atomic, write_files_synced, write_tree_atomic


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
