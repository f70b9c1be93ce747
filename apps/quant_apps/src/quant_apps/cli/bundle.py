"""``quant bundle …``: keys, build, verify, install, activate, status, rollback, updates.

Every command takes ``--json`` and follows :mod:`quant_apps.cli.output`: exit 3 with the reason
code on every rejection (the active bundle is unchanged), 1 on storage failures, 2 on usage
errors. An install (or update) whose new bundle became active but a step after that commit
point failed (directory sync, retention, the audit append) exits 0 with outcome ``installed``,
reason ``POST_COMMIT_FAILED`` and a ``warning`` naming what failed. The install root
defaults to ``<data dir>/bundles`` (``--root`` overrides); trusted
public keys default to the shipped ``bundles/keys``
(:func:`quant_apps.runtime.models.bundles.shipped_keys_dir`: the checkout's, or
``QUANT_BUNDLE_KEYS``; ``--trusted-keys`` overrides).

A trust root refused before the store opens (a bad key or rotation statement) is audited in
the store's audit log by ``install``, ``apply-update``, ``rollback`` and ``repair``; ``quant
bundle repair`` restores the retained known-good bundle when the active one is corrupt.

``quant bundle build DIR`` on a ``quant train --out`` directory takes the manifest's feature
schema hash from ``metadata.json`` and the training lineage from ``run.json`` (decision record
0054); :mod:`quant_apps.runtime.models.activation` is what loads the models of an installed bundle.
``verify``, ``install`` and ``activate`` all load a release's model set before anything is
active, and refuse a bad one with the model's reason code (``MODEL_FAMILY_UNKNOWN``,
``MODEL_SHAPE_MISMATCH``, ``SCHEMA_MISMATCH``…; decision 0119).

``QUANT_REQUIRE_BUNDLE=1`` (read here, never in the library) makes ``quant bundle check`` a
hard error when no verified bundle can be loaded, instead of reporting the fallback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from quant_apps.cli.output import emit_json, guarded, human, results
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.config import data_dir, load_settings
from quant_apps.runtime.models.activation import activate_bundle, verify_models
from quant_apps.runtime.models.bundledesk import BundleDesk, open_trust
from quant_apps.runtime.models.bundles import (
    require_bundle,
    runtime_versions,
    shipped_bundle_dir,
    trust_for,
)
from quant_apps.runtime.models.releases import (
    build_signed_release,
    new_signing_key,
    signing_key,
    validate_release,
)
from quant_bundle import (
    BundleMissingError,
    LoadedBundle,
    load_active_bundle,
    reasons,
    verify_release,
)
from quant_bundle.keys import TrustStore
from quant_core.errors import QuantUsageError

__all__ = ["app"]

app = typer.Typer(
    help="Signed model bundles: keygen, build, verify, install, activate, status, rollback,"
    " updates.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
RootOpt = Annotated[
    Path | None, typer.Option("--root", help="Install root (default: <data dir>/bundles).")
]
KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--trusted-keys",
        help="Directory of trusted public keys [default: the shipped bundles/keys].",
    ),
]
RetentionOpt = Annotated[
    int, typer.Option("--retention", help="Previous known-good bundles to keep (>= 1).")
]
SchemaOpt = Annotated[
    str | None,
    typer.Option("--feature-schema-hash", help="Running feature schema hash to require."),
]


def _root(root: Path | None) -> Path:
    return root if root is not None else data_dir(load_settings()) / "bundles"


def _trust(keys: Path | None) -> TrustStore:
    """The trusted keys in ``keys``, or the shipped ones (``trust_for``)."""
    return trust_for(keys)


def _desk(
    root: Path | None,
    keys: Path | None,
    schema: str | None = None,
    retention: int = 1,
    *,
    kind: str | None = None,
    source: str | None = None,
) -> BundleDesk:
    """The :class:`BundleDesk` of ``root``; a command that changes it passes its audit ``kind``.

    A trust root that is refused (a bad key or rotation statement) refuses the command before
    the store exists; with ``kind`` set, that refusal is still audited, once, in the store's
    audit log (:func:`~quant_apps.runtime.models.bundledesk.open_trust`).
    """
    clock = WallClock()
    trust = open_trust(_root(root), keys, clock, audit_kind=kind)
    return BundleDesk(
        _root(root),
        trust,
        clock,
        source=source,
        runtime=runtime_versions(schema),
        retention=retention,
    )


def _out(document: dict[str, Any], as_json: bool, text: str, warning: str | None = None) -> None:
    """The result on stdout (JSON or ``text``); a ``warning`` goes to stderr."""
    if as_json:
        emit_json({"ok": True, **document})
        return
    results().print(text, markup=False)
    if warning is not None:
        human().print(f"warning: {warning}", markup=False)


_ACTIVATE_HINT = "run `quant bundle activate` to install and activate the shipped bundle"


def _not_available(offered: str, active: str | None) -> str:
    """``check-update``'s answer when the offered release is at the version floor."""
    if offered == active:
        return f"up to date ({offered} active)"
    return (
        f"no update: {offered} is at the version floor but bundle {active or 'none'} is active"
        " (rolled back); a release newer than the floor is needed to move on"
    )


def _fallback(code: str, message: str, as_json: bool, what: str) -> None:
    """Report that no bundle loaded and the app runs in fallback mode."""
    _out(
        {"loaded": False, "fallback": True, "reason_code": code, "message": message},
        as_json,
        f"{what}, running in fallback mode [{code}]",
    )


@app.command("keygen")
@guarded()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key files.")],
    name: Annotated[str, typer.Option("--name", help="Key file base name.")] = "release",
    use_keyring: Annotated[
        bool, typer.Option("--keyring", help="Store the private key in the OS keychain.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Generate an Ed25519 signing key: a public file plus a private file (0600) or keychain."""
    key, written = new_signing_key(out, name, use_keyring=use_keyring)
    _out(
        {"key_id": key.key_id, **written},
        json_output,
        f"key {key.key_id}: public {written['public']}, private {written['private']}",
    )


@app.command("build")
@guarded()
def build(
    artifact_dir: Annotated[
        Path | None, typer.Argument(help="Directory of artifact files to bundle.")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", help="Bundle version X.Y.Z.")] = None,
    sign_key: Annotated[
        str | None, typer.Option("--sign-key", help="Private key file, or keyring:NAME.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Release directory.")] = None,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            help="JSON file: model_family_versions, training_lineage_metadata, "
            "compatibility_range, inference_contract.",
        ),
    ] = None,
    feature_schema_hash: Annotated[
        str | None,
        typer.Option(
            "--feature-schema-hash",
            help="Feature schema hash of the models (default: from a quant train"
            " metadata.json in ARTIFACT_DIR).",
        ),
    ] = None,
    pointer_days: Annotated[
        float, typer.Option("--pointer-days", help="Days until the 'latest' pointer expires.")
    ] = 30.0,
    pointer_version: Annotated[
        int | None, typer.Option("--pointer-version", help="Pointer version (default: now).")
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Validate the existing release in --out instead.")
    ] = False,
    trusted_keys: KeysOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Build (or with --validate check) a signed release: archive, manifest, signature."""
    if out is None:
        raise QuantUsageError("--out is required")
    if validate:
        release = validate_release(out, _trust(trusted_keys))
        _out(
            {
                "validated": str(out),
                "version": release.manifest.bundle_version,
                "manifest_digest": release.manifest.digest,
                "signers": list(release.signers),
            },
            json_output,
            f"{out}: bundle {release.manifest.bundle_version} is valid ({release.manifest.digest})",
        )
        return
    if artifact_dir is None or version is None or sign_key is None:
        raise QuantUsageError("ARTIFACT_DIR, --version and --sign-key are required to build")
    extra: dict[str, Any] = {}
    if metadata is not None:
        try:
            extra = json.loads(metadata.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise QuantUsageError(f"cannot read --metadata: {exc}") from None
        unknown = set(extra) - {
            "model_family_versions",
            "training_lineage_metadata",
            "compatibility_range",
            "inference_contract",
        }
        if unknown:
            raise QuantUsageError(f"unknown --metadata keys: {sorted(unknown)}")
    key = signing_key(sign_key)
    manifest = build_signed_release(
        artifact_dir,
        version,
        key,
        out,
        clock=WallClock(),
        extra=extra,
        feature_schema_hash=feature_schema_hash,
        pointer_days=pointer_days,
        pointer_version=pointer_version,
    )
    _out(
        {
            "out": str(out),
            "version": version,
            "manifest_digest": manifest.digest,
            "archive_sha384": manifest.archive_sha384,
            "key_id": key.key_id,
        },
        json_output,
        f"built bundle {version} in {out} ({manifest.digest})",
    )


@app.command("verify")
@guarded()
def verify(
    directory: Annotated[Path, typer.Argument(help="Release directory to verify.")],
    trusted_keys: KeysOpt = None,
    feature_schema_hash: SchemaOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Verify signature, manifest, compatibility, archive digest, and that the models load.

    The archive is extracted into a temporary directory only to load its model set (as
    activation will); nothing is installed (decision 0119).
    """
    release = verify_release(directory, _trust(trusted_keys), runtime_versions(feature_schema_hash))
    model_id = verify_models(release)
    checks = [*release.checks, *(["models"] if model_id is not None else [])]
    _out(
        {
            "version": release.manifest.bundle_version,
            "manifest_digest": release.manifest.digest,
            "signers": list(release.signers),
            "checks": checks,
            "model_id": model_id,
        },
        json_output,
        f"{directory}: bundle {release.manifest.bundle_version} verified ({', '.join(checks)})",
    )


@app.command("install")
@guarded()
def install(
    directory: Annotated[Path, typer.Argument(help="Release directory to install.")],
    trusted_keys: KeysOpt = None,
    root: RootOpt = None,
    feature_schema_hash: SchemaOpt = None,
    retention: RetentionOpt = 1,
    json_output: JsonOpt = False,
) -> None:
    """Verify and atomically install a release; the active bundle is unchanged on rejection."""
    desk = _desk(root, trusted_keys, feature_schema_hash, retention, kind="bundle.install")
    result = desk.store().install(directory)
    _out(result.to_dict(), json_output, f"installed bundle {result.version}", result.warning)


@app.command("status")
@guarded()
def status(
    trusted_keys: KeysOpt = None,
    root: RootOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Show the active and previous bundles, the version floor, retention and quarantine."""
    report = _desk(root, trusted_keys).store_status()
    _out(
        report,
        json_output,
        f"active {report['active_version'] or 'none'}, previous "
        f"{report['previous_version'] or 'none'}, floor {report['floor_version'] or 'none'}"
        + ("" if report["active"] else f"; {_ACTIVATE_HINT}"),
    )


@app.command("check")
@guarded()
def check(
    trusted_keys: KeysOpt = None,
    root: RootOpt = None,
    feature_schema_hash: SchemaOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Load the active bundle as the runtime would; QUANT_REQUIRE_BUNDLE=1 makes absence fatal."""
    try:
        result = load_active_bundle(
            _root(root),
            _trust(trusted_keys),
            require=require_bundle(),
            runtime=runtime_versions(feature_schema_hash),
        )
    except BundleMissingError as exc:
        raise BundleMissingError(f"{exc.message}; {_ACTIVATE_HINT}") from None
    if isinstance(result, LoadedBundle):
        _out(
            {
                "loaded": True,
                "version": result.manifest.bundle_version,
                "manifest_digest": result.manifest.digest,
                "path": str(result.path),
                "degraded_reason": result.degraded_reason,
            },
            json_output,
            f"bundle {result.manifest.bundle_version} verified"
            + (
                f" (fell back: {result.degraded_reason}; run `quant bundle repair`)"
                if result.degraded_reason
                else ""
            ),
        )
    else:
        hint = f"; {_ACTIVATE_HINT}" if result.reason_code == reasons.BUNDLE_MISSING else ""
        _fallback(
            result.reason_code, result.message + hint, json_output, "no verified bundle" + hint
        )


@app.command("activate")
@guarded()
def activate(
    source: Annotated[
        Path | None,
        typer.Argument(help="Release directory (default: QUANT_BUNDLE_SOURCE or bundles/default)."),
    ] = None,
    trusted_keys: Annotated[
        Path | None,
        typer.Option(
            "--trusted-keys", help="Trusted public keys (default: QUANT_BUNDLE_KEYS or shipped)."
        ),
    ] = None,
    root: RootOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Verify, install and load a release's models as the app does at startup.

    Nothing is installed when the release is already active. QUANT_REQUIRE_BUNDLE=1 makes a
    missing or refused bundle an error (exit 3); otherwise the fallback is reported.
    """
    heard: list[tuple[str, str]] = []
    kept: list[tuple[str, str]] = []
    active = activate_bundle(
        _root(root),
        source if source is not None else shipped_bundle_dir(),
        trust=TrustStore.load(trusted_keys) if trusted_keys is not None else None,
        require=require_bundle(),
        clock=WallClock(),
        on_fallback=lambda code, message: heard.append((code, message)),
        on_kept=lambda code, message: kept.append((code, message)),
    )
    if active is None:
        _fallback(*heard[0], json_output, "no bundle activated")
        return
    _out(
        {
            "loaded": True,
            **active.identity(),
            "path": str(active.path),
            **({"kept_reason_code": kept[0][0], "kept_message": kept[0][1]} if kept else {}),
        },
        json_output,
        f"bundle {active.bundle_version} active: models {active.model_id}, trained on "
        f"{active.dataset_hash} (config {active.config_hash}, seed {active.seed})",
        f"release not activated [{kept[0][0]}]: {kept[0][1]}" if kept else None,
    )


@app.command("rollback")
@guarded()
def rollback(
    trusted_keys: KeysOpt = None,
    root: RootOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Roll back to the retained previous known-good bundle (the version floor stays)."""
    result = _desk(root, trusted_keys, kind="bundle.rollback").rollback()
    _out(result, json_output, f"rolled back to bundle {result['version']}")


@app.command("repair")
@guarded()
def repair(
    trusted_keys: KeysOpt = None,
    root: RootOpt = None,
    feature_schema_hash: SchemaOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Re-verify the active bundle; if corrupt, restore the retained known-good one (audited)."""
    desk = _desk(root, trusted_keys, feature_schema_hash, kind="bundle.rollback")
    result = desk.store().check_active()
    _out(
        result.to_dict(),
        json_output,
        f"bundle {result.version} verified, nothing to repair"
        if result.reason_code is None
        else f"active bundle was corrupt [{result.reason_code}]: restored bundle {result.version}",
    )


@app.command("check-update")
@guarded()
def check_update_cmd(
    source: Annotated[str, typer.Argument(help="Directory or URL of release assets.")],
    trusted_keys: KeysOpt = None,
    root: RootOpt = None,
    feature_schema_hash: SchemaOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Check a release source: pointer freshness, signature, compatibility, version floor."""
    result = _desk(root, trusted_keys, feature_schema_hash, source=source).check_update()
    offered, active = result["offered_version"], result["active_version"]
    _out(
        result,
        json_output,
        f"update {offered} available (active {active})"
        if result["available"]
        else _not_available(offered, active),
    )


@app.command("apply-update")
@guarded()
def apply_update_cmd(
    source: Annotated[str, typer.Argument(help="Directory or URL of release assets.")],
    trusted_keys: KeysOpt = None,
    root: RootOpt = None,
    feature_schema_hash: SchemaOpt = None,
    retention: RetentionOpt = 1,
    json_output: JsonOpt = False,
) -> None:
    """One-click update: fetch, verify, install atomically, roll back on failure."""
    result = _desk(
        root, trusted_keys, feature_schema_hash, retention, kind="bundle.install", source=source
    ).apply_update()
    _out(result, json_output, f"updated to bundle {result['version']}", result.get("warning"))
