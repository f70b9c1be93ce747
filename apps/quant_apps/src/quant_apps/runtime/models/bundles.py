"""Where the app's model bundle comes from and what it serves: shipped dirs, trust, predictors.

The shipped release (``bundles/default``) and trusted keys (``bundles/keys``) of the checkout,
overridable by ``QUANT_BUNDLE_SOURCE`` and ``QUANT_BUNDLE_KEYS``; ``QUANT_REQUIRE_BUNDLE`` (read
here, never in a library; on unless set to ``0``, decision 0083); the runtime versions a
bundle must be compatible with; and the predictor wrappers a session serves
(:class:`BundledPredictor`, or :class:`NoModel` when no bundle activates).
:mod:`quant_apps.runtime.models.activation` verifies, installs and loads bundles.

Examples:
    >>> require_bundle({"QUANT_REQUIRE_BUNDLE": "yes"}), require_bundle({})
    (True, True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from quant_apps.runtime.config import environ
from quant_apps.runtime.doctor import package_versions
from quant_bundle import RuntimeVersions
from quant_bundle.keys import TrustStore
from quant_core import Bar, Instrument
from quant_core.errors import QuantUsageError
from quant_core.events import Prediction, Predictor

__all__ = [
    "ARTIFACTS_DIR",
    "BUNDLE_KEYS_VAR",
    "BUNDLE_SOURCE_VAR",
    "ActiveModel",
    "BundledPredictor",
    "NoModel",
    "environ_or",
    "require_bundle",
    "runtime_versions",
    "shipped_bundle_dir",
    "shipped_keys_dir",
    "shipped_trust",
    "trust_for",
]

ARTIFACTS_DIR: Final = "artifacts"
"""Where an installed bundle keeps the ``quant train --out`` files."""
BUNDLE_SOURCE_VAR: Final = "QUANT_BUNDLE_SOURCE"
"""App setting: a release directory used instead of the shipped ``bundles/default``."""
BUNDLE_KEYS_VAR: Final = "QUANT_BUNDLE_KEYS"
"""App setting: a trusted-keys directory used instead of the shipped ``bundles/keys``."""


@attrs.frozen
class ActiveModel:
    """A predictor built from a verified, installed, active bundle, and its identity.

    Attributes:
        predictor: the :class:`quant_core.Predictor` (a ``ModelSetPredictor``).
        bundle_hash: the manifest digest (``sha384:…``): the bundle's identity, which pins the
            archive and every artifact file.
        bundle_version: the bundle version ``X.Y.Z``.
        model_id: the model set's content hash.
        dataset_hash: the training dataset hash (from the run record).
        config_hash: the training config hash (from the run record).
        seed: the training root seed (from the run record).
        manifest: the manifest as its JSON object.
        run_id: the run record's id.
        path: the installed bundle directory.
        degraded_reason: set when the active bundle failed verification and the previous
            known-good one was loaded instead.
    """

    predictor: Predictor = attrs.field(repr=False)
    bundle_hash: str
    bundle_version: str
    model_id: str
    dataset_hash: str
    config_hash: str
    seed: int
    manifest: Mapping[str, Any] = attrs.field(repr=False)
    run_id: str = ""
    path: Path | None = None
    degraded_reason: str | None = None

    def identity(self) -> dict[str, Any]:
        """The bundle and lineage hashes a report or summary shows."""
        return {
            "bundle_hash": self.bundle_hash,
            "bundle_version": self.bundle_version,
            "model_id": self.model_id,
            "training_dataset_hash": self.dataset_hash,
            "config_hash": self.config_hash,
            "seed": self.seed,
            "run_id": self.run_id,
        }


class BundledPredictor:
    """A predictor whose ``model_id`` is the bundle hash; predictions pass through unchanged.

    The engine writes ``predictor.model_id`` into the decision log's session header and the
    report, so a backtest of a bundle names the bundle it ran; each decision still names the
    model set id its prediction came from (which the bundle's manifest pins).
    """

    def __init__(self, active: ActiveModel) -> None:
        """Wrap ``active.predictor``."""
        self.active = active
        self._inner = active.predictor

    @property
    def model_id(self) -> str:
        """The bundle hash (the manifest digest)."""
        return self.active.bundle_hash

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """The wrapped predictor's horizons."""
        return self._inner.horizons_ns

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        """Delegate to the wrapped predictor."""
        return self._inner.predict(as_of_ns, history)


class NoModel:
    """The stand-in when no bundle activates (and none is required): it predicts nothing.

    The strategy never trades without a prediction, so every decision is logged as
    "no prediction"; the caller reports that no model was active and why.

    Examples:
        >>> stand_in = NoModel("BUNDLE_MISSING")
        >>> stand_in.model_id, stand_in.horizons_ns, stand_in.predict(0, {})
        ('none:BUNDLE_MISSING', (), ())
    """

    def __init__(self, reason_code: str) -> None:
        """Name the reason no model is active."""
        self.reason_code = reason_code

    @property
    def model_id(self) -> str:
        """``none:<reason code>``."""
        return f"none:{self.reason_code}"

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """No horizons."""
        return ()

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        """Nothing, ever."""
        return ()


def _repo_root() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        if (parent / "bundles" / "keys").is_dir():
            return parent
    return None


def environ_or(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """``env``, or the process environment laid over ``.env`` when it is ``None``."""
    return environ() if env is None else env


def shipped_bundle_dir(env: Mapping[str, str] | None = None) -> Path:
    """The release directory the app activates by default.

    ``QUANT_BUNDLE_SOURCE`` (from ``env``, default the process environment and ``.env``)
    overrides it; otherwise it is ``bundles/default`` in the repository holding this file (the
    first parent directory with ``bundles/keys/``), or in the working directory when the app
    is installed outside a checkout.

    Examples:
        >>> shipped_bundle_dir({"QUANT_BUNDLE_SOURCE": "/srv/release"}).as_posix()
        '/srv/release'
        >>> shipped_bundle_dir({}).parts[-2:]
        ('bundles', 'default')
    """
    override = environ_or(env).get(BUNDLE_SOURCE_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    root = _repo_root()
    return (root if root is not None else Path.cwd()) / "bundles" / "default"


def shipped_keys_dir(env: Mapping[str, str] | None = None) -> Path:
    """The trusted public keys: ``bundles/keys`` of the repository holding this file.

    ``QUANT_BUNDLE_KEYS`` (from ``env``, default the process environment and ``.env``)
    overrides it; outside a checkout it is ``bundles/keys`` in the working directory.

    Examples:
        >>> shipped_keys_dir({"QUANT_BUNDLE_KEYS": "/srv/keys"}).as_posix()
        '/srv/keys'
        >>> shipped_keys_dir({}).parts[-2:]
        ('bundles', 'keys')
    """
    override = environ_or(env).get(BUNDLE_KEYS_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    root = _repo_root()
    return (root if root is not None else Path.cwd()) / "bundles" / "keys"


def shipped_trust(env: Mapping[str, str] | None = None) -> TrustStore:
    """The trust store of the public keys in :func:`shipped_keys_dir` (``bundles/keys/``).

    Raises:
        BundleRejectedError: ``BUNDLE_MISSING`` when no public key is committed,
            ``KEY_FILE_INVALID`` / ``KEY_ROTATION_INVALID`` for a bad key or rotation file.
    """
    return TrustStore.load(shipped_keys_dir(env))


def trust_for(keys: Path | None) -> TrustStore:
    """The trusted public keys in ``keys``, or the shipped ones (:func:`shipped_trust`).

    Raises:
        BundleRejectedError: as :func:`shipped_trust`, for ``keys`` or the shipped keys.

    Examples:
        >>> import tempfile
        >>> from quant_bundle import BundleRejectedError
        >>> try:
        ...     trust_for(Path(tempfile.mkdtemp()))  # a directory without public keys
        ... except BundleRejectedError as exc:
        ...     print(exc.reason_code)
        BUNDLE_MISSING
    """
    return TrustStore.load(keys) if keys is not None else shipped_trust()


_TRUE = {"", "1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_log = logging.getLogger(__name__)


def require_bundle(env: Mapping[str, str] | None = None) -> bool:
    """``QUANT_REQUIRE_BUNDLE`` as a bool: on unless the variable says otherwise.

    A session never starts from an untrained model by default: a missing or tampered bundle
    stops it with its reason code. ``QUANT_REQUIRE_BUNDLE=0`` (``false``, ``no``, ``off``) is
    the development opt-out, under which a session runs without a model; choosing it logs a
    warning every time it is read (decision 0083).

    Raises:
        QuantUsageError: the variable has a value that is not a boolean.
    """
    value = environ_or(env).get("QUANT_REQUIRE_BUNDLE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        _log.warning(
            "QUANT_REQUIRE_BUNDLE=%s: development opt-out, a missing or invalid model bundle "
            "runs without a model instead of stopping",
            value,
        )
        return False
    raise QuantUsageError(f"QUANT_REQUIRE_BUNDLE must be 0 or 1, not {value!r}")


def runtime_versions(feature_schema_hash: str | None = None) -> RuntimeVersions:
    """The installed app, backend and model package versions."""
    versions = package_versions()
    return RuntimeVersions(
        app=versions.get("quant-apps") or "0.0.0",
        backend=versions.get("quant-core") or "0.0.0",
        model=versions.get("quant-models"),
        feature_schema_hash=feature_schema_hash,
    )
