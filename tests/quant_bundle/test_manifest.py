"""Manifest schema, strict parsing (BND-13), safe names (BND-14) and compatibility (BND-16)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_bundle import BundleRejectedError, RuntimeVersions, check_compatibility, reasons
from quant_bundle._manifest import (
    Manifest,
    manifest_from_dict,
    parse_manifest,
    parse_version,
    safe_path,
    strict_json,
)
from quant_core import canonical_json

from .conftest import SCHEMA, Kit


def _doc(kit: Kit) -> dict[str, Any]:
    rel = kit.release("1.0.0")
    doc: dict[str, Any] = json.loads((rel / "manifest.json").read_bytes())
    return doc


def _code(doc: Any) -> str:
    with pytest.raises(BundleRejectedError) as info:
        parse_manifest(canonical_json(doc))
    return info.value.reason_code


def test_manifest_round_trips_and_has_every_spec_field(kit: Kit) -> None:
    doc = _doc(kit)
    assert {
        "bundle_version",
        "model_family_versions",
        "feature_schema_hash",
        "training_lineage_metadata",
        "compatibility_range",
        "artifacts",
        "hash_alg",
        "inference_contract",
        "signature",
        "archive",
    } <= set(doc)
    manifest = parse_manifest(canonical_json(doc))
    assert manifest.to_bytes() == canonical_json(doc)
    assert manifest.digest.startswith("sha384:")
    assert [a.path for a in manifest.artifacts] == [
        "artifacts/model.json",
        "artifacts/sub/weights.bin",
    ]


def test_bnd13_duplicate_key_is_malformed_even_when_signed(kit: Kit) -> None:
    data = (kit.release("1.0.0") / "manifest.json").read_bytes()
    dup = data.replace(
        b'"bundle_version":"1.0.0"', b'"bundle_version":"1.0.0","bundle_version":"9.0.0"'
    )
    assert dup != data
    with pytest.raises(BundleRejectedError) as info:
        parse_manifest(dup)
    assert info.value.reason_code == reasons.MANIFEST_MALFORMED


@pytest.mark.parametrize(
    "data",
    [b'{"a":NaN}', b"\xff", b'{"a": 1}', b"[1,2", b'{"a":Infinity}', b"{}"],
    ids=["nan", "utf8", "whitespace", "truncated", "inf", "empty-object"],
)
def test_bnd13_strict_parser_refuses(data: bytes) -> None:
    with pytest.raises(BundleRejectedError) as info:
        parse_manifest(data)
    assert info.value.reason_code == reasons.MANIFEST_MALFORMED


def test_manifest_size_cap() -> None:
    with pytest.raises(BundleRejectedError) as info:
        strict_json(b" " * 10, max_bytes=5)
    assert info.value.reason_code == reasons.LENGTH_EXCEEDED


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_bnd13_fuzz_parser_raises_only_typed_rejections(data: bytes) -> None:
    with contextlib.suppress(BundleRejectedError):
        parse_manifest(data)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=10,
    )
)
def test_bnd13_fuzz_structures_raise_only_typed_rejections(value: Any) -> None:
    with contextlib.suppress(BundleRejectedError):
        manifest_from_dict(value)


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "/abs",
        "artifacts/./b",
        "artifacts//b",
        "artifacts/C:\\x",
        "artifacts/a\\..\\x",
        "artifacts/a\x00b",
        "artifacts/" + "a" * 256,
        "artifacts/e\u0301",  # NFD
        "artifacts/../x",
        "artifacts/..",
        "other/x",
        "artifacts",
        "",
        "artifacts/a\nb",
    ],
)
def test_bnd14_bad_paths(bad: str) -> None:
    with pytest.raises(BundleRejectedError) as info:
        safe_path(bad)
    assert info.value.reason_code == reasons.MANIFEST_BAD_PATH


@pytest.mark.parametrize(
    "pair",
    [
        ("artifacts/Model.bin", "artifacts/model.bin"),
        ("artifacts/\u00e9", "artifacts/\ufb01"),  # distinct but fine? replaced below
        ("artifacts/a", "artifacts/a/b"),
        ("artifacts/x", "artifacts/x"),
    ],
    ids=["case-twins", "nfkc-distinct", "file-and-dir", "duplicate"],
)
def test_bnd14_collisions_in_manifest(kit: Kit, pair: tuple[str, str]) -> None:
    doc = _doc(kit)
    entry = doc["artifacts"][0]
    doc["artifacts"] = sorted(
        [{**entry, "path": pair[0]}, {**entry, "path": pair[1]}], key=lambda e: e["path"]
    )
    if pair[1] == "artifacts/\ufb01":
        # "ﬁ" and "fi" fold to the same name under NFKC: a collision on some filesystems.
        doc["artifacts"] = sorted(
            [{**entry, "path": "artifacts/fi"}, {**entry, "path": "artifacts/\ufb01"}],
            key=lambda e: e["path"],
        )
    assert _code(doc) == reasons.MANIFEST_BAD_PATH


def test_nfd_twin_of_an_nfc_name_is_refused(kit: Kit) -> None:
    doc = _doc(kit)
    entry = doc["artifacts"][0]
    doc["artifacts"] = [
        {**entry, "path": "artifacts/e\u0301"},
        {**entry, "path": "artifacts/\u00e9"},
    ]
    assert _code(doc) == reasons.MANIFEST_BAD_PATH


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("schema", "other/1"),
        ("hash_alg", "sha256"),
        ("bundle_version", "1.0"),
        ("bundle_version", "01.0.0"),
        ("model_family_versions", {"x": 1}),
        ("feature_schema_hash", "nope"),
        ("training_lineage_metadata", []),
        ("compatibility_range", {"app": {"min": "0.1.0", "max": "1.0.0"}}),
        (
            "compatibility_range",
            {k: {"min": "1.0.0", "max": "1.0.0"} for k in ("app", "backend", "model")},
        ),
        ("artifacts", []),
        ("artifacts", [{"path": "artifacts/a", "sha384": "00", "size": 1}]),
        ("artifacts", [{"path": "artifacts/a", "sha384": "0" * 96, "size": -1}]),
        ("archive", {"name": "x.tar", "sha384": "0" * 96, "size": 1}),
        ("archive", {"name": "bundle.tar.zst", "sha384": "0", "size": 1}),
        ("archive", {"name": "bundle.tar.zst", "sha384": "0" * 96, "size": 0}),
        ("signature", {"key_id": "k", "algorithm": "rsa"}),
        ("signature", {"key_id": "", "algorithm": "ed25519"}),
    ],
)
def test_schema_violations_are_malformed(kit: Kit, field: str, value: Any) -> None:
    doc = _doc(kit)
    doc[field] = value
    assert _code(doc) == reasons.MANIFEST_MALFORMED


def test_unknown_or_missing_keys_and_unsorted_artifacts(kit: Kit) -> None:
    doc = _doc(kit)
    assert _code({**doc, "extra": 1}) == reasons.MANIFEST_MALFORMED
    assert _code({k: v for k, v in doc.items() if k != "archive"}) == reasons.MANIFEST_MALFORMED
    assert _code([doc]) == reasons.MANIFEST_MALFORMED
    assert (
        _code({**doc, "artifacts": list(reversed(doc["artifacts"]))}) == reasons.MANIFEST_MALFORMED
    )


def test_versions() -> None:
    assert parse_version("0.10.2") == (0, 10, 2)
    for bad in ("1", "1.2", "a.b.c", "1.2.3-rc1", "1.02.3"):
        with pytest.raises(BundleRejectedError):
            parse_version(bad)


def _manifest(kit: Kit) -> Manifest:
    return parse_manifest(
        (
            kit.release(
                "1.0.0",
                compatibility_range={
                    "app": {"min": "0.2.0", "max": "0.3.0"},
                    "backend": {"min": "1.0.0", "max": "2.0.0"},
                    "model": {"min": "0.5.0", "max": "0.6.0"},
                },
            )
            / "manifest.json"
        ).read_bytes()
    )


_RANGE_POINTS = {
    "app": {"below": "0.1.9", "in": "0.2.0", "above": "0.3.0"},
    "backend": {"below": "0.9.9", "in": "1.5.0", "above": "2.0.0"},
    "model": {"below": "0.4.0", "in": "0.5.9", "above": "0.6.1"},
}
_CODES = {
    "app": reasons.INCOMPATIBLE_APP,
    "backend": reasons.INCOMPATIBLE_BACKEND,
    "model": reasons.INCOMPATIBLE_MODEL,
}


@pytest.mark.parametrize("app", ["below", "in", "above"])
@pytest.mark.parametrize("backend", ["below", "in", "above"])
@pytest.mark.parametrize("model", ["below", "in", "above"])
def test_bnd16_compatibility_grid(kit: Kit, app: str, backend: str, model: str) -> None:
    manifest = _manifest(kit)
    where = {"app": app, "backend": backend, "model": model}
    runtime = RuntimeVersions(
        app=_RANGE_POINTS["app"][app],
        backend=_RANGE_POINTS["backend"][backend],
        model=_RANGE_POINTS["model"][model],
        feature_schema_hash=SCHEMA,
    )
    failing = [name for name in ("app", "backend", "model") if where[name] != "in"]
    if not failing:
        assert check_compatibility(manifest, runtime) == [
            "compat.app",
            "compat.backend",
            "compat.model",
            "compat.feature_schema",
        ]
    else:
        with pytest.raises(BundleRejectedError) as info:
            check_compatibility(manifest, runtime)
        assert info.value.reason_code == _CODES[failing[0]]


def test_bnd16_feature_schema_and_dev_versions(kit: Kit) -> None:
    manifest = _manifest(kit)
    ok = RuntimeVersions(app="0.2.0.dev3", backend="1.0", model=None, feature_schema_hash=None)
    assert check_compatibility(manifest, ok) == ["compat.app", "compat.backend"]
    wrong = RuntimeVersions(
        app="0.2.0", backend="1.0.0", model="0.5.0", feature_schema_hash="sha256:00"
    )
    with pytest.raises(BundleRejectedError) as info:
        check_compatibility(manifest, wrong)
    assert info.value.reason_code == reasons.INCOMPATIBLE_FEATURE_SCHEMA
    with pytest.raises(BundleRejectedError) as info:
        check_compatibility(manifest, RuntimeVersions(app="dev", backend="1.0.0"))
    assert info.value.reason_code == reasons.INCOMPATIBLE_APP
