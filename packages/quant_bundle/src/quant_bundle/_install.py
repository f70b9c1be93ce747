"""One install attempt: verify, stage, extract, seal, promote, swap, check, audit.

The attempt works on a :class:`~quant_bundle.BundleStore` through its public methods only
(checkpoints, links, state, garbage collection, audit); the store runs :func:`install_release`
from :meth:`~quant_bundle.BundleStore.install_locked` while it holds the installer lock. The
steps and their checkpoints are listed in the store's module documentation.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from quant_bundle import reasons
from quant_bundle._archive import extract_archive
from quant_bundle._errors import BundleRejectedError
from quant_bundle._installed import VERIFIED_SEAL, verify_installed
from quant_bundle._io import CHUNK, read_capped, storage_error
from quant_bundle._manifest import (
    ARCHIVE_NAME,
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
)
from quant_bundle._release import verify_manifest
from quant_bundle._state import (
    BundleState,
    InstallOutcome,
    InstallResult,
    check_floor,
    store_name,
    version_of,
)
from quant_core.errors import QuantError, RejectedError
from quant_core.files import fsync_dir, write_files_synced

if TYPE_CHECKING:
    from quant_bundle._store import BundleStore

__all__ = ["install_release"]


def _smoke_refusal(exc: Exception) -> BundleRejectedError:
    """Why a smoke check refused a bundle: a typed refusal keeps its own reason code.

    The app's smoke check loads the models, so a bundle whose model family is unknown or
    whose weights do not fit their declared shapes is refused with that reason (decision
    0119); any other failure is ``SMOKE_TEST_FAILED``.
    """
    if isinstance(exc, RejectedError):
        return BundleRejectedError(
            f"smoke check failed [{exc.reason_code}]: {exc.message}", reason_code=exc.reason_code
        )
    return BundleRejectedError(
        f"smoke check failed: {type(exc).__name__}", reason_code=reasons.SMOKE_TEST_FAILED
    )


def install_release(
    store: BundleStore, release_dir: Path, expected: Callable[[Manifest], None] | None
) -> InstallResult:
    """Install the release in ``release_dir`` into ``store``, whose lock the caller holds.

    Raises:
        BundleRejectedError: any verification failure or refusal (audited, store unchanged).
        BundleStorageError: a storage failure (audited, store unchanged).
    """
    return _Attempt(store, release_dir, expected).run()


class _Attempt:
    """One install attempt: what passed so far, and what to audit if it fails."""

    def __init__(
        self,
        target: BundleStore,
        release_dir: Path,
        expected: Callable[[Manifest], None] | None,
    ) -> None:
        self.target = target
        self.release_dir = release_dir
        self.expected = expected
        self.state = target.read_state()
        self.staging = target.staging / "attempt"
        self.checks: list[str] = []
        self.info: dict[str, Any] = {"version": None, "manifest_digest": None}
        self.committed: InstallResult | None = None
        """The result once ``current`` was swapped (committed when ``state.json`` names it)."""

    def run(self) -> InstallResult:
        """Run the attempt; on failure restore the store and audit the refusal.

        A failure after the commit point (``state.json`` names the new bundle) is no refusal:
        the result is ``installed`` with reason ``POST_COMMIT_FAILED`` and a warning naming
        what failed, and the audit record says so.
        """
        try:
            try:
                result = self._install()
            except OSError as exc:
                raise storage_error(exc, "install failed") from None
        except QuantError as exc:
            if self.committed is not None and self._is_committed(self.committed):
                return self._after_commit(self.committed, exc)
            self.target.restore(self.state)
            outcome = (
                InstallOutcome.ROLLED_BACK
                if exc.reason_code == reasons.ROLLED_BACK
                else InstallOutcome.REJECTED
            )
            self.target.record_attempt(outcome, exc.reason_code, self.state, self.checks, self.info)
            raise
        finally:
            with contextlib.suppress(OSError):
                if self.staging.exists():
                    shutil.rmtree(self.staging)
        return result

    def _install(self) -> InstallResult:
        release_dir, state, staging = self.release_dir, self.state, self.staging
        checks, info, expected = self.checks, self.info, self.expected
        manifest_bytes = read_capped(release_dir / MANIFEST_NAME, MANIFEST_MAX_BYTES)
        signature_bytes = read_capped(release_dir / SIGNATURE_NAME, 64 * 1024)
        staging.mkdir(parents=True)
        write_files_synced(
            staging, {MANIFEST_NAME: manifest_bytes, SIGNATURE_NAME: signature_bytes}
        )
        self.target.checkpoint("fetched")
        manifest, _, passed = verify_manifest(
            manifest_bytes, signature_bytes, self.target.trust, self.target.runtime
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
        check_floor(manifest, state)
        checks.append("version_floor")
        archive = staging / ARCHIVE_NAME
        self._copy_archive(release_dir / ARCHIVE_NAME, archive, manifest)
        checks.append("archive_digest")
        tree = staging / "tree"
        tree.mkdir()
        extract_archive(
            archive, tree, manifest, on_file=lambda _n: self.target.checkpoint("extract_file")
        )
        checks.append("extract")
        seal = {
            MANIFEST_NAME: manifest_bytes,
            SIGNATURE_NAME: signature_bytes,
            VERIFIED_SEAL: manifest.digest.encode("utf-8"),
        }
        write_files_synced(tree, seal)
        fsync_dir(tree)
        self.target.checkpoint("sealed")
        name = store_name(manifest)
        self.target.store.mkdir(exist_ok=True)
        # Recovery (under the same lock) removed any unreferenced store entry, and a store
        # entry that is current or previous has a version at or below the floor: no clash.
        os.rename(tree, self.target.store / name)
        fsync_dir(self.target.store)
        self.target.checkpoint("promoted")
        try:
            if self.target.smoke is None:
                verify_installed(self.target.store / name, self.target.trust, self.target.runtime)
            else:
                self.target.smoke(self.target.store / name, manifest)
        except Exception as exc:  # noqa: BLE001 - any smoke failure refuses the bundle
            shutil.rmtree(self.target.store / name)
            self.target.write_state(
                attrs.evolve(state, quarantine=(*state.quarantine, manifest.digest))
            )
            raise _smoke_refusal(exc) from None
        checks.append("smoke")
        old = state.active
        if old is not None:
            self.target.swap_link("previous", old)
        self.target.checkpoint("previous_swapped")
        new_state = attrs.evolve(
            state,
            floor_version=manifest.bundle_version,
            floor_digest=manifest.digest,
            active=name,
            history=(*state.history, name),
        )
        result = InstallResult(
            InstallOutcome.INSTALLED,
            manifest.bundle_version,
            manifest.digest,
            version_of(old) if old else None,
            tuple(checks),
        )
        # The commit point is state.json naming the new bundle; a failure before it is undone
        # by restore(), a failure after it is reported by _after_commit().
        self.target.swap_link("current", name, cp="current_tmp_linked")
        self.target.checkpoint("current_swapped")
        self.committed = result
        self.target.write_state(new_state)
        if self.target.health is not None:
            try:
                self.target.health(self.target.store / name, manifest)
            except Exception as exc:  # noqa: BLE001 - any health failure rolls back
                self._auto_rollback(new_state, manifest, exc)
        checks.append("health")
        final = attrs.evolve(new_state, history=new_state.history[-(self.target.retention + 1) :])
        if final != new_state:
            self.target.write_state(final)
        self.target.collect_garbage(final)
        result = attrs.evolve(result, checks=tuple(checks))
        self.target.audit.append("bundle.install", {**result.audit_data(), "checks": checks})
        return result

    def _is_committed(self, result: InstallResult) -> bool:
        """Whether ``current`` and ``state.json`` both name the bundle of ``result``."""
        name = self.target.link("current")
        try:
            active = self.target.read_state().active
        except QuantError:
            return False
        return name is not None and name == active and version_of(name) == result.version

    def _after_commit(self, result: InstallResult, exc: QuantError) -> InstallResult:
        """The new bundle is active: report what failed after the commit point, and audit it."""
        warning = f"installed, but a step after activation failed [{exc.reason_code}]: {exc}"
        done = attrs.evolve(
            result,
            checks=tuple(self.checks),
            reason_code=reasons.POST_COMMIT_FAILED,
            warning=warning,
        )
        record = {**done.audit_data(), "checks": self.checks, "failed_reason": exc.reason_code}
        with contextlib.suppress(QuantError):  # the failure may have been the audit append
            self.target.audit.append("bundle.install", record)
        return done

    def _copy_archive(self, source: Path, dest: Path, manifest: Manifest) -> None:
        part = dest.with_name(dest.name + ".part")
        digest = hashlib.sha384()
        size = 0
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise BundleRejectedError(
                f"{ARCHIVE_NAME} is missing", reason_code=reasons.BUNDLE_MISSING
            ) from None
        with src, open(part, "xb") as out:
            while chunk := src.read(min(CHUNK, manifest.archive_size + 1 - size)):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
                self.target.checkpoint("archive_partial")
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
        self.target.checkpoint("archive_staged")

    def _auto_rollback(self, new_state: BundleState, manifest: Manifest, exc: Exception) -> None:
        state = self.state
        self.target.swap_link("current", state.active)
        self.target.checkpoint("rollback_swapped")
        self.target.swap_link("previous", state.history[-2] if len(state.history) > 1 else None)
        rolled = attrs.evolve(
            new_state,
            active=state.active,
            history=state.history,
            quarantine=(*state.quarantine, manifest.digest),
        )
        self.target.write_state(rolled)
        self.target.collect_garbage(rolled)
        raise BundleRejectedError(
            f"health check failed after activation ({type(exc).__name__}); "
            f"rolled back to {state.active or 'no bundle'}",
            reason_code=reasons.ROLLED_BACK,
        )
