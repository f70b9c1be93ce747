"""Bundle updates and rollbacks through the control plane: the desk, then a reload."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.quant_apps._bundles import small_release

from quant_apps.runtime import Command, CommandKind
from quant_apps.runtime.models.bundledesk import BundleDesk, open_trust
from quant_apps.runtime.models.bundles import NoModel, runtime_versions
from quant_apps.runtime.models.releases import new_signing_key
from quant_bundle.keys import PrivateKey
from quant_core import SimClock, iso_to_ns
from quant_core.audit import read_audit_log
from quant_core.errors import QuantError
from quant_core.events import Predictor

from .conftest import start

NOW = iso_to_ns("2026-01-01T00:00:00Z")


def _release(tmp_path: Path, key: PrivateKey, version: str) -> Path:
    return small_release(tmp_path, key, version, NOW)


@pytest.fixture
def releases(tmp_path: Path) -> tuple[Path, Path, BundleDesk]:
    """Signed releases 1, 2 and 3 and a desk over an empty install root (source: the first)."""
    key, _ = new_signing_key(tmp_path / "keys", "release", use_keyring=False)
    first, second = _release(tmp_path, key, "1.0.0"), _release(tmp_path, key, "2.0.0")
    _release(tmp_path, key, "3.0.0")
    trust = open_trust(tmp_path / "root", tmp_path / "keys", SimClock(NOW))
    desk = BundleDesk(
        tmp_path / "root", trust, SimClock(NOW), source=str(first), runtime=runtime_versions()
    )
    return first, second, desk


def _loader(desk: BundleDesk, fail: list[QuantError]) -> Any:
    """Serves what the store has active (the bundle's identity; the predictor stays a stub)."""

    def load() -> tuple[Predictor, Mapping[str, Any]]:
        if fail:
            raise fail.pop()
        version = desk.store_status()["active_version"]
        return NoModel("X"), {"active": version is not None, "bundle_version": version}

    return load


def test_update_then_rollback_serve_the_store_active_bundle(
    tmp_path: Path, releases: tuple[Path, Path, BundleDesk]
) -> None:
    _, second, desk = releases
    fail: list[QuantError] = []
    session = start(
        tmp_path / "out",
        bundles=desk,
        load_bundle=_loader(desk, fail),
        bundle={"active": False, "bundle_version": None},
    )
    control = session.control
    try:
        assert control.bundle_status()["managed"] is True
        checked = control.check_update(actor="alice")
        assert checked.ok
        assert checked.details["offered_version"] == "1.0.0"
        applied = control.apply_update(actor="alice")
        assert applied.ok, applied.message
        assert applied.details["apply_update"]["version"] == "1.0.0"
        assert applied.details["reload"]["message"] == "bundle reloaded: no model"
        assert applied.details["bundles"]["active_version"] == "1.0.0"
        assert control.status()["bundle"] == {"active": True, "bundle_version": "1.0.0"}
        desk.source = str(second)
        assert control.apply_update(actor="bob").details["apply_update"]["version"] == "2.0.0"
        rolled = control.rollback(actor="carol")
        assert rolled.ok
        assert rolled.details["rollback"]["version"] == "1.0.0"
        assert rolled.details["bundles"]["active_version"] == "1.0.0"
        assert control.status()["bundle"]["bundle_version"] == "1.0.0"
        again = control.rollback(actor="carol")
        assert (again.ok, again.reason_code) == (False, "NO_ROLLBACK_TARGET")
        fail.append(QuantError("the store is corrupt", reason_code="ACTIVE_CORRUPT"))
        assert control.apply_update(actor="dave").reason_code == "ALREADY_INSTALLED"
        desk.source = str(tmp_path / "rel-3.0.0")
        broken = control.apply_update(actor="erin")  # installed, but the reload is refused
        assert (broken.ok, broken.reason_code) == (False, "ACTIVE_CORRUPT")
        assert broken.details["apply_update"]["version"] == "3.0.0"
        assert broken.details["reload"]["reason_code"] == "ACTIVE_CORRUPT"
        desk.source = None
        refused = control.check_update(actor="alice")
        assert (refused.ok, refused.reason_code) == (False, "USAGE_ERROR")
    finally:
        session.stop()
        control.index.close()
    stopped = control.rollback(actor="alice")
    assert (stopped.ok, stopped.reason_code) == (False, "SESSION_STOPPED")
    bundle_lines = [line for line in session.lines() if line.get("change") == "bundle"]
    assert [(b["actor"], b["bundle"]["bundle_version"]) for b in bundle_lines] == [
        ("alice", "1.0.0"),
        ("bob", "2.0.0"),
        ("carol", "1.0.0"),
    ]
    reloads = [r.data for r in read_audit_log(session.out / "audit.jsonl")]
    assert [(r["actor"], r["reason"], r["ok"]) for r in reloads] == [
        ("alice", "apply_update", True),
        ("bob", "apply_update", True),
        ("carol", "rollback", True),
        ("erin", "apply_update", False),
    ]
    assert reloads[-1]["reason_code"] == "ACTIVE_CORRUPT"


def test_an_unchanged_bundle_is_answered_as_such(
    tmp_path: Path, releases: tuple[Path, Path, BundleDesk]
) -> None:
    _, _, desk = releases
    desk.apply_update()  # installed behind the session's back: it already serves 1.0.0
    session = start(
        tmp_path / "out",
        bundles=desk,
        load_bundle=_loader(desk, []),
        bundle={"active": True, "bundle_version": "1.0.0"},
    )
    try:
        ticket = session.runtime.submit(Command(CommandKind.RELOAD_BUNDLE, "alice"))
        outcome = ticket.result(timeout=60)
        assert (outcome.ok, outcome.changed) == (True, False)
        assert outcome.message == "bundle reload: the active bundle is unchanged"
    finally:
        session.stop()
        session.control.index.close()
    (record,) = read_audit_log(session.out / "audit.jsonl")
    assert (record.kind, record.data["changed"]) == ("bundle.reload", False)
