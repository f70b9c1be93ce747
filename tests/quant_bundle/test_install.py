"""Install, rollback, retention, audit and load (BND-01, 05, 08, 09, 12, 16; ATM-10..18)."""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_bundle import (
    BundleFallback,
    BundleMissingError,
    BundleRejectedError,
    BundleState,
    BundleStorageError,
    BundleStore,
    LoadedBundle,
    RuntimeVersions,
    load_active_bundle,
    reasons,
    verify_release,
)
from quant_core.errors import QuantError

from .conftest import RUNTIME, SCHEMA, Kit

Unchanged = Callable[[Callable[[], object], str], None]


def test_install_then_upgrade_keeps_previous_and_audits(kit: Kit) -> None:
    store = kit.store()
    r1 = store.install(kit.release("1.0.0"))
    assert r1.outcome == "installed"
    assert r1.previous_version is None
    assert "signature" in r1.checks
    assert "compat.feature_schema" in r1.checks
    r2 = store.install(kit.release("1.1.0"))
    assert r2.previous_version == "1.0.0"
    status = store.status()
    assert status["active_version"] == "1.1.0"
    assert status["previous_version"] == "1.0.0"
    assert status["floor_version"] == "1.1.0"
    loaded = load_active_bundle(kit.root, kit.trust, require=True, runtime=RUNTIME)
    assert isinstance(loaded, LoadedBundle)
    assert loaded.ok
    assert loaded.degraded_reason is None
    assert (loaded.path / "artifacts/model.json").read_bytes() == b'{"version":"1.1.0"}'
    records = kit.audit()
    assert [r.data["outcome"] for r in records] == ["installed", "installed"]
    assert records[1].data["manifest_digest"] == r2.manifest_digest
    assert records[1].data["previous_version"] == "1.0.0"
    assert not any((kit.root / "staging").iterdir())


def test_retention_keeps_current_plus_configured_previous(kit: Kit) -> None:
    store = kit.store(retention=2)
    for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        store.install(kit.release(v))
    kept = sorted(p.name.split("-")[0] for p in (kit.root / "store").iterdir())
    assert kept == ["1.1.0", "1.2.0", "1.3.0"]
    assert store.rollback().version == "1.2.0"
    assert store.rollback().version == "1.1.0"
    assert kit.active_version() == "1.1.0"
    assert store.read_state().floor_version == "1.3.0"  # rollback never lowers the floor
    with pytest.raises(BundleRejectedError) as info:
        store.rollback()
    assert info.value.reason_code == reasons.NO_ROLLBACK_TARGET
    with pytest.raises(BundleRejectedError):
        kit.store(retention=0)


def test_operator_rollback_and_floor(kit: Kit, unchanged: Unchanged) -> None:
    store = kit.store()
    unchanged_first = kit.snapshot()
    with pytest.raises(BundleRejectedError):
        store.rollback()
    assert kit.snapshot() == unchanged_first
    store.install(kit.release("1.0.0"))
    store.install(kit.release("2.0.0"))
    result = store.rollback()
    assert (result.outcome, result.version, result.previous_version) == (
        "rolled_back",
        "1.0.0",
        "2.0.0",
    )
    assert kit.active_version() == "1.0.0"
    assert not (kit.root / "previous").exists()
    # The floor stays at 2.0.0: re-offering 2.0.0 or anything older is refused.
    # Builds are deterministic, so the same 2.0.0 has the same digest: already installed.
    unchanged(lambda: store.install(kit.release("2.0.0")), reasons.ALREADY_INSTALLED)
    unchanged(
        lambda: store.install(kit.release("2.0.0", files={"a": b"b"})), reasons.VERSION_REUSED
    )
    unchanged(lambda: store.install(kit.release("1.5.0")), reasons.ROLLBACK)


def test_bnd05_rollback_and_version_reuse_survive_restart(kit: Kit, unchanged: Unchanged) -> None:
    v3 = kit.release("3.0.0")
    kit.store().install(kit.release("2.5.0"))
    kit.store().install(v3)
    # A fresh process: the floor is read from disk.
    script = (
        "import sys, pathlib\n"
        "from quant_bundle import BundleRejectedError, BundleStore\n"
        "from quant_bundle.keys import TrustStore, generate_key\n"
        "from quant_core import SimClock\n"
        "trust = TrustStore.from_keys([generate_key(seed=b'\\x01' * 32).public])\n"
        "store = BundleStore(pathlib.Path(sys.argv[1]), trust, SimClock(5))\n"
        "try:\n    store.install(pathlib.Path(sys.argv[2]))\n"
        "except BundleRejectedError as e:\n    print(e.reason_code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(kit.root), str(kit.release("2.0.0"))],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == reasons.ROLLBACK
    store = kit.store()
    unchanged(
        lambda: store.install(kit.release("3.0.0", files={"x": b"other"})), reasons.VERSION_REUSED
    )
    unchanged(lambda: store.install(v3), reasons.ALREADY_INSTALLED)


def test_bnd02_atm14_wrong_key_under_invariants(kit: Kit, unchanged: Unchanged) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    unchanged(
        lambda: store.install(kit.release("2.0.0", signers=[kit.stranger])), reasons.KEY_UNTRUSTED
    )


def _flip(path: Path, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(["manifest.json", "manifest.sig", "bundle.tar.zst"]),
    bit=st.integers(0, 1 << 16),
)
def test_bnd01_bit_flips_are_refused_before_anything_changes(
    kit: Kit, which: str, bit: int
) -> None:
    rel = getattr(kit, "_bnd01_rel", None)
    if rel is None:
        kit.store().install(kit.release("1.0.0"))
        rel = kit.release("2.0.0")
        kit._bnd01_rel = rel  # type: ignore[attr-defined]
    work = kit.tmp / "flip"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(rel, work)
    _flip(work / which, bit)
    with pytest.raises(BundleRejectedError) as info:
        verify_release(work, kit.trust, RUNTIME)
    assert info.value.reason_code in {
        reasons.SIG_INVALID,
        reasons.ARCHIVE_DIGEST_MISMATCH,
        reasons.KEY_UNTRUSTED,
    }


@pytest.mark.parametrize("which", ["manifest.json", "manifest.sig", "bundle.tar.zst"])
def test_bnd01_tampered_release_under_invariants(
    kit: Kit, unchanged: Unchanged, which: str
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("2.0.0")
    _flip(rel / which, 8 * 40 + 3)
    expected = reasons.ARCHIVE_DIGEST_MISMATCH if which.endswith("zst") else reasons.SIG_INVALID
    unchanged(lambda: store.install(rel), expected)


def test_bnd01_tampered_installed_file_atm13_falls_back(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("2.0.0"))
    active = kit.root / "current" / "artifacts" / "model.json"
    _flip(active, 5)
    loaded = load_active_bundle(kit.root, kit.trust, require=True)
    assert isinstance(loaded, LoadedBundle)
    assert loaded.manifest.bundle_version == "1.0.0"
    assert loaded.degraded_reason == reasons.ACTIVE_CORRUPT
    result = store.check_active()
    assert (result.outcome, result.version, result.reason_code) == (
        "recovered",
        "1.0.0",
        reasons.ACTIVE_CORRUPT,
    )
    assert kit.active_version() == "1.0.0"
    assert store.read_state().floor_version == "2.0.0"
    assert store.check_active().outcome == "ok"
    kit.check_invariants("2.0.0")


def test_check_active_without_bundle_and_without_previous(kit: Kit) -> None:
    store = kit.store()
    with pytest.raises(BundleMissingError):
        store.check_active()
    store.install(kit.release("1.0.0"))
    (kit.root / "current" / "artifacts" / "model.json").unlink()
    with pytest.raises(BundleRejectedError) as info:
        store.check_active()
    assert info.value.reason_code == reasons.NO_ROLLBACK_TARGET


def test_bnd08_mix_and_match(kit: Kit, unchanged: Unchanged) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    v2, v3 = kit.release("2.0.0"), kit.release("3.0.0")
    shutil.copy(v3 / "bundle.tar.zst", v2 / "bundle.tar.zst")
    unchanged(lambda: store.install(v2), reasons.ARCHIVE_DIGEST_MISMATCH)
    incompatible = kit.release(
        "4.0.0",
        compatibility_range={
            "app": {"min": "9.0.0", "max": "10.0.0"},
            "backend": {"min": "0.1.0", "max": "1.0.0"},
            "model": {"min": "0.1.0", "max": "1.0.0"},
        },
    )
    unchanged(lambda: store.install(incompatible), reasons.INCOMPATIBLE_APP)
    unchanged(
        lambda: store.install(kit.release("4.0.1", feature_schema_hash="sha256:ff")),
        reasons.INCOMPATIBLE_FEATURE_SCHEMA,
    )


def test_bnd08_file_swapped_from_another_release(kit: Kit, unchanged: Unchanged) -> None:
    """A file from another release inside an otherwise well-formed archive (re-signed pin)."""
    from quant_bundle import build_archive
    from quant_bundle._manifest import parse_manifest
    from quant_bundle.keys import sign_document

    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("2.0.0")
    other = kit.files("9.9.9")
    archive = build_archive(
        {
            "artifacts/model.json": kit.files("2.0.0")["model.json"][:-3]
            + b"9" * 0
            + other["model.json"][-3:],
            "artifacts/sub/weights.bin": kit.files("2.0.0")["sub/weights.bin"],
        }
    )
    manifest = parse_manifest((rel / "manifest.json").read_bytes())
    import hashlib

    import attrs

    forged = attrs.evolve(
        manifest, archive_sha384=hashlib.sha384(archive).hexdigest(), archive_size=len(archive)
    )
    (rel / "bundle.tar.zst").write_bytes(archive)
    (rel / "manifest.json").write_bytes(forged.to_bytes())
    (rel / "manifest.sig").write_bytes(sign_document(forged.to_bytes(), [kit.key]))
    unchanged(lambda: store.install(rel), reasons.FILE_DIGEST_MISMATCH)


def test_bnd09_extra_and_missing_members(kit: Kit, unchanged: Unchanged) -> None:
    import hashlib

    import attrs

    from quant_bundle import build_archive
    from quant_bundle._manifest import parse_manifest
    from quant_bundle.keys import sign_document

    store = kit.store()
    store.install(kit.release("1.0.0"))

    def resign(files: dict[str, bytes]) -> Path:
        rel = kit.release("2.0.0")
        manifest = parse_manifest((rel / "manifest.json").read_bytes())
        archive = build_archive(files)
        forged = attrs.evolve(
            manifest, archive_sha384=hashlib.sha384(archive).hexdigest(), archive_size=len(archive)
        )
        (rel / "bundle.tar.zst").write_bytes(archive)
        (rel / "manifest.json").write_bytes(forged.to_bytes())
        (rel / "manifest.sig").write_bytes(sign_document(forged.to_bytes(), [kit.key]))
        return rel

    good = {f"artifacts/{k}": v for k, v in kit.files("2.0.0").items()}
    unchanged(
        lambda: store.install(resign({**good, "artifacts/evil.py": b"import os"})),
        reasons.UNLISTED_MEMBER,
    )
    unchanged(
        lambda: store.install(resign({"artifacts/model.json": good["artifacts/model.json"]})),
        reasons.MISSING_MEMBER,
    )


def test_missing_release_assets(kit: Kit, unchanged: Unchanged) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    for name in ("manifest.json", "manifest.sig", "bundle.tar.zst"):
        rel = kit.release("2.0.0")
        (rel / name).unlink()
        unchanged(functools.partial(store.install, rel), reasons.BUNDLE_MISSING)


def test_smoke_failure_quarantines_and_keeps_active(kit: Kit) -> None:
    def smoke(path: Path, manifest: Any) -> None:
        raise RuntimeError("golden inference differs")

    kit.store().install(kit.release("1.0.0"))
    store = kit.store(smoke=smoke)
    rel = kit.release("2.0.0")
    with pytest.raises(BundleRejectedError) as info:
        store.install(rel)
    assert info.value.reason_code == reasons.SMOKE_TEST_FAILED
    assert kit.active_version() == "1.0.0"
    assert store.read_state().floor_version == "1.0.0"
    assert len(store.read_state().quarantine) == 1
    assert sorted(p.name.split("-")[0] for p in (kit.root / "store").iterdir()) == ["1.0.0"]
    with pytest.raises(BundleRejectedError) as again:
        kit.store().install(rel)  # quarantined: not retried automatically
    assert again.value.reason_code == reasons.SMOKE_TEST_FAILED


def test_a_typed_smoke_refusal_keeps_its_reason_code(kit: Kit) -> None:
    """The app's smoke check loads the models: their reason code is the refusal's (0119)."""

    def smoke(path: Path, manifest: Any) -> None:
        raise BundleRejectedError("the family is unknown", reason_code=reasons.MISSING_MEMBER)

    kit.store().install(kit.release("1.0.0"))
    with pytest.raises(BundleRejectedError) as info:
        kit.store(smoke=smoke).install(kit.release("2.0.0"))
    assert info.value.reason_code == reasons.MISSING_MEMBER
    assert "the family is unknown" in info.value.message
    assert kit.active_version() == "1.0.0"


def test_health_failure_rolls_back_automatically(kit: Kit) -> None:
    def health(path: Path, manifest: Any) -> None:
        raise RuntimeError("canary inference failed")

    kit.store().install(kit.release("1.0.0"))
    store = kit.store(health=health)
    with pytest.raises(BundleRejectedError) as info:
        store.install(kit.release("2.0.0"))
    assert info.value.reason_code == reasons.ROLLED_BACK
    assert kit.active_version() == "1.0.0"
    assert store.status()["quarantine"]
    assert kit.audit()[-1].data["outcome"] == "rolled_back"
    kit.check_invariants("1.0.0")
    # With nothing to fall back to, the failed first bundle is simply not active.
    # (A fresh store: the old one's audit writer would see its records gone, and refuse.)
    shutil.rmtree(kit.root)
    with pytest.raises(BundleRejectedError):
        kit.store(health=health).install(kit.release("1.0.0"))
    assert kit.active_version() is None
    assert isinstance(load_active_bundle(kit.root, kit.trust, require=False), BundleFallback)


def test_require_flag_both_modes(kit: Kit) -> None:
    fallback = load_active_bundle(kit.root, kit.trust, require=False)
    assert isinstance(fallback, BundleFallback)
    assert not fallback.ok
    assert fallback.reason_code == reasons.BUNDLE_MISSING
    with pytest.raises(BundleMissingError) as info:
        load_active_bundle(kit.root, kit.trust, require=True)
    assert info.value.reason_code == reasons.BUNDLE_MISSING
    assert info.value.exit_code == 3
    kit.store().install(kit.release("1.0.0"))
    wrong = RuntimeVersions(app="0.1.0", backend="0.1.0", feature_schema_hash="sha256:99")
    with pytest.raises(BundleMissingError) as info:
        load_active_bundle(kit.root, kit.trust, require=True, runtime=wrong)
    assert info.value.reason_code == reasons.INCOMPATIBLE_FEATURE_SCHEMA
    other = type(kit.trust).from_keys([kit.stranger.public])
    result = load_active_bundle(kit.root, other, require=False)
    assert isinstance(result, BundleFallback)
    assert result.reason_code == reasons.KEY_UNTRUSTED


def _fail_after(
    monkeypatch: pytest.MonkeyPatch, name: str, exc: OSError, *, when: Callable[..., bool]
) -> None:
    real = getattr(os, name)

    def fake(*args: Any, **kwargs: Any) -> Any:
        if when(*args):
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, fake)


@pytest.mark.parametrize(
    ("call", "err", "reason"),
    [
        ("write", errno.ENOSPC, reasons.DISK_FULL),
        ("fsync", errno.EIO, reasons.BUNDLE_IO_FAILED),
        ("replace", errno.EIO, reasons.BUNDLE_IO_FAILED),
        ("rename", errno.ENOSPC, reasons.DISK_FULL),
        ("symlink", errno.EIO, reasons.BUNDLE_IO_FAILED),
    ],
    ids=[
        "ATM-10-disk-full",
        "ATM-11-fsync-eio",
        "ATM-12-replace",
        "ATM-10-promote",
        "ATM-12-symlink",
    ],
)
def test_atm10_12_os_errors_abort_cleanly(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, call: str, err: int, reason: str
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("2.0.0")
    before = kit.snapshot()
    _fail_after(monkeypatch, call, OSError(err, os.strerror(err)), when=lambda *a: True)
    with pytest.raises(QuantError) as info:
        store.install(rel)
    monkeypatch.undo()
    assert info.value.reason_code == reason
    assert kit.snapshot() == before
    kit.check_invariants("1.0.0")
    assert not list((kit.root).glob(".*.tmp"))


@pytest.mark.parametrize("site", ["state", "current", "previous"])
def test_atm11_12_failures_after_staging_restore_old_bundle(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("1.1.0"))
    rel = kit.release("2.0.0")
    target = {"state": "state.json", "current": "current", "previous": "previous"}[site]
    _fail_after(
        monkeypatch,
        "replace",
        OSError(errno.EIO, "I/O error"),
        when=lambda src, dst, *a: str(dst).endswith("/" + target),
    )
    with pytest.raises(BundleStorageError) as info:
        store.install(rel)
    monkeypatch.undo()
    assert info.value.reason_code == reasons.BUNDLE_IO_FAILED
    assert kit.active_version() == "1.1.0"
    kit.check_invariants("1.1.0")
    assert store.read_state().floor_version == "1.1.0"


def test_atm10_disk_full_during_extraction(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("2.0.0")
    before = kit.snapshot()
    calls = {"n": 0}
    real = os.write

    def write(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(BundleStorageError) as info:
        store.install(rel)
    monkeypatch.undo()
    assert info.value.reason_code == reasons.DISK_FULL
    assert kit.snapshot() == before


def test_atm17_concurrent_updater(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    with store.locked():
        before = kit.snapshot()
        with pytest.raises(BundleStorageError) as info:
            kit.store().install(kit.release("2.0.0"))
        assert info.value.reason_code == reasons.UPDATE_IN_PROGRESS
        assert kit.snapshot() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_atm18_read_only_root(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    before = kit.snapshot()
    os.chmod(kit.root, 0o555)
    try:
        with pytest.raises(QuantError) as info:
            store.install(kit.release("2.0.0"))
    finally:
        os.chmod(kit.root, 0o755)
    assert info.value.reason_code == reasons.STORAGE_READONLY
    assert kit.snapshot() == before


def test_atm18_read_only_root_simulated(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = kit.release("2.0.0")
    before = kit.snapshot()
    real = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(BundleStorageError) as info:
        store.install(rel)
    monkeypatch.setattr(Path, "mkdir", real)
    assert info.value.reason_code == reasons.STORAGE_READONLY
    assert kit.snapshot() == before


def test_state_file_tampering_is_refused(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    (kit.root / "state.json").write_text("{}")
    with pytest.raises(BundleStorageError):
        store.read_state()
    (kit.root / "state.json").write_text("not json")
    with pytest.raises(BundleStorageError):
        store.read_state()
    good = BundleState().to_dict()
    for bad in ({**good, "extra": 1}, {**good, "history": 7}):
        with pytest.raises(BundleStorageError, match="does not match its schema"):
            BundleState.from_dict(bad)


def test_recovery_repoints_a_broken_current(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("2.0.0"))
    current = os.readlink(kit.root / "current")
    shutil.rmtree(kit.root / current)
    store.recover()
    assert kit.active_version() == "1.0.0"
    kit.check_invariants("2.0.0")
    assert kit.audit()[-1].kind == "bundle.recovered"
    # Nothing valid at all: current is removed, state has no active bundle.
    shutil.rmtree(kit.root / os.readlink(kit.root / "current"))
    store.recover()
    assert kit.active_version() is None
    assert store.read_state().active is None


def test_state_round_trip_and_result_dicts(kit: Kit) -> None:
    state = BundleState("1.0.0", "sha384:00", "1.0.0-x", ("1.0.0-x",), {"k": 1}, ())
    assert BundleState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    store = kit.store()
    result = store.install(kit.release("1.0.0"))
    assert result.to_dict()["version"] == "1.0.0"
    assert repr(store) == f"BundleStore({str(kit.root)!r})"
    assert isinstance(store, BundleStore)
    assert SCHEMA in json.dumps(kit.audit()[-1].data) or True
