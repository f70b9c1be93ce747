"""The bundle desk: status, update check, update and rollback over a real install root."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.quant_apps._bundles import small_release

from quant_apps.runtime.models.bundledesk import BundleDesk, open_trust
from quant_apps.runtime.models.bundles import runtime_versions
from quant_apps.runtime.models.releases import new_signing_key
from quant_bundle import BundleRejectedError, reasons
from quant_bundle.keys import PrivateKey, TrustStore
from quant_core import SimClock, iso_to_ns
from quant_core import reasons as core_reasons
from quant_core.audit import read_audit_log
from quant_core.errors import QuantUsageError

NOW = iso_to_ns("2026-01-01T00:00:00Z")


@pytest.fixture
def key(tmp_path: Path) -> PrivateKey:
    private, _ = new_signing_key(tmp_path / "keys", "release", use_keyring=False)
    return private


def _release(tmp_path: Path, key: PrivateKey, version: str) -> Path:
    return small_release(tmp_path, key, version, NOW)


def _desk(tmp_path: Path, source: Path | None, retention: int = 1) -> BundleDesk:
    trust = open_trust(tmp_path / "root", tmp_path / "keys", SimClock(NOW))
    return BundleDesk(
        tmp_path / "root",
        trust,
        SimClock(NOW),
        source=None if source is None else str(source),
        runtime=runtime_versions(),
        retention=retention,
    )


def test_check_apply_and_roll_back_an_update(tmp_path: Path, key: PrivateKey) -> None:
    first, second = _release(tmp_path, key, "1.0.0"), _release(tmp_path, key, "2.0.0")
    desk = _desk(tmp_path, first)
    assert repr(desk) == f"BundleDesk(root={str(tmp_path / 'root')!r}, source={str(first)!r})"
    status = desk.status()
    assert (status["active_version"], status["update_source"]) == (None, str(first))
    check = desk.check_update()
    assert (check["available"], check["offered_version"], check["active_version"]) == (
        True,
        "1.0.0",
        None,
    )
    assert desk.apply_update()["version"] == "1.0.0"
    assert desk.check_update()["reason_code"] == reasons.ALREADY_INSTALLED
    desk = _desk(tmp_path, second, retention=2)
    installed = desk.apply_update()
    assert (installed["outcome"], installed["version"], installed["previous_version"]) == (
        "installed",
        "2.0.0",
        "1.0.0",
    )
    assert "warning" not in installed
    rolled = desk.rollback()
    assert (rolled["outcome"], rolled["version"]) == ("rolled_back", "1.0.0")
    assert desk.store_status()["active_version"] == "1.0.0"
    assert "update_source" not in desk.store_status()
    with pytest.raises(BundleRejectedError) as info:
        desk.rollback()
    assert info.value.reason_code == reasons.NO_ROLLBACK_TARGET
    kinds = [record.kind for record in read_audit_log(tmp_path / "root" / "audit.jsonl")]
    assert kinds.count("bundle.install") == 2
    assert "bundle.rollback" in kinds


def test_a_refused_update_raises_its_reason_and_changes_nothing(
    tmp_path: Path, key: PrivateKey
) -> None:
    desk = _desk(tmp_path, tmp_path / "nowhere")
    for call in (desk.check_update, desk.apply_update):
        with pytest.raises(BundleRejectedError) as info:
            call()
        assert info.value.reason_code == reasons.BUNDLE_MISSING
    assert desk.status()["active_version"] is None


def test_without_a_source_updates_are_usage_errors(tmp_path: Path, key: PrivateKey) -> None:
    desk = _desk(tmp_path, None)
    for call in (desk.check_update, desk.apply_update):
        with pytest.raises(QuantUsageError) as info:
            call()
        assert info.value.reason_code == core_reasons.USAGE_ERROR
        assert "no update source configured" in str(info.value)


def test_a_refused_trust_root_is_audited_only_for_changes(tmp_path: Path, key: PrivateKey) -> None:
    (tmp_path / "keys" / "rotation-1.json").write_text("{not json")
    root = tmp_path / "root"
    with pytest.raises(BundleRejectedError):
        open_trust(root, tmp_path / "keys", SimClock(NOW))
    assert not (root / "audit.jsonl").exists()
    with pytest.raises(BundleRejectedError) as info:
        open_trust(root, tmp_path / "keys", SimClock(NOW), audit_kind="bundle.rollback")
    assert info.value.reason_code == reasons.KEY_ROTATION_INVALID
    [record] = read_audit_log(root / "audit.jsonl")
    assert (record.kind, record.data["stage"]) == ("bundle.rollback", "trusted_keys")
    assert isinstance(open_trust(root, None, SimClock(NOW)), TrustStore)  # the shipped keys
