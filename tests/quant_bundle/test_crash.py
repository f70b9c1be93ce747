"""Kill-at-checkpoint tests (ATM-01..09) and the exhaustive crash sweep (ATM-19).

The installer runs in a subprocess whose checkpoint hook calls ``os._exit(137)`` (like
SIGKILL: no ``finally``, no atexit) at the named step; a new store then recovers and the
invariants I1-I6 are checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from quant_bundle import CHECKPOINTS, BundleStore

from .conftest import Kit

SCRIPT = """
import os, sys, pathlib
from quant_bundle import BundleStore, RuntimeVersions
from quant_bundle.keys import TrustStore, generate_key
from quant_core import SimClock

root, release, target, nth, mode = sys.argv[1:6]
seen = {"n": 0}

def checkpoint(name):
    if name == target:
        seen["n"] += 1
        if seen["n"] == int(nth):
            os._exit(137)

def health(path, manifest):
    raise RuntimeError("canary failed")

trust = TrustStore.from_keys([generate_key(seed=b"\\x01" * 32).public])
store = BundleStore(pathlib.Path(root), trust, SimClock(7), checkpoint=checkpoint,
                    health=health if mode == "health" else None)
try:
    if mode == "rollback":
        store.rollback()
    else:
        store.install(pathlib.Path(release))
except Exception as exc:
    print("refused", getattr(exc, "reason_code", exc))
    sys.exit(3)
sys.exit(0)
"""

# (test id, checkpoint, occurrence, mode, active version expected after recovery)
CASES = [
    ("ATM-01-after-fetch", "fetched", 1, "install", "1.1.0"),
    ("ATM-02-mid-download", "archive_partial", 1, "install", "1.1.0"),
    ("ATM-03-mid-extraction", "extract_file", 1, "install", "1.1.0"),
    ("ATM-04-after-seal", "sealed", 1, "install", "1.1.0"),
    ("ATM-05-after-promote", "promoted", 1, "install", "1.1.0"),
    ("ATM-06-current-tmp-linked", "current_tmp_linked", 1, "install", "1.1.0"),
    ("ATM-07-after-swap-before-state", "current_swapped", 1, "install", "2.0.0"),
    ("ATM-08-state-temp-written", "state_tmp_written", 1, "install", "2.0.0"),
    ("ATM-09-during-auto-rollback", "rollback_swapped", 1, "health", "1.1.0"),
    # ATM-19: every remaining checkpoint name, and the operator rollback path.
    ("ATM-19-archive-staged", "archive_staged", 1, "install", "1.1.0"),
    ("ATM-19-previous-swapped", "previous_swapped", 1, "install", "1.1.0"),
    ("ATM-19-state-written", "state_written", 1, "install", "2.0.0"),
    ("ATM-19-extract-second-file", "extract_file", 2, "install", "1.1.0"),
    ("ATM-19-health-state-tmp", "state_tmp_written", 2, "health", "1.1.0"),
    ("ATM-19-rollback-tmp-linked", "current_tmp_linked", 1, "rollback", "1.1.0"),
    ("ATM-19-rollback-swapped", "rollback_swapped", 1, "rollback", "1.0.0"),
    ("ATM-19-rollback-state-tmp", "state_tmp_written", 1, "rollback", "1.0.0"),
]


def test_every_checkpoint_is_swept() -> None:
    assert {c[1] for c in CASES} == set(CHECKPOINTS)


@pytest.mark.parametrize(
    ("case", "checkpoint", "nth", "mode", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_kill_at_checkpoint_then_recover(
    kit: Kit, tmp_path: Path, case: str, checkpoint: str, nth: int, mode: str, expected: str
) -> None:
    store = kit.store(runtime=None)
    store.install(kit.release("1.0.0"))
    store.install(kit.release("1.1.0"))
    floor_before = store.read_state().floor_version
    previous_before = store.link("previous")
    release = kit.release("2.0.0")
    script = tmp_path / "installer.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(kit.root), str(release), checkpoint, str(nth), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 137, (proc.stdout, proc.stderr)
    # Restart: a new store recovers under the lock.
    recovered = BundleStore(kit.root, kit.trust, kit.clock)
    recovered.recover()
    kit.check_invariants(floor_before)
    assert kit.active_version() == expected
    records = kit.audit()
    assert records[-1].kind == "bundle.recovered"
    assert records[-1].data["aborted_attempts"] or records[-1].data["actions"]
    state = recovered.read_state()
    if expected == "2.0.0":
        assert state.floor_version == "2.0.0"
    # I6: after a failed attempt the prior previous bundle still exists (and is previous);
    # after a committed install, retention may retire it.
    if expected != "2.0.0" and mode != "rollback":
        assert previous_before is not None
        assert (kit.root / "store" / previous_before).exists()
        assert recovered.link("previous") == previous_before
    # The store is usable afterwards: the interrupted install can simply be retried.
    if mode == "install" and expected == "1.1.0":
        assert recovered.install(release).version == "2.0.0"
        kit.check_invariants("2.0.0")
