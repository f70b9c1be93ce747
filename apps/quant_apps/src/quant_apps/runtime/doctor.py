"""``quant doctor``: what this installation is and whether it can run."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import platform
import sys
from pathlib import Path
from typing import Any

from quant_apps.runtime.config import data_dir, database_url, environ
from quant_core.errors import QuantUsageError, SettingsError
from quant_core.reasons import SETTINGS_INVALID
from quant_core.settings import ENV_VARS, Settings, redact_url

__all__ = [
    "KEYRING_FIX",
    "QUANT_PACKAGES",
    "active_bundle_report",
    "bundle_report",
    "doctor_report",
    "keyring_report",
    "kraken_credentials_check",
    "package_versions",
]

QUANT_PACKAGES = (
    "quant-core",
    "quant-net",
    "quant-data",
    "quant-models",
    "quant-exec",
    "quant-bundle",
    "quant-apps",
)
_DEPENDENCIES = ("attrs", "cattrs", "numpy", "typer", "keyring", "platformdirs", "torch")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    """The installed version of every quant package (``None`` if absent)."""
    return {name: _version(name) for name in QUANT_PACKAGES}


def torch_report() -> dict[str, Any]:
    """Whether torch is installed, and whether it is the CPU or a CUDA build."""
    if importlib.util.find_spec("torch") is None:
        return {"installed": False, "version": None, "build": None, "cuda": None}
    torch = importlib.import_module("torch")
    cuda = torch.version.cuda
    return {
        "installed": True,
        "version": torch.__version__,
        "build": "cuda" if cuda else "cpu",
        "cuda": cuda,
        "cuda_available": bool(cuda) and bool(torch.cuda.is_available()),
        "threads": torch.get_num_threads(),
    }


KEYRING_FIX = (
    "no usable keyring backend, so signing keys and exchange credentials cannot be stored: "
    "start the desktop's Secret Service (GNOME Keyring or KWallet) or, on a headless machine, "
    "install a file backend (`uv pip install keyrings.alt`) and select it with "
    "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring (development only: signing "
    "keys; exchange credentials are never kept in a plaintext keyring)"
)
"""What ``doctor`` tells a user whose keyring has no usable backend."""


def keyring_report() -> dict[str, Any]:
    """The keyring backend private keys and exchange credentials would be stored in."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return {"backend": None, "usable": False, "detail": type(exc).__name__, "fix": KEYRING_FIX}
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    usable = "fail" not in type(backend).__module__ and "null" not in name.lower()
    report = {"backend": name, "usable": usable, "priority": getattr(backend, "priority", None)}
    return report if usable else {**report, "fix": KEYRING_FIX}


def kraken_credentials_check(url: str | None = None) -> dict[str, Any]:
    """Whether a validated Kraken key is stored for ``url`` (a ``doctor`` check; never the key).

    Args:
        url: the exchange's root (default: Kraken's).

    Examples:
        >>> import keyring
        >>> from keyring.backends import fail
        >>> previous = keyring.get_keyring()
        >>> keyring.set_keyring(fail.Keyring())
        >>> check = kraken_credentials_check()
        >>> keyring.set_keyring(previous)
        >>> check["status"], check["reason_code"]
        ('warn', 'CREDENTIALS_UNAVAILABLE')
    """
    from quant_apps.runtime.trading.credentials import CredentialStore
    from quant_apps.runtime.trading.livereasons import CREDENTIALS_MISSING
    from quant_core.errors import QuantError
    from quant_net import kraken

    where = url or kraken.BASE_URL
    check: dict[str, Any] = {"name": "kraken credentials", "status": "warn"}
    try:
        stored = CredentialStore().load(where)
    except QuantError as exc:
        return {**check, "detail": exc.message, "reason_code": exc.reason_code}
    if stored is None:
        detail = f"no validated key for {where}: `quant kraken connect` (needed only for live)"
        return {**check, "detail": detail, "reason_code": CREDENTIALS_MISSING}
    detail = f"{stored.fingerprint} for {where}: {', '.join(stored.permissions)}"
    return {**check, "status": "ok", "detail": detail}


def bundle_report(env: dict[str, str]) -> dict[str, Any]:
    """Whether the shipped (or ``QUANT_BUNDLE_SOURCE``) model bundle verifies.

    Signature, manifest and archive digest are checked against the trusted keys, as an install
    would; nothing is extracted or installed.

    Examples:
        >>> report = bundle_report({"QUANT_BUNDLE_SOURCE": "/nonexistent/release"})
        >>> report["verified"], report["reason_code"]
        (False, 'BUNDLE_MISSING')
    """
    from quant_apps.runtime.models.bundles import shipped_bundle_dir, shipped_trust
    from quant_bundle import BundleRejectedError, verify_release

    source = shipped_bundle_dir(env)
    try:
        release = verify_release(source, shipped_trust(env))
    except BundleRejectedError as exc:
        return {
            "source": str(source),
            "verified": False,
            "reason_code": exc.reason_code,
            "detail": exc.message,
        }
    return {
        "source": str(source),
        "verified": True,
        "bundle_version": release.manifest.bundle_version,
        "bundle_hash": release.manifest.digest,
        "signers": list(release.signers),
    }


_ACTIVATE_STEP = "run `quant bundle activate`"
"""The next step doctor names when no bundle is active in the default install root."""


def active_bundle_report(root: Path, env: dict[str, str]) -> dict[str, Any]:
    """The bundle active in the install root ``root``, as ``quant bundle status`` reports it.

    Read-only (:meth:`quant_bundle.BundleStore.status`): nothing is installed, recovered or
    written. ``active_version`` is ``None`` when nothing is active; a store or trust root that
    cannot be read adds its ``reason_code`` and ``detail``.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp()) / "bundles"
        >>> active_bundle_report(root, {})["active_version"] is None
        True
    """
    from quant_apps.runtime.clock import WallClock
    from quant_apps.runtime.models.bundles import shipped_trust
    from quant_bundle import BundleRejectedError, BundleStorageError, BundleStore

    try:
        status = BundleStore(root, shipped_trust(env), WallClock()).status()
    except (BundleRejectedError, BundleStorageError) as exc:
        return {
            "root": str(root),
            "active_version": None,
            "reason_code": exc.reason_code,
            "detail": exc.message,
        }
    return {"root": str(root), "active_version": status["active_version"]}


def _bundle_check(bundle: dict[str, Any], active: dict[str, Any], required: bool) -> dict[str, Any]:
    """Doctor's ``model bundle`` check: the shipped release and the active bundle.

    ``fail`` (``warn`` when no bundle is required) when the shipped release does not verify;
    ``warn`` with the next step when it verifies but no bundle is active in the default
    install root (an installable release is not a broken install: ``quant bundle activate``,
    or the first app start, installs it); ``ok`` when it verifies and a bundle is active.
    """
    active_version = active["active_version"]
    if active_version is not None:
        now = f"bundle {active_version} active"
    elif "reason_code" in active:
        now = f"active bundle unknown [{active['reason_code']}]: {active['detail']}"
    else:
        now = f"no bundle active: {_ACTIVATE_STEP}"
    if not bundle["verified"]:
        return {
            "name": "model bundle",
            "status": "fail" if required else "warn",
            "detail": f"{bundle['reason_code']}: {bundle['detail']}; {now}",
            "reason_code": bundle["reason_code"],
        }
    return {
        "name": "model bundle",
        "status": "ok" if active_version is not None else "warn",
        "detail": f"shipped release {bundle['bundle_version']} verifies"
        f" ({bundle['source']}); {now}",
        **({"reason_code": active["reason_code"]} if "reason_code" in active else {}),
    }


def _dir_report(path: Path) -> dict[str, Any]:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return {
        "path": str(path),
        "exists": path.is_dir(),
        "writable": os.access(existing, os.W_OK),
    }


def doctor_report(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the environment report (read-only: it creates nothing)."""
    env = environ() if env is None else env
    checks: list[dict[str, Any]] = []
    try:
        settings = Settings.from_environ(env)
        checks.append({"name": "settings", "status": "ok", "detail": "environment parsed"})
        settings_error: SettingsError | None = None
    except SettingsError as exc:
        settings = Settings()
        settings_error = exc
        checks.append(
            {"name": "settings", "status": "fail", "detail": exc.message,
             "reason_code": exc.reason_code}
        )  # fmt: skip
    py_ok = sys.version_info >= (3, 11)
    checks.append(
        {"name": "python", "status": "ok" if py_ok else "fail", "detail": platform.python_version()}
    )
    versions = package_versions()
    missing = [name for name, v in versions.items() if v is None]
    checks.append(
        {"name": "packages", "status": "fail" if missing else "ok",
         "detail": f"missing: {', '.join(missing)}" if missing else "all quant packages installed"}
    )  # fmt: skip
    torch = torch_report()
    checks.append(
        {"name": "torch", "status": "ok" if torch["installed"] else "warn",
         "detail": f"{torch['version']} ({torch['build']})" if torch["installed"]
         else "not installed (training of sequence models unavailable)"}
    )  # fmt: skip
    keyring = keyring_report()
    checks.append(
        {"name": "keyring", "status": "ok" if keyring["usable"] else "warn",
         "detail": keyring["backend"] if keyring["usable"]
         else f"{keyring['backend'] or 'no backend'}: {KEYRING_FIX}"}
    )  # fmt: skip
    checks.append(kraken_credentials_check())
    bundle = bundle_report(env)
    from quant_apps.runtime.models.bundles import require_bundle  # that module imports this one

    try:
        required = require_bundle(env)
    except QuantUsageError:  # an unreadable flag is treated as the strict setting
        required = True
    bundle = {**bundle, "active": active_bundle_report(data_dir(settings) / "bundles", env)}
    checks.append(_bundle_check(bundle, bundle["active"], required))
    secrets = {
        var.env: ("set" if getattr(settings, var.field) is not None else "unset")
        for var in ENV_VARS
        if var.secret and var.env != "QUANT_DATABASE_URL"
    }
    report: dict[str, Any] = {
        "ok": not any(c["status"] == "fail" for c in checks),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "packages": versions,
        "dependencies": {name: _version(name) for name in _DEPENDENCIES},
        "torch": torch,
        "data_dir": _dir_report(data_dir(settings)),
        "database_url": redact_url(database_url(settings)),
        "keyring": keyring,
        "bundle": bundle,
        "settings": {
            "hist_market_data_provider": settings.hist_market_data_provider.value,
            "training_universe_version": settings.training_universe_version,
            "kraken_public_base_url": redact_url(settings.kraken_public_base_url),
            "force_local_data_for_training": settings.force_local_data_for_training,
            "allow_provider_calls_during_training": settings.allow_provider_calls_during_training,
            "secrets": secrets,
        },
        "checks": checks,
    }
    if settings_error is not None:
        report["reason_code"] = SETTINGS_INVALID
    return report
