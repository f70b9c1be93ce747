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
    >>> from quant_bundle import BundleStore
    >>> from quant_bundle.keys import TrustStore, generate_key
    >>> from quant_core import SimClock
    >>> key = generate_key(seed=bytes(32))
    >>> store = BundleStore(pathlib.Path(tempfile.mkdtemp()), TrustStore.from_keys([key.public]),
    ...                     SimClock(0))
    >>> store.status()["active"] is None
    True
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from quant_bundle import reasons
from quant_bundle._errors import (
    BundleMissingError,
    BundleRejectedError,
    BundleStorageError,
    UpdateInProgressError,
)
from quant_bundle._install import install_release
from quant_bundle._installed import VERIFIED_SEAL, verify_installed
from quant_bundle._io import read_capped, storage_error
from quant_bundle._manifest import (
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    Manifest,
    RuntimeVersions,
    parse_manifest,
    parse_version,
    strict_json,
)
from quant_bundle._state import (
    CHECKPOINTS,
    BundleState,
    InstallOutcome,
    InstallResult,
    version_of,
)
from quant_bundle.keys import TrustStore
from quant_core import Clock, canonical_json
from quant_core.audit import AuditLog
from quant_core.errors import QuantError
from quant_core.files import fsync_dir, write_files_synced

__all__ = ["CHECKPOINTS", "BundleStore", "Check", "Checkpoint", "audit_refusal"]

Checkpoint = Callable[[str], None]
Check = Callable[[Path, Manifest], None]


AUDIT_NAME = "audit.jsonl"


def audit_refusal(root: Path | str, clock: Clock, kind: str, reason: str, stage: str) -> None:
    """Audit a refusal that came before a :class:`BundleStore` could exist.

    The record is skipped where the disk refuses the write.

    Args:
        root: the install root whose audit log records it.
        clock: the clock of the record's timestamp.
        kind: the record kind of the refused command (``bundle.install``…).
        reason: the refusal's reason code.
        stage: what was refused (``trusted_keys``: the trust root or a rotation statement).
    """
    data = {"outcome": InstallOutcome.REJECTED, "reason_code": reason, "stage": stage}
    with contextlib.suppress(QuantError):
        AuditLog(Path(root) / AUDIT_NAME, clock).append(kind, data)


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
        self.smoke = smoke
        self.health = health
        self._checkpoint_hook = checkpoint
        self.audit = AuditLog(self.root / AUDIT_NAME, clock)

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

    def checkpoint(self, name: str) -> None:
        """Call the test-only ``checkpoint`` hook with a name from :data:`CHECKPOINTS`."""
        if self._checkpoint_hook is not None:
            self._checkpoint_hook(name)

    def link(self, name: str) -> str | None:
        """The store entry the ``current`` or ``previous`` link names (``None``: no link)."""
        try:
            target = os.readlink(self.root / name)
        except OSError:
            return None
        return Path(target).name

    def read_state(self) -> BundleState:
        """The persisted state; without ``state.json``, the floor rebuilt from the audit trail.

        Raises:
            BundleStorageError: ``state.json`` is unreadable, or it is missing and the audit
                trail cannot be read (``FLOOR_UNRECOVERABLE``).
        """
        path = self.root / "state.json"
        if not path.exists():
            return self._state_from_audit()
        try:
            doc = strict_json(read_capped(path, MANIFEST_MAX_BYTES))
        except BundleRejectedError as exc:
            raise BundleStorageError(f"state.json is unreadable: {exc.message}") from None
        return BundleState.from_dict(doc)

    def _state_from_audit(self) -> BundleState:
        """The state ``state.json`` would hold at least: the highest version ever installed.

        A deleted ``state.json`` must not lower the version floor, so the floor is rebuilt
        from every ``installed`` record of the audit trail (empty trail: no floor).
        """
        try:
            records = self.audit.records()
        except QuantError as exc:
            raise BundleStorageError(
                f"state.json is missing and the audit trail is unreadable ({exc.reason_code}):"
                " the version floor cannot be rebuilt",
                reason_code=reasons.FLOOR_UNRECOVERABLE,
            ) from None
        installed = [
            r.data
            for r in records
            if r.kind == "bundle.install" and r.data.get("outcome") == InstallOutcome.INSTALLED
        ]
        if not installed:
            return BundleState()
        top = max(installed, key=lambda d: parse_version(d["version"]))
        return BundleState(floor_version=top["version"], floor_digest=top["manifest_digest"])

    def write_state(self, state: BundleState) -> None:
        """Replace ``state.json`` atomically (temporary file, fsync, rename, fsync the root).

        Raises:
            OSError: the write failed; the previous ``state.json`` is intact.
        """
        tmp = self.root / ".state.json.tmp"
        write_files_synced(self.root, {tmp.name: canonical_json(state.to_dict())})
        self.checkpoint("state_tmp_written")
        try:
            os.replace(tmp, self.root / "state.json")
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.root)
        self.checkpoint("state_written")

    def swap_link(self, name: str, target: str | None, cp: str | None = None) -> None:
        """Point link ``name`` at store entry ``target`` by renaming a temporary link over it.

        ``target=None`` removes the link; ``cp`` names the checkpoint between creating the
        temporary link and the rename.

        Raises:
            OSError: the swap failed; the link is as it was.
        """
        link = self.root / name
        if target is None:
            link.unlink(missing_ok=True)
            fsync_dir(self.root)
            return
        tmp = self.root / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(f"store/{target}", tmp)
        if cp is not None:
            self.checkpoint(cp)
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
            return (directory / VERIFIED_SEAL).read_text("utf-8") == manifest.digest
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
            raise storage_error(exc, f"cannot open the bundle root {self.root}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise UpdateInProgressError("another bundle installer is running") from None
            try:
                self._recover()
            except OSError as exc:
                raise storage_error(exc, "recovery failed") from None
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
        current = self.link("current")
        if current is not None and self._valid_seal(current):
            if state.active != current:
                new = self._adopt(state, current)
                actions.append(f"adopted current {current}")
        elif current is not None or state.active is not None:
            previous = self.link("previous")
            fallback = next(
                (n for n in (previous, state.active) if n is not None and self._valid_seal(n)),
                None,
            )
            self.swap_link("current", fallback)
            new = self._adopt(state, fallback) if fallback else attrs.evolve(state, active=None)
            actions.append(f"repointed current to {fallback}")
        expected_prev = new.history[-2] if len(new.history) > 1 else None
        if self.link("previous") != expected_prev and (
            expected_prev is None or self._valid_seal(expected_prev)
        ):
            self.swap_link("previous", expected_prev)
            actions.append(f"repointed previous to {expected_prev}")
        if new != state:
            self.write_state(new)
        removed = self.collect_garbage(new)
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
        if floor is None or parse_version(version_of(name)) > parse_version(floor):
            manifest = parse_manifest((self.store / name / MANIFEST_NAME).read_bytes())
            floor, digest = manifest.bundle_version, manifest.digest
        return attrs.evolve(
            state, active=name, history=history, floor_version=floor, floor_digest=digest
        )

    def collect_garbage(self, state: BundleState) -> list[str]:
        """Remove store entries that are neither current, previous nor retained history."""
        keep = set(state.history[-(self.retention + 1) :])
        keep |= {n for n in (self.link("current"), self.link("previous")) if n is not None}
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
        current, previous = self.link("current"), self.link("previous")
        return {
            "root": str(self.root),
            "active": current,
            "active_version": version_of(current) if current else None,
            "previous": previous,
            "previous_version": version_of(previous) if previous else None,
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
        return install_release(self, release_dir, expected)

    def restore(self, before: BundleState) -> None:
        """After a failed attempt: put both links back and drop debris from ``store/``."""
        with contextlib.suppress(OSError, QuantError):
            state = self.read_state()
            if state.active == before.active:  # not committed (or rolled back): restore links
                if self.link("current") != before.active:
                    self.swap_link("current", before.active)
                prev = before.history[-2] if len(before.history) > 1 else None
                if self.link("previous") != prev:
                    self.swap_link("previous", prev)
            self.collect_garbage(state)

    def record_attempt(
        self,
        outcome: InstallOutcome,
        reason: str | None,
        state: BundleState,
        checks: list[str],
        info: Mapping[str, Any],
    ) -> None:
        """Audit a refused or rolled-back attempt (skipped where the disk refuses the write).

        Args:
            outcome: ``REJECTED`` or ``ROLLED_BACK``.
            reason: the refusal's reason code.
            state: the state before the attempt.
            checks: the checks that passed before the refusal.
            info: ``version`` and ``manifest_digest`` of the offered bundle, if known.
        """
        data = {
            "outcome": outcome,
            "reason_code": reason,
            "version": info["version"],
            "manifest_digest": info["manifest_digest"],
            "previous_version": version_of(state.active) if state.active else None,
            "floor_version": state.floor_version,
            "checks": list(checks),
        }
        with contextlib.suppress(QuantError):  # a read-only or full disk may refuse the audit
            self.audit.append("bundle.install", data)

    # --- rollback and repair -------------------------------------------------------------

    def rollback(self) -> InstallResult:
        """Operator rollback to the retained previous known-good bundle (floor unchanged).

        Raises:
            BundleRejectedError: ``NO_ROLLBACK_TARGET`` when there is no verified previous.
        """
        with self.locked():
            state = self.read_state()
            return self._rollback(state, InstallOutcome.ROLLED_BACK, None)

    def _rollback(
        self, state: BundleState, outcome: InstallOutcome, reason: str | None
    ) -> InstallResult:
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
                {
                    "outcome": InstallOutcome.REJECTED,
                    "reason_code": exc.reason_code,
                    "from": state.active,
                },
            )
            raise
        try:
            self.swap_link("current", target, cp="current_tmp_linked")
            self.checkpoint("rollback_swapped")
            self.swap_link("previous", state.history[-3] if len(state.history) > 2 else None)
            new_state = attrs.evolve(state, active=target, history=state.history[:-1])
            if reason is not None and state.active is not None:
                digest = parse_manifest(
                    (self.store / state.active / MANIFEST_NAME).read_bytes()
                ).digest
                new_state = attrs.evolve(new_state, quarantine=(*state.quarantine, digest))
            self.write_state(new_state)
            self.collect_garbage(new_state)
        except OSError as exc:
            raise storage_error(exc, "rollback failed") from None
        result = InstallResult(
            outcome,
            manifest.bundle_version,
            manifest.digest,
            version_of(state.active) if state.active else None,
            ("signature", "files"),
            reason,
        )
        self.audit.append("bundle.rollback", {**result.audit_data(), "from": state.active})
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
                return self._rollback(state, InstallOutcome.RECOVERED, exc.reason_code)
            return InstallResult(
                InstallOutcome.OK,
                manifest.bundle_version,
                manifest.digest,
                None,
                ("signature", "files"),
            )
