"""``quant doctor`` verifies the shipped model bundle and reports why one does not verify."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest

from quant_apps.runtime.doctor import doctor_report
from quant_apps.runtime.models import bundles
from quant_bundle import reasons as bundle_reasons

sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")


def _check(report: dict[str, object]) -> dict[str, object]:
    checks = report["checks"]
    assert isinstance(checks, list)
    (check,) = [c for c in checks if c["name"] == "model bundle"]
    return dict(check)


def test_the_shipped_bundle_verifies(tmp_path: Path) -> None:
    shipped = bundles.shipped_bundle_dir({})
    if not (shipped / "manifest.json").is_file():
        pytest.fail(f"the shipped default bundle is missing from {shipped}")
    report = doctor_report({"QUANT_DATA_DIR": str(tmp_path)})
    assert report["bundle"]["verified"] is True
    assert report["bundle"]["bundle_hash"].startswith("sha384:")
    # Nothing is active in this data dir yet: a warning naming the next step, not a failure.
    assert report["bundle"]["active"]["active_version"] is None
    check = _check(report)
    assert check["status"] == "warn"
    assert "reason_code" not in check
    assert str(check["detail"]).endswith("no bundle active: run `quant bundle activate`")
    assert report["ok"] is True


def test_an_unreadable_install_root_is_reported_not_repaired(tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    root.mkdir()
    (root / "state.json").write_bytes(b"{not json")
    report = doctor_report({"QUANT_DATA_DIR": str(tmp_path)})
    active = report["bundle"]["active"]
    assert active["active_version"] is None
    assert active["reason_code"] == bundle_reasons.BUNDLE_IO_FAILED
    check = _check(report)
    assert (check["status"], check["reason_code"]) == ("warn", bundle_reasons.BUNDLE_IO_FAILED)
    assert "active bundle unknown" in str(check["detail"])
    assert (root / "state.json").read_bytes() == b"{not json"
    assert sorted(p.name for p in root.iterdir()) == ["state.json"]


def test_untrusted_keys_fail_both_the_release_and_the_active_report(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    env = {"QUANT_DATA_DIR": str(tmp_path), "QUANT_BUNDLE_KEYS": str(keys)}
    report = doctor_report(env)
    assert report["bundle"]["active"]["reason_code"] == bundle_reasons.BUNDLE_MISSING
    check = _check(report)
    assert check["status"] == "fail"
    assert "active bundle unknown [BUNDLE_MISSING]" in str(check["detail"])


@pytest.mark.parametrize("require", ["0", "", "1"])
def test_a_tampered_bundle_warns_or_fails_with_its_reason(tmp_path: Path, require: str) -> None:
    copy = tmp_path / "release"
    shutil.copytree(bundles.shipped_bundle_dir({}), copy)
    archive = copy / "bundle.tar.zst"
    _bundles.flip_byte(archive, len(archive.read_bytes()) // 2)
    env = {"QUANT_BUNDLE_SOURCE": str(copy), "QUANT_REQUIRE_BUNDLE": require}
    report = doctor_report(env)
    assert report["bundle"]["verified"] is False
    assert report["bundle"]["reason_code"] == bundle_reasons.ARCHIVE_DIGEST_MISMATCH
    check = _check(report)
    assert check["reason_code"] == bundle_reasons.ARCHIVE_DIGEST_MISMATCH
    required = require != "0"  # unset means required (decision 0083)
    assert check["status"] == ("fail" if required else "warn")
    assert report["ok"] is (not required)


def test_a_missing_bundle_with_an_unreadable_flag_counts_as_required(tmp_path: Path) -> None:
    env = {"QUANT_BUNDLE_SOURCE": str(tmp_path / "none"), "QUANT_REQUIRE_BUNDLE": "maybe"}
    report = doctor_report(env)
    assert report["bundle"]["reason_code"] == bundle_reasons.BUNDLE_MISSING
    assert _check(report)["status"] == "fail"
