"""The bundle store's values: persisted state, results, loaded bundles and the version floor.

Examples:
    >>> state = BundleState(floor_version="1.0.0", active="1.0.0-0123456789abcdef")
    >>> BundleState.from_dict(state.to_dict()) == state
    True
    >>> version_of(state.active)
    '1.0.0'
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import attrs

from quant_bundle import reasons
from quant_bundle._errors import BundleRejectedError, BundleStorageError
from quant_bundle._manifest import Manifest, parse_version
from quant_core import structure, unstructure
from quant_core.errors import QuantError

__all__ = [
    "CHECKPOINTS",
    "STATE_SCHEMA",
    "BundleFallback",
    "BundleState",
    "InstallOutcome",
    "InstallResult",
    "LoadedBundle",
    "check_floor",
    "store_name",
    "version_of",
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
        return {"schema": STATE_SCHEMA, **unstructure(self)}

    @classmethod
    def from_dict(cls, doc: Any) -> BundleState:
        """Parse ``state.json``'s object.

        Raises:
            BundleStorageError: the state file does not match its schema.
        """
        mismatch = BundleStorageError("state.json does not match its schema")
        if not (isinstance(doc, dict) and doc.get("schema") == STATE_SCHEMA):
            raise mismatch
        fields = {k: v for k, v in doc.items() if k != "schema"}
        if set(fields) != {f.name for f in attrs.fields(cls)}:
            raise mismatch
        try:
            return structure(fields, cls)
        except QuantError:
            raise mismatch from None


class InstallOutcome(StrEnum):
    """What an install, rollback or integrity check did (the ``outcome`` of results and audits)."""

    INSTALLED = "installed"
    """A new bundle is active."""
    ROLLED_BACK = "rolled_back"
    """The previous bundle is active again (operator rollback, or a failed health check)."""
    RECOVERED = "recovered"
    """The active bundle was corrupt and the previous known-good one took its place."""
    OK = "ok"
    """The active bundle verified; nothing changed."""
    REJECTED = "rejected"
    """The attempt was refused; nothing changed."""


@attrs.frozen
class InstallResult:
    """The outcome of an install, rollback or repair that changed (or confirmed) the store."""

    outcome: InstallOutcome
    version: str | None
    manifest_digest: str | None
    previous_version: str | None
    checks: tuple[str, ...] = ()
    reason_code: str | None = None
    warning: str | None = None
    """Set when the change took effect but a step after its commit point failed."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (``warning`` only when there is one)."""
        result: dict[str, Any] = unstructure(self)
        if self.warning is None:
            del result["warning"]
        return result

    def audit_data(self) -> dict[str, Any]:
        """The fields every install or rollback audit record carries."""
        data: dict[str, Any] = {
            "outcome": self.outcome,
            "reason_code": self.reason_code,
            "version": self.version,
            "manifest_digest": self.manifest_digest,
            "previous_version": self.previous_version,
        }
        if self.warning is not None:
            data["warning"] = self.warning
        return data


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


def store_name(manifest: Manifest) -> str:
    """The directory name of an installed bundle: ``<version>-<first 16 digest digits>``."""
    return f"{manifest.bundle_version}-{manifest.digest.split(':', 1)[1][:16]}"


def version_of(name: str) -> str:
    """The bundle version in a store directory name."""
    return name.split("-", 1)[0]


def check_floor(manifest: Manifest, state: BundleState) -> None:
    """Refuse a bundle at or below the persisted version floor.

    Raises:
        BundleRejectedError: ``ROLLBACK`` (older), ``VERSION_REUSED`` (same version, other
            content) or ``ALREADY_INSTALLED`` (same version and content).
    """
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
        active = version_of(state.active) if state.active else None
        if active == manifest.bundle_version:
            message = f"version {manifest.bundle_version} is already installed and active"
        else:
            message = (
                f"version {manifest.bundle_version} is at the version floor but bundle "
                f"{active or 'none'} is active (it was rolled back or removed); the floor "
                "refuses it again: install a newer version"
            )
        raise BundleRejectedError(message, reason_code=reasons.ALREADY_INSTALLED)
