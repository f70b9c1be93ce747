"""Traceability: every BND and ATM item of the threat catalogue has a named test here.

Also BND-12 (no partial install is ever visible) and the audit trail's determinism.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from quant_bundle import CHECKPOINTS, BundleRejectedError, verify_installed
from quant_core import SimClock

from .conftest import Kit

HERE = Path(__file__).parent

CATALOGUE = {
    "BND-01": [
        "test_install.py::test_bnd01_bit_flips_are_refused_before_anything_changes",
        "test_install.py::test_bnd01_tampered_release_under_invariants",
        "test_install.py::test_bnd01_tampered_installed_file_atm13_falls_back",
    ],
    "BND-02": [
        "test_keys.py::test_bnd02_untrusted_key_and_forged_key_id",
        "test_install.py::test_bnd02_atm14_wrong_key_under_invariants",
    ],
    "BND-03": ["test_keys.py::test_bnd03_threshold"],
    "BND-04": [
        "test_keys.py::test_bnd04_rotation_cases",
        "test_keys.py::test_bnd04_chain_from_directory_and_revoked_key_refused",
    ],
    "BND-05": ["test_install.py::test_bnd05_rollback_and_version_reuse_survive_restart"],
    "BND-06": ["test_update.py::test_bnd06_fast_forward_recovery_by_rotating_the_pointer_key"],
    "BND-07": ["test_update.py::test_bnd07_pointer_expiry_boundaries"],
    "BND-08": [
        "test_install.py::test_bnd08_mix_and_match",
        "test_install.py::test_bnd08_file_swapped_from_another_release",
    ],
    "BND-09": ["test_install.py::test_bnd09_extra_and_missing_members"],
    "BND-10": [
        "test_update.py::test_bnd10_endless_data_is_cut_at_declared_length",
        "test_archive.py::test_bnd10_zstd_window_bomb_refused_before_allocation",
        "test_archive.py::test_bnd10_decompression_bomb_is_capped",
    ],
    "BND-11": ["test_update.py::test_bnd11_slow_retrieval_is_aborted_by_the_deadline"],
    "BND-12": [
        "test_catalogue.py::test_bnd12_no_partial_install_is_ever_visible",
        "test_crash.py::test_kill_at_checkpoint_then_recover",
    ],
    "BND-13": [
        "test_manifest.py::test_bnd13_duplicate_key_is_malformed_even_when_signed",
        "test_manifest.py::test_bnd13_fuzz_parser_raises_only_typed_rejections",
    ],
    "BND-14": [
        "test_manifest.py::test_bnd14_bad_paths",
        "test_manifest.py::test_bnd14_collisions_in_manifest",
    ],
    "BND-15": [
        "test_archive.py::test_bnd15_member_tricks",
        "test_archive.py::test_bnd15_many_empty_members",
    ],
    "BND-16": ["test_manifest.py::test_bnd16_compatibility_grid"],
    **{
        f"ATM-{i:02d}": ["test_crash.py::test_kill_at_checkpoint_then_recover"]
        for i in range(1, 10)
    },
    "ATM-10": [
        "test_install.py::test_atm10_12_os_errors_abort_cleanly",
        "test_install.py::test_atm10_disk_full_during_extraction",
    ],
    "ATM-11": [
        "test_install.py::test_atm10_12_os_errors_abort_cleanly",
        "test_install.py::test_atm11_12_failures_after_staging_restore_old_bundle",
    ],
    "ATM-12": ["test_install.py::test_atm11_12_failures_after_staging_restore_old_bundle"],
    "ATM-13": ["test_install.py::test_bnd01_tampered_installed_file_atm13_falls_back"],
    "ATM-14": [
        "test_install.py::test_bnd02_atm14_wrong_key_under_invariants",
        "test_update.py::test_bnd07_pointer_expiry_boundaries",
        "test_install.py::test_bnd05_rollback_and_version_reuse_survive_restart",
    ],
    "ATM-15": [
        "test_archive.py::test_atm15_truncated_archive_in_the_extractor",
        "test_install.py::test_bnd01_tampered_release_under_invariants",
    ],
    "ATM-16": [
        "test_manifest.py::test_bnd14_bad_paths",
        "test_archive.py::test_bnd15_member_tricks",
        "test_archive.py::test_bnd10_decompression_bomb_is_capped",
    ],
    "ATM-17": ["test_install.py::test_atm17_concurrent_updater"],
    "ATM-18": ["test_install.py::test_atm18_read_only_root_simulated"],
    "ATM-19": [
        "test_crash.py::test_every_checkpoint_is_swept",
        "test_crash.py::test_kill_at_checkpoint_then_recover",
    ],
}


def _functions(name: str) -> set[str]:
    tree = ast.parse((HERE / name).read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_catalogue_item_has_a_test() -> None:
    expected = {f"BND-{i:02d}" for i in range(1, 17)} | {f"ATM-{i:02d}" for i in range(1, 20)}
    assert set(CATALOGUE) == expected
    for item, tests in CATALOGUE.items():
        for ref in tests:
            module, func = ref.split("::")
            assert func in _functions(module), (item, ref)


def test_bnd12_no_partial_install_is_ever_visible(kit: Kit) -> None:
    """At every checkpoint, ``current`` resolves to the old or the fully verified new bundle."""
    kit.store().install(kit.release("1.0.0"))
    seen: list[tuple[str, str]] = []

    def probe(step: str) -> None:
        target = kit.root / os.readlink(kit.root / "current")
        manifest = verify_installed(target, kit.trust)  # complete and verified, never a mix
        seen.append((step, manifest.bundle_version))

    kit.store(checkpoint=probe).install(kit.release("2.0.0"))
    versions = dict(seen)
    assert {v for _, v in seen} == {"1.0.0", "2.0.0"}
    assert versions["promoted"] == "1.0.0"
    assert versions["current_swapped"] == "2.0.0"
    assert {s for s, _ in seen} <= set(CHECKPOINTS)


@pytest.mark.parametrize("start", [0, 10**18])
def test_audit_trail_is_deterministic_apart_from_timestamps(tmp_path: Path, start: int) -> None:
    def trail(base: Path, clock_start: int) -> list[tuple[str, object]]:
        kit = Kit(base)
        kit.clock = SimClock(clock_start)
        store = kit.store()
        store.install(kit.release("1.0.0"))
        store.install(kit.release("2.0.0"))
        for bad in ("1.5.0", "2.0.0"):
            with pytest.raises(BundleRejectedError):
                store.install(kit.release(bad))
        store.rollback()
        return [(r.kind, r.data) for r in kit.audit()]

    first = trail(tmp_path / "a", 1)
    second = trail(tmp_path / "b", start + 5)
    assert first == second
    assert [d["outcome"] for _, d in first] == [  # type: ignore[index]
        "installed",
        "installed",
        "rejected",
        "rejected",
        "rolled_back",
    ]
