"""The bundle store: staging, verified atomic install, rollback, retention and recovery.

Layout of an install root (one filesystem)::

    .lock                 flock(LOCK_EX | LOCK_NB); a second installer gets UPDATE_IN_PROGRESS
    staging/<attempt>/    scratch; wiped by recovery at every start
    store/<ver>-<id16>/   immutable verified bundles: manifest.json, manifest.sig, .verified,
                          artifacts/…
    current -> store/…    the active bundle; changed only by rename(2) of a temporary link
    previous -> store/…   the last known good bundle
    state.json            version floor, active, history, pointer floors, quarantine
    audit.jsonl           quant_core's hash-chained audit log: one record per attempt

Install steps, each followed by a named checkpoint (see :data:`CHECKPOINTS`): copy manifest
and signature to staging → verify signature, manifest, compatibility and the version floor →
copy the archive, streaming its SHA-384 against the pin → capped allow-list extraction →
seal (``.verified``) → promote (rename into ``store/``) → smoke check → point ``previous`` →
swap ``current`` (the commit point) → write ``state.json`` (raising the floor) → health check,
with automatic rollback on failure → retention cleanup → audit.

Every rejection leaves ``current``, ``previous``, ``state.json`` and ``store/`` as they were
and appends exactly one audit record. A process killed at any step leaves either the old or
the new bundle active; the next start's :meth:`BundleStore.recover` removes the debris.

Examples:
    >>> import tempfile, pathlib
    >>> from quant_bundle.install import BundleStore
    >>> from quant_bundle.keys import TrustStore, generate_key
    >>> from quant_core.clock import SimClock
    >>> key = generate_key(seed=bytes(32))
    >>> store = BundleStore(pathlib.Path(tempfile.mkdtemp()), TrustStore.from_keys([key.public]),
    ...                     SimClock(0))
    >>> store.status()["active"] is None
    True
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from quant_bundle import reasons
from quant_bundle.archive import extract_archive
from quant_bundle.errors import (
    BundleMissingError,
    BundleRejectedError,
    BundleStorageError,
    UpdateInProgressError,
)
from quant_bundle.keys import TrustStore
from quant_bundle.manifest import (
    ARCHIVE_NAME,
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
    RuntimeVersions,
    parse_manifest,
    parse_version,
    strict_json,
)
from quant_bundle.release import file_sha384, read_capped, verify_manifest
from quant_core.audit import AuditLog
from quant_core.canonical import canonical_json
from quant_core.clock import Clock
from quant_core.errors import QuantError
from quant_core.files import fsync_dir, write_files_synced

__all__ = [
    "CHECKPOINTS",
    "BundleFallback",
    "BundleState",
    "BundleStore",
    "InstallResult",
    "LoadedBundle",
    "load_active_bundle",
    "verify_installed",
]

CHECKPOINTS: Final = (
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
    "rollback_swapped",
)
"""Named steps at which the installer calls its ``checkpoint`` hook (fault-injection tests)."""

STATE_SCHEMA: Final = "quant.bundle.state/1"
_VERIFIED: Final = ".verified"
_CHUNK: Final = 1 << 20

Checkpoint = Callable[[str], None]
Check = Callable[[Path, Manifest], None]


@attrs.frozen
class BundleState:
    """The persisted state: version floor, active bundle, known-good history, quarantine."""

    floor_version: str | None = None
    floor_digest: str | None = None
    active: str | None = None
    history: tuple[str, ...] = ()
    pointer_floors: Mapping[str, int] = attrs.field(factory=dict)
    quarantine: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``state.json``."""
        return {
            "schema": STATE_SCHEMA,
            "floor_version": self.floor_version,
            "floor_digest": self.floor_digest,
            "active": self.active,
            "history": list(self.history),
            "pointer_floors": dict(self.pointer_floors),
            "quarantine": list(self.quarantine),
        }

    @classmethod
    def from_dict(cls, doc: Any) -> BundleState:
        """Parse ``state.json``'s object.

        Raises:
            BundleStorageError: the state file does not match its schema.
        """
        keys = {"schema", "floor_version", "floor_digest", "active", "history"}
        keys |= {"pointer_floors", "quarantine"}
        if not (isinstance(doc, dict) and set(doc) == keys and doc["schema"] == STATE_SCHEMA):
            raise BundleStorageError("state.json does not match its schema")
        return cls(
            doc["floor_version"],
            doc["floor_digest"],
            doc["active"],
            tuple(doc["history"]),
            dict(doc["pointer_floors"]),
            tuple(doc["quarantine"]),
        )


@attrs.frozen
class InstallResult:
    """The outcome of an install, rollback or repair that changed (or confirmed) the store."""

    outcome: str
    version: str | None
    manifest_digest: str | None
    previous_version: str | None
    checks: tuple[str, ...] = ()
    reason_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return attrs.asdict(self)


@attrs.frozen
class LoadedBundle:
    """A verified installed bundle ready for loading by the model layer.

    ``degraded_reason`` is set when ``current`` failed verification and ``previous`` was
    loaded instead.
    """

    path: Path
    manifest: Manifest
    degraded_reason: str | None = None

    @property
    def ok(self) -> bool:
        """Always ``True``: a verified bundle was loaded."""
        return True


@attrs.frozen
class BundleFallback:
    """No verified bundle could be loaded and ``require`` was off: run without one."""

    reason_code: str
    message: str

    @property
    def ok(self) -> bool:
        """Always ``False``."""
        return False


def _store_name(manifest: Manifest) -> str:
    return f"{manifest.bundle_version}-{manifest.digest.split(':', 1)[1][:16]}"


def _version_of(name: str) -> str:
    return name.split("-", 1)[0]


def _storage_error(exc: OSError, what: str) -> BundleStorageError:
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        code = reasons.DISK_FULL
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        code = reasons.STORAGE_READONLY
    else:
        code = reasons.BUNDLE_IO_FAILED
    return BundleStorageError(f"{what}: {exc.strerror or exc}", reason_code=code)


def verify_installed(
    directory: Path, trust: TrustStore, runtime: RuntimeVersions | None = None
) -> Manifest:
    """Fully re-verify an installed bundle: signature, seal, and every file's size and hash.

    Raises:
        BundleRejectedError: a signature or compatibility reason, ``BUNDLE_MISSING`` when
            the directory or its manifest is gone, or ``ACTIVE_CORRUPT`` when files differ.
    """
    if not directory.is_dir():
        raise BundleMissingError(f"{directory.name} is not an installed bundle")
    manifest_bytes = read_capped(directory / MANIFEST_NAME, MANIFEST_MAX_BYTES)
    signature_bytes = read_capped(directory / SIGNATURE_NAME, 64 * 1024)
    manifest, _, _ = verify_manifest(manifest_bytes, signature_bytes, trust, runtime)
    corrupt = BundleRejectedError(
        f"installed bundle {directory.name} does not match its manifest",
        reason_code=reasons.ACTIVE_CORRUPT,
    )
    try:
        if (directory / _VERIFIED).read_text("utf-8") != manifest.digest:
            raise corrupt
        present = {
            p.relative_to(directory).as_posix()
            for p in (directory / "artifacts").rglob("*")
            if not p.is_dir()
        }
        if present != {a.path for a in manifest.artifacts}:
            raise corrupt
        for entry in manifest.artifacts:
            path = directory / entry.path
            if path.is_symlink() or file_sha384(path, entry.size) != (entry.sha384, entry.size):
                raise corrupt
    except OSError:
        raise corrupt from None
    return manifest


def load_active_bundle(
    root: Path | str,
    trust: TrustStore,
    *,
    require: bool,
    runtime: RuntimeVersions | None = None,
) -> LoadedBundle | BundleFallback:
    """Load the verified active bundle (read-only), falling back to ``previous`` if it fails.

    Args:
        root: the install root.
        trust: the trusted keys.
        require: when ``True`` (the apps set it from ``QUANT_REQUIRE_BUNDLE=1``), a missing or
            invalid bundle raises instead of returning a :class:`BundleFallback`.
        runtime: running versions to check compatibility against (``None``: not checked).

    Raises:
        BundleMissingError: ``require`` is set and no bundle verifies; the reason code is the
            active bundle's failure (``BUNDLE_MISSING`` when none is installed).

    Examples:
        >>> import tempfile, pathlib
        >>> from quant_bundle.keys import TrustStore, generate_key
        >>> trust = TrustStore.from_keys([generate_key(seed=bytes(32)).public])
        >>> load_active_bundle(pathlib.Path(tempfile.mkdtemp()), trust, require=False).reason_code
        'BUNDLE_MISSING'
    """
    base = Path(root)
    failures: list[BundleRejectedError] = []
    for link in ("current", "previous"):
        try:
            name = os.readlink(base / link)
        except OSError:
            if link == "current":
                failures.append(BundleMissingError("no bundle is installed"))
            continue
        target = base / name
        try:
            manifest = verify_installed(target, trust, runtime)
        except BundleRejectedError as exc:
            failures.append(exc)
            continue
        except OSError as exc:  # pragma: no cover - verify_installed maps OS errors
            failures.append(BundleMissingError(str(exc)))
            continue
        degraded = failures[0].reason_code if failures else None
        return LoadedBundle(target, manifest, degraded)
    first = failures[0]
    if require:
        raise BundleMissingError(
            f"no verified bundle (QUANT_REQUIRE_BUNDLE): {first.message}",
            reason_code=first.reason_code,
        )
    return BundleFallback(first.reason_code, first.message)


class BundleStore:
    """An install root and the operations on it.

    Args:
        root: the install root (created on first write).
        trust: the trusted keys.
        clock: the clock of audit timestamps.
        runtime: the running versions bundles must be compatible with (``None``: unchecked).
        retention: how many previous known-good bundles to keep besides the active one (≥ 1).
        smoke: pre-activation check of a promoted bundle (default: full re-verification);
            raising refuses the bundle with ``SMOKE_TEST_FAILED``.
        health: post-activation check; raising rolls back to the previous bundle
            (``ROLLED_BACK``).
        checkpoint: test-only hook called with each name in :data:`CHECKPOINTS`.
    """

    def __init__(
        self,
        root: Path | str,
        trust: TrustStore,
        clock: Clock,
        *,
        runtime: RuntimeVersions | None = None,
        retention: int = 1,
        smoke: Check | None = None,
        health: Check | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        if retention < 1:
            raise BundleRejectedError(
                "retention must keep at least one previous bundle",
                reason_code=reasons.NO_ROLLBACK_TARGET,
            )
        self.root = Path(root)
        self.trust = trust
        self.runtime = runtime
        self.retention = retention
        self._smoke = smoke
        self._health = health
        self._checkpoint = checkpoint
        self.audit = AuditLog(self.root / "audit.jsonl", clock)

    def __repr__(self) -> str:
        return f"BundleStore({str(self.root)!r})"

    # --- small helpers -------------------------------------------------------------------

    @property
    def staging(self) -> Path:
        """The staging directory."""
        return self.root / "staging"

    @property
    def store(self) -> Path:
        """The directory of installed bundles."""
        return self.root / "store"

    def _cp(self, name: str) -> None:
        if self._checkpoint is not None:
            self._checkpoint(name)

    def _link(self, name: str) -> str | None:
        try:
            target = os.readlink(self.root / name)
        except OSError:
            return None
        return Path(target).name

    def read_state(self) -> BundleState:
        """The persisted state (empty when none was written yet)."""
        path = self.root / "state.json"
        if not path.exists():
            return BundleState()
        try:
            doc = strict_json(read_capped(path, MANIFEST_MAX_BYTES))
        except BundleRejectedError as exc:
            raise BundleStorageError(f"state.json is unreadable: {exc.message}") from None
        return BundleState.from_dict(doc)

    def _write_state(self, state: BundleState) -> None:
        tmp = self.root / ".state.json.tmp"
        write_files_synced(self.root, {tmp.name: canonical_json(state.to_dict())})
        self._cp("state_tmp_written")
        try:
            os.replace(tmp, self.root / "state.json")
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.root)
        self._cp("state_written")

    def _swap_link(self, name: str, target: str | None, cp: str | None = None) -> None:
        link = self.root / name
        if target is None:
            link.unlink(missing_ok=True)
            fsync_dir(self.root)
            return
        tmp = self.root / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(f"store/{target}", tmp)
        if cp is not None:
            self._cp(cp)
        try:
            os.replace(tmp, link)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.root)

    def _valid_seal(self, name: str) -> bool:
        directory = self.store / name
        try:
            manifest = parse_manifest(read_capped(directory / MANIFEST_NAME, MANIFEST_MAX_BYTES))
            return (directory / _VERIFIED).read_text("utf-8") == manifest.digest
        except (QuantError, OSError):
            return False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the installer lock (POSIX ``flock``) and run recovery first.

        Raises:
            UpdateInProgressError: another process holds the lock.
            BundleStorageError: the root cannot be created (``STORAGE_READONLY``…).
        """
        import fcntl  # POSIX only; imported here so the module imports everywhere

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _storage_error(exc, f"cannot open the bundle root {self.root}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise UpdateInProgressError("another bundle installer is running") from None
            try:
                self._recover()
            except OSError as exc:
                raise _storage_error(exc, "recovery failed") from None
            yield
        finally:
            os.close(fd)

    # --- recovery and retention ----------------------------------------------------------

    def recover(self) -> None:
        """Take the lock and repair what an interrupted install left behind."""
        with self.locked():
            pass

    def _recover(self) -> None:
        actions: list[str] = []
        aborted: list[str] = []
        if self.staging.exists():
            for entry in sorted(self.staging.iterdir()):
                aborted.append(entry.name)
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        for tmp in (".current.tmp", ".previous.tmp", ".state.json.tmp"):
            if os.path.lexists(self.root / tmp):
                (self.root / tmp).unlink()
                actions.append(f"removed {tmp}")
        state = self.read_state()
        new = state
        current = self._link("current")
        if current is not None and self._valid_seal(current):
            if state.active != current:
                new = self._adopt(state, current)
                actions.append(f"adopted current {current}")
        elif current is not None or state.active is not None:
            previous = self._link("previous")
            fallback = next(
                (n for n in (previous, state.active) if n is not None and self._valid_seal(n)),
                None,
            )
            self._swap_link("current", fallback)
            new = self._adopt(state, fallback) if fallback else attrs.evolve(state, active=None)
            actions.append(f"repointed current to {fallback}")
        expected_prev = new.history[-2] if len(new.history) > 1 else None
        if self._link("previous") != expected_prev and (
            expected_prev is None or self._valid_seal(expected_prev)
        ):
            self._swap_link("previous", expected_prev)
            actions.append(f"repointed previous to {expected_prev}")
        if new != state:
            self._write_state(new)
        removed = self._gc(new)
        if actions or aborted or removed:
            self.audit.append(
                "bundle.recovered",
                {"aborted_attempts": aborted, "actions": actions, "removed": removed},
            )

    def _adopt(self, state: BundleState, name: str) -> BundleState:
        """State that matches ``current -> name`` after an interrupted swap or rollback."""
        keep = state.history.index(name) + 1 if name in state.history else None
        history = state.history[:keep] if keep else (*state.history, name)
        floor, digest = state.floor_version, state.floor_digest
        if floor is None or parse_version(_version_of(name)) > parse_version(floor):
            manifest = parse_manifest((self.store / name / MANIFEST_NAME).read_bytes())
            floor, digest = manifest.bundle_version, manifest.digest
        return attrs.evolve(
            state, active=name, history=history, floor_version=floor, floor_digest=digest
        )

    def _gc(self, state: BundleState) -> list[str]:
        """Remove store entries that are neither current, previous nor retained history."""
        keep = set(state.history[-(self.retention + 1) :])
        keep |= {n for n in (self._link("current"), self._link("previous")) if n is not None}
        removed: list[str] = []
        if self.store.exists():
            for entry in sorted(self.store.iterdir()):
                if entry.name not in keep:
                    shutil.rmtree(entry)
                    removed.append(entry.name)
            if removed:
                fsync_dir(self.store)
        return removed

    # --- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Active and previous versions, the floor, retention and quarantine (read-only)."""
        state = self.read_state()
        current, previous = self._link("current"), self._link("previous")
        return {
            "root": str(self.root),
            "active": current,
            "active_version": _version_of(current) if current else None,
            "previous": previous,
            "previous_version": _version_of(previous) if previous else None,
            "floor_version": state.floor_version,
            "history": list(state.history),
            "retention": self.retention,
            "quarantine": list(state.quarantine),
        }

    # --- install -------------------------------------------------------------------------

    def install(self, release_dir: Path | str) -> InstallResult:
        """Verify and atomically install the release in ``release_dir``.

        Raises:
            BundleRejectedError: any verification failure, ``ROLLBACK``, ``VERSION_REUSED``,
                ``ALREADY_INSTALLED``, ``SMOKE_TEST_FAILED`` or ``ROLLED_BACK``.
            BundleStorageError: ``DISK_FULL``, ``STORAGE_READONLY``, ``BUNDLE_IO_FAILED`` or
                ``UPDATE_IN_PROGRESS``.
        """
        with self.locked():
            return self.install_locked(Path(release_dir))

    def install_locked(
        self, release_dir: Path, *, expected: Callable[[Manifest], None] | None = None
    ) -> InstallResult:
        """:meth:`install` for a caller that already holds :meth:`locked`.

        ``expected`` runs right after the manifest verified (the updater uses it to match the
        signed pointer).
        """
        state = self.read_state()
        checks: list[str] = []
        info: dict[str, Any] = {"version": None, "manifest_digest": None}
        staging = self.staging / "attempt"
        try:
            try:
                result = self._install(release_dir, state, staging, checks, info, expected)
            except OSError as exc:
                raise _storage_error(exc, "install failed") from None
        except QuantError as exc:
            self._restore(state)
            outcome = "rolled_back" if exc.reason_code == reasons.ROLLED_BACK else "rejected"
            self._audit_attempt(outcome, exc.reason_code, state, checks, info)
            raise
        finally:
            with contextlib.suppress(OSError):
                if staging.exists():
                    shutil.rmtree(staging)
        return result

    def _restore(self, before: BundleState) -> None:
        """After a failed attempt: put both links back and drop debris from ``store/``."""
        with contextlib.suppress(OSError, QuantError):
            state = self.read_state()
            if state.active == before.active:  # not committed (or rolled back): restore links
                if self._link("current") != before.active:
                    self._swap_link("current", before.active)
                prev = before.history[-2] if len(before.history) > 1 else None
                if self._link("previous") != prev:
                    self._swap_link("previous", prev)
            self._gc(state)

    def _audit_attempt(
        self,
        outcome: str,
        reason: str | None,
        state: BundleState,
        checks: list[str],
        info: Mapping[str, Any],
    ) -> None:
        data = {
            "outcome": outcome,
            "reason_code": reason,
            "version": info["version"],
            "manifest_digest": info["manifest_digest"],
            "previous_version": _version_of(state.active) if state.active else None,
            "floor_version": state.floor_version,
            "checks": list(checks),
        }
        with contextlib.suppress(QuantError):  # a read-only or full disk may refuse the audit
            self.audit.append("bundle.install", data)

    def _check_floor(self, manifest: Manifest, state: BundleState) -> None:
        if state.floor_version is None:
            return
        floor = parse_version(state.floor_version)
        if manifest.version < floor:
            raise BundleRejectedError(
                f"version {manifest.bundle_version} is below the floor {state.floor_version}",
                reason_code=reasons.ROLLBACK,
            )
        if manifest.version == floor:
            if manifest.digest != state.floor_digest:
                raise BundleRejectedError(
                    f"version {manifest.bundle_version} was already used for other content",
                    reason_code=reasons.VERSION_REUSED,
                )
            raise BundleRejectedError(
                f"version {manifest.bundle_version} is already installed",
                reason_code=reasons.ALREADY_INSTALLED,
            )

    def _install(
        self,
        release_dir: Path,
        state: BundleState,
        staging: Path,
        checks: list[str],
        info: dict[str, Any],
        expected: Callable[[Manifest], None] | None,
    ) -> InstallResult:
        manifest_bytes = read_capped(release_dir / MANIFEST_NAME, MANIFEST_MAX_BYTES)
        signature_bytes = read_capped(release_dir / SIGNATURE_NAME, 64 * 1024)
        staging.mkdir(parents=True)
        write_files_synced(
            staging, {MANIFEST_NAME: manifest_bytes, SIGNATURE_NAME: signature_bytes}
        )
        self._cp("fetched")
        manifest, _, passed = verify_manifest(
            manifest_bytes, signature_bytes, self.trust, self.runtime
        )
        checks.extend(passed)
        info.update(version=manifest.bundle_version, manifest_digest=manifest.digest)
        if expected is not None:
            expected(manifest)
            checks.append("pointer")
        if manifest.digest in state.quarantine:
            raise BundleRejectedError(
                "this bundle failed its checks before and is quarantined",
                reason_code=reasons.SMOKE_TEST_FAILED,
            )
        self._check_floor(manifest, state)
        checks.append("version_floor")
        archive = staging / ARCHIVE_NAME
        self._copy_archive(release_dir / ARCHIVE_NAME, archive, manifest)
        checks.append("archive_digest")
        tree = staging / "tree"
        tree.mkdir()
        extract_archive(archive, tree, manifest, on_file=lambda _n: self._cp("extract_file"))
        checks.append("extract")
        seal = {
            MANIFEST_NAME: manifest_bytes,
            SIGNATURE_NAME: signature_bytes,
            _VERIFIED: manifest.digest.encode("utf-8"),
        }
        write_files_synced(tree, seal)
        fsync_dir(tree)
        self._cp("sealed")
        name = _store_name(manifest)
        self.store.mkdir(exist_ok=True)
        # Recovery (under the same lock) removed any unreferenced store entry, and a store
        # entry that is current or previous has a version at or below the floor: no clash.
        os.rename(tree, self.store / name)
        fsync_dir(self.store)
        self._cp("promoted")
        try:
            if self._smoke is None:
                verify_installed(self.store / name, self.trust, self.runtime)
            else:
                self._smoke(self.store / name, manifest)
        except Exception as exc:  # noqa: BLE001 - any smoke failure refuses the bundle
            shutil.rmtree(self.store / name)
            self._write_state(attrs.evolve(state, quarantine=(*state.quarantine, manifest.digest)))
            raise BundleRejectedError(
                f"smoke check failed: {type(exc).__name__}",
                reason_code=reasons.SMOKE_TEST_FAILED,
            ) from None
        checks.append("smoke")
        old = state.active
        if old is not None:
            self._swap_link("previous", old)
        self._cp("previous_swapped")
        new_state = attrs.evolve(
            state,
            floor_version=manifest.bundle_version,
            floor_digest=manifest.digest,
            active=name,
            history=(*state.history, name),
        )
        # The commit point. A failure before state.json is replaced is undone by _restore.
        self._swap_link("current", name, cp="current_tmp_linked")
        self._cp("current_swapped")
        self._write_state(new_state)
        if self._health is not None:
            try:
                self._health(self.store / name, manifest)
            except Exception as exc:  # noqa: BLE001 - any health failure rolls back
                self._auto_rollback(state, new_state, manifest, checks, info, exc)
        checks.append("health")
        final = attrs.evolve(new_state, history=new_state.history[-(self.retention + 1) :])
        if final != new_state:
            self._write_state(final)
        self._gc(final)
        result = InstallResult(
            "installed",
            manifest.bundle_version,
            manifest.digest,
            _version_of(old) if old else None,
            tuple(checks),
        )
        self.audit.append("bundle.install", {**self._result_data(result), "checks": checks})
        return result

    @staticmethod
    def _result_data(result: InstallResult) -> dict[str, Any]:
        return {
            "outcome": result.outcome,
            "reason_code": result.reason_code,
            "version": result.version,
            "manifest_digest": result.manifest_digest,
            "previous_version": result.previous_version,
        }

    def _copy_archive(self, source: Path, dest: Path, manifest: Manifest) -> None:
        part = dest.with_name(dest.name + ".part")
        import hashlib

        digest = hashlib.sha384()
        size = 0
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise BundleRejectedError(
                f"{ARCHIVE_NAME} is missing", reason_code=reasons.BUNDLE_MISSING
            ) from None
        with src, open(part, "xb") as out:
            while chunk := src.read(min(_CHUNK, manifest.archive_size + 1 - size)):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
                self._cp("archive_partial")
                if size > manifest.archive_size:
                    break
            out.flush()
            os.fsync(out.fileno())
        if size != manifest.archive_size or digest.hexdigest() != manifest.archive_sha384:
            part.unlink()
            raise BundleRejectedError(
                "archive does not match the length and SHA-384 the manifest pins",
                reason_code=reasons.ARCHIVE_DIGEST_MISMATCH,
            )
        os.replace(part, dest)
        self._cp("archive_staged")

    def _auto_rollback(
        self,
        state: BundleState,
        new_state: BundleState,
        manifest: Manifest,
        checks: list[str],
        info: Mapping[str, Any],
        exc: Exception,
    ) -> None:
        self._swap_link("current", state.active)
        self._cp("rollback_swapped")
        self._swap_link("previous", state.history[-2] if len(state.history) > 1 else None)
        rolled = attrs.evolve(
            new_state,
            active=state.active,
            history=state.history,
            quarantine=(*state.quarantine, manifest.digest),
        )
        self._write_state(rolled)
        self._gc(rolled)
        raise BundleRejectedError(
            f"health check failed after activation ({type(exc).__name__}); "
            f"rolled back to {state.active or 'no bundle'}",
            reason_code=reasons.ROLLED_BACK,
        )

    # --- rollback and repair -------------------------------------------------------------

    def rollback(self) -> InstallResult:
        """Operator rollback to the retained previous known-good bundle (floor unchanged).

        Raises:
            BundleRejectedError: ``NO_ROLLBACK_TARGET`` when there is no verified previous.
        """
        with self.locked():
            state = self.read_state()
            return self._rollback(state, "rolled_back", None)

    def _rollback(self, state: BundleState, outcome: str, reason: str | None) -> InstallResult:
        target = state.history[-2] if len(state.history) > 1 else None
        try:
            if target is None:
                raise BundleRejectedError(
                    "no previous bundle is retained", reason_code=reasons.NO_ROLLBACK_TARGET
                )
            try:
                manifest = verify_installed(self.store / target, self.trust, self.runtime)
            except BundleRejectedError as exc:
                raise BundleRejectedError(
                    f"the previous bundle does not verify: {exc.message}",
                    reason_code=reasons.NO_ROLLBACK_TARGET,
                ) from None
        except BundleRejectedError as exc:
            self.audit.append(
                "bundle.rollback",
                {"outcome": "rejected", "reason_code": exc.reason_code, "from": state.active},
            )
            raise
        try:
            self._swap_link("current", target, cp="current_tmp_linked")
            self._cp("rollback_swapped")
            self._swap_link("previous", state.history[-3] if len(state.history) > 2 else None)
            new_state = attrs.evolve(state, active=target, history=state.history[:-1])
            if reason is not None and state.active is not None:
                digest = parse_manifest(
                    (self.store / state.active / MANIFEST_NAME).read_bytes()
                ).digest
                new_state = attrs.evolve(new_state, quarantine=(*state.quarantine, digest))
            self._write_state(new_state)
            self._gc(new_state)
        except OSError as exc:
            raise _storage_error(exc, "rollback failed") from None
        result = InstallResult(
            outcome,
            manifest.bundle_version,
            manifest.digest,
            _version_of(state.active) if state.active else None,
            ("signature", "files"),
            reason,
        )
        self.audit.append("bundle.rollback", {**self._result_data(result), "from": state.active})
        return result

    def check_active(self) -> InstallResult:
        """Startup integrity check: re-verify ``current``; if corrupt, fall back to ``previous``.

        Returns an ``ok`` result when the active bundle verifies, else the fallback result
        with reason ``ACTIVE_CORRUPT`` (or the signature reason).

        Raises:
            BundleMissingError: nothing is installed.
            BundleRejectedError: the active bundle is corrupt and no previous one verifies.
        """
        with self.locked():
            state = self.read_state()
            if state.active is None:
                raise BundleMissingError("no bundle is installed")
            try:
                manifest = verify_installed(self.store / state.active, self.trust, self.runtime)
            except BundleRejectedError as exc:
                return self._rollback(state, "recovered", exc.reason_code)
            return InstallResult(
                "ok", manifest.bundle_version, manifest.digest, None, ("signature", "files")
            )
