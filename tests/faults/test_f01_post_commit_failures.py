"""Finding 1: a failure after the commit point is no failure of the install.

Once ``current`` and ``state.json`` name the new bundle, a failing directory fsync, retention
rewrite of ``state.json`` or final audit append (EIO/ENOSPC injected at the ``os`` layer) must
yield outcome ``installed`` with reason ``POST_COMMIT_FAILED`` and a warning naming what failed;
the one audit record of the attempt says so, and the CLI exits 0.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.quant_bundle.conftest import Kit
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_bundle import BundleStorageError, BundleStore, InstallOutcome, reasons
from quant_bundle.keys import write_keypair
from quant_core import audit as audit_module


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


def _fail_dir_fsync_after_state_replaced(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """EIO on every fsync of the root directory once ``state.json`` was replaced."""
    real_replace, real_fsync = os.replace, os.fsync
    replaced: list[str] = []

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        real_replace(src, dst, **kw)
        if Path(dst).name == "state.json":
            replaced.append(str(dst))

    def fsync(fd: int) -> None:
        if replaced and Path(os.readlink(f"/proc/self/fd/{fd}")) == root.resolve():
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)


def _assert_installed_with_warning(kit: Kit, result: Any, version: str, failed: str) -> None:
    assert result.outcome == InstallOutcome.INSTALLED
    assert result.version == version
    assert result.reason_code == reasons.POST_COMMIT_FAILED
    assert result.warning is not None
    assert failed in result.warning
    assert kit.active_version() == version
    assert kit.store().read_state().active == kit.store().link("current")
    last = kit.audit()[-1]
    assert last.kind == "bundle.install"
    assert last.data["outcome"] == "installed"
    assert last.data["reason_code"] == reasons.POST_COMMIT_FAILED
    assert last.data["failed_reason"] == failed


def test_directory_fsync_failing_after_the_commit_point_is_installed_with_a_warning(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    release = kit.release("1.1.0")
    records = len(kit.audit())
    _fail_dir_fsync_after_state_replaced(monkeypatch, kit.root)
    result = store.install(release)
    monkeypatch.undo()
    _assert_installed_with_warning(kit, result, "1.1.0", reasons.BUNDLE_IO_FAILED)
    assert len(kit.audit()) == records + 1
    assert result.to_dict()["warning"] == result.warning
    kit.check_invariants("1.1.0")


def test_retention_rewrite_of_the_state_failing_is_installed_with_a_warning(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("1.1.0"))
    release = kit.release("1.2.0")
    records = len(kit.audit())
    real_replace = os.replace
    seen: list[str] = []

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        if Path(dst).name == "state.json":
            seen.append(str(dst))
            if len(seen) == 2:  # the retention rewrite
                raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", replace)
    result = store.install(release)
    monkeypatch.undo()
    assert len(seen) == 2
    _assert_installed_with_warning(kit, result, "1.2.0", reasons.DISK_FULL)
    assert len(kit.audit()) == records + 1


def test_final_audit_append_failing_is_installed_and_audited_on_the_retry(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    release = kit.release("1.1.0")
    records = len(kit.audit())
    real_open = builtins.open
    failures: list[str] = []

    def once(path: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if Path(path).name == "audit.jsonl" and "a" in mode and not failures:
            failures.append(str(path))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kw)

    monkeypatch.setattr(audit_module, "open", once, raising=False)
    result = store.install(release)
    monkeypatch.undo()
    assert failures
    _assert_installed_with_warning(kit, result, "1.1.0", "IO_FAILURE")
    assert len(kit.audit()) == records + 1


def test_the_cli_exits_0_and_prints_the_warning(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    write_keypair(kit.key, keys, "release", private=False)
    kit.store().install(kit.release("1.0.0"))
    release = kit.release("1.1.0")
    _fail_dir_fsync_after_state_replaced(monkeypatch, kit.root)
    out = CliRunner().invoke(
        app,
        [
            "bundle",
            "install",
            str(release),
            "--root",
            str(kit.root),
            "--trusted-keys",
            str(keys),
            "--feature-schema-hash",
            "sha256:" + "ab" * 32,
            "--json",
        ],
    )
    monkeypatch.undo()
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["outcome"] == "installed"
    assert doc["reason_code"] == reasons.POST_COMMIT_FAILED
    assert "BUNDLE_IO_FAILED" in doc["warning"]


def test_an_unreadable_state_after_the_failure_is_not_taken_for_a_commit(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    release = kit.release("1.1.0")
    _fail_dir_fsync_after_state_replaced(monkeypatch, kit.root)
    real_read = BundleStore.read_state

    def read_state(self: BundleStore) -> Any:
        state = real_read(self)
        if state.active is not None and state.active.startswith("1.1.0"):
            raise BundleStorageError("state.json is unreadable")  # once it names the new one
        return state

    monkeypatch.setattr(BundleStore, "read_state", read_state)
    with pytest.raises(BundleStorageError):
        store.install(release)
    monkeypatch.undo()
    assert kit.audit()[-1].data["outcome"] == "rejected"


def test_a_failed_rollback_after_a_failed_health_check_is_a_failure_and_recovers(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.store().install(kit.release("1.0.0"))

    def health(path: Path, manifest: Any) -> None:
        raise RuntimeError("unhealthy")

    store = kit.store(health=health)
    release = kit.release("1.1.0")
    real_replace = os.replace
    seen: list[str] = []

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        if Path(dst).name == "state.json":
            seen.append(str(dst))
            if len(seen) == 2:  # the rollback's state write
                raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(BundleStorageError):
        store.install(release)
    monkeypatch.undo()
    assert kit.audit()[-1].data["outcome"] == "rejected"
    kit.store().recover()
    assert kit.active_version() == "1.0.0"
    kit.check_invariants()
