"""The bundle desk: status, update check, update and rollback of the installed model bundle.

One place for the operator's bundle commands, shared by ``quant bundle status|check-update|
apply-update|rollback`` and the control plane behind ``quant serve``: every answer is plain
JSON data (what the CLI prints with ``--json``), every refusal a
:class:`~quant_core.errors.QuantError` with its reason code (the active bundle unchanged).
Installs and rollbacks are audited by the store, in ``<root>/audit.jsonl``, as
``bundle.install`` and ``bundle.rollback``; :func:`open_trust` audits a trust root refused
before a store exists. Every install and update runs
:func:`~quant_apps.runtime.models.activation.smoke_check` before the new bundle becomes
active: a bundle holding a model set that does not load is refused with the model's reason
code (decision 0119).

Examples:
    >>> import tempfile
    >>> from quant_bundle.keys import TrustStore
    >>> from quant_core import SimClock
    >>> root = Path(tempfile.mkdtemp())
    >>> desk = BundleDesk(root, TrustStore({}), SimClock(0), source=None)
    >>> status = desk.status()
    >>> status["active_version"], status["update_source"]
    (None, None)
    >>> try:
    ...     desk.check_update()
    ... except QuantUsageError as exc:
    ...     print(exc.reason_code)
    USAGE_ERROR
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quant_apps.runtime.models.activation import smoke_check
from quant_apps.runtime.models.bundles import trust_for
from quant_bundle import BundleRejectedError, BundleStore, RuntimeVersions, audit_refusal
from quant_bundle.keys import TrustStore
from quant_bundle.update import apply_update, check_update, open_source
from quant_core import Clock
from quant_core.errors import QuantUsageError

__all__ = ["BundleDesk", "open_trust"]


def open_trust(
    root: Path, keys: Path | None, clock: Clock, *, audit_kind: str | None = None
) -> TrustStore:
    """The trusted keys in ``keys`` (``None``: the shipped ones); a refusal can be audited.

    Args:
        root: the install root whose audit log records a refusal.
        keys: a directory of trusted public keys, or ``None`` for the shipped keys.
        clock: the clock of the audit record.
        audit_kind: the audit kind of the command that needs the keys (``bundle.install``,
            ``bundle.rollback``); ``None`` audits nothing (a read-only command).

    Raises:
        BundleRejectedError: a bad key or rotation statement (audited once under
            ``audit_kind``, stage ``trusted_keys``).
    """
    try:
        return trust_for(keys)
    except BundleRejectedError as exc:
        if audit_kind is not None:
            audit_refusal(root, clock, audit_kind, exc.reason_code, "trusted_keys")
        raise


class BundleDesk:
    """The bundle commands over one install root (see the module docs).

    Args:
        root: the install root.
        trust: the trusted public keys.
        clock: the clock of audit records and of update expiry checks.
        source: the release source (a directory or ``http(s)://`` URL) of updates; ``None``
            when none is configured (update checks and updates are then refused).
        runtime: the running versions a bundle must be compatible with (``None``: unchecked).
        retention: previous known-good bundles an update keeps (>= 1).
    """

    def __init__(
        self,
        root: Path,
        trust: TrustStore,
        clock: Clock,
        *,
        source: str | None,
        runtime: RuntimeVersions | None = None,
        retention: int = 1,
    ) -> None:
        """Set the desk up; nothing is read or written yet."""
        self.root = Path(root)
        self.trust = trust
        self.clock = clock
        self.source = source
        self.runtime = runtime
        self.retention = retention

    def __repr__(self) -> str:
        return f"BundleDesk(root={str(self.root)!r}, source={self.source!r})"

    def store(self) -> BundleStore:
        """The :class:`quant_bundle.BundleStore` of the root (for the store's other commands)."""
        return BundleStore(
            self.root,
            self.trust,
            self.clock,
            runtime=self.runtime,
            retention=self.retention,
            smoke=smoke_check(self.trust, self.runtime, models=False),
        )

    def _source(self) -> str:
        if self.source is None:
            raise QuantUsageError("no update source configured")
        return self.source

    def store_status(self) -> dict[str, Any]:
        """:meth:`quant_bundle.BundleStore.status`: active, previous, floor, history, quarantine."""
        return self.store().status()

    def status(self) -> dict[str, Any]:
        """:meth:`store_status` plus ``update_source`` (the configured source, or ``None``)."""
        return {**self.store_status(), "update_source": self.source}

    def check_update(self) -> dict[str, Any]:
        """Check the source: pointer, signature, compatibility and version floor (no install).

        Returns:
            :meth:`quant_bundle.update.UpdateCheck.to_dict`: ``available``,
            ``offered_version``, ``active_version``, ``expires_ns``, ``checks``,
            ``reason_code``.

        Raises:
            QuantUsageError: ``USAGE_ERROR`` when no source is configured.
            BundleRejectedError: the pointer or manifest is refused, or the offered bundle is
                below the version floor.
            BundleStorageError: the metadata cannot be staged.
        """
        source = open_source(self._source(), clock=self.clock)
        return check_update(source, self.store(), now_ns=self.clock.now_ns()).to_dict()

    def apply_update(self) -> dict[str, Any]:
        """Fetch, verify and install the offered bundle atomically (audited ``bundle.install``).

        Returns:
            :meth:`quant_bundle.InstallResult.to_dict` (``outcome``, ``version``, … and a
            ``warning`` when a step after the commit point failed).

        Raises:
            QuantUsageError: ``USAGE_ERROR`` when no source is configured.
            BundleRejectedError: any refusal (the active bundle stays as it was).
            BundleStorageError: storage failures or ``UPDATE_IN_PROGRESS``.
        """
        source = open_source(self._source(), clock=self.clock)
        return apply_update(source, self.store(), now_ns=self.clock.now_ns()).to_dict()

    def rollback(self) -> dict[str, Any]:
        """Roll back to the retained previous known-good bundle (audited ``bundle.rollback``).

        Raises:
            BundleRejectedError: ``NO_ROLLBACK_TARGET`` when there is no verified previous.
        """
        return self.store().rollback().to_dict()
