"""Edge cases of the release builder, verifier and store: every error path has a reason."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from quant_bundle import (
    CHECKPOINTS,
    BundleRejectedError,
    BundleSpec,
    BundleStorageError,
    BundleStore,
    build_release,
    reasons,
    verify_installed,
    verify_release,
)
from quant_bundle._manifest import parse_manifest
from quant_bundle.keys import TrustStore, load_private_key, load_public_key, sign_document
from quant_bundle.update import DirectorySource, apply_update, check_update, write_pointer
from quant_core import canonical_json

from .conftest import SCHEMA, Kit


def _code(fn: Any, *args: Any) -> str:
    with pytest.raises((BundleRejectedError, BundleStorageError)) as info:
        fn(*args)
    return str(info.value.reason_code)


def test_checkpoints_run_in_order(kit: Kit) -> None:
    seen: list[str] = []
    kit.store().install(kit.release("1.0.0"))
    kit.store(checkpoint=seen.append).install(kit.release("2.0.0"))
    order = [name for i, name in enumerate(seen) if i == 0 or seen[i - 1] != name]
    assert order == [
        "fetched",
        "archive_partial",
        "archive_staged",
        "extract_file",
        "sealed",
        "promoted",
        "previous_swapped",
        "current_tmp_linked",
        "current_swapped",
        "state_tmp_written",
        "state_written",
    ]
    assert set(order) <= set(CHECKPOINTS)


def test_build_refusals(kit: Kit, tmp_path: Path) -> None:
    spec = BundleSpec(bundle_version="1.0.0", feature_schema_hash=SCHEMA)
    assert _code(build_release, tmp_path / "none", spec, [kit.key], tmp_path / "o") == (
        reasons.BUNDLE_MISSING
    )
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    assert _code(build_release, empty, spec, [kit.key], tmp_path / "o") == reasons.BUNDLE_MISSING
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "a").write_bytes(b"a")
    os.symlink("/etc/hostname", linked / "b")
    assert _code(build_release, linked, spec, [kit.key], tmp_path / "o") == (
        reasons.MEMBER_TYPE_FORBIDDEN
    )
    (linked / "b").unlink()
    assert _code(build_release, linked, spec, [], tmp_path / "o") == reasons.SIG_INVALID
    (tmp_path / "file").write_bytes(b"")
    assert _code(build_release, linked, spec, [kit.key], tmp_path / "file") == (
        reasons.BUNDLE_IO_FAILED
    )
    with pytest.raises(BundleStorageError):
        write_pointer(
            tmp_path / "nowhere",
            parse_manifest((kit.release("1.0.0") / "manifest.json").read_bytes()),
            [kit.key],
            expires_ns=1,
            pointer_version=1,
        )


def test_verify_release_refusals(kit: Kit, tmp_path: Path) -> None:
    rel = kit.release("1.0.0")
    big = tmp_path / "big"
    shutil.copytree(rel, big)
    (big / "manifest.json").write_bytes(b" " * ((1 << 20) + 1))
    assert _code(verify_release, big, kit.trust) == reasons.LENGTH_EXCEEDED
    dirs = tmp_path / "dirs"
    shutil.copytree(rel, dirs)
    (dirs / "bundle.tar.zst").unlink()
    assert _code(verify_release, dirs, kit.trust) == reasons.BUNDLE_MISSING
    (dirs / "bundle.tar.zst").mkdir()
    assert _code(verify_release, dirs, kit.trust) == reasons.BUNDLE_IO_FAILED
    (dirs / "manifest.json").unlink()
    (dirs / "manifest.json").mkdir()
    assert _code(verify_release, dirs, kit.trust) == reasons.BUNDLE_IO_FAILED


def test_manifest_must_name_a_key_that_signed(kit: Kit) -> None:
    trust = TrustStore.from_keys([kit.key.public, kit.key2.public])
    rel = kit.release("1.0.0")  # the manifest names kit.key
    data = (rel / "manifest.json").read_bytes()
    (rel / "manifest.sig").write_bytes(sign_document(data, [kit.key2]))
    assert _code(verify_release, rel, trust) == reasons.SIG_INVALID


def test_key_file_edge_cases(kit: Kit, tmp_path: Path) -> None:
    assert _code(load_public_key, tmp_path) == reasons.BUNDLE_IO_FAILED
    doc = {"algorithm": "ed25519", "key_id": kit.key2.key_id, "private_key": kit.key.seed_hex()}
    (tmp_path / "x.key").write_bytes(canonical_json(doc))
    assert _code(load_private_key, tmp_path / "x.key") == reasons.KEY_FILE_INVALID


def test_verify_installed_detects_seal_and_file_changes(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    active = kit.root / os.readlink(kit.root / "current")
    assert _code(verify_installed, kit.root / "store" / "nope", kit.trust) == (
        reasons.BUNDLE_MISSING
    )
    (active / "artifacts" / "extra").write_bytes(b"x")
    assert _code(verify_installed, active, kit.trust) == reasons.ACTIVE_CORRUPT
    (active / "artifacts" / "extra").unlink()
    seal = (active / ".verified").read_text()
    (active / ".verified").write_text("sha384:00")
    assert _code(verify_installed, active, kit.trust) == reasons.ACTIVE_CORRUPT
    (active / ".verified").unlink()
    assert _code(verify_installed, active, kit.trust) == reasons.ACTIVE_CORRUPT
    (active / ".verified").write_text(seal)
    assert verify_installed(active, kit.trust).bundle_version == "1.0.0"


def test_archive_longer_than_pinned_is_refused(kit: Kit, unchanged: Any) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("2.0.0")
    with open(rel / "bundle.tar.zst", "ab") as fh:
        fh.write(b"trailing")
    unchanged(lambda: store.install(rel), reasons.ARCHIVE_DIGEST_MISMATCH)


def test_rollback_refuses_a_corrupt_previous_and_storage_errors(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("2.0.0"))
    previous = kit.root / os.readlink(kit.root / "previous")
    original = (previous / "artifacts" / "model.json").read_bytes()
    (previous / "artifacts" / "model.json").write_bytes(b"tampered")
    assert _code(store.rollback) == reasons.NO_ROLLBACK_TARGET
    assert kit.active_version() == "2.0.0"
    (previous / "artifacts" / "model.json").write_bytes(original)
    real = os.replace

    def replace(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        if str(dst).endswith("state.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    assert _code(store.rollback) == reasons.DISK_FULL
    monkeypatch.undo()
    store.recover()  # the swapped current is adopted: the rollback took effect
    kit.check_invariants("2.0.0")
    assert kit.active_version() == "1.0.0"


def test_recovery_failure_is_a_storage_error(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    (kit.root / "staging" / "debris").mkdir()

    def rmtree(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    assert _code(store.recover) == reasons.BUNDLE_IO_FAILED


def test_failure_after_commit_is_installed_with_a_warning(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("1.1.0"))

    real_gc = BundleStore.collect_garbage

    def gc(self: BundleStore, state: Any) -> list[str]:
        if state.active is not None and state.active.startswith("2.0.0"):
            raise OSError(errno.EIO, "I/O error")
        return real_gc(self, state)

    monkeypatch.setattr(BundleStore, "collect_garbage", gc)
    result = store.install(kit.release("2.0.0"))
    monkeypatch.undo()
    assert (result.outcome, result.reason_code) == ("installed", reasons.POST_COMMIT_FAILED)
    assert kit.audit()[-1].data["outcome"] == "installed"
    store.recover()
    kit.check_invariants("2.0.0")


def test_update_storage_errors(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("1.1.0")
    write_pointer(
        rel,
        parse_manifest((rel / "manifest.json").read_bytes()),
        [kit.key],
        expires_ns=10,
        pointer_version=1,
    )

    def fetch(self: DirectorySource, name: str, dest: Path, max_bytes: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(DirectorySource, "fetch", fetch)
    with pytest.raises(BundleStorageError) as info:
        check_update(DirectorySource(rel), store, now_ns=0)
    assert info.value.reason_code == reasons.DISK_FULL
    with pytest.raises(BundleStorageError) as info:
        apply_update(DirectorySource(rel), store, now_ns=0)
    assert info.value.reason_code == reasons.DISK_FULL
    monkeypatch.undo()
    assert kit.active_version() == "1.0.0"
