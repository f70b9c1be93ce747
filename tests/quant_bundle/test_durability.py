"""Durability of every bundle write, now done by :mod:`quant_core.files`.

The release builder, the key writer and the store write through the one crash-safe writer
module; these tests pin what the store relied on before: which files and directories are
fsynced, the exact file modes, and that a failed write leaves nothing half-written.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from quant_bundle import BundleSpec, BundleStorageError, build_release
from quant_bundle._manifest import ARCHIVE_NAME, MANIFEST_NAME, SIGNATURE_NAME
from quant_bundle.keys import generate_key, load_private_key, write_keypair

from .conftest import SCHEMA, Kit


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[str]:
    """Patch ``os.fsync`` to log the path of every fsynced descriptor, relative to ``root``."""
    real = os.fsync
    seen: list[str] = []

    def fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        seen.append(re.sub(r"^staging/[^/]+", "staging/*", rel) if rel != "." else ".")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_install_fsyncs_every_file_and_every_directory_it_changes(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("2.0.0")
    seen = _record_fsyncs(monkeypatch, kit.root.resolve())
    store.install(rel)
    monkeypatch.undo()
    staged = {
        f"staging/*/{name}" for name in (MANIFEST_NAME, SIGNATURE_NAME, f"{ARCHIVE_NAME}.part")
    }
    sealed = {
        f"staging/*/tree/{name}"
        for name in (
            MANIFEST_NAME,
            SIGNATURE_NAME,
            ".verified",
            "artifacts/model.json",
            "artifacts/sub/weights.bin",
        )
    }
    directories = {"staging/*/tree", "staging/*/tree/artifacts/sub", "store", "."}
    assert staged | sealed | directories | {".state.json.tmp"} <= set(seen)
    # The seal is durable before the tree is promoted, and the store after it.
    assert seen.index("staging/*/tree") > seen.index("staging/*/tree/.verified")
    assert seen.index("store") > seen.index("staging/*/tree")
    assert seen.index(".state.json.tmp") < len(seen) - 1 - seen[::-1].index(".")
    assert kit.active_version() == "2.0.0"


def _rebuild(kit: Kit, out: Path) -> None:
    build_release(
        kit.tmp / "src-1", BundleSpec("1.0.0", feature_schema_hash=SCHEMA), [kit.key], out
    )


def test_release_files_are_synced_0644_whole_and_deterministic(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = kit.release("1.0.0")
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    seen = _record_fsyncs(monkeypatch, out.resolve())
    old = os.umask(0o077)
    try:
        _rebuild(kit, out)
    finally:
        os.umask(old)
    monkeypatch.undo()
    # Each file went to a temporary sibling that was fsynced before the rename.
    names = (ARCHIVE_NAME, MANIFEST_NAME, SIGNATURE_NAME)
    assert [re.sub(r"\.[^.]+$", "", s) for s in seen] == [f".{n}" for n in names]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize(("err", "call"), [(errno.ENOSPC, "write"), (errno.EIO, "replace")])
def test_a_failed_release_write_keeps_the_old_files_and_no_temporary(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, err: int, call: str
) -> None:
    out = kit.release("1.0.0")
    first = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, call, fail)
    with pytest.raises(BundleStorageError) as info:
        _rebuild(kit, out)
    monkeypatch.undo()
    assert os.strerror(err) in info.value.message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


def test_private_key_is_0600_from_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.write
    modes: list[int] = []

    def write(fd: int, data: Any) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    key = generate_key(seed=b"\x05" * 32)
    written = write_keypair(key, tmp_path, "release")
    monkeypatch.undo()
    assert modes == [0o600, 0o644]  # private first, then public
    assert stat.S_IMODE(Path(written["private"]).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(written["public"]).stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release.key", "release.pub"]


def test_a_failed_key_write_leaves_no_partial_key_and_can_be_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key(seed=b"\x06" * 32)

    def write(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(BundleStorageError) as info:
        write_keypair(key, tmp_path, "release")
    monkeypatch.undo()
    assert "No space left on device" in info.value.message
    assert key.seed_hex() not in info.value.message
    assert list(tmp_path.iterdir()) == []
    written = write_keypair(key, tmp_path, "release")
    assert load_private_key(written["private"]).key_id == key.key_id


def test_an_existing_public_key_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "release.pub").write_bytes(b"someone else's key")
    with pytest.raises(BundleStorageError):
        write_keypair(generate_key(seed=b"\x07" * 32), tmp_path, "release", private=False)
    assert (tmp_path / "release.pub").read_bytes() == b"someone else's key"
    assert [p.name for p in tmp_path.iterdir()] == ["release.pub"]
