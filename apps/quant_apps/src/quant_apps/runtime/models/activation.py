"""The one way the apps get a model: verify → install → load the active bundle → predictor.

A model bundle's artifacts are exactly the files ``quant train --out DIR`` writes (the model
set, ``run.json``, ``evidence.json``, ``decision.json``, ``oof.csv``), packed and signed by
``quant bundle build``. :func:`activate_bundle` takes a release directory, verifies its
signature and digests, installs it into a :class:`quant_bundle.BundleStore` through the real
staged, atomic install path (a no-op when that bundle is already active), loads the *active*
bundle back (re-verifying every file) and builds a
:class:`quant_models.predictor.ModelSetPredictor` from it. Nothing else in the code loads
models: a backtest (``quant backtest --bundle``), the demo and the paper/live sessions all
come through here.

A bundle whose models do not load, whose run record is missing, whose feature schema hash
differs from the manifest's, or whose gate decision did not promote is refused at install time
(the store's smoke check) and again at load time, with the reason code of what failed: the
model package's (``MODEL_FAMILY_UNKNOWN``, ``MODEL_SHAPE_MISMATCH``, ``SCHEMA_MISMATCH``…)
when the models do not load, ``SMOKE_TEST_FAILED`` for a gate or lineage mismatch (decision
0119). :func:`smoke_check` is that check; ``quant bundle install`` runs it too.

``QUANT_REQUIRE_BUNDLE=1`` (see :func:`quant_apps.runtime.models.bundles.require_bundle`) turns a
missing or tampered bundle into a hard stop carrying the bundle's reason code; unset, the
caller gets ``None`` and reports the reason it is handed (``on_fallback``).

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> state = Path(tempfile.mkdtemp())
    >>> seen = []
    >>> activate_bundle(state, state / "no-such-release", trust=None, require=False,
    ...                 on_fallback=lambda code, message: seen.append(code)) is None
    True
    >>> seen
    ['BUNDLE_MISSING']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal, overload

from quant_apps.runtime.models.bundles import (
    ARTIFACTS_DIR,
    ActiveModel,
    BundledPredictor,
    NoModel,
    environ_or,
    require_bundle,
    runtime_versions,
    shipped_bundle_dir,
    shipped_trust,
    trust_for,
)
from quant_bundle import (
    ARCHIVE_NAME,
    BundleFallback,
    BundleRejectedError,
    BundleStorageError,
    BundleStore,
    Manifest,
    RuntimeVersions,
    VerifiedRelease,
    extract_archive,
    load_active_bundle,
    parse_manifest,
    reasons,
    verify_installed,
    verify_release,
)
from quant_bundle.keys import TrustStore
from quant_core import Clock
from quant_core.events import Predictor

__all__ = [
    "Fallback",
    "activate_bundle",
    "load_active_model",
    "model_from_bundle",
    "serve_active_bundle",
    "serve_bundle",
    "smoke_check",
    "startup_model",
    "verify_models",
]
RUN_FILE: Final = "run.json"
DECISION_FILE: Final = "decision.json"

Fallback = Callable[[str, str], None]
"""``on_fallback(reason_code, message)``: told why no model was activated (require off)."""


def _refuse(message: str, code: str = reasons.SMOKE_TEST_FAILED) -> BundleRejectedError:
    return BundleRejectedError(message, reason_code=code)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise _refuse(f"the bundle has no {path.name}", reasons.MISSING_MEMBER) from None
    except (OSError, ValueError) as exc:
        raise _refuse(f"{path.name} in the bundle is unreadable: {exc}") from None


def model_from_bundle(
    path: Path,
    manifest: Manifest,
    *,
    clock: Clock | None = None,
    degraded_reason: str | None = None,
) -> ActiveModel:
    """Build the :class:`ActiveModel` of an installed, already verified bundle directory.

    Args:
        path: the installed bundle (``manifest.json`` and ``artifacts/``).
        manifest: its verified manifest.
        clock: stamps ``ts_init`` on live predictions (``None`` for replays).
        degraded_reason: passed through to :attr:`ActiveModel.degraded_reason`.

    Raises:
        BundleRejectedError: ``MISSING_MEMBER`` without a run record or gate decision;
            the model package's reason when the models do not load (``MODEL_FAMILY_UNKNOWN``,
            ``MODEL_SHAPE_MISMATCH``, ``SCHEMA_MISMATCH``, ``ENSEMBLE_MEMBER_MISSING``,
            ``ARTIFACT_INVALID``…, decision 0119); ``SMOKE_TEST_FAILED`` when the gate
            decision did not promote or the run record disagrees with the model set;
            ``INCOMPATIBLE_FEATURE_SCHEMA`` when the manifest names another schema.
    """
    from quant_core.errors import QuantError
    from quant_models import ModelSetPredictor, load_model_set

    artifacts = path / ARTIFACTS_DIR
    run = _read_json(artifacts / RUN_FILE)
    decision = _read_json(artifacts / DECISION_FILE)
    if not (isinstance(decision, dict) and decision.get("promote") is True):
        raise _refuse("the bundle's gate decision did not promote its models")
    try:
        model_set = load_model_set(artifacts)
        predictor = ModelSetPredictor(model_set, clock=clock)
    except QuantError as exc:  # keeps the model's reason: MODEL_FAMILY_UNKNOWN, … (0119)
        raise _refuse(f"the bundle's models do not load: {exc.message}", exc.reason_code) from None
    if manifest.feature_schema_hash != model_set.schema.schema_hash:
        raise _refuse(
            f"the manifest names feature schema {manifest.feature_schema_hash}, the models use "
            f"{model_set.schema.schema_hash}",
            reasons.INCOMPATIBLE_FEATURE_SCHEMA,
        )
    try:
        lineage = {k: run[k] for k in ("model_id", "dataset_hash", "config_hash", "seed")}
        run_id = str(run["run_id"])
    except (KeyError, TypeError):
        raise _refuse(f"{RUN_FILE} in the bundle is not a run record") from None
    if lineage["model_id"] != model_set.model_id:
        raise _refuse(f"{RUN_FILE} names model {lineage['model_id']}, not {model_set.model_id}")
    return ActiveModel(
        predictor=predictor,
        bundle_hash=manifest.digest,
        bundle_version=manifest.bundle_version,
        model_id=model_set.model_id,
        dataset_hash=str(lineage["dataset_hash"]),
        config_hash=str(lineage["config_hash"]),
        seed=int(lineage["seed"]),
        manifest=manifest.to_dict(),
        run_id=run_id,
        path=path,
        degraded_reason=degraded_reason,
    )


def smoke_check(
    trust: TrustStore, runtime: RuntimeVersions | None, *, models: bool = True
) -> Callable[[Path, Manifest], None]:
    """The store's pre-activation check: re-verify every file, then load the models.

    The models must load and serve as :func:`model_from_bundle` builds them, so a bad model
    is refused at install, before it becomes active, with its own reason code. With
    ``models=False`` (``quant bundle install``, which also installs bundles of other
    artifacts) only a bundle holding a model set (``artifacts/metadata.json``) is loaded;
    any other is only re-verified.

    Args:
        trust: the trusted keys.
        runtime: the running versions the bundle must be compatible with.
        models: require a loadable model set (else load one only when present).

    Examples:
        >>> import tempfile
        >>> from quant_bundle import BundleRejectedError
        >>> check = smoke_check(TrustStore(()), None)
        >>> try:
        ...     check(Path(tempfile.mkdtemp()), None)  # no manifest: nothing verifies
        ... except BundleRejectedError as exc:
        ...     print(exc.reason_code)
        BUNDLE_MISSING
    """

    def check(path: Path, manifest: Manifest) -> None:
        verify_installed(path, trust, runtime)
        if models or (path / ARTIFACTS_DIR / "metadata.json").is_file():
            model_from_bundle(path, manifest)

    return check


def verify_models(release: VerifiedRelease) -> str | None:
    """Load a verified release's models the way activation will (nothing is installed).

    The archive is extracted into a temporary directory (removed afterwards) under the
    manifest's allow-list and digests; a release holding a model set
    (``artifacts/metadata.json``) then goes through :func:`model_from_bundle`, so ``quant
    bundle verify`` refuses an unknown family, mismatched weights or another feature schema
    with the same reason code install and activation give (decision 0119).

    Args:
        release: a release :func:`quant_bundle.verify_release` accepted.

    Returns:
        The model set id, or ``None`` when the release holds no model set.

    Raises:
        BundleRejectedError: the archive does not extract under its manifest, or the models
            do not serve (the reason codes of :func:`model_from_bundle`).

    Examples:
        >>> from quant_apps.runtime.models.bundles import shipped_keys_dir
        >>> from quant_bundle.keys import TrustStore
        >>> shipped = verify_release(shipped_bundle_dir({}), TrustStore.load(shipped_keys_dir({})))
        >>> verify_models(shipped).startswith("sha256:")
        True
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="quant-verify-") as scratch:
        root = Path(scratch)
        try:
            extract_archive(release.directory / ARCHIVE_NAME, root, release.manifest)
        except OSError as exc:
            raise BundleStorageError(
                f"cannot extract the release to check its models: {exc}",
                reason_code=reasons.BUNDLE_IO_FAILED,
            ) from None
        if not (root / ARTIFACTS_DIR / "metadata.json").is_file():
            return None
        return model_from_bundle(root, release.manifest).model_id


def _active_digest(state_dir: Path) -> str | None:
    try:
        return parse_manifest((state_dir / "current" / "manifest.json").read_bytes()).digest
    except (OSError, BundleRejectedError):
        return None


def _give_up(exc: BundleRejectedError | BundleStorageError, on_fallback: Fallback | None) -> None:
    if on_fallback is not None:
        on_fallback(exc.reason_code, exc.message)


def load_active_model(
    state_dir: Path,
    *,
    require: bool,
    trust: TrustStore | None = None,
    clock: Clock | None = None,
    on_fallback: Fallback | None = None,
) -> ActiveModel | None:
    """Load the active bundle of an install root and build its predictor (no install).

    Args:
        state_dir: the install root of a :class:`quant_bundle.BundleStore`.
        require: raise instead of returning ``None`` when no verified bundle loads.
        trust: the trusted keys (default :func:`shipped_trust`).
        clock: stamps ``ts_init`` on live predictions (``None`` for replays).
        on_fallback: told ``(reason_code, message)`` when ``None`` is returned.

    Raises:
        BundleRejectedError: ``require`` is set and nothing verifies or loads (its reason code:
            ``BUNDLE_MISSING``, ``ACTIVE_CORRUPT``, a signature reason, ``SMOKE_TEST_FAILED``…).
    """
    try:
        keys = shipped_trust() if trust is None else trust
        loaded = load_active_bundle(
            Path(state_dir), keys, require=require, runtime=runtime_versions()
        )
        if isinstance(loaded, BundleFallback):
            if on_fallback is not None:
                on_fallback(loaded.reason_code, loaded.message)
            return None
        return model_from_bundle(
            loaded.path, loaded.manifest, clock=clock, degraded_reason=loaded.degraded_reason
        )
    except (BundleRejectedError, BundleStorageError) as exc:
        if require:
            raise
        _give_up(exc, on_fallback)
        return None


@overload
def activate_bundle(
    state_dir: Path,
    source: Path | None = ...,
    *,
    trust: TrustStore | None = ...,
    require: Literal[True],
    clock: Clock | None = ...,
    on_fallback: Fallback | None = ...,
    on_kept: Fallback | None = ...,
) -> ActiveModel: ...


@overload
def activate_bundle(
    state_dir: Path,
    source: Path | None = ...,
    *,
    trust: TrustStore | None = ...,
    require: bool,
    clock: Clock | None = ...,
    on_fallback: Fallback | None = ...,
    on_kept: Fallback | None = ...,
) -> ActiveModel | None: ...


def activate_bundle(
    state_dir: Path,
    source: Path | None = None,
    *,
    trust: TrustStore | None = None,
    require: bool,
    clock: Clock | None = None,
    on_fallback: Fallback | None = None,
    on_kept: Fallback | None = None,
) -> ActiveModel | None:
    """Verify the release in ``source``, install it under ``state_dir``, load the active bundle.

    Installing is skipped when this very bundle is already active, and a store that already
    holds a newer bundle (the release would be a ``ROLLBACK``) keeps it: the active bundle is
    what gets loaded.

    Args:
        state_dir: the :class:`quant_bundle.BundleStore` install root (created if needed).
        source: a release directory (``manifest.json``, ``manifest.sig``, ``bundle.tar.zst``);
            default :func:`shipped_bundle_dir`.
        trust: the trusted keys (default :func:`shipped_trust`).
        require: raise the bundle error instead of returning ``None``.
        clock: the store's audit clock and the predictor's ``ts_init`` stamp; default a wall
            clock for the audit and ``None`` (replay stamps) for the predictor.
        on_fallback: told ``(reason_code, message)`` when ``None`` is returned.
        on_kept: told ``(reason_code, message)`` when the store refused the release
            (``ROLLBACK``, ``ALREADY_INSTALLED``) and kept its active bundle.

    Raises:
        BundleRejectedError: with ``require``: ``BUNDLE_MISSING``, a signature reason,
            ``ARCHIVE_DIGEST_MISMATCH``, ``MANIFEST_*``, ``INCOMPATIBLE_*``,
            ``VERSION_REUSED``, ``SMOKE_TEST_FAILED``, ``ACTIVE_CORRUPT``…
        BundleStorageError: with ``require``: the install root cannot be written.
    """
    from quant_apps.runtime.clock import WallClock

    state = Path(state_dir)
    try:
        keys = shipped_trust() if trust is None else trust
        runtime = runtime_versions()
        release = verify_release(shipped_bundle_dir() if source is None else source, keys, runtime)
        if _active_digest(state) != release.manifest.digest:
            store = BundleStore(
                state,
                keys,
                clock if clock is not None else WallClock(),
                runtime=runtime,
                smoke=smoke_check(keys, runtime),
            )
            try:
                store.install(release.directory)
            except BundleRejectedError as exc:
                if exc.reason_code not in (reasons.ROLLBACK, reasons.ALREADY_INSTALLED):
                    raise
                if on_kept is not None:
                    on_kept(exc.reason_code, exc.message)
    except (BundleRejectedError, BundleStorageError) as exc:
        if require:
            raise
        _give_up(exc, on_fallback)
        return None
    return load_active_model(
        state, require=require, trust=keys, clock=clock, on_fallback=on_fallback
    )


def startup_model(
    state_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    trust: TrustStore | None = None,
    clock: Clock | None = None,
    on_fallback: Fallback | None = None,
) -> ActiveModel | None:
    """Activate the default bundle at startup, as ``QUANT_REQUIRE_BUNDLE`` demands.

    The source is :func:`shipped_bundle_dir` (``QUANT_BUNDLE_SOURCE`` overrides it), the trust
    is ``trust`` or else :func:`shipped_trust` (``QUANT_BUNDLE_KEYS`` overrides it). With
    ``QUANT_REQUIRE_BUNDLE=1`` a missing or tampered bundle raises with its reason code (the
    app stops, exit 3); otherwise ``None`` comes back and ``on_fallback`` hears why.

    Raises:
        BundleRejectedError: ``QUANT_REQUIRE_BUNDLE=1`` and no verified bundle activates.
        QuantUsageError: ``QUANT_REQUIRE_BUNDLE`` is not a boolean.
    """
    values = environ_or(env)
    return _activate_trusted(
        state_dir,
        shipped_bundle_dir(values),
        lambda: shipped_trust(values) if trust is None else trust,
        require=require_bundle(values),
        clock=clock,
        on_fallback=on_fallback,
    )


def _activate_trusted(
    state_dir: Path,
    source: Path | None,
    load_trust: Callable[[], TrustStore],
    *,
    require: bool,
    clock: Clock | None,
    on_fallback: Fallback | None,
) -> ActiveModel | None:
    """:func:`activate_bundle` after loading the keys; bad keys fall back as a bad bundle does."""
    try:
        keys = load_trust()
    except BundleRejectedError as exc:  # no or bad keys: nothing can verify
        if require:
            raise
        _give_up(exc, on_fallback)
        return None
    return activate_bundle(
        state_dir, source, trust=keys, require=require, clock=clock, on_fallback=on_fallback
    )


def serve_bundle(
    state_dir: Path,
    source: Path | None = None,
    keys: Path | None = None,
    *,
    require: bool,
    clock: Clock | None = None,
) -> tuple[Predictor, dict[str, Any]]:
    """The predictor a session serves, and what to report about it.

    Loads the trusted keys (``keys`` or the shipped ones) and runs :func:`activate_bundle` on
    ``source`` (default the shipped release). When no bundle activates and ``require`` is off,
    the predictor is the :class:`NoModel` stand-in and the description says why.

    Returns:
        ``(BundledPredictor, {"active": True, **identity})`` or
        ``(NoModel, {"active": False, "reason_code": …, "message": …})``.

    Raises:
        BundleRejectedError: ``require`` and the keys or the bundle do not verify.
        BundleStorageError: ``require`` and the install root cannot be written.

    Examples:
        >>> import tempfile
        >>> state = Path(tempfile.mkdtemp())
        >>> predictor, about = serve_bundle(state, state / "no-such-release", require=False)
        >>> predictor.model_id, about["active"], about["reason_code"]
        ('none:BUNDLE_MISSING', False, 'BUNDLE_MISSING')
    """
    why: list[tuple[str, str]] = []

    def heard(code: str, message: str) -> None:
        why.append((code, message))

    active = _activate_trusted(
        state_dir, source, lambda: trust_for(keys), require=require, clock=clock, on_fallback=heard
    )
    return _served(active, why, "no bundle activated")


def serve_active_bundle(
    state_dir: Path, keys: Path | None, *, require: bool, clock: Clock | None
) -> tuple[Predictor, dict[str, Any]]:
    """The predictor of the install root's active bundle, and what to report about it.

    Nothing is installed: this serves what an update or a rollback left active. Without a
    verified active bundle, ``require`` raises; otherwise the :class:`NoModel` stand-in
    comes back with the reason.

    Raises:
        BundleRejectedError: ``require`` and nothing verifies or loads; the keys are refused.

    Examples:
        >>> import tempfile
        >>> predictor, about = serve_active_bundle(Path(tempfile.mkdtemp()), None,
        ...                                        require=False, clock=None)
        >>> about["active"], about["reason_code"]
        (False, 'BUNDLE_MISSING')
    """
    why: list[tuple[str, str]] = []
    active = load_active_model(
        state_dir,
        require=require,
        trust=trust_for(keys),
        clock=clock,
        on_fallback=lambda code, message: why.append((code, message)),
    )
    return _served(active, why, "no active bundle")


def _served(
    active: ActiveModel | None, why: list[tuple[str, str]], missing: str
) -> tuple[Predictor, dict[str, Any]]:
    """The predictor of ``active`` and its identity, or :class:`NoModel` and why (``why[0]``)."""
    if active is None:
        code, message = why[0] if why else (reasons.BUNDLE_MISSING, missing)
        return NoModel(code), {"active": False, "reason_code": code, "message": message}
    return BundledPredictor(active), {"active": True, **active.identity()}
