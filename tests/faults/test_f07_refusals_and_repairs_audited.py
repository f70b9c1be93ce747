"""Finding 7: every refusal and every repair leaves exactly one audit record.

A trust root with a bad rotation statement is refused before the installer runs, and that
refusal is audited; a corrupted active bundle is repaired by ``quant bundle repair`` (which
restores the retained known-good bundle) and the repair is audited; ``bundle check`` points
to the repair.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.quant_bundle.conftest import SCHEMA, Kit
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_bundle import reasons
from quant_bundle.keys import write_keypair


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


def _keys(kit: Kit) -> Path:
    keys = kit.tmp / "keys"
    write_keypair(kit.key, keys, "release", private=False)
    return keys


def _run(kit: Kit, keys: Path, *args: str) -> tuple[int, dict[str, object]]:
    out = CliRunner().invoke(
        app,
        ["bundle", *args, "--root", str(kit.root), "--trusted-keys", str(keys), "--json"],
    )
    return out.exit_code, json.loads(out.stdout)


@pytest.mark.parametrize("command", ["install", "rollback", "repair"])
def test_a_bad_rotation_statement_is_refused_and_audited_once(kit: Kit, command: str) -> None:
    keys = _keys(kit)
    kit.store().install(kit.release("1.0.0"))
    release = kit.release("1.1.0")
    (keys / "rotation-1.json").write_text("{not json")
    records = len(kit.audit())
    args = [command, str(release)] if command == "install" else [command]
    code, doc = _run(kit, keys, *args)
    assert code == 3
    assert doc["reason_code"] == reasons.KEY_ROTATION_INVALID
    assert kit.active_version() == "1.0.0"
    assert len(kit.audit()) == records + 1
    last = kit.audit()[-1]
    assert last.data == {
        "outcome": "rejected",
        "reason_code": reasons.KEY_ROTATION_INVALID,
        "stage": "trusted_keys",
    }


def test_a_corrupt_active_bundle_is_repaired_and_audited_once(kit: Kit) -> None:
    keys = _keys(kit)
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("2.0.0"))
    (kit.root / "current" / "artifacts" / "model.json").write_text("tampered")
    out = CliRunner().invoke(
        app, ["bundle", "check", "--root", str(kit.root), "--trusted-keys", str(keys)]
    )
    assert out.exit_code == 0
    assert "quant bundle repair" in out.output
    records = len(kit.audit())
    code, doc = _run(kit, keys, "repair", "--feature-schema-hash", SCHEMA)
    assert code == 0
    assert (doc["outcome"], doc["version"]) == ("recovered", "1.0.0")
    assert doc["reason_code"] == reasons.ACTIVE_CORRUPT
    assert kit.active_version() == "1.0.0"
    assert len(kit.audit()) == records + 1
    assert kit.audit()[-1].data["outcome"] == "recovered"
    # Nothing left to repair: no change and no record.
    out = CliRunner().invoke(
        app, ["bundle", "repair", "--root", str(kit.root), "--trusted-keys", str(keys)]
    )
    assert out.exit_code == 0
    assert "nothing to repair" in out.output
    assert len(kit.audit()) == records + 1
    kit.check_invariants("2.0.0")


def test_a_read_only_check_update_refuses_a_bad_rotation_without_a_record(kit: Kit) -> None:
    keys = _keys(kit)
    kit.store().install(kit.release("1.0.0"))
    (keys / "rotation-1.json").write_text("{not json")
    records = len(kit.audit())
    code, doc = _run(kit, keys, "check-update", str(kit.release("1.1.0")))
    assert code == 3
    assert doc["reason_code"] == reasons.KEY_ROTATION_INVALID
    assert len(kit.audit()) == records
