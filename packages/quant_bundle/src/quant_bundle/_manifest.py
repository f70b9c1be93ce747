"""The bundle manifest: schema, strict parsing, safe names and compatibility (pure).

``manifest.json`` is canonical JSON (:func:`quant_core.canonical_json`) of one object with exactly
these keys::

    schema                    "quant.bundle.manifest/1"
    bundle_version            "MAJOR.MINOR.PATCH"
    model_family_versions     {"family": "version", ...}
    feature_schema_hash       "sha256:<hex>" of the feature schema the models were trained on
    training_lineage_metadata {...}   free-form, canonical JSON
    compatibility_range       {"app"|"backend"|"model": {"min": "X.Y.Z", "max": "X.Y.Z"}}
    hash_alg                  "sha384"
    inference_contract        {...}   free-form, canonical JSON
    artifacts                 [{"path": "artifacts/...", "sha384": "<hex>", "size": n}, ...]
    archive                   {"name": "bundle.tar.zst", "sha384": "<hex>", "size": n}
    signature                 {"key_id": "...", "algorithm": "ed25519"}

``min`` is inclusive and ``max`` exclusive. The signature itself is detached
(``manifest.sig``) and covers these exact bytes; parsing happens only after it verified.

Examples:
    >>> from quant_bundle._manifest import parse_version, safe_path
    >>> parse_version("1.10.0") > parse_version("1.9.9")
    True
    >>> safe_path("artifacts/model.json")
    'artifacts/model.json'
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from quant_bundle import reasons
from quant_bundle._errors import BundleRejectedError
from quant_core import canonical_json, content_hash
from quant_core.errors import CanonicalizationError

__all__ = [
    "ARCHIVE_NAME",
    "HASH_ALG",
    "MANIFEST_MAX_BYTES",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "SIGNATURE_NAME",
    "ArtifactEntry",
    "Manifest",
    "RuntimeVersions",
    "check_collisions",
    "check_compatibility",
    "parse_manifest",
    "parse_version",
    "safe_path",
    "strict_json",
]

MANIFEST_SCHEMA: Final = "quant.bundle.manifest/1"
MANIFEST_NAME: Final = "manifest.json"
SIGNATURE_NAME: Final = "manifest.sig"
ARCHIVE_NAME: Final = "bundle.tar.zst"
HASH_ALG: Final = "sha384"
MANIFEST_MAX_BYTES: Final = 1 << 20
"""A manifest larger than this is refused before it is read further (``LENGTH_EXCEEDED``)."""

_VERSION = re.compile(r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$")
_HEX384 = re.compile(r"^[0-9a-f]{96}$")
_SCHEMA_HASH = re.compile(r"^sha(256|384|512):[0-9a-f]+$")
_KEYS: Final = frozenset(
    {
        "schema",
        "bundle_version",
        "model_family_versions",
        "feature_schema_hash",
        "training_lineage_metadata",
        "compatibility_range",
        "hash_alg",
        "inference_contract",
        "artifacts",
        "archive",
        "signature",
    }
)
_RANGES: Final = ("app", "backend", "model")
_MAX_ARTIFACTS: Final = 10_000
_MAX_COMPONENT_BYTES: Final = 255
_MAX_PATH_BYTES: Final = 1024
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f\\:*?\"<>|]")


def _malformed(message: str) -> BundleRejectedError:
    return BundleRejectedError(message, reason_code=reasons.MANIFEST_MALFORMED)


def parse_version(text: str) -> tuple[int, int, int]:
    """Parse ``MAJOR.MINOR.PATCH`` (digits only, no leading zeros) into a comparable tuple.

    Raises:
        BundleRejectedError: ``MANIFEST_MALFORMED`` for anything else.
    """
    match = _VERSION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise _malformed(f"version {text!r} is not MAJOR.MINOR.PATCH")
    return (int(match[1]), int(match[2]), int(match[3]))


def safe_path(name: str) -> str:
    """Return ``name`` if it is a safe relative POSIX file name under ``artifacts/``.

    Refused (``MANIFEST_BAD_PATH``): absolute paths, empty, ``.`` or ``..`` components,
    backslashes, drive letters, control characters, names not in Unicode NFC, components
    over 255 bytes, and paths over 1024 bytes.
    """
    if not isinstance(name, str) or not name:
        raise BundleRejectedError("empty artifact path", reason_code=reasons.MANIFEST_BAD_PATH)
    parts = name.split("/")
    bad = (
        _FORBIDDEN_CHARS.search(name) is not None
        or unicodedata.normalize("NFC", name) != name
        or len(name.encode("utf-8", "surrogatepass")) > _MAX_PATH_BYTES
        or parts[0] != "artifacts"
        or len(parts) < 2
        or any(p in ("", ".", "..") for p in parts)
        or any(len(p.encode("utf-8", "surrogatepass")) > _MAX_COMPONENT_BYTES for p in parts)
    )
    if bad:
        raise BundleRejectedError(
            f"unsafe artifact path {name!r}", reason_code=reasons.MANIFEST_BAD_PATH
        )
    return name


def check_collisions(paths: Sequence[str]) -> None:
    """Refuse duplicates, case/Unicode twins and a file that is also another's directory."""
    seen: set[str] = set()
    folded: set[str] = set()
    for path in paths:
        key = unicodedata.normalize("NFKC", path).casefold()
        if path in seen or key in folded:
            raise BundleRejectedError(
                f"artifact path {path!r} collides with another",
                reason_code=reasons.MANIFEST_BAD_PATH,
            )
        seen.add(path)
        folded.add(key)
    dirs = {
        "/".join(p.split("/")[:i]).casefold() for p in paths for i in range(1, p.count("/") + 1)
    }
    for key in folded:
        if key in dirs:
            raise BundleRejectedError(
                f"artifact path {key!r} is both a file and a directory",
                reason_code=reasons.MANIFEST_BAD_PATH,
            )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _malformed(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _malformed(f"non-finite number {name} is not allowed")


def strict_json(data: bytes, *, max_bytes: int = MANIFEST_MAX_BYTES) -> Any:
    """Parse canonical JSON strictly: size cap, UTF-8, no duplicate keys, no NaN, canonical.

    Raises:
        BundleRejectedError: ``LENGTH_EXCEEDED`` over the cap, ``MANIFEST_MALFORMED`` for
            anything that is not the canonical JSON of what it parses to.

    Examples:
        >>> strict_json(b'{"a":1}')
        {'a': 1}
    """
    if len(data) > max_bytes:
        raise BundleRejectedError(
            f"document of {len(data)} bytes exceeds {max_bytes}",
            reason_code=reasons.LENGTH_EXCEEDED,
        )
    try:
        text = data.decode("utf-8", errors="strict")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except BundleRejectedError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _malformed(f"not strict JSON: {exc}") from None
    try:
        canonical = canonical_json(value)
    except CanonicalizationError as exc:  # pragma: no cover - json.loads yields canonical types
        raise _malformed(str(exc)) from None
    if canonical != data:
        raise _malformed("document is not in canonical form")
    return value


@attrs.frozen
class ArtifactEntry:
    """One artifact file: its path inside the bundle, SHA-384 (hex) and size in bytes."""

    path: str
    sha384: str
    size: int


@attrs.frozen
class RuntimeVersions:
    """What a bundle must be compatible with: the running versions and feature schema.

    Attributes:
        app: the ``quant-apps`` version.
        backend: the backend (``quant-core``) version.
        model: the ``quant-models`` version (``None`` when it is not installed).
        feature_schema_hash: the hash of the running feature schema (``None``: not checked).
    """

    app: str
    backend: str
    model: str | None = None
    feature_schema_hash: str | None = None


@attrs.frozen
class Manifest:
    """A parsed, validated manifest. Build one with :func:`parse_manifest` or ``Manifest(...)``.

    :meth:`to_bytes` gives the canonical bytes; :attr:`digest` is their SHA-384.
    """

    bundle_version: str
    model_family_versions: Mapping[str, str]
    feature_schema_hash: str
    training_lineage_metadata: Mapping[str, Any]
    compatibility_range: Mapping[str, Mapping[str, str]]
    inference_contract: Mapping[str, Any]
    artifacts: tuple[ArtifactEntry, ...]
    archive_sha384: str
    archive_size: int
    key_id: str
    algorithm: str = "ed25519"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as the JSON object written to ``manifest.json``."""
        # Hand-written: the signed file format nests archive and signature and adds constants.
        return {
            "schema": MANIFEST_SCHEMA,
            "bundle_version": self.bundle_version,
            "model_family_versions": dict(self.model_family_versions),
            "feature_schema_hash": self.feature_schema_hash,
            "training_lineage_metadata": dict(self.training_lineage_metadata),
            "compatibility_range": {k: dict(v) for k, v in self.compatibility_range.items()},
            "hash_alg": HASH_ALG,
            "inference_contract": dict(self.inference_contract),
            "artifacts": [
                {"path": a.path, "sha384": a.sha384, "size": a.size} for a in self.artifacts
            ],
            "archive": {
                "name": ARCHIVE_NAME,
                "sha384": self.archive_sha384,
                "size": self.archive_size,
            },
            "signature": {"key_id": self.key_id, "algorithm": self.algorithm},
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes that are signed and written as ``manifest.json``."""
        return canonical_json(self.to_dict())

    @property
    def digest(self) -> str:
        """``sha384:<hex>`` of the canonical bytes: the bundle's identity."""
        return content_hash(self.to_dict(), "sha384")

    @property
    def version(self) -> tuple[int, int, int]:
        """The bundle version as a comparable tuple."""
        return parse_version(self.bundle_version)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise _malformed(message)


def _str_map(value: Any, what: str) -> dict[str, str]:
    _require(isinstance(value, dict), f"{what} must be an object")
    _require(all(isinstance(v, str) and v for v in value.values()), f"{what} values must be text")
    return dict(value)


def manifest_from_dict(doc: Any) -> Manifest:
    """Validate a parsed manifest object and build a :class:`Manifest`.

    Raises:
        BundleRejectedError: ``MANIFEST_MALFORMED`` or ``MANIFEST_BAD_PATH``.
    """
    _require(isinstance(doc, dict), "manifest must be a JSON object")
    _require(set(doc) == _KEYS, f"manifest keys differ from the schema: {sorted(set(doc) ^ _KEYS)}")
    _require(doc["schema"] == MANIFEST_SCHEMA, f"unknown manifest schema {doc['schema']!r}")
    _require(doc["hash_alg"] == HASH_ALG, f"hash_alg must be {HASH_ALG}")
    parse_version(doc["bundle_version"])
    families = _str_map(doc["model_family_versions"], "model_family_versions")
    _require(
        isinstance(doc["feature_schema_hash"], str)
        and _SCHEMA_HASH.fullmatch(doc["feature_schema_hash"]) is not None,
        "feature_schema_hash must be '<sha…>:<hex>'",
    )
    for key in ("training_lineage_metadata", "inference_contract"):
        _require(isinstance(doc[key], dict), f"{key} must be an object")
    ranges = doc["compatibility_range"]
    _require(isinstance(ranges, dict) and set(ranges) == set(_RANGES), "compatibility_range keys")
    for name in _RANGES:
        rng = ranges[name]
        _require(isinstance(rng, dict) and set(rng) == {"min", "max"}, f"range {name} keys")
        _require(parse_version(rng["min"]) < parse_version(rng["max"]), f"range {name} is empty")
    entries = doc["artifacts"]
    _require(isinstance(entries, list) and 0 < len(entries) <= _MAX_ARTIFACTS, "artifacts list")
    artifacts: list[ArtifactEntry] = []
    for entry in entries:
        _require(isinstance(entry, dict) and set(entry) == {"path", "sha384", "size"}, "artifact")
        _require(
            isinstance(entry["sha384"], str) and _HEX384.fullmatch(entry["sha384"]) is not None,
            "artifact sha384 must be 96 hex digits",
        )
        _require(
            type(entry["size"]) is int and entry["size"] >= 0, "artifact size must be an int >= 0"
        )
        artifacts.append(ArtifactEntry(safe_path(entry["path"]), entry["sha384"], entry["size"]))
    check_collisions([a.path for a in artifacts])
    _require([a.path for a in artifacts] == sorted(a.path for a in artifacts), "artifacts order")
    archive = doc["archive"]
    _require(isinstance(archive, dict) and set(archive) == {"name", "sha384", "size"}, "archive")
    _require(archive["name"] == ARCHIVE_NAME, f"archive name must be {ARCHIVE_NAME}")
    _require(
        isinstance(archive["sha384"], str) and _HEX384.fullmatch(archive["sha384"]) is not None,
        "archive sha384 must be 96 hex digits",
    )
    _require(type(archive["size"]) is int and archive["size"] > 0, "archive size must be > 0")
    sig = doc["signature"]
    _require(isinstance(sig, dict) and set(sig) == {"key_id", "algorithm"}, "signature metadata")
    _require(sig["algorithm"] == "ed25519", "signature algorithm must be ed25519")
    _require(isinstance(sig["key_id"], str) and bool(sig["key_id"]), "signature key_id")
    return Manifest(
        bundle_version=doc["bundle_version"],
        model_family_versions=families,
        feature_schema_hash=doc["feature_schema_hash"],
        training_lineage_metadata=doc["training_lineage_metadata"],
        compatibility_range={n: dict(ranges[n]) for n in _RANGES},
        inference_contract=doc["inference_contract"],
        artifacts=tuple(artifacts),
        archive_sha384=archive["sha384"],
        archive_size=archive["size"],
        key_id=sig["key_id"],
    )


def parse_manifest(data: bytes) -> Manifest:
    """Parse and validate raw ``manifest.json`` bytes (call only after the signature verified).

    Raises:
        BundleRejectedError: ``LENGTH_EXCEEDED``, ``MANIFEST_MALFORMED`` or
            ``MANIFEST_BAD_PATH``; never any other exception for any input bytes.
    """
    return manifest_from_dict(strict_json(data))


_INCOMPATIBLE = {
    "app": reasons.INCOMPATIBLE_APP,
    "backend": reasons.INCOMPATIBLE_BACKEND,
    "model": reasons.INCOMPATIBLE_MODEL,
}


def check_compatibility(manifest: Manifest, runtime: RuntimeVersions) -> list[str]:
    """Check the manifest against the running versions; return the checks that passed.

    Raises:
        BundleRejectedError: ``INCOMPATIBLE_{APP,BACKEND,MODEL,FEATURE_SCHEMA}`` naming the
            failing range, for the first check (in that order) that fails.

    Examples:
        >>> from quant_bundle._manifest import RuntimeVersions
        >>> RuntimeVersions(app="0.1.0", backend="0.1.0").model is None
        True
    """
    passed: list[str] = []
    running: dict[str, str | None] = {
        "app": runtime.app,
        "backend": runtime.backend,
        "model": runtime.model,
    }
    for name in _RANGES:
        version = running[name]
        if version is None:
            continue
        rng = manifest.compatibility_range[name]
        if not parse_version(rng["min"]) <= _loose_version(version) < parse_version(rng["max"]):
            raise BundleRejectedError(
                f"{name} version {version} is outside the bundle's range "
                f"[{rng['min']}, {rng['max']})",
                reason_code=_INCOMPATIBLE[name],
            )
        passed.append(f"compat.{name}")
    if runtime.feature_schema_hash is not None:
        if runtime.feature_schema_hash != manifest.feature_schema_hash:
            raise BundleRejectedError(
                f"feature schema {manifest.feature_schema_hash} differs from the running "
                f"{runtime.feature_schema_hash}",
                reason_code=reasons.INCOMPATIBLE_FEATURE_SCHEMA,
            )
        passed.append("compat.feature_schema")
    return passed


def _loose_version(text: str) -> tuple[int, int, int]:
    """The leading ``X.Y.Z`` of an installed package version (``0.1.0.dev1`` → ``(0, 1, 0)``)."""
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise BundleRejectedError(
            f"running version {text!r} is not a release version",
            reason_code=reasons.INCOMPATIBLE_APP,
        )
    return (int(match[1]), int(match[2]), int(match[3] or 0))
