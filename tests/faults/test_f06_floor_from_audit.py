"""Finding 6: deleting ``state.json`` must not lower the version floor.

After install 1.0.0, 1.1.0 and a rollback to 1.0.0 the floor is 1.1.0. With ``state.json``
deleted, the floor is rebuilt from the audit trail's highest installed version, so a validly
signed 1.0.5 is refused (``ROLLBACK``); with the trail unreadable too, every install is refused
(``FLOOR_UNRECOVERABLE``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.quant_bundle.conftest import Kit

from quant_bundle import BundleRejectedError, BundleStorageError, reasons


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


def _rolled_back(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    store.install(kit.release("1.1.0"))
    store.rollback()
    assert kit.active_version() == "1.0.0"
    assert store.read_state().floor_version == "1.1.0"


def test_a_deleted_state_rebuilds_the_floor_from_the_audit_trail(kit: Kit) -> None:
    _rolled_back(kit)
    (kit.root / "state.json").unlink()
    store = kit.store()
    assert store.read_state().floor_version == "1.1.0"
    with pytest.raises(BundleRejectedError) as info:
        store.install(kit.release("1.0.5"))
    assert info.value.reason_code == reasons.ROLLBACK
    assert kit.active_version() == "1.0.0"
    assert kit.audit()[-1].data["reason_code"] == reasons.ROLLBACK
    # The floor survives the recovery's rewrite of state.json as well.
    assert store.read_state().floor_version == "1.1.0"
    store.install(kit.release("1.2.0"))
    assert kit.active_version() == "1.2.0"


def test_a_deleted_state_and_an_unreadable_trail_refuse_every_install(kit: Kit) -> None:
    _rolled_back(kit)
    (kit.root / "state.json").unlink()
    audit = kit.root / "audit.jsonl"
    audit.write_bytes(audit.read_bytes().replace(b'"1.1.0"', b'"1.0.1"', 1))
    with pytest.raises(BundleStorageError) as info:
        kit.store().install(kit.release("1.0.5"))
    assert info.value.reason_code == reasons.FLOOR_UNRECOVERABLE
    assert kit.active_version() == "1.0.0"


def test_an_empty_trail_means_no_floor(kit: Kit) -> None:
    assert kit.store().read_state().floor_version is None
    kit.store().recover()
    assert kit.store().read_state().floor_version is None
